using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Simulators.Kiro;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Gapura.Simulators.OpenAi;

/// <summary>
/// A faithful stand-in for the OpenAI API (and so for any OpenAI-compatible server) on a real Kestrel
/// socket: <c>POST /v1/chat/completions</c> and <c>POST /v1/responses</c>, streamed or not, and
/// <c>GET /v1/models</c>, behind bearer keys, with OpenAI's error shape. Every request is recorded with its
/// headers and raw body bytes; answers come from queued <see cref="OpenAiScenario"/>s or the
/// <see cref="OpenAiDefaultResponder"/>. It also plays the ChatGPT Codex backend and the ChatGPT sign-in that
/// feeds it (OAuth 2 + PKCE, in ChatGptSignIn.cs).
/// </summary>
public sealed partial class OpenAiSimulator : SimulatorServer
{
    private readonly OpenAiSimulatorOptions _options;
    private readonly ConcurrentQueue<OpenAiScenario> _scenarios = new();
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly Random _seeds;
    private readonly object _seedLock = new();
    private long _ids;
    private int _chatCalls;
    private int _responsesCalls;

    private OpenAiSimulator(OpenAiSimulatorOptions options)
    {
        _options = options;
        _seeds = new Random(options.Seed);
    }

    /// <summary><see cref="BaseUrl"/> + <c>/v1</c>: what OpenAI SDKs and the gateway's settings take.</summary>
    public string ApiBaseUrl => BaseUrl + "/v1";

    public OpenAiSimulatorOptions Options => _options;

    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    public IReadOnlyList<RecordedRequest> ChatRequests => [.. _requests.Where(r => r.Path == "/v1/chat/completions")];

    public IReadOnlyList<RecordedRequest> ResponsesRequests => [.. _requests.Where(r => r.Path == "/v1/responses")];

    /// <summary>Requests to the ChatGPT Codex backend's <c>/backend-api/codex/responses</c>.</summary>
    public IReadOnlyList<RecordedRequest> CodexBackendRequests => [.. _requests.Where(r => r.Path == CodexBackendPath + "/responses")];

    /// <summary>Where the ChatGPT Codex backend lives on this simulator: <see cref="BaseUrl"/> + this is what a ChatGPT sign-in's base URL is.</summary>
    public const string CodexBackendPath = "/backend-api/codex";

    /// <summary><see cref="BaseUrl"/> + <see cref="CodexBackendPath"/>.</summary>
    public string CodexBackendUrl => BaseUrl + CodexBackendPath;

    /// <summary>Calls that reached the chat endpoint (including refused ones).</summary>
    public int ChatCalls => Volatile.Read(ref _chatCalls);

    public int ResponsesCalls => Volatile.Read(ref _responsesCalls);

    public int PendingScenarios => _scenarios.Count;

    public static async Task<OpenAiSimulator> StartAsync(OpenAiSimulatorOptions? options = null, CancellationToken ct = default)
    {
        var simulator = new OpenAiSimulator(options ?? new OpenAiSimulatorOptions());
        await simulator.StartHostAsync(simulator._options.Url, simulator._options.Verbose, a => simulator.Map(a), ct);
        return simulator;
    }

    /// <summary>Queues a scripted answer for a coming chat or responses call (first in, first out).</summary>
    public void Enqueue(OpenAiScenario scenario) => _scenarios.Enqueue(scenario);

    public void ClearRequests() => _requests.Clear();

    /// <summary>Drops scripts no request consumed (one refused before reaching its script leaves it queued).</summary>
    public void ClearScenarios() => _scenarios.Clear();

    // ---- endpoints -------------------------------------------------------------------------------

