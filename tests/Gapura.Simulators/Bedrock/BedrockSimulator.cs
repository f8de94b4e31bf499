using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Gapura.Simulators.Kiro;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Gapura.Simulators.Bedrock;

/// <summary>
/// A faithful stand-in for Amazon Bedrock on a real Kestrel socket: <c>POST /model/{modelId}/converse</c>
/// (JSON), <c>POST /model/{modelId}/converse-stream</c> (AWS event stream, frames encoded by the AWS SDK and
/// written in chunks cut at random byte offsets) and <c>GET /foundation-models</c>. Every request's SigV4
/// signature is verified (<see cref="BedrockSignatureVerifier"/>); a bad one gets AWS's 403. Requests are
/// validated as Bedrock does (alternating roles, toolConfig with tool blocks, maxTokens within the model's cap…),
/// then answered by a queued <see cref="BedrockScenario"/> or the default responder: an echo,
/// <c>[[tool:NAME {json}]]</c> → a toolUse, a toolResult → "Tool said: …".
/// </summary>
public sealed partial class BedrockSimulator : SimulatorServer
{
    private readonly BedrockSimulatorOptions _options;
    private readonly BedrockSignatureVerifier _verifier;
    private readonly ConcurrentQueue<BedrockScenario> _scenarios = new();
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly ConcurrentDictionary<string, bool> _cachedPrefixes = new(StringComparer.Ordinal);
    private readonly Random _seeds;
    private readonly object _seedLock = new();
    private int _signatureFailures;
    private int _calls;

    private BedrockSimulator(BedrockSimulatorOptions options)
    {
        _options = options;
        _verifier = new BedrockSignatureVerifier(options, TimeProvider.System);
        _seeds = new Random(options.Seed);
    }

    public BedrockSimulatorOptions Options => _options;

    /// <summary>Every request received, in arrival order (rejected ones too).</summary>
    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    /// <summary>Converse and ConverseStream requests only.</summary>
    public IReadOnlyList<RecordedRequest> ChatRequests => [.. _requests.Where(r => r.Path.StartsWith("/model/", StringComparison.Ordinal))];

    /// <summary>The access key id and region a recorded request was signed with (null for an unsigned one).</summary>
    public static (string AccessKeyId, string Region)? SignedWith(RecordedRequest request)
        => BedrockSignatureVerifier.ScopeOf(request.Header("Authorization"));

    /// <summary>Requests refused for a missing or wrong signature.</summary>
    public int SignatureFailures => Volatile.Read(ref _signatureFailures);

    /// <summary>Chat calls that passed the signature check.</summary>
    public int ChatCalls => Volatile.Read(ref _calls);

    public int PendingScenarios => _scenarios.Count;

    public static async Task<BedrockSimulator> StartAsync(BedrockSimulatorOptions? options = null, CancellationToken ct = default)
    {
        var simulator = new BedrockSimulator(options ?? new BedrockSimulatorOptions());
        await simulator.StartHostAsync(simulator._options.Url, simulator._options.Verbose, a => a.Run(simulator.HandleAsync), ct);
        return simulator;
    }

    public void Enqueue(BedrockScenario scenario) => _scenarios.Enqueue(scenario);

    public void ClearRequests() => _requests.Clear();

    /// <summary>Drops scripts no request consumed (one refused before reaching its script leaves it queued).</summary>
    public void ClearScenarios() => _scenarios.Clear();

    private Random NextRandom()
    {
        lock (_seedLock) return new Random(_seeds.Next());
    }

    // ---- dispatch --------------------------------------------------------------------------------

