using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Routing.Upgrade;

/// <summary>Which of the two models a request went to.</summary>
internal enum ComparisonSide { Baseline, Candidate }

/// <summary>A tool call the model made, summarised: its name and the input JSON as streamed.</summary>
internal sealed record ComparisonToolCall(string Name, string Input);

/// <summary>
/// What one request measured, as the user of the gateway saw it. Times are from just before the request was sent:
/// <see cref="TtftMs"/> to the first content (text, thinking or a tool call), <see cref="LatencyMs"/> to the end of
/// the stream. Tokens are what the gateway reported (message_delta's usage, else message_start's); the cost is
/// those tokens at the model's price, null when the price table has none.
/// </summary>
internal sealed record ComparisonResult(
    ComparisonPrompt Prompt,
    int Run,
    ComparisonSide Side,
    string Model,
    string? RequestId,
    string? ServedBy,
    string? ServedModel,
    int? HttpStatus,
    string Answer,
    string? Thinking,
    IReadOnlyList<ComparisonToolCall> ToolCalls,
    string? StopReason,
    Usage? Usage,
    double? CostUsd,
    double? TtftMs,
    double LatencyMs,
    string? Error)
{
    public bool Ok => Error is null;
    public int InputTokens => Usage?.InputTokens ?? 0;
    public int OutputTokens => Usage?.OutputTokens ?? 0;
}

/// <summary>One finished request, for progress reporting.</summary>
internal sealed record ComparisonProgress(int Done, int Total, ComparisonResult Result);

/// <summary>The gateway cannot be used at all (not reachable, key refused): nothing is worth sending.</summary>
internal sealed class ComparisonGatewayException(string message) : Exception(message);

/// <summary>The gateway says a model named on the command line does not exist.</summary>
internal sealed class ComparisonModelException(string message) : Exception(message);

/// <summary>What to run: every prompt, <see cref="Runs"/> times, through both models.</summary>
internal sealed record ComparisonPlan(string Baseline, string Candidate, IReadOnlyList<ComparisonPrompt> Prompts, int Runs, int Concurrency, TimeSpan Timeout)
{
    /// <summary>
    /// The order requests are started in: run by run, prompt by prompt, baseline then candidate — so the two models
    /// see the gateway and the upstream at about the same moment, and drift over a long comparison hits both alike.
    /// </summary>
    public IEnumerable<(ComparisonPrompt Prompt, int Run, ComparisonSide Side)> Requests()
    {
        for (var run = 1; run <= Runs; run++)
            foreach (var prompt in Prompts)
            {
                yield return (prompt, run, ComparisonSide.Baseline);
                yield return (prompt, run, ComparisonSide.Candidate);
            }
    }

    public int RequestCount => Prompts.Count * Runs * 2;

    public string ModelOf(ComparisonSide side) => side == ComparisonSide.Baseline ? Baseline : Candidate;
}

/// <summary>
/// Sends prompts through a running gateway's <c>/v1/messages</c> with <c>stream: true</c> — the path a user's client
/// takes — and measures each answer from the Anthropic SSE stream. A failed request is a result with an
/// <see cref="ComparisonResult.Error"/>, never an exception: the report counts it.
/// </summary>
internal sealed class ModelComparisonRunner(HttpClient http, Uri gateway, string apiKey, Func<string, Usage, double?> costOf)
{
    public const string AnthropicVersion = "2023-06-01";
    private const string RequestIdHeader = "x-gapura-request-id";