    private void Map(WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var (name, values) in context.Request.Headers) headers[name] = values.ToString();
            var recorded = new RecordedRequest(context.Request.Method, context.Request.Path.Value ?? "", context.Request.QueryString.Value ?? "", headers, buffer.ToArray());
            _requests.Enqueue(recorded);
            context.Items[typeof(RecordedRequest)] = recorded;
            context.Response.Headers["x-request-id"] = "req_" + NextId();
            await next(context);
        });
        app.MapPost("/v1/chat/completions", ChatAsync);
        app.MapPost("/v1/responses", ResponsesAsync);
        app.MapPost(CodexBackendPath + "/responses", CodexBackendAsync);
        app.MapPost(OAuthTokenPath, ChatGptTokenAsync);
        app.MapGet("/v1/models", ModelsAsync);
        app.MapGet("/v1/models/{id}", ModelAsync);
        app.MapFallback(context => Error(context, 404, $"Invalid URL ({context.Request.Method} {context.Request.Path})", "invalid_request_error"));
    }

    private static RecordedRequest Recorded(HttpContext context) => (RecordedRequest)context.Items[typeof(RecordedRequest)]!;

    private string NextId() => Interlocked.Increment(ref _ids).ToString("x12", System.Globalization.CultureInfo.InvariantCulture);

    private Random NextRandom()
    {
        lock (_seedLock) return new Random(_seeds.Next());
    }

    /// <summary>OpenAI's two 401s: no key at all, and a key it does not know (shown masked).</summary>
    private async Task<bool> AuthorizeAsync(HttpContext context)
    {
        if (!_options.RequireAuth || _options.ApiKeys.Count == 0) return true;
        var header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            await Error(context, 401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", "invalid_request_error");
            return false;
        }
        var key = header["Bearer ".Length..].Trim();
        if (_options.ApiKeys.Contains(key)) return true;
        var masked = key.Length <= 8 ? "****" : key[..3] + "*****" + key[^4..];
        await Error(context, 401, $"Incorrect API key provided: {masked}. You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key");
        return false;
    }

    private bool KnownModel(string model) => _options.AcceptAnyModel || _options.Models.Any(m => m.Id == model);

    private async Task ChatAsync(HttpContext context)
    {
        Interlocked.Increment(ref _chatCalls);
        if (!await AuthorizeAsync(context)) return;
        using var doc = await ParseAsync(context);
        if (doc is null) return;
        var body = doc.RootElement;
        if (!await RequireModelAsync(context, body)) return;
        if (!body.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
        {
            await Error(context, 400, "Missing required parameter: 'messages'.", "invalid_request_error", "missing_required_parameter", "messages");
            return;
        }
        if (messages.GetArrayLength() == 0)
        {
            await Error(context, 400, "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", "invalid_request_error", "empty_array", "messages");
            return;
        }
        var stream = body.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
        if (!stream && body.TryGetProperty("stream_options", out var so) && so.ValueKind == JsonValueKind.Object)
        {
            await Error(context, 400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "invalid_request_error", null, "stream_options");
            return;
        }
        var includeUsage = stream && body.TryGetProperty("stream_options", out var opts) && opts.ValueKind == JsonValueKind.Object
                           && opts.TryGetProperty("include_usage", out var iu) && iu.ValueKind == JsonValueKind.True;
        var model = body.GetProperty("model").GetString()!;
        var rng = NextRandom();

        var scenario = _scenarios.TryDequeue(out var scripted) ? scripted : null;
        if (scenario is not null && (scenario.Status is not null || scenario.RawEvents is not null || scenario.RawStream is not null))
        {
            await PlayAsync(context, scenario, [], rng);
            return;
        }
        var answer = scenario?.Answer ?? OpenAiDefaultResponder.ForChat(body, Recorded(context).BodyBytes.Length);
        if (LimitsOf(model) is { } limits && scenario is null)
        {
            var tokens = SimulatedLimits.CountTokens(Recorded(context).BodyBytes);
            if (tokens > limits.ContextWindow)
            {
                await Error(context, 400, $"This model's maximum context length is {limits.ContextWindow} tokens. However, your messages resulted in {tokens} tokens. "
                    + "Please reduce the length of the messages.", "invalid_request_error", "context_length_exceeded", "messages");
                return;
            }
            answer = WithinLimits(answer, limits, tokens, Recorded(context).BodyBytes, Int(body, "max_completion_tokens") ?? Int(body, "max_tokens"));
        }
        var id = "chatcmpl-" + NextId();
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string CallId() => "call_" + NextId();
        if (stream && scenario?.IgnoreStream != true) await PlayAsync(context, scenario ?? new OpenAiScenario(), OpenAiWireWriter.ChatChunks(answer, model, id, created, includeUsage, CallId), rng);
        else await DelayThenJson(context, scenario, OpenAiWireWriter.ChatCompletion(answer, model, id, created, CallId));
    }

    private async Task ResponsesAsync(HttpContext context)
    {
        Interlocked.Increment(ref _responsesCalls);
        if (!await AuthorizeAsync(context)) return;
        using var doc = await ParseAsync(context);
        if (doc is null) return;
        var body = doc.RootElement;
        if (!await RequireModelAsync(context, body)) return;
        if (!body.TryGetProperty("input", out var input) || input.ValueKind is not (JsonValueKind.String or JsonValueKind.Array))
        {
            await Error(context, 400, "Missing required parameter: 'input'.", "invalid_request_error", "missing_required_parameter", "input");
            return;
        }
        await AnswerResponsesAsync(context, body);
    }

    /// <summary>
    /// The ChatGPT Codex backend (what a ChatGPT sign-in talks to): the Responses API behind the sign-in's access
    /// token and <c>chatgpt-account-id</c> (see <see cref="CheckChatGptCaller"/>), answering only <c>stream: true</c>, <c>store: false</c> requests with
    /// <c>instructions</c>, and refusing <c>max_output_tokens</c> — each refusal a 400 with its FastAPI-style
    /// <c>{"detail": …}</c> body, as that backend sends.
    /// </summary>
    private async Task CodexBackendAsync(HttpContext context)
    {
        Interlocked.Increment(ref _responsesCalls);
        if (CheckChatGptCaller(context) is { } refused)
        {
            await Detail(context, refused.Status, refused.Detail);
            return;
        }
        using var doc = await ParseAsync(context);
        if (doc is null) return;
        var body = doc.RootElement;
        if (!body.TryGetProperty("stream", out var stream) || stream.ValueKind != JsonValueKind.True)
        {
            await Detail(context, 400, "Stream must be set to true");
            return;
        }
        // Absent counts as the API's default, true.
        if (!body.TryGetProperty("store", out var store) || store.ValueKind != JsonValueKind.False)
        {
            await Detail(context, 400, "Store must be set to false");
            return;
        }
        if (!body.TryGetProperty("instructions", out var instructions) || instructions.ValueKind != JsonValueKind.String)
        {
            await Detail(context, 400, "Instructions are required");
            return;
        }
        if (body.TryGetProperty("max_output_tokens", out _))
        {
            await Detail(context, 400, "Unsupported parameter: max_output_tokens");
            return;
        }
        if (!await RequireModelAsync(context, body)) return;
        await AnswerResponsesAsync(context, body);
    }

    private static Task Detail(HttpContext context, int status, string detail)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(new JsonObject { ["detail"] = detail }.ToJsonString(), context.RequestAborted);
    }

    private async Task AnswerResponsesAsync(HttpContext context, JsonElement body)
    {
        var stream = body.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
        var rng = NextRandom();
        var scenario = _scenarios.TryDequeue(out var scripted) ? scripted : null;
        if (scenario is not null && (scenario.Status is not null || scenario.RawEvents is not null || scenario.RawStream is not null))
        {
            await PlayAsync(context, scenario, [], rng);
            return;
        }
        var answer = scenario?.Answer ?? OpenAiDefaultResponder.ForResponses(body, Recorded(context).BodyBytes.Length);
        if (body.TryGetProperty("model", out var modelName) && LimitsOf(modelName.GetString() ?? "") is { } limits && scenario is null)
        {
            var tokens = SimulatedLimits.CountTokens(Recorded(context).BodyBytes);
            if (tokens > limits.ContextWindow)
            {
                await Error(context, 400, "Your input exceeds the context window of this model. Please adjust your input and try again.",
                    "invalid_request_error", "context_length_exceeded", "input");
                return;
            }
            answer = WithinLimits(answer, limits, tokens, Recorded(context).BodyBytes, Int(body, "max_output_tokens"));
        }
        var request = JsonNode.Parse(body.GetRawText())!.AsObject();
        var id = "resp_" + NextId();
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string NewId(string prefix) => prefix + "_" + NextId();
        if (stream) await PlayAsync(context, scenario ?? new OpenAiScenario(), OpenAiWireWriter.ResponseEvents(answer, request, id, created, NewId), rng, sendDone: false);
        else await DelayThenJson(context, scenario, OpenAiWireWriter.Response(answer, request, id, created, NewId));
    }

    private async Task ModelsAsync(HttpContext context)
    {
        if (!await AuthorizeAsync(context)) return;
        var data = new JsonArray();
        foreach (var m in _options.Models) data.Add(ModelJson(m));
        await WriteJson(context, 200, new JsonObject { ["object"] = "list", ["data"] = data });
    }

    private async Task ModelAsync(HttpContext context, string id)
    {
        if (!await AuthorizeAsync(context)) return;
        if (_options.Models.FirstOrDefault(m => m.Id == id) is { } model) await WriteJson(context, 200, ModelJson(model));
        else await Error(context, 404, $"The model '{id}' does not exist", "invalid_request_error", "model_not_found", "model");
    }

    private static JsonObject ModelJson(OpenAiModel m)
    {
        var json = new JsonObject { ["id"] = m.Id, ["object"] = "model", ["created"] = 1_715_367_049, ["owned_by"] = m.OwnedBy };
        if (m.MaxModelLen is { } len) json["max_model_len"] = len;
        return json;
    }

    private static async Task<JsonDocument?> ParseAsync(HttpContext context)
    {
        var bytes = Recorded(context).BodyBytes;
        try
        {
            var doc = JsonDocument.Parse(bytes);
            if (doc.RootElement.ValueKind == JsonValueKind.Object) return doc;
            doc.Dispose();
        }
        catch (JsonException) { }
        await Error(context, 400, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)", "invalid_request_error");
        return null;
    }

    private SimulatedLimits? LimitsOf(string model) => _options.Models.FirstOrDefault(m => m.Id == model)?.Limits;

    private static int? Int(JsonElement body, string name)
        => body.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n : null;

    /// <summary>The answer of a model with limits: input counted as words; the counting prompt stops at the smaller of max_tokens and the cap.</summary>
    private static OpenAiAnswer WithinLimits(OpenAiAnswer answer, SimulatedLimits limits, int inputTokens, byte[] body, int? maxTokens)
    {
        if (!SimulatedLimits.AsksToCount(Encoding.UTF8.GetString(body)))
            return new OpenAiAnswer
            {
                Reasoning = answer.Reasoning, Text = answer.Text, ToolCalls = answer.ToolCalls, FinishReason = answer.FinishReason,
                PromptTokens = inputTokens, CompletionTokens = answer.CompletionTokens, ReasoningTokens = answer.ReasoningTokens,
            };
        var produced = Math.Min(maxTokens ?? limits.MaxOutputTokens, limits.MaxOutputTokens);
        return new OpenAiAnswer { Text = SimulatedLimits.Counting(produced), FinishReason = "length", PromptTokens = inputTokens, CompletionTokens = produced };
    }

    private async Task<bool> RequireModelAsync(HttpContext context, JsonElement body)
    {
        if (!body.TryGetProperty("model", out var m) || m.ValueKind != JsonValueKind.String)
        {
            await Error(context, 400, "you must provide a model parameter", "invalid_request_error", null, "model");
            return false;
        }
        if (KnownModel(m.GetString()!)) return true;
        await Error(context, 404, $"The model `{m.GetString()}` does not exist or you do not have access to it.", "invalid_request_error", "model_not_found");
        return false;
    }

    private static Task Error(HttpContext context, int status, string message, string type, string? code = null, string? param = null)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(OpenAiScenario.ErrorJson(message, type, code, param), context.RequestAborted);
    }

    private static async Task WriteJson(HttpContext context, int status, JsonNode body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.Headers["openai-processing-ms"] = "7";
        await context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted);
    }

    private static async Task DelayThenJson(HttpContext context, OpenAiScenario? scenario, JsonObject body)
    {
        if (scenario?.DelayBeforeFirstByte > TimeSpan.Zero) await Task.Delay(scenario.DelayBeforeFirstByte, context.RequestAborted);
        await WriteJson(context, 200, body);
    }

    /// <summary>Plays an HTTP error, raw events or rendered events, with the scenario's delays, splits and cut.</summary>
    private async Task PlayAsync(HttpContext context, OpenAiScenario scenario, List<SseEvent> rendered, Random rng, bool sendDone = true)
    {
        var ct = context.RequestAborted;
        if (scenario.DelayBeforeFirstByte > TimeSpan.Zero) await Task.Delay(scenario.DelayBeforeFirstByte, ct);
        if (scenario.Status is { } status)
        {
            context.Response.StatusCode = status;
            context.Response.ContentType = "application/json";
            foreach (var (name, value) in scenario.Headers) context.Response.Headers[name] = value;
            await context.Response.WriteAsync(scenario.Body ?? "", ct);
            return;
        }

        var events = scenario.RawEvents is { } raw ? raw.Select(d => new SseEvent(null, d)).ToList() : rendered;
        var done = scenario.RawEvents is not null ? scenario.SendDone : sendDone;
        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/event-stream; charset=utf-8";
        context.Response.Headers.CacheControl = "no-cache";
        foreach (var (name, value) in scenario.Headers) context.Response.Headers[name] = value;
        await context.Response.StartAsync(ct);
        if (scenario.RawStream is { } bytes)
        {
            await context.Response.Body.WriteAsync(bytes, ct);
            return;
        }

        var split = scenario.Split ?? _options.Split;
        for (var i = 0; i < events.Count; i++)
        {
            if (scenario.CutAfterEvents is { } cut && i >= cut)
            {
                // A connection lost mid-stream: the pause lets the client read what was sent before the reset.
                await Task.Delay(100, CancellationToken.None);
                context.Abort();
                return;
            }
            if (i > 0 && scenario.DelayBetweenEvents > TimeSpan.Zero) await Task.Delay(scenario.DelayBetweenEvents, ct);
            await WriteSplitAsync(context, Encoding.UTF8.GetBytes(events[i].Encode()), split, rng, ct);
        }
        if (scenario.CutAfterEvents is { } after && after <= events.Count)
        {
            await Task.Delay(100, CancellationToken.None);
            context.Abort();
            return;
        }
        if (done) await WriteSplitAsync(context, "data: [DONE]\n\n"u8.ToArray(), split, rng, ct);
    }

    private async Task WriteSplitAsync(HttpContext context, byte[] bytes, OpenAiSplit split, Random rng, CancellationToken ct)
    {
        var offset = 0;
        while (offset < bytes.Length)
        {
            var size = split switch
            {
                OpenAiSplit.OneByte => 1,
                OpenAiSplit.Random => rng.Next(1, Math.Max(2, _options.MaxChunkBytes + 1)),
                _ => bytes.Length,
            };
            size = Math.Min(size, bytes.Length - offset);
            await context.Response.Body.WriteAsync(bytes.AsMemory(offset, size), ct);
            await context.Response.Body.FlushAsync(ct);
            offset += size;
        }
    }
}
