using System.Text.Json.Nodes;
using Gapura.Simulators.Anthropic;
using Gapura.Simulators.Bedrock;
using Gapura.Simulators.Copilot;
using Gapura.Simulators.Kiro;
using Gapura.Simulators.OpenAi;
using Gapura.Tests.Integration;

namespace Gapura.Tests.Matrix;

/// <summary>Kiro: the gateway fixture's own simulator; AWS event-stream answers, a CodeWhisperer body read back.</summary>
internal sealed partial class KiroRow : MatrixProvider
{
    [System.Text.RegularExpressions.GeneratedRegex(@"^<thinking_mode>enabled</thinking_mode><max_thinking_length>(?<tokens>\d+)</max_thinking_length>")]
    private static partial System.Text.RegularExpressions.Regex ThinkingPrefix();

    [System.Text.RegularExpressions.GeneratedRegex("<thinking>(?<text>.*?)</thinking>", System.Text.RegularExpressions.RegexOptions.Singleline)]
    private static partial System.Text.RegularExpressions.Regex ThinkingTags();

    private KiroSimulator _sim = null!;

    public override string Name => "kiro";
    public override string Model => "kiro/claude-sonnet-4.5";
    public override bool SystemInFirstUserMessage => true;
    public override bool EnforcesMaxTokens => false;
    public override bool HasToolErrorFlag => true;
    public override string CallId(int index) => $"tooluse_Matrix{index}Kx7Qp2Lm";

    public override Task<IEnumerable<string>> StartAsync(GatewayFixture gateway)
    {
        _sim = gateway.Kiro;
        return Task.FromResult<IEnumerable<string>>([]);
    }

    public override void Script(Reply reply)
    {
        _sim.ClearRequests();
        _sim.ClearScenarios();
        var frames = new List<KiroFrame>();
        // With thinking requested the model answers in tags, as the injected prefix asks it to.
        if (reply.Thinking is { } thinking) frames.AddRange(MatrixText.Pieces($"<thinking>{thinking}</thinking>\n\n", 4).Select(p => KiroFrame.Text(p)));
        var text = reply.Stop == Stop.MaxTokens ? MatrixConversations.LongText : reply.Text;
        frames.AddRange(MatrixText.Pieces(text, 3).Select(p => KiroFrame.Text(p)));
        foreach (var (id, name, arguments) in Calls(reply)) frames.AddRange(KiroFrame.ToolUse(id, name, arguments));
        frames.Add(KiroFrame.Metering());
        frames.Add(KiroFrame.Metadata(reply.InputTokens, reply.OutputTokens, reply.CacheRead, reply.CacheWrite));
        frames.Add(KiroFrame.ContextUsage(1.5));
        _sim.Enqueue(KiroScenario.Stream(frames));
    }

    public override JsonObject ReceivedBody() => Single(_sim.ChatRequests);

    public override UpstreamView Read(JsonObject body)
    {
        var state = body["conversationState"]!;
        var messages = new List<UpstreamMessage>();
        foreach (var entry in state["history"] as JsonArray ?? [])
        {
            if (entry!["userInputMessage"] is JsonObject user) messages.Add(User(user));
            else
            {
                var assistant = entry["assistantResponseMessage"]!;
                var said = (string)assistant["content"]!;
                List<Part> parts = [new TextPart(said)];
                if (ThinkingTags().Match(said) is { Success: true } tags) parts.Add(new ThinkingPart(tags.Groups["text"].Value, null));
                foreach (var use in assistant["toolUses"] as JsonArray ?? [])
                    parts.Add(new CallPart((string)use!["toolUseId"]!, (string)use["name"]!, use["input"]!.ToJsonString()));
                messages.Add(new UpstreamMessage(false, parts));
            }
        }
        var current = state["currentMessage"]!["userInputMessage"]!.AsObject();
        messages.Add(User(current));
        var content = (string)current["content"]!;
        var thinking = ThinkingPrefix().Match(content);
        return new UpstreamView(null, messages, thinking.Success, null,
            Names(current["userInputMessageContext"]?["tools"], t => (string?)t["toolSpecification"]?["name"]),
            thinking.Success ? int.Parse(thinking.Groups["tokens"].Value, System.Globalization.CultureInfo.InvariantCulture) : null);
    }

