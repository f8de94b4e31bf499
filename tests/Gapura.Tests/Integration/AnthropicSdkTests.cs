using System.Text.Json;
using Anthropic;
using Anthropic.Models.Messages;
using Gapura.Simulators.Kiro;

namespace Gapura.Tests.Integration;

/// <summary>The official Anthropic .NET client against the running gateway, backed by the Kiro simulator.</summary>
public class AnthropicSdkTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    private AnthropicClient Client() => new() { ApiKey = GatewayFixture.ApiKey, BaseUrl = gateway.BaseUrl, MaxRetries = 0 };

    private static readonly Tool Weather = new()
    {
        Name = "get_weather",
        Description = "Current weather for a city",
        InputSchema = new InputSchema
        {
            Properties = new Dictionary<string, JsonElement> { ["city"] = JsonSerializer.SerializeToElement(new { type = "string" }) },
            Required = ["city"],
        },
    };

    [Fact]
    public async Task Creates_a_message()
    {
        gateway.Kiro.Enqueue(KiroScenario.Stream(KiroFrame.Text("Hi "), KiroFrame.Text("there"), KiroFrame.Metadata(80, 2), KiroFrame.Metering()));
        var message = await Client().Messages.Create(new MessageCreateParams
        {
            Model = "claude-sonnet-4-5-20250929",
            MaxTokens = 1024,
            System = "You are terse.",
            Messages = [new MessageParam(new UserMessageParam("Greet me"))],
        });

        Assert.True(message.Content[0].TryPickText(out var text));
        Assert.Equal("Hi there", text!.Text);
        Assert.Equal("end_turn", message.StopReason!.Raw());
        Assert.Equal(80, message.Usage.InputTokens);
        Assert.Equal(2, message.Usage.OutputTokens);
        Assert.Equal("claude-sonnet-4-5-20250929", message.Model.Raw());
        Assert.Equal("claude-sonnet-4.5", gateway.Kiro.ChatRequests[^1].Json!["conversationState"]!["currentMessage"]!["userInputMessage"]!["modelId"]!.GetValue<string>());
        Assert.Contains(gateway.UsageRecords.Values, r => r.Client.StartsWith("anthropic-sdk-", StringComparison.Ordinal) && r.ClientVersion is { Length: > 0 }
            && (r.InputTokens, r.OutputTokens) == (80, 2));
    }

    [Fact]
    public async Task Streams_thinking_then_text()
    {
        gateway.Kiro.Enqueue(KiroScenario.Stream(
            KiroFrame.Text("<thin"), KiroFrame.Text("king>Let me see."), KiroFrame.Text("</thinking>"), KiroFrame.Text("Answer: 4"),
            KiroFrame.ContextUsage(1.5), KiroFrame.Metering()));
        var thinking = ""; var text = ""; string? stop = null;
        await foreach (var e in Client().Messages.CreateStreaming(new MessageCreateParams
        {
            Model = "claude-sonnet-4-5",
            MaxTokens = 8000,
            Thinking = new ThinkingConfigEnabled(2048),
            Messages = [new MessageParam(new UserMessageParam("2+2?"))],
        }))
        {
            if (e.TryPickContentBlockDelta(out var delta))
            {
                if (delta!.Delta.TryPickThinking(out var t)) thinking += t!.Thinking;
                if (delta.Delta.TryPickText(out var x)) text += x!.Text;
            }
            if (e.TryPickDelta(out var md)) stop = md!.Delta.StopReason?.Raw();
        }

        Assert.Equal("Let me see.", thinking);
        Assert.Equal("Answer: 4", text);
        Assert.Equal("end_turn", stop);
        var sent = gateway.Kiro.ChatRequests[^1].Json!["conversationState"]!["currentMessage"]!["userInputMessage"]!["content"]!.GetValue<string>();
        Assert.Contains("<max_thinking_length>2048</max_thinking_length>", sent);
    }

    [Fact]
    public async Task Tool_use_round_trip_with_is_error()
    {
        gateway.Kiro.Enqueue(KiroScenario.ToolCall("tooluse_w1", "get_weather", """{"city":"Bandung"}""", fragments: 3));
        var partials = new List<string>();
        string? stop = null;
        await foreach (var e in Client().Messages.CreateStreaming(new MessageCreateParams
        {
            Model = "claude-sonnet-4-5",
            MaxTokens = 1024,
            Tools = [Weather],
            Messages = [new MessageParam(new UserMessageParam("Weather in Bandung?"))],
        }))
        {
            if (e.TryPickContentBlockDelta(out var delta) && delta!.Delta.TryPickInputJson(out var json)) partials.Add(json!.PartialJson);
            if (e.TryPickDelta(out var md)) stop = md!.Delta.StopReason?.Raw();
        }
        Assert.True(partials.Count >= 2, "input_json_delta arrives in fragments");
        Assert.Equal("Bandung", JsonDocument.Parse(string.Concat(partials)).RootElement.GetProperty("city").GetString());
        Assert.Equal("tool_use", stop);

        var answer = await Client().Messages.Create(new MessageCreateParams
        {
            Model = "claude-sonnet-4-5",
            MaxTokens = 1024,
            Tools = [Weather],
            Messages =
            [
                new MessageParam(new UserMessageParam("Weather in Bandung?")),
                new MessageParam(new AssistantMessageParam(new List<ContentBlockParam>
                {
                    new ToolUseBlockParam { ID = "tooluse_w1", Name = "get_weather", Input = new Dictionary<string, JsonElement> { ["city"] = JsonSerializer.SerializeToElement("Bandung") } },
                })),
                new MessageParam(new UserMessageParam(new List<ContentBlockParam>
                {
                    new ToolResultBlockParam("tooluse_w1") { Content = "weather service unreachable", IsError = true },
                })),
            ],
        });
        Assert.True(answer.Content[0].TryPickText(out var text));
        Assert.Contains("weather service unreachable", text!.Text);
        var result = gateway.Kiro.ChatRequests[^1].Json!["conversationState"]!["currentMessage"]!["userInputMessage"]!["userInputMessageContext"]!["toolResults"]![0]!;
        Assert.Equal("error", result["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Counts_tokens_without_calling_upstream()
    {
        var calls = gateway.Kiro.ChatCalls;
        var count = await Client().Messages.CountTokens(new MessageCountTokensParams
        {
            Model = "claude-sonnet-4-5",
            Messages = [new MessageParam(new UserMessageParam("How many tokens is this sentence, roughly?"))],
        });
        Assert.InRange(count.InputTokens, 5, 40);
        Assert.Equal(calls, gateway.Kiro.ChatCalls);
    }

    [Fact]
    public async Task Upstream_throttling_reaches_the_sdk_as_rate_limit_error()
    {
        for (var i = 0; i < 3; i++) gateway.Kiro.Enqueue(KiroScenario.Throttled(TimeSpan.FromMilliseconds(10)));
        var error = await Assert.ThrowsAnyAsync<Exception>(() => Client().Messages.Create(new MessageCreateParams
        {
            Model = "claude-sonnet-4-5",
            MaxTokens = 100,
            Messages = [new MessageParam(new UserMessageParam("x"))],
        }));
        Assert.Contains("429", error.ToString());
        Assert.Equal(0, gateway.Kiro.PendingScenarios); // every attempt was made (Kiro:MaxAttempts = 3), none left for other tests
    }
}
