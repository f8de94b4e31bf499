using System.Diagnostics;
using System.Text;
using Gapura.Simulators.Kiro;

namespace Gapura.Tests.Integration;

/// <summary>Streaming adds no buffering: each upstream event reaches the client before the upstream sends the next.</summary>
public class StreamingTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Theory]
    [InlineData("/v1/chat/completions", """{"model":"claude-sonnet-4-5","stream":true,"messages":[{"role":"user","content":"hi"}]}""")]
    [InlineData("/v1/messages", """{"model":"claude-sonnet-4-5","max_tokens":500,"stream":true,"messages":[{"role":"user","content":"hi"}]}""")]
    public async Task Each_event_reaches_the_client_before_the_upstream_sends_the_next(string path, string body)
    {
        var gap = TimeSpan.FromMilliseconds(700);
        gateway.Kiro.Enqueue(new KiroScenario
        {
            Frames = [KiroFrame.Text("alpha"), KiroFrame.Text("beta"), KiroFrame.Text("gamma"), KiroFrame.Metering(), KiroFrame.ContextUsage(1)],
            DelayBetweenFrames = gap,
        });
        using var http = gateway.Http();
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        await using var stream = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(stream);

        var clock = Stopwatch.StartNew();
        var seenAt = new Dictionary<string, TimeSpan>();
        while (await reader.ReadLineAsync() is { } line)
        {
            foreach (var word in new[] { "alpha", "beta", "gamma" })
                if (line.StartsWith("data:") && line.Contains($"\"{word}\"") && !seenAt.ContainsKey(word)) seenAt[word] = clock.Elapsed;
        }

        Assert.Equal(3, seenAt.Count);
        // Had the gateway buffered, all three would arrive together at the end.
        Assert.True(seenAt["beta"] - seenAt["alpha"] > gap * 0.3, $"alpha {seenAt["alpha"]}, beta {seenAt["beta"]}");
        Assert.True(seenAt["gamma"] - seenAt["beta"] > gap * 0.3, $"beta {seenAt["beta"]}, gamma {seenAt["gamma"]}");
    }
}