    private async Task HandleAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        var body = buffer.ToArray();
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in context.Request.Headers) headers[name] = values.ToString();
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "/";
        var rawPath = raw.Split('?')[0];
        _requests.Enqueue(new RecordedRequest(context.Request.Method, rawPath, context.Request.QueryString.Value ?? "", headers, body));

        if (_verifier.Verify(context, body, "bedrock") is { } failure)
        {
            Interlocked.Increment(ref _signatureFailures);
            await WriteErrorAsync(context, 403, failure.Type, failure.Message);
            return;
        }

        if (context.Request.Method == "GET" && rawPath == "/foundation-models")
        {
            await WriteFoundationModelsAsync(context, BedrockSignatureVerifier.ScopeOf(context.Request.Headers.Authorization)!.Value.Region);
            return;
        }
        var route = ModelRoute().Match(rawPath);
        if (context.Request.Method != "POST" || !route.Success)
        {
            await WriteErrorAsync(context, 404, "UnknownOperationException", $"No operation at {context.Request.Method} {rawPath}.");
            return;
        }
        Interlocked.Increment(ref _calls);
        var modelId = Uri.UnescapeDataString(route.Groups["model"].Value);
        var streaming = route.Groups["op"].Value == "converse-stream";

        if (ModelCap(modelId) is not { } cap)
        {
            await WriteErrorAsync(context, 400, "ValidationException", "The provided model identifier is invalid.");
            return;
        }
        JsonObject? request;
        try { request = JsonNode.Parse(body) as JsonObject; }
        catch (JsonException) { request = null; }
        if (request is null)
        {
            await WriteErrorAsync(context, 400, "SerializationException", "Unable to parse the request body as JSON.");
            return;
        }
        string? invalid;
        // A value of the wrong JSON type (a number for a role…) is a malformed request, as Bedrock says.
        try { invalid = Validate(request, cap); }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            invalid = $"Malformed input request: {e.Message}";
        }
        if (invalid is not null)
        {
            await WriteErrorAsync(context, 400, "ValidationException", invalid);
            return;
        }

        var rng = NextRandom();
        var scenario = _scenarios.TryDequeue(out var s) ? s : null;
        if (scenario?.DelayBeforeFirstByte > TimeSpan.Zero) await Task.Delay(scenario.DelayBeforeFirstByte, context.RequestAborted);
        if (scenario?.Status is { } status)
        {
            context.Response.StatusCode = status;
            foreach (var (name, value) in scenario.Headers) context.Response.Headers[name] = value;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(scenario.Body ?? "", context.RequestAborted);
            return;
        }

        var answer = scenario is null ? DefaultAnswer(request, body.Length, rng) : scenario.Answer;
        if (!streaming)
        {
            await WriteConverseAsync(context, answer ?? throw new InvalidOperationException("Scripted event streams are for converse-stream calls."));
            return;
        }
        var events = answer is not null ? ToEvents(answer, rng) : scenario!.Events;
        await StreamAsync(context, events, scenario, rng);
    }

    private int? ModelCap(string modelId)
    {
        if (_options.Models.TryGetValue(modelId, out var cap)) return cap;
        // A cross-region inference profile id: the geography, a dot, then a model id.
        var dot = modelId.IndexOf('.');
        return dot > 0 && _options.Models.TryGetValue(modelId[(dot + 1)..], out cap) ? cap : null;
    }

    [GeneratedRegex(@"^/model/(?<model>[^/]+)/(?<op>converse|converse-stream)$")]
    private static partial Regex ModelRoute();

    // ---- validation (the checks Bedrock makes before a model sees the request) --------------------

    private static readonly string[] BlockKinds = ["text", "image", "toolUse", "toolResult", "reasoningContent", "cachePoint", "document", "video", "guardContent"];

    private static string? Validate(JsonObject request, int cap)
    {
        if (request["messages"] is not JsonArray messages || messages.Count == 0)
            return "Malformed input request: messages must contain at least one message.";
        var hasToolConfig = request["toolConfig"] is JsonObject tc && tc["tools"] is JsonArray { Count: > 0 };
        string? previous = null;
        for (var i = 0; i < messages.Count; i++)
        {
            if (messages[i] is not JsonObject m) return $"Malformed input request: messages.{i} must be an object.";
            var role = m["role"]?.GetValue<string>();
            if (role is not ("user" or "assistant")) return $"Malformed input request: messages.{i}.role must be user or assistant.";
            if (i == 0 && role != "user") return "A conversation must start with a user message. Try again with a conversation that starts with a user message.";
            if (role == previous) return "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.";
            previous = role;
            if (m["content"] is not JsonArray content || content.Count == 0)
                return $"The content field in the Message object at messages.{i} is empty. Add a ContentBlock object to the content field and try again.";
            for (var j = 0; j < content.Count; j++)
            {
                if (content[j] is not JsonObject block || block.Count != 1 || !BlockKinds.Contains(block.First().Key))
                    return $"Malformed input request: messages.{i}.content.{j} must have exactly one of {string.Join(", ", BlockKinds)}.";
                var kind = block.First().Key;
                if (kind == "text" && string.IsNullOrWhiteSpace(block["text"]?.GetValue<string>()))
                    return $"The text field in the ContentBlock object at messages.{i}.content.{j} is blank. Add text to the text field, and try again.";
                if (kind is "toolUse" or "toolResult" && !hasToolConfig)
                    return "The toolConfig field must be defined when using toolUse and toolResult content blocks.";
                if (kind == "cachePoint" && j == 0)
                    return $"messages.{i}.content.{j}: a cachePoint must follow another content block.";
                if (kind == "reasoningContent" && role != "assistant")
                    return $"messages.{i}.content.{j}: reasoningContent is allowed in assistant messages only.";
                if (kind == "image" && block["image"]?["source"]?["bytes"]?.GetValue<string>() is { } b64 && !IsBase64(b64))
                    return $"messages.{i}.content.{j}.image.source.bytes is not valid base64.";
                if (kind == "toolResult" && block["toolResult"]?["status"]?.GetValue<string>() is { } st && st is not ("success" or "error"))
                    return $"messages.{i}.content.{j}.toolResult.status must be success or error.";
            }
        }
        var maxTokens = request["inferenceConfig"]?["maxTokens"]?.GetValue<int>();
        if (maxTokens > cap)
            return $"The maximum tokens you requested exceeds the model limit of {cap}. Try again with a maximum tokens value that is lower than {cap}.";
        if (request["additionalModelRequestFields"]?["thinking"]?["budget_tokens"]?.GetValue<int>() is { } budget && maxTokens is { } mt && budget >= mt)
            return "max_tokens must be greater than thinking.budget_tokens.";
        return null;
    }

    private static bool IsBase64(string s)
    {
        var buffer = new byte[s.Length];
        return Convert.TryFromBase64String(s, buffer, out _);
    }

    // ---- the default responder -------------------------------------------------------------------

    /// <summary>An answer before it is rendered as JSON (Converse) or as events (ConverseStream).</summary>
    public sealed record Answer(List<JsonObject> Content, string StopReason, int InputTokens, int OutputTokens, int CacheRead, int CacheWrite, string? StopSequence);

    private Answer DefaultAnswer(JsonObject request, int bodyLength, Random rng)
    {
        var messages = (JsonArray)request["messages"]!;
        var last = (JsonArray)messages[^1]!["content"]!;
        var content = new List<JsonObject>();
        string text;
        string stop = "end_turn";

        var toolResults = last.OfType<JsonObject>().Where(b => b["toolResult"] is not null).ToList();
        var userText = string.Concat(last.OfType<JsonObject>().Select(b => b["text"]?.GetValue<string>()).Where(t => t is not null));
        var images = last.OfType<JsonObject>().Count(b => b["image"] is not null);

        var thinking = request["additionalModelRequestFields"]?["thinking"]?["type"]?.GetValue<string>() is "enabled" or "adaptive";
        if (thinking)
        {
            var reasoning = $"Thinking about: {(userText.Length > 0 ? userText : "the tool result")}";
            content.Add(new JsonObject
            {
                ["reasoningContent"] = new JsonObject
                {
                    ["reasoningText"] = new JsonObject { ["text"] = reasoning, ["signature"] = Signature(reasoning) },
                },
            });
        }

        if (toolResults.Count > 0)
        {
            var said = toolResults.Select(b => string.Concat(((JsonArray?)b["toolResult"]!["content"] ?? []).OfType<JsonObject>()
                .Select(c => c["text"]?.GetValue<string>() ?? c["json"]?.ToJsonString() ?? "")));
            text = "Tool said: " + string.Join(" | ", said);
        }
        else if (ToolDirective().Match(userText) is { Success: true } directive && DeclaredTool(request, directive.Groups["name"].Value))
        {
            var before = userText[..directive.Index].Trim();
            if (before.Length > 0) content.Add(new JsonObject { ["text"] = before });
            JsonNode input;
            try { input = JsonNode.Parse(directive.Groups["json"].Value) ?? new JsonObject(); }
            catch (JsonException) { input = new JsonObject(); }
            content.Add(new JsonObject
            {
                ["toolUse"] = new JsonObject { ["toolUseId"] = $"tooluse_{rng.Next():x8}{rng.Next():x8}", ["name"] = directive.Groups["name"].Value, ["input"] = input },
            });
            return Finish(request, content, "tool_use", null, bodyLength);
        }
        else
        {
            text = userText.Length > 0 ? userText : "(no text)";
            if (images > 0) text += $" [{images} image{(images == 1 ? "" : "s")}]";
        }

        string? stopSequence = null;
        if (request["inferenceConfig"]?["stopSequences"] is JsonArray stops)
        {
            foreach (var s in stops.Select(n => n?.GetValue<string>()).Where(s => !string.IsNullOrEmpty(s)))
            {
                var at = text.IndexOf(s!, StringComparison.Ordinal);
                if (at < 0) continue;
                text = text[..at];
                stop = "stop_sequence";
                stopSequence = s;
                break;
            }
        }
        var words = text.Split(' ');
        var max = request["inferenceConfig"]?["maxTokens"]?.GetValue<int>() ?? int.MaxValue;
        if (words.Length > max)
        {
            text = string.Join(' ', words[..max]);
            stop = "max_tokens";
        }
        if (text.Length > 0) content.Add(new JsonObject { ["text"] = text });
        return Finish(request, content, stop, stopSequence, bodyLength);
    }

    private Answer Finish(JsonObject request, List<JsonObject> content, string stop, string? stopSequence, int bodyLength)
    {
        var output = content.Sum(c => (c["text"]?.GetValue<string>() ?? c.ToJsonString()).Split(' ').Length);
        var (read, write, cachedChars) = CacheUsage(request);
        var input = Math.Max(1, (bodyLength - cachedChars) / 4);
        var wantsStop = request["additionalModelResponseFieldPaths"] is JsonArray paths && paths.Any(p => p?.GetValue<string>() == "/stop_sequence");
        return new Answer(content, stop, input, Math.Max(1, output), read, write, wantsStop ? stopSequence : null);
    }

    /// <summary>
    /// Prompt caching as Bedrock reports it: the prefix up to the last cachePoint is written on first sight
    /// (cacheWriteInputTokens) and read afterwards (cacheReadInputTokens); ~4 characters a token.
    /// </summary>
    private (int Read, int Write, int Chars) CacheUsage(JsonObject request)
    {
        var prefix = new StringBuilder();
        var cut = -1;
        void Walk(JsonNode? node)
        {
            if (node is not JsonArray array) return;
            foreach (var item in array)
            {
                if (item is JsonObject o && o.ContainsKey("cachePoint")) { cut = prefix.Length; continue; }
                prefix.Append(item?.ToJsonString());
            }
        }
        Walk(request["toolConfig"]?["tools"]);
        Walk(request["system"]);
        if (request["messages"] is JsonArray messages)
            foreach (var m in messages) Walk(m?["content"]);
        if (cut <= 0) return (0, 0, 0);
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(prefix.ToString(0, cut))));
        var tokens = Math.Max(1, cut / 4);
        return _cachedPrefixes.TryAdd(key, true) ? (0, tokens, cut) : (tokens, 0, cut);
    }

    private static bool DeclaredTool(JsonObject request, string name)
        => request["toolConfig"]?["tools"] is JsonArray tools && tools.Any(t => t?["toolSpec"]?["name"]?.GetValue<string>() == name);

    private static string Signature(string text) => Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes("sim-signature:" + text)));

    [GeneratedRegex(@"\[\[tool:(?<name>[A-Za-z0-9_-]+)\s+(?<json>\{.*\})\]\]", RegexOptions.Singleline)]
    private static partial Regex ToolDirective();

    /// <summary>The answer as ConverseStream events: text in small deltas, tool input in fragments, reasoning then its signature.</summary>
    public static List<BedrockEvent> ToEvents(Answer answer, Random rng)
    {
        var events = new List<BedrockEvent> { BedrockEvent.MessageStart() };
        for (var i = 0; i < answer.Content.Count; i++)
        {
            var block = answer.Content[i];
            if (block["text"]?.GetValue<string>() is { } text)
            {
                foreach (var piece in Pieces(text, rng)) events.Add(BedrockEvent.Text(i, piece));
            }
            else if (block["toolUse"] is JsonObject use)
            {
                events.Add(BedrockEvent.ToolStart(i, use["toolUseId"]!.GetValue<string>(), use["name"]!.GetValue<string>()));
                foreach (var piece in Pieces(use["input"]!.ToJsonString(), rng)) events.Add(BedrockEvent.ToolInput(i, piece));
            }
            else if (block["reasoningContent"]?["reasoningText"] is JsonObject reasoning)
            {
                foreach (var piece in Pieces(reasoning["text"]!.GetValue<string>(), rng)) events.Add(BedrockEvent.Reasoning(i, piece));
                events.Add(BedrockEvent.ReasoningSignature(i, reasoning["signature"]!.GetValue<string>()));
            }
            events.Add(BedrockEvent.BlockStop(i));
        }
        events.Add(BedrockEvent.MessageStop(answer.StopReason, answer.StopSequence));
        events.Add(BedrockEvent.Metadata(answer.InputTokens, answer.OutputTokens, answer.CacheRead, answer.CacheWrite));
        return events;
    }

    private static IEnumerable<string> Pieces(string text, Random rng)
    {
        for (var i = 0; i < text.Length;)
        {
            var n = Math.Min(text.Length - i, rng.Next(1, 12));
            // Never split a surrogate pair: each delta is a JSON string on its own.
            if (i + n < text.Length && char.IsHighSurrogate(text[i + n - 1])) n++;
            yield return text.Substring(i, n);
            i += n;
        }
    }

    // ---- writers ---------------------------------------------------------------------------------

    private static async Task WriteConverseAsync(HttpContext context, Answer answer)
    {
        var usage = new JsonObject
        {
            ["inputTokens"] = answer.InputTokens,
            ["outputTokens"] = answer.OutputTokens,
            ["totalTokens"] = answer.InputTokens + answer.OutputTokens + answer.CacheRead + answer.CacheWrite,
        };
        if (answer.CacheRead > 0 || answer.CacheWrite > 0)
        {
            usage["cacheReadInputTokens"] = answer.CacheRead;
            usage["cacheWriteInputTokens"] = answer.CacheWrite;
        }
        var body = new JsonObject
        {
            ["output"] = new JsonObject { ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = new JsonArray([.. answer.Content.Select(c => (JsonNode)c.DeepClone())]) } },
            ["stopReason"] = answer.StopReason,
            ["usage"] = usage,
            ["metrics"] = new JsonObject { ["latencyMs"] = 120 },
        };
        if (answer.StopSequence is not null) body["additionalModelResponseFields"] = new JsonObject { ["stop_sequence"] = answer.StopSequence };
        context.Response.ContentType = "application/json";
        context.Response.Headers["x-amzn-RequestId"] = Guid.NewGuid().ToString();
        await context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted);
    }

    private async Task StreamAsync(HttpContext context, List<BedrockEvent> events, BedrockScenario? scenario, Random rng)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/vnd.amazon.eventstream";
        context.Response.Headers["x-amzn-RequestId"] = Guid.NewGuid().ToString();
        await context.Response.StartAsync(context.RequestAborted);
        var split = scenario?.Split ?? _options.Split;
        long written = 0;
        var ct = context.RequestAborted;
        foreach (var e in events)
        {
            if (scenario?.DelayBetweenFrames > TimeSpan.Zero) await Task.Delay(scenario.DelayBetweenFrames, ct);
            var bytes = e.Encode(_options.Padding ? Padding(rng) : null);
            for (var offset = 0; offset < bytes.Length;)
            {
                var size = split switch
                {
                    BedrockSplit.OneByte => 1,
                    BedrockSplit.Frame => bytes.Length - offset,
                    _ => rng.Next(1, Math.Max(2, _options.MaxChunkBytes + 1)),
                };
                size = Math.Min(size, bytes.Length - offset);
                if (scenario?.CutAfterBytes is { } cut && written + size > cut)
                {
                    var rest = (int)(cut - written);
                    if (rest > 0) await context.Response.Body.WriteAsync(bytes.AsMemory(offset, rest), ct);
                    await context.Response.Body.FlushAsync(ct);
                    context.Abort();
                    return;
                }
                await context.Response.Body.WriteAsync(bytes.AsMemory(offset, size), ct);
                await context.Response.Body.FlushAsync(ct);
                offset += size;
                written += size;
            }
        }
    }

    private static string Padding(Random rng)
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        var chars = new char[rng.Next(1, 30)];
        for (var i = 0; i < chars.Length; i++) chars[i] = alphabet[rng.Next(alphabet.Length)];
        return new string(chars);
    }

    private async Task WriteFoundationModelsAsync(HttpContext context, string region)
    {
        var summaries = new JsonArray();
        foreach (var id in _options.Models.Keys)
            summaries.Add(new JsonObject
            {
                ["modelArn"] = $"arn:aws:bedrock:{region}::foundation-model/{id}",
                ["modelId"] = id,
                ["modelName"] = id,
                ["providerName"] = "Anthropic",
                ["inputModalities"] = new JsonArray("TEXT", "IMAGE"),
                ["outputModalities"] = new JsonArray("TEXT"),
                ["responseStreamingSupported"] = true,
                ["inferenceTypesSupported"] = new JsonArray("ON_DEMAND", "INFERENCE_PROFILE"),
                ["modelLifecycle"] = new JsonObject { ["status"] = "ACTIVE" },
            });
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(new JsonObject { ["modelSummaries"] = summaries }.ToJsonString(), context.RequestAborted);
    }

    private static async Task WriteErrorAsync(HttpContext context, int status, string type, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.Headers["x-amzn-ErrorType"] = $"{type}:http://internal.amazon.com/coral/com.amazon.bedrock/";
        context.Response.Headers["x-amzn-RequestId"] = Guid.NewGuid().ToString();
        await context.Response.WriteAsync(new JsonObject { ["message"] = message }.ToJsonString(), context.RequestAborted);
    }
}