    private static UpstreamMessage User(JsonObject user)
    {
        List<Part> parts = [new TextPart((string)user["content"]!)];
        foreach (var image in user["images"] as JsonArray ?? [])
            parts.Add(new ImagePart(MediaType((string)image!["format"]!), (string)image["source"]!["bytes"]!));
        foreach (var result in user["userInputMessageContext"]?["toolResults"] as JsonArray ?? [])
            parts.Add(new ResultPart((string)result!["toolUseId"]!,
                string.Concat(result["content"]!.AsArray().Select(c => (string?)c!["text"])), (string?)result["status"] == "error"));
        return new UpstreamMessage(true, parts);
    }
}

/// <summary>Anthropic's Messages API: SSE or JSON answers; translated bodies, or the client's own on the passthrough path.</summary>
internal sealed class AnthropicRow : MatrixProvider
{
    private AnthropicSimulator _sim = null!;

    public override string Name => "anthropic";
    public override string Model => "anthropic/claude-sonnet-4-5-20250929";
    public override bool HasToolErrorFlag => true;
    public override string CallId(int index) => $"toolu_01Matrix{index}AbCdEfGh";
    public override string ThinkingSignature(string thinking) => _sim.Sign(thinking);
    public override bool NeedsThinkingSignature => true;
    public override bool PassesThrough(FrontDoorDialect door) => door == FrontDoorDialect.Anthropic;

    public override async Task<IEnumerable<string>> StartAsync(GatewayFixture gateway)
    {
        _sim = await AnthropicSimulator.StartAsync();
        return [$"--Providers:Anthropic:ApiKey={_sim.ApiKey}", $"--Providers:Anthropic:BaseUrl={_sim.BaseUrl}", "--Providers:Anthropic:RetryBaseDelayMilliseconds=10"];
    }

    public override void Script(Reply reply)
    {
        _sim.ClearRequests();
        _sim.ClearScenarios();
        var content = new List<AnthropicSimBlock>();
        if (reply.Thinking is { } thinking) content.Add(new AnthropicSimThinking(thinking, ThinkingSignature(thinking)));
        if (reply.Text.Length > 0) content.Add(new AnthropicSimText(reply.Text));
        foreach (var (id, name, arguments) in Calls(reply)) content.Add(new AnthropicSimToolUse(id, name, arguments));
        _sim.Enqueue(AnthropicScenario.Reply(new AnthropicSimMessage
        {
            Content = content,
            StopReason = reply.Stop switch { Stop.EndTurn => "end_turn", Stop.ToolUse => "tool_use", _ => "max_tokens" },
            InputTokens = reply.InputTokens,
            OutputTokens = reply.OutputTokens,
            CacheReadInputTokens = reply.CacheRead,
            CacheCreationInputTokens = reply.CacheWrite,
        }));
    }

    public override JsonObject ReceivedBody() => Single(_sim.MessageRequests);

    public override UpstreamView Read(JsonObject body)
    {
        var system = body["system"] switch
        {
            null => null,
            JsonArray blocks => string.Join("\n", blocks.Select(b => (string?)b!["text"])),
            var s => (string?)s,
        };
        var messages = new List<UpstreamMessage>();
        foreach (var m in body["messages"]!.AsArray())
        {
            var parts = new List<Part>();
            if (m!["content"] is JsonArray blocks)
            {
                foreach (var b in blocks)
                {
                    switch ((string?)b!["type"])
                    {
                        case "text": parts.Add(new TextPart((string)b["text"]!)); break;
                        case "thinking": parts.Add(new ThinkingPart((string)b["thinking"]!, (string?)b["signature"])); break;
                        case "image": parts.Add(new ImagePart((string)b["source"]!["media_type"]!, (string)b["source"]!["data"]!)); break;
                        case "tool_use": parts.Add(new CallPart((string)b["id"]!, (string)b["name"]!, b["input"]!.ToJsonString())); break;
                        case "tool_result":
                            var text = b["content"] is JsonArray inner ? string.Concat(inner.Select(c => (string?)c!["text"])) : (string?)b["content"] ?? "";
                            parts.Add(new ResultPart((string)b["tool_use_id"]!, text, (bool?)b["is_error"] ?? false));
                            break;
                    }
                }
            }
            else parts.Add(new TextPart((string)m["content"]!));
            messages.Add(new UpstreamMessage((string?)m["role"] == "user", parts));
        }
        return new UpstreamView(system, messages, (string?)body["thinking"]?["type"] is "enabled" or "adaptive", (int?)body["max_tokens"],
            Names(body["tools"], t => (string?)t["name"]), (int?)body["thinking"]?["budget_tokens"]);
    }

