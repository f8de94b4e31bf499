using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using CsCheck;
using Xunit.Abstractions;

namespace Gapura.Tests.Fuzz;

/// <summary>
/// How much to fuzz. CI runs a fixed seed and a fixed count, so a red run is the same red run on every machine;
/// <c>GAPURA_FUZZ_CASES</c> (a total, split between the suites as in CI) and <c>GAPURA_FUZZ_SEED</c> (a number, or
/// <c>random</c>) make a longer or different run locally; <c>GAPURA_FUZZ_ONLY</c> replays the listed case numbers.
/// </summary>
internal static class FuzzSettings
{
    public const ulong CiSeed = 20261206_15;
    public const int CiTotalCases = 11_000;

    public static ulong Seed { get; } = Environment.GetEnvironmentVariable("GAPURA_FUZZ_SEED") switch
    {
        null or "" => CiSeed,
        "random" => (ulong)Random.Shared.NextInt64(),
        var s => ulong.Parse(s, CultureInfo.InvariantCulture),
    };

    /// <summary>This suite's share of the run: its CI count, scaled when <c>GAPURA_FUZZ_CASES</c> asks for another total.</summary>
    public static int Cases(int ciCases)
        => Environment.GetEnvironmentVariable("GAPURA_FUZZ_CASES") is { Length: > 0 } total
            ? (int)Math.Max(1, (long)ciCases * long.Parse(total, CultureInfo.InvariantCulture) / CiTotalCases)
            : ciCases;

    public static IReadOnlySet<int>? Only { get; } = Environment.GetEnvironmentVariable("GAPURA_FUZZ_ONLY") is { Length: > 0 } only
        ? only.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToHashSet()
        : null;

    /// <summary>The generator of case <paramref name="index"/> of a suite: the same seed and index give the same case.</summary>
    public static PCG CaseRandom(uint suite, int index) => new(suite, Seed * 0x9E3779B97F4A7C15UL + (ulong)index);
}

/// <summary>Sends generated cases from a few concurrent clients, checks each answer, and fails with every distinct problem found.</summary>
internal sealed class FuzzRunner(string baseUrl, ITestOutputHelper output)
{
    /// <summary>A case that takes longer than this is a hang, and a failure.</summary>
    private static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(30);

    public int Concurrency { get; init; } = 4;

    /// <summary>Whether an upstream took part in answering: only then may the answer be a 502, 503 or 504.</summary>
    public Func<FuzzCase, HttpResponseMessage, bool> UpstreamInvolved { get; init; } = (_, _) => false;

    public async Task<FuzzReport> RunAsync(string suite, uint suiteId, int cases, Func<PCG, int, FuzzCase> generate)
    {
        using var http = new HttpClient(new SocketsHttpHandler
        {
            UseCookies = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        }) { BaseAddress = new Uri(baseUrl), Timeout = Timeout.InfiniteTimeSpan };
        var clock = Stopwatch.StartNew();
        var problems = new ConcurrentQueue<FuzzOutcome>();
        var statuses = new ConcurrentDictionary<int, int>();
        var next = -1;
        var indices = FuzzSettings.Only?.Order().ToArray();
        var total = indices?.Length ?? cases;
        async Task Worker()
        {
            for (var n = Interlocked.Increment(ref next); n < total; n = Interlocked.Increment(ref next))
            {
                var index = indices?[n] ?? n;
                var fuzzCase = generate(FuzzSettings.CaseRandom(suiteId, index), index);
                var outcome = await SendAsync(http, fuzzCase);
                statuses.AddOrUpdate(outcome.Status, 1, (_, c) => c + 1);
                if (outcome.Problem is not null) problems.Enqueue(outcome);
            }
        }
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(_ => Task.Run(Worker)));
        var report = new FuzzReport(suite, total, clock.Elapsed, statuses.OrderBy(s => s.Key).ToDictionary(), [.. problems.OrderBy(p => p.Case.Index)]);
        output.WriteLine(report.Summary());
        return report;
    }

    private async Task<FuzzOutcome> SendAsync(HttpClient http, FuzzCase fuzzCase)
    {
        using var timeout = new CancellationTokenSource(CaseTimeout);
        try
        {
            using var request = fuzzCase.ToRequest();
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token);
            var body = await response.Content.ReadAsStringAsync(timeout.Token);
            var status = (int)response.StatusCode;
            var mediaType = response.Content.Headers.ContentType?.MediaType;
            var problem = FuzzChecks.Problem(status, mediaType, body, status == 401 ? fuzzCase.RefusedShape ?? fuzzCase.Shape : fuzzCase.Shape, status >= 500 && UpstreamInvolved(fuzzCase, response));
            if (problem is null && status == 200 && mediaType == "text/event-stream") problem = FuzzChecks.StreamProblem(body, fuzzCase.Route);
            return new FuzzOutcome(fuzzCase, status, problem, body.Length > 300 ? body[..300] + "…" : body);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return new FuzzOutcome(fuzzCase, 0, $"no answer within {CaseTimeout.TotalSeconds} s", "");
        }
        catch (HttpRequestException e)
        {
            return new FuzzOutcome(fuzzCase, 0, $"connection failed: {e.Message} {e.InnerException?.Message}", "");
        }
    }
}

/// <summary>What a suite's run found: counts by status, and each case that failed a check.</summary>
internal sealed record FuzzReport(string Suite, int Cases, TimeSpan Elapsed, Dictionary<int, int> Statuses, List<FuzzOutcome> Problems)
{
    public string Summary()
        => $"{Suite}: {Cases} cases in {Elapsed.TotalSeconds:F1} s (seed {FuzzSettings.Seed}); statuses "
           + string.Join(", ", Statuses.Select(s => $"{s.Key}×{s.Value}")) + $"; {Problems.Count} problems";

    /// <summary>Fails with the first case of each distinct (route, problem), each with the line that replays it.</summary>
    public void AssertClean()
    {
        if (Problems.Count == 0) return;
        var text = new StringBuilder($"{Summary()}\n");
        foreach (var group in Problems.GroupBy(p => (p.Case.Route, p.Problem)).Take(25))
        {
            var first = group.First();
            text.Append($"\n{first.Problem} ×{group.Count()} — replay: GAPURA_FUZZ_SEED={FuzzSettings.Seed} GAPURA_FUZZ_ONLY={first.Case.Index}\n  {first.Case}\n  answered {first.Status}: {first.BodyStart}\n");
        }
        Assert.Fail(text.ToString());
    }
}
