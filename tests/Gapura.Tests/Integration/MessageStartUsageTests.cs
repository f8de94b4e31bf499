using System.Text.Json.Nodes;
using Gapura.Simulators.Kiro;
using static Gapura.Tests.Integration.Wire;

namespace Gapura.Tests.Integration;

/// <summary>
/// Anthropic's <c>message_start</c> announces input tokens before the upstream has said anything; clients that read only
/// that figure (LangChain) must not be told a tenth of what the final usage says.
/// </summary>
public class MessageStartUsageTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    private async Task<(int AtStart, int Final)> AskAsync(string text, int reportedInput)
    {
        gateway.Kiro.Enqueue(KiroScenario.Stream(KiroFrame.Text("ok"), KiroFrame.Metadata(reportedInput, 1), KiroFrame.Metering()));
        var (_, items, _) = await StreamAsync(gateway.Http(), Wire.Anthropic(AnthropicBody(text, stream: true)));
        var start = items.Single(i => i.Event == "message_start").Json!["message"]!["usage"]!["input_tokens"]!.GetValue<int>();
        var final = items.Single(i => i.Event == "message_delta").Json!["usage"]!["input_tokens"]!.GetValue<int>();
        return (start, final);
    }

    [Fact]
    public async Task The_start_figure_learns_what_the_estimate_misses_for_the_model()
    {
        // Kiro counts a hidden prompt of its own: a short question comes back as ~1,500 input tokens.
        var (first, final) = await AskAsync("What is 2 + 2?", 1500);
        Assert.Equal(1500, final);
        Assert.True(first < 100, $"nothing learned yet: the plain estimate ({first})");

        var (second, _) = await AskAsync("What is 3 + 3?", 1500);
        Assert.InRange(second, 1350, 1650);

        // A longer question keeps the learned overhead on top of its own, larger estimate.
        var longer = string.Join(' ', Enumerable.Repeat("Please also consider this sentence.", 200));
        var (third, _) = await AskAsync(longer, 3000);
        Assert.InRange(third, 2000, 4000);
    }
}
