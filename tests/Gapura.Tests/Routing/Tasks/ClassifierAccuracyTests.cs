using Gapura.Routing.Tasks;
using Xunit.Abstractions;

namespace Gapura.Tests.Routing.Tasks;

/// <summary>
/// The built-in rules against real traffic: every request Claude Code, Codex CLI and opencode sent in the recorded
/// situations (tests/Gapura.Tests/Routing/Recordings, made with <see cref="Recording.ClientRecorder"/>) is parsed by
/// its real front door and classified; the label in the file is what the request really is.
/// </summary>
public sealed class ClassifierAccuracyTests(ITestOutputHelper output)
{
    private static readonly TaskRules Rules = TaskRules.Create([], includeBuiltIns: true, longContextTokens: 60_000);

    public static TheoryData<string> RecordingFiles()
    {
        var data = new TheoryData<string>();
        foreach (var file in RecordedRequest.Files()) data.Add(file);
        return data;
    }

    [Theory]
    [MemberData(nameof(RecordingFiles))]
    public void Recorded_request_gets_its_task(string file)
    {
        var recording = RecordedRequest.Load(file);
        var facts = recording.Facts();
        var result = Rules.Classify(facts);
        Assert.True(result.Task == recording.ExpectedTask,
            $"{file}: expected {recording.ExpectedTask}, classified {result.Task} by rule {result.Rule}; last user text: "
            + Clip(facts.LastUserText) + "\n" + string.Join("\n", Rules.Explain(facts).Select(e => $"  {(e.Matched ? "✔" : " ")} {e.Rule} → {e.Task}: {e.Why}")));
    }

    [Fact]
    public void There_are_enough_recordings_of_each_client()
    {
        var clients = RecordedRequest.Files().Select(f => RecordedRequest.Load(f).Client).ToList();
        Assert.True(clients.Count >= 40, $"{clients.Count} recordings");
        foreach (var client in new[] { "claude-code", "codex-cli", "opencode" }) Assert.Contains(client, clients);
    }

    [Fact]
    public void Accuracy_per_task_type()
    {
        var rows = RecordedRequest.Files().Select(RecordedRequest.Load).Select(r => (r, got: Rules.Classify(r.Facts()))).ToList();
        output.WriteLine($"{"task",-22}{"correct",8}{"total",7}{"accuracy",10}");
        foreach (var group in rows.GroupBy(x => x.r.ExpectedTask).OrderBy(g => TaskTypes.All.ToList().IndexOf(g.Key)))
        {
            var correct = group.Count(x => x.got.Task == x.r.ExpectedTask);
            output.WriteLine($"{group.Key,-22}{correct,8}{group.Count(),7}{100.0 * correct / group.Count(),9:F0}%");
        }
        var all = rows.Count(x => x.got.Task == x.r.ExpectedTask);
        output.WriteLine($"{"all",-22}{all,8}{rows.Count,7}{100.0 * all / rows.Count,9:F1}%");
        foreach (var client in rows.GroupBy(x => x.r.Client))
            output.WriteLine($"  {client.Key}: {client.Count(x => x.got.Task == x.r.ExpectedTask)}/{client.Count()}");
        output.WriteLine("");
        foreach (var (r, got) in rows) output.WriteLine($"{r.File,-55} {r.ExpectedTask,-20} {(got.Task == r.ExpectedTask ? "ok " : "NO ")} {got.Task} ({got.Rule})");
        Assert.NotEmpty(rows);
    }

    private static string Clip(string s) => s.Length <= 300 ? s : s[..300] + "…";
}
