using System.Net;
using System.Text.Json.Nodes;

namespace Gapura.Tests.Integration;

/// <summary>
/// <c>Kiro:MaxPayloadBytes</c> set small: a long conversation still gets an answer, with its oldest turns
/// dropped, and the client is told so in <c>x-gapura-history-trimmed</c>.
/// </summary>
public class HistoryTrimTests(SmallPayloadGateway fixture) : IClassFixture<SmallPayloadGateway>
{
    private const int Pairs = 20;
    private readonly GatewayFixture _gateway = fixture.Gateway;

    private static JsonArray History()
    {
        var messages = new JsonArray();
        for (var i = 0; i < Pairs; i++)
        {
            messages.Add(new JsonObject { ["role"] = "user", ["content"] = $"question {i}: " + new string('q', 1200) });
            messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = $"answer {i}: " + new string('a', 1200) });
        }
        messages.Add(new JsonObject { ["role"] = "user", ["content"] = "and the last question" });
        return messages;
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Long_history_is_trimmed_to_fit_and_the_client_is_told(bool anthropic, bool stream)
    {
        var body = new JsonObject { ["model"] = Wire.Model, ["stream"] = stream, ["messages"] = History() };
        if (anthropic) body["max_tokens"] = 1000;
        using var http = _gateway.Http();
        var json = body.ToJsonString();
        Assert.True(json.Length > 2 * SmallPayloadGateway.Limit);
        var (response, text) = await Wire.SendAsync(http, anthropic ? Wire.Anthropic(json) : Wire.OpenAi(json));
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);

        var trimmed = int.Parse(response.Headers.GetValues("x-gapura-history-trimmed").Single(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(trimmed > 0 && trimmed % 2 == 0, $"trimmed {trimmed}");

        var sent = _gateway.Kiro.ChatRequests[^1];
        Assert.True(sent.BodyBytes.Length <= SmallPayloadGateway.Limit, $"{sent.BodyBytes.Length} bytes sent");
        var state = sent.Json!["conversationState"]!;
        var history = state["history"]!.AsArray();
        Assert.True(history.Count < 2 * Pairs, $"{history.Count} history entries");
        Assert.Equal(2 * Pairs - trimmed, history.Count);
        // The oldest turns went, the newest stayed, and alternation still starts with a user turn.
        Assert.DoesNotContain("question 0:", sent.Body);
        Assert.Contains($"answer {Pairs - 1}:", sent.Body);
        Assert.NotNull(history[0]!["userInputMessage"]);
        Assert.Contains("and the last question", state["currentMessage"]!["userInputMessage"]!["content"]!.GetValue<string>());
    }

    [Fact]
    public async Task Short_history_is_not_trimmed()
    {
        using var http = _gateway.Http();
        var (response, text) = await Wire.SendAsync(http, Wire.OpenAi(Wire.OpenAiBody()));
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.False(response.Headers.Contains("x-gapura-history-trimmed"));
    }
}