    /// <summary>
    /// Asks the gateway about both models before anything is sent: an unreachable gateway or a refused key ends the
    /// command (<see cref="ComparisonGatewayException"/>), and so does a model the gateway does not know
    /// (<see cref="ComparisonModelException"/>), instead of a report full of identical errors.
    /// </summary>
    public async Task CheckAsync(IEnumerable<string> models, CancellationToken ct)
    {
        foreach (var model in models.Distinct(StringComparer.Ordinal))
        {
            using var request = Request(HttpMethod.Get, "v1/models/" + Uri.EscapeDataString(model));
            HttpResponseMessage response;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(30));
                response = await http.SendAsync(request, timeout.Token);
            }
            catch (Exception e) when (e is HttpRequestException || (e is OperationCanceledException && !ct.IsCancellationRequested))
            {
                throw new ComparisonGatewayException(
                    $"cannot reach the gateway at {gateway} ({(e is OperationCanceledException ? "no answer within 30 s" : e.Message)}). "
                    + "Start it with `gapura serve`, or point --url (or GAPURA_URL) at a running one.");
            }
            using (response)
            {
                var body = await response.Content.ReadAsStringAsync(ct);
                if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                    throw new ComparisonGatewayException(
                        $"the gateway at {gateway} refused the API key: {ErrorMessage(body) ?? ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture)}. "
                        + "Give a key with --key or GAPURA_API_KEY (a key of yours from `gapura keys create`, or the first-run key in data/api-key).");
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    // A 404 from something that is not a gateway has no Anthropic error body: say so rather than blame the model.
                    if (ErrorMessage(body) is not { } message)
                        throw new ComparisonGatewayException($"{gateway} does not answer like a Gapura gateway (GET /v1/models/{model} was a bare 404). Check --url.");
                    throw new ComparisonModelException($"the gateway does not know the model '{model}': {message}");
                }
                if (!response.IsSuccessStatusCode)
                    throw new ComparisonGatewayException($"the gateway at {gateway} answered {(int)response.StatusCode} to GET /v1/models/{model}: {ErrorMessage(body) ?? Shorten(body)}");
            }
        }
    }

    /// <summary>Runs the whole plan, <see cref="ComparisonPlan.Concurrency"/> requests at a time; results come back in plan order.</summary>
    public async Task<IReadOnlyList<ComparisonResult>> RunAsync(ComparisonPlan plan, Action<ComparisonProgress> progress, CancellationToken ct)
    {
        var work = plan.Requests().Select((r, i) => (r.Prompt, r.Run, r.Side, Index: i)).ToList();
        var results = new ComparisonResult[work.Count];
        var done = 0;
        var gate = new object();
        await Parallel.ForEachAsync(work, new ParallelOptions { MaxDegreeOfParallelism = plan.Concurrency, CancellationToken = ct }, async (item, token) =>
        {
            var result = await SendAsync(item.Prompt, item.Run, item.Side, plan.ModelOf(item.Side), plan.Timeout, token);
            results[item.Index] = result;
            // One line at a time, numbered in the order requests finish.
            lock (gate) progress(new ComparisonProgress(++done, work.Count, result));
        });
        return results;
    }

    /// <summary>One request, measured; every failure becomes the result's error.</summary>
    public async Task<ComparisonResult> SendAsync(ComparisonPrompt prompt, int run, ComparisonSide side, string model, TimeSpan timeout, CancellationToken ct)
    {
        var state = new StreamState();
        int? status = null;
        string? requestId = null, servedBy = null, servedModel = null, error = null;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var request = Request(HttpMethod.Post, "v1/messages");
            request.Content = new StringContent(prompt.BodyFor(model), Encoding.UTF8, "application/json");
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
            status = (int)response.StatusCode;
            requestId = Header(response, RequestIdHeader);
            servedBy = Header(response, "x-gapura-provider");
            servedModel = Header(response, "x-gapura-model");
            if (!response.IsSuccessStatusCode)
            {
                var body = await response.Content.ReadAsStringAsync(deadline.Token);
                error = $"HTTP {status}: {ErrorMessage(body) ?? Shorten(body)}";
            }
            else
            {
                await using var stream = await response.Content.ReadAsStreamAsync(deadline.Token);
                error = await ReadStreamAsync(stream, state, started, deadline.Token);
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            error = $"timed out after {timeout.TotalSeconds:0.#} s";
        }
        catch (HttpRequestException e)
        {
            error = $"request failed: {e.Message}";
        }
        catch (IOException e)
        {
            error = $"the stream broke: {e.Message}";
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // One odd answer must not throw away the other requests' measurements.
            error = $"unexpected failure ({e.GetType().Name}): {e.Message}";
        }
        var latency = Stopwatch.GetElapsedTime(started).TotalMilliseconds;

        var usage = state.Usage;
        var priced = usage is null ? null : costOf(servedModel ?? model, usage);
        return new ComparisonResult(prompt, run, side, model, requestId, servedBy, servedModel, status,
            state.Text.ToString(), state.Thinking.Length > 0 ? state.Thinking.ToString() : null,
            [.. state.Tools.Select(t => new ComparisonToolCall(t.Name, t.Input.ToString()))], state.StopReason,
            usage, priced, state.FirstContentMs, latency, error);
    }

    private HttpRequestMessage Request(HttpMethod method, string path)
    {
        var request = new HttpRequestMessage(method, new Uri(gateway, path));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        request.Headers.TryAddWithoutValidation("anthropic-version", AnthropicVersion);
        request.Headers.UserAgent.ParseAdd("gapura-models-compare/1");
        return request;
    }

    private sealed class StreamState
    {
        public readonly StringBuilder Text = new();
        public readonly StringBuilder Thinking = new();
        public readonly List<(string Name, StringBuilder Input)> Tools = [];
        public readonly Dictionary<int, int> ToolByBlock = [];
        public Usage? Usage;
        public string? StopReason;
        public double? FirstContentMs;
        public bool Stopped;
    }

    /// <summary>Reads the SSE stream to its end; returns the error it reported, or null for a clean <c>message_stop</c>.</summary>
    private static async Task<string?> ReadStreamAsync(Stream stream, StreamState state, long started, CancellationToken ct)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var data = new StringBuilder();
        while (true)
        {
            var line = await reader.ReadLineAsync(ct);
            if (line is null || line.Length == 0)
            {
                if (data.Length > 0 && Handle(data.ToString(), state, started) is { } error) return error;
                data.Clear();
                if (line is null) break;
                continue;
            }
            if (line.StartsWith("data:", StringComparison.Ordinal))
            {
                if (data.Length > 0) data.Append('\n');
                data.Append(line.AsSpan(line.StartsWith("data: ", StringComparison.Ordinal) ? 6 : 5));
            }
            // "event:" names repeat the data's "type"; comments (":") and other fields are ignored.
        }
        return state.Stopped ? null : "the stream ended before message_stop";
    }

    private static string? Handle(string data, StreamState state, long started)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(data);
        }
        catch (JsonException)
        {
            return "the stream carried an event that is not JSON: " + Shorten(data);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return null;
            var type = Str(root, "type");
            switch (type)
            {
                case "message_start" when root.TryGetProperty("message", out var message) && message.TryGetProperty("usage", out var usage):
                    state.Usage = ReadUsage(usage, state.Usage);
                    break;
                case "content_block_start" when root.TryGetProperty("content_block", out var block):
                    if (Str(block, "type") == "tool_use")
                    {
                        MarkFirst(state, started);
                        state.ToolByBlock[Index(root)] = state.Tools.Count;
                        state.Tools.Add((Str(block, "name") ?? "?", new StringBuilder()));
                    }
                    break;
                case "content_block_delta" when root.TryGetProperty("delta", out var delta):
                    switch (Str(delta, "type"))
                    {
                        case "text_delta":
                            MarkFirst(state, started);
                            state.Text.Append(Str(delta, "text"));
                            break;
                        case "thinking_delta":
                            MarkFirst(state, started);
                            state.Thinking.Append(Str(delta, "thinking"));
                            break;
                        case "input_json_delta" when state.ToolByBlock.TryGetValue(Index(root), out var tool):
                            state.Tools[tool].Input.Append(Str(delta, "partial_json"));
                            break;
                    }
                    break;
                case "message_delta":
                    if (root.TryGetProperty("delta", out var end)) state.StopReason = Str(end, "stop_reason") ?? state.StopReason;
                    if (root.TryGetProperty("usage", out var final)) state.Usage = ReadUsage(final, state.Usage);
                    break;
                case "message_stop":
                    state.Stopped = true;
                    break;
                case "error":
                    var kind = root.TryGetProperty("error", out var e) ? Str(e, "type") : null;
                    var text = root.TryGetProperty("error", out e) ? Str(e, "message") : null;
                    return $"stream error{(kind is null ? "" : $" ({kind})")}: {text ?? Shorten(data)}";
            }
        }
        return null;
    }

    private static void MarkFirst(StreamState state, long started) => state.FirstContentMs ??= Stopwatch.GetElapsedTime(started).TotalMilliseconds;

    /// <summary>message_delta's figures win over message_start's estimate; a field it leaves out keeps the earlier value.</summary>
    private static Usage ReadUsage(JsonElement usage, Usage? before)
    {
        int Get(string name, int fallback) => usage.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n : fallback;
        return new Usage(
            Get("input_tokens", before?.InputTokens ?? 0),
            Get("output_tokens", before?.OutputTokens ?? 0),
            Get("cache_read_input_tokens", before?.CacheReadTokens ?? 0),
            Get("cache_creation_input_tokens", before?.CacheWriteTokens ?? 0));
    }

    private static int Index(JsonElement e) => e.TryGetProperty("index", out var i) && i.TryGetInt32(out var n) ? n : -1;

    private static string? Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static string? Header(HttpResponseMessage response, string name)
        => response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    /// <summary>The message of an Anthropic (<c>{"error":{"message"}}</c>) or OpenAI-shaped error body.</summary>
    internal static string? ErrorMessage(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("error", out var error))
            {
                if (error.ValueKind == JsonValueKind.Object && Str(error, "message") is { } message) return message;
                if (error.ValueKind == JsonValueKind.String) return error.GetString();
            }
        }
        catch (JsonException)
        {
        }
        return null;
    }

    private static string Shorten(string text) => ComparisonPrompts.OneLine(text, 300) is { Length: > 0 } s ? s : "(empty body)";
}