    public override async ValueTask DisposeAsync() => await _sim.DisposeAsync();
}

/// <summary>
/// Chat completions: OpenAI itself, or an OpenAI-compatible server (the same simulator, no key, under a
/// compatible server's name). Tool results have no error flag in this format.
/// </summary>
internal sealed class OpenAiRow(string name, string model, string upstreamModel, bool compatible) : MatrixProvider
{
    private OpenAiSimulator _sim = null!;

    public override string Name => name;
    public override string Model => model;
    public override bool HasToolErrorFlag => false;
    public override bool ResendsThinking => false;
    public override bool PassesThrough(FrontDoorDialect door) => door == FrontDoorDialect.OpenAiChat;
    public override string CallId(int index) => $"call_Matrix{index}{name}Xy";

    public override async Task<IEnumerable<string>> StartAsync(GatewayFixture gateway)
    {
        if (!compatible)
        {
            _sim = await OpenAiSimulator.StartAsync();
            return [$"--Providers:OpenAI:ApiKey={OpenAiSimulatorOptions.DefaultApiKey}", $"--Providers:OpenAI:BaseUrl={_sim.ApiBaseUrl}",
                "--Providers:OpenAI:RetryBaseDelayMilliseconds=10"];
        }
        _sim = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions { RequireAuth = false, Models = [new(upstreamModel, "library")] });
        return [$"--Providers:Compatible:{name}:BaseUrl={_sim.ApiBaseUrl}", $"--Providers:Compatible:{name}:Models={upstreamModel}",
            $"--Providers:Compatible:{name}:RetryBaseDelayMilliseconds=10"];
    }

    public override void Script(Reply reply)
    {
        _sim.ClearRequests();
        _sim.ClearScenarios();
        _sim.Enqueue(new OpenAiScenario { Answer = ChatCompletions.Answer(reply, Calls(reply)) });
    }

    public override JsonObject ReceivedBody() => Single(_sim.ChatRequests);

    public override UpstreamView Read(JsonObject body) => ChatCompletions.Read(body);

    public override async ValueTask DisposeAsync() => await _sim.DisposeAsync();
}

/// <summary>
/// GitHub Copilot: chat completions behind a GitHub-token exchange, so the chat-completions wire is the shared
/// one. Each call must carry the exchanged token and the editor headers, and image parts go only with
/// <c>Copilot-Vision-Request</c> (the simulator refuses them otherwise); both are checked on every request read back.
/// A reasoning model, so a thinking request goes as <c>reasoning_effort</c>; its reasoning comes back in Copilot's
/// <c>reasoning_text</c>, which chat-door clients get as it is on the passthrough path.
/// </summary>
internal sealed class CopilotRow : MatrixProvider
{
    private CopilotSimulator _sim = null!;

    public override string Name => "copilot";
    public override string Model => "copilot/gpt-5-mini";
    public override bool HasToolErrorFlag => false;
    public override bool ResendsThinking => false;
    public override bool PassesThrough(FrontDoorDialect door) => door == FrontDoorDialect.OpenAiChat;
    public override string CallId(int index) => $"call_Matrix{index}CopilotZq";
    public override string ChatReasoningField => CopilotSimulator.ReasoningField;

    public override async Task<IEnumerable<string>> StartAsync(GatewayFixture gateway)
    {
        _sim = await CopilotSimulator.StartAsync();
        return Providers.Copilot.CopilotGateway.Settings(_sim, _sim.IssueGitHubToken());
    }

    public override void Script(Reply reply)
    {
        _sim.ClearRequests();
        _sim.ClearScenarios();
        _sim.Enqueue(ChatCompletions.Answer(reply, Calls(reply)));
    }

    public override JsonObject ReceivedBody()
    {
        var body = Single(_sim.ChatRequests);
        var call = _sim.ChatRequests[0];
        Assert.StartsWith("Bearer tid=", call.Header("Authorization"));
        foreach (var header in CopilotSimulator.RequiredHeaders) Assert.False(string.IsNullOrEmpty(call.Header(header)), header);
        var images = body["messages"]!.AsArray().Any(m => m!["content"] is JsonArray parts && parts.Any(p => (string?)p!["type"] == "image_url"));
        Assert.Equal(images ? "true" : null, call.Header("Copilot-Vision-Request"));
        // A premium request per user turn: a follow-up after tool results is the agent's.
        Assert.Equal((string?)body["messages"]!.AsArray()[^1]!["role"] == "user" ? "user" : "agent", call.Header("X-Initiator"));
        return body;
    }

