using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Gapura.Simulators;
using Gapura.Simulators.Anthropic;
using Gapura.Simulators.Kiro;
using Gapura.Simulators.OpenAi;

namespace Gapura.Tests.Simulators;

/// <summary>The limits the simulators enforce for <c>gapura probe-limits</c> to find, on the wire, in each upstream's own words.</summary>
public sealed class SimulatedLimitsTests
{
    private static string Words(int n) => string.Join(' ', Enumerable.Repeat("word", n));

    [Fact]
    public async Task Kiro_reports_context_usage_against_the_window_refuses_over_it_and_cuts_counting_at_the_output_cap()
    {
        await using var kiro = await KiroSimulator.StartAsync(new KiroSimulatorOptions
        {
            RequireAuth = false, Split = KiroSplit.Whole, Limits = { ["claude-sonnet-4.5"] = new SimulatedLimits(2_000, 300) },
        });
        using var http = new HttpClient();

        var fits = await http.SendAsync(KiroWire.Chat(kiro, "any", KiroWire.Body(KiroWire.User(Words(900)))));
        Assert.Equal(HttpStatusCode.OK, fits.StatusCode);
        var events = KiroWire.Decode(await fits.Content.ReadAsByteArrayAsync());
        var context = events.Single(e => e.Header(":event-type") == "contextUsageEvent");
        var pct = (double)JsonNode.Parse(Encoding.UTF8.GetString(context.Payload))!["contextUsagePercentage"]!;
        Assert.InRange(pct, 45, 46); // ~900 words of a 2,000-token window
        var metadata = JsonNode.Parse(Encoding.UTF8.GetString(events.Single(e => e.Header(":event-type") == "metadataEvent").Payload))!;
        Assert.InRange((int)metadata["tokenUsage"]!["uncachedInputTokens"]!, 900, 920);

        var tooLong = await http.SendAsync(KiroWire.Chat(kiro, "any", KiroWire.Body(KiroWire.User(Words(2_100)))));
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        var refusal = JsonNode.Parse(await tooLong.Content.ReadAsStringAsync())!;
        Assert.Equal("Input is too long.", (string?)refusal["message"]);
        Assert.Equal("CONTENT_LENGTH_EXCEEDS_THRESHOLD", (string?)refusal["reason"]);

        var counting = await http.SendAsync(KiroWire.Chat(kiro, "any", KiroWire.Body(KiroWire.User(SimulatedLimits.CountingCue + ", one number per line."))));
        var answer = KiroWire.Decode(await counting.Content.ReadAsByteArrayAsync());
        Assert.Equal(300, KiroWire.Text(answer).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Contains(answer, e => e.Header(":message-type") == "exception" && e.Header(":exception-type") == "ContentLengthExceededException");
    }

    [Fact]
    public async Task Anthropic_refuses_a_prompt_over_the_window_and_a_max_tokens_over_the_cap_in_its_own_words()
    {
        await using var anthropic = await AnthropicSimulator.StartAsync(new AnthropicSimulatorOptions
        {
            Models = [new("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", DateTimeOffset.UnixEpoch, MaxOutputTokens: 300, ContextWindow: 2_000)],
        });
        using var http = new HttpClient();
        async Task<(HttpStatusCode, JsonNode)> Send(string text, int maxTokens)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, anthropic.BaseUrl + "/v1/messages")
            {
                Content = new StringContent(new JsonObject
                {
                    ["model"] = "claude-sonnet-4-5-20250929", ["max_tokens"] = maxTokens,
                    ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = text }),
                }.ToJsonString(), Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("x-api-key", anthropic.ApiKey);
            request.Headers.Add("anthropic-version", "2023-06-01");
            var response = await http.SendAsync(request);
            return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
        }

        var (status, body) = await Send(Words(2_100), 100);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Matches(@"^prompt is too long: \d+ tokens > 2000 maximum$", (string?)body["error"]!["message"]);

        (status, body) = await Send("hi", 301);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("max_tokens: 301 > 300", (string?)body["error"]!["message"]);

        (status, body) = await Send(SimulatedLimits.CountingCue + ".", 250);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("max_tokens", (string?)body["stop_reason"]);
        Assert.Equal(250, (int)body["usage"]!["output_tokens"]!);
    }

    [Fact]
    public async Task OpenAi_refuses_context_length_exceeded_and_stops_counting_at_the_cap_with_length()
    {
        await using var openAi = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions { Models = [new("gpt-4.1", Limits: new SimulatedLimits(2_000, 300))] });
        using var http = new HttpClient();
        async Task<(HttpStatusCode, JsonNode)> Send(string text, int maxTokens)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, openAi.ApiBaseUrl + "/chat/completions")
            {
                Content = new StringContent(new JsonObject
                {
                    ["model"] = "gpt-4.1", ["max_tokens"] = maxTokens,
                    ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = text }),
                }.ToJsonString(), Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("Authorization", "Bearer " + OpenAiSimulatorOptions.DefaultApiKey);
            var response = await http.SendAsync(request);
            return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
        }

        var (status, body) = await Send(Words(2_100), 100);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("context_length_exceeded", (string?)body["error"]!["code"]);
        Assert.StartsWith("This model's maximum context length is 2000 tokens.", (string?)body["error"]!["message"]);

        (status, body) = await Send(SimulatedLimits.CountingCue + ".", 10_000);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("length", (string?)body["choices"]![0]!["finish_reason"]);
        Assert.Equal(300, (int)body["usage"]!["completion_tokens"]!);
    }
}
