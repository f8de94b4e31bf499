using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Gapura.Simulators.Kiro;

namespace Gapura.Tests.Integration;

/// <summary>
/// A conversation over the model's window is reported the way clients act on it (issue 15, item 6): on the OpenAI
/// doors <c>code: "context_length_exceeded"</c> (Codex CLI compacts on it), on the Anthropic door an
/// <c>invalid_request_error</c> whose message starts "prompt is too long" (Claude Code compacts on it) — whether the
/// upstream said so (Kiro's "Input is too long") or the gateway's own check did.
/// </summary>
public sealed partial class ContextOverflowTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_upstream_overflow_is_context_length_exceeded_on_the_openai_doors(bool stream)
    {
        using var http = gateway.Http();
        gateway.Kiro.Enqueue(KiroScenario.InputTooLong());
        var (chat, chatText) = await Wire.SendAsync(http, Wire.OpenAi(Wire.OpenAiBody(stream: stream)));
        var error = Wire.AssertOpenAiError(chat, chatText, HttpStatusCode.BadRequest);
        Assert.Equal(("invalid_request_error", "context_length_exceeded"), (error["type"]!.GetValue<string>(), error["code"]!.GetValue<string>()));

        gateway.Kiro.Enqueue(KiroScenario.InputTooLong());
        var (responses, responsesText) = await Wire.SendAsync(http, Wire.Post("/v1/responses", $$"""{"model":"claude-sonnet-4-5","input":"hi","stream":{{(stream ? "true" : "false")}}}"""));
        var responsesError = Wire.AssertOpenAiError(responses, responsesText, HttpStatusCode.BadRequest);
        Assert.Equal("context_length_exceeded", responsesError["code"]!.GetValue<string>());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_upstream_overflow_is_prompt_is_too_long_on_the_anthropic_door(bool stream)
    {
        using var http = gateway.Http();
        gateway.Kiro.Enqueue(KiroScenario.InputTooLong());
        var (response, text) = await Wire.SendAsync(http, Wire.Anthropic(Wire.AnthropicBody(stream: stream)));
        var error = Wire.AssertAnthropicError(response, text, HttpStatusCode.BadRequest);
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        // Claude Code's own test: the lower-cased message contains "prompt is too long".
        Assert.Contains("prompt is too long", error["message"]!.GetValue<string>().ToLowerInvariant());
    }

    [Fact]
    public void The_gateways_own_check_uses_anthropics_exact_wording_with_the_counts()
    {
        var e = Gapura.Conversations.GatewayException.ContextTooLong(4012, 2000);
        Assert.Matches(AnthropicWording(), e.Message);
        Assert.True(e.IsContextOverflow);
        Assert.Equal(400, e.Status);
        var withoutCounts = Gapura.Conversations.GatewayException.ContextTooLong(null, null, "Input is too long.");
        Assert.StartsWith("prompt is too long", withoutCounts.Message);
    }

    // The pattern Claude Code 2.1.330 reads the counts out of (from its bundle).
    [GeneratedRegex(@"^prompt is too long: \d+ tokens > \d+ maximum$")]
    private static partial Regex AnthropicWording();
}