    public override UpstreamView Read(JsonObject body) => ChatCompletions.Read(body);

    public override async ValueTask DisposeAsync() => await _sim.DisposeAsync();
}

/// <summary>Amazon Bedrock: SigV4-signed Converse (JSON) and ConverseStream (event stream) against the simulator.</summary>
internal sealed class BedrockRow : MatrixProvider
{
    private const string ModelId = "anthropic.claude-sonnet-4-5-20250929-v1:0";
    private BedrockSimulator _sim = null!;

    public override string Name => "bedrock";
    public override string Model => "bedrock/" + ModelId;
    public override bool HasToolErrorFlag => true;
    public override string CallId(int index) => $"tooluse_Bedrock{index}Qw3rTy";
    public override string ThinkingSignature(string thinking) => "EqBedrockSig" + thinking.Length;

    public override async Task<IEnumerable<string>> StartAsync(GatewayFixture gateway)
    {
        _sim = await BedrockSimulator.StartAsync();
        return ["--Providers:Bedrock:Region=us-east-1", $"--Providers:Bedrock:AccessKeyId={BedrockSimulatorOptions.TestAccessKeyId}",
            $"--Providers:Bedrock:SecretAccessKey={BedrockSimulatorOptions.TestSecretAccessKey}", $"--Providers:Bedrock:Endpoint={_sim.BaseUrl}",
            $"--Providers:Bedrock:Models={ModelId}", "--Providers:Bedrock:RetryBaseDelayMilliseconds=10"];
    }

    public override void Script(Reply reply)
    {
        _sim.ClearRequests();
        _sim.ClearScenarios();
        var content = new List<JsonObject>();
        if (reply.Thinking is { } thinking)
            content.Add(new JsonObject { ["reasoningContent"] = new JsonObject { ["reasoningText"] = new JsonObject { ["text"] = thinking, ["signature"] = ThinkingSignature(thinking) } } });
        if (reply.Text.Length > 0) content.Add(new JsonObject { ["text"] = reply.Text });
        foreach (var (id, name, arguments) in Calls(reply))
            content.Add(new JsonObject { ["toolUse"] = new JsonObject { ["toolUseId"] = id, ["name"] = name, ["input"] = JsonNode.Parse(arguments) } });
        var stop = reply.Stop switch { Stop.EndTurn => "end_turn", Stop.ToolUse => "tool_use", _ => "max_tokens" };
        _sim.Enqueue(BedrockScenario.Reply(new BedrockSimulator.Answer(content, stop, reply.InputTokens, reply.OutputTokens, reply.CacheRead, reply.CacheWrite, null)));
    }

    public override JsonObject ReceivedBody() => Single(_sim.ChatRequests);

    public override UpstreamView Read(JsonObject body)
    {
        var system = body["system"] is JsonArray s ? string.Join("\n", s.Select(b => (string?)b!["text"]).OfType<string>()) : null;
        var messages = new List<UpstreamMessage>();
        foreach (var m in body["messages"]!.AsArray())
        {
            var parts = new List<Part>();
            foreach (var b in m!["content"]!.AsArray())
            {
                if (b!["text"] is { } text) parts.Add(new TextPart((string)text!));
                else if (b["image"] is { } image) parts.Add(new ImagePart(MediaType((string)image["format"]!), (string)image["source"]!["bytes"]!));
                else if (b["reasoningContent"]?["reasoningText"] is { } reasoning)
                    parts.Add(new ThinkingPart((string)reasoning["text"]!, (string?)reasoning["signature"]));
                else if (b["toolUse"] is { } use) parts.Add(new CallPart((string)use["toolUseId"]!, (string)use["name"]!, use["input"]!.ToJsonString()));
                else if (b["toolResult"] is { } result)
                    parts.Add(new ResultPart((string)result["toolUseId"]!,
                        string.Concat(result["content"]!.AsArray().Select(c => (string?)c!["text"] ?? c!["json"]?.ToJsonString())),
                        (string?)result["status"] == "error"));
            }
            messages.Add(new UpstreamMessage((string?)m["role"] == "user", parts));
        }
        return new UpstreamView(system, messages,
            (string?)body["additionalModelRequestFields"]?["thinking"]?["type"] is "enabled" or "adaptive",
            (int?)body["inferenceConfig"]?["maxTokens"], Names(body["toolConfig"]?["tools"], t => (string?)t["toolSpec"]?["name"]),
            (int?)body["additionalModelRequestFields"]?["thinking"]?["budget_tokens"]);
    }

    public override async ValueTask DisposeAsync() => await _sim.DisposeAsync();
}

/// <summary>
/// The chat-completions wire, shared by every upstream that speaks it (OpenAI, compatible servers, and any
/// OpenAI-chat-shaped provider added later): the scripted answer, and the request read back.
/// </summary>
internal static class ChatCompletions
{
    public static OpenAiAnswer Answer(Reply reply, (string Id, string Name, string Arguments)[] calls) => new()
    {
        Reasoning = reply.Thinking is { } thinking ? [.. MatrixText.Pieces(thinking, 3)] : [],
        Text = [.. MatrixText.Pieces(reply.Text, 3)],
        ToolCalls = [.. calls.Select(k => new OpenAiToolCall(k.Name, k.Arguments, k.Id))],
        FinishReason = reply.Stop == Stop.MaxTokens ? "length" : null,
        // OpenAI's prompt_tokens includes the cached ones (it reports no cache writes).
        PromptTokens = reply.InputTokens + reply.CacheRead,
        CachedTokens = reply.CacheRead,
        CompletionTokens = reply.OutputTokens,
    };

    public static UpstreamView Read(JsonObject body)
    {
        string? system = null;
        var messages = new List<UpstreamMessage>();
        foreach (var m in body["messages"]!.AsArray())
        {
            var role = (string)m!["role"]!;
            string Text(JsonNode? content) => content is JsonArray parts
                ? string.Concat(parts.Where(p => (string?)p!["type"] == "text").Select(p => (string?)p!["text"]))
                : (string?)content ?? "";
            switch (role)
            {
                case "system" or "developer" when messages.Count == 0:
                    system = system is null ? Text(m["content"]) : system + "\n\n" + Text(m["content"]);
                    break;
                case "tool":
                    messages.Add(new UpstreamMessage(true, [new ResultPart((string)m["tool_call_id"]!, Text(m["content"]), null)]));
                    break;
                case "assistant":
                    List<Part> said = [new TextPart(Text(m["content"]))];
                    if ((string?)m["reasoning_content"] is { } reasoning) said.Add(new ThinkingPart(reasoning, null));
                    foreach (var k in m["tool_calls"] as JsonArray ?? [])
                        said.Add(new CallPart((string)k!["id"]!, (string)k["function"]!["name"]!, (string)k["function"]!["arguments"]!));
                    messages.Add(new UpstreamMessage(false, said));
                    break;
                default:
                    List<Part> asked = [new TextPart(Text(m["content"]))];
                    foreach (var p in m["content"] as JsonArray ?? [])
                    {
                        if ((string?)p!["type"] != "image_url") continue;
                        var url = (string)p["image_url"]!["url"]!;
                        var comma = url.IndexOf(',');
                        asked.Add(new ImagePart(url["data:".Length..url.IndexOf(';')], url[(comma + 1)..]));
                    }
                    messages.Add(new UpstreamMessage(true, asked));
                    break;
            }
        }
        return new UpstreamView(system, MatrixProvider.Merge(messages), body["reasoning_effort"] is not null && (string?)body["reasoning_effort"] != "none",
            (int?)body["max_completion_tokens"] ?? (int?)body["max_tokens"], MatrixProvider.Names(body["tools"], t => (string?)t["function"]?["name"]),
            ReasoningEffort: (string?)body["reasoning_effort"]);
    }
}

internal static class MatrixText
{
    /// <summary>Cuts text into about <paramref name="count"/> pieces, so streams carry several deltas.</summary>
    public static IEnumerable<string> Pieces(string text, int count)
    {
        var size = Math.Max(1, (int)Math.Ceiling(text.Length / (double)count));
        for (var i = 0; i < text.Length; i += size) yield return text.Substring(i, Math.Min(size, text.Length - i));
    }
}
