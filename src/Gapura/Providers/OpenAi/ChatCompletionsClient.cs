using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Gapura.Conversations;
using Gapura.Providers.Compatible;
using Polly;
using Polly.Retry;

namespace Gapura.Providers.OpenAi;

/// <summary>
/// A model as an OpenAI-format <c>/models</c> lists it; the context window only when the server says (vLLM's
/// <c>max_model_len</c>), image and tool support only when it says (null: unknown).
/// </summary>
internal sealed record UpstreamModel(string Id, int? ContextWindow, bool? Images = null, bool? Tools = null);


/// <summary>
/// The HTTP side of one OpenAI-format account (OpenAI or a compatible server): posts a body and returns the
/// response once its headers arrived (the caller reads the body as it flows), and lists models. Retries
/// before the first byte: 429 (not a spent quota), 5xx and connection failures, with exponential backoff
/// honouring Retry-After; other 4xx are never retried.
/// </summary>
internal sealed class ChatCompletionsClient
{
    private const int MaxErrorBodyBytes = 8192;

    private readonly HttpClient _http;
    private readonly ILogger _log;
    private readonly ResiliencePipeline<HttpResponseMessage> _retry;

    public ChatCompletionsClient(HttpClient http, ChatCompletionsAccount account, ILogger log, TimeProvider? time = null)
    {
        _http = http;
        Account = account;
        _log = log;
        var retry = account.Retry;
        _retry = UpstreamRetry.Build(Account.Label, retry.MaxAttempts, retry.BaseDelayMilliseconds, retry.MaxDelaySeconds, _log, time,
            refuseRetry: IsSpentQuotaAsync,
            // A refused address is a configuration matter: asking again gets the same answer.
            retryConnectionError: e => !UpstreamAddressGuard.IsRefusal(e),
            retryAfter: UpstreamRetryAfter);
    }

    public ChatCompletionsAccount Account { get; }

    private static async ValueTask<bool> IsSpentQuotaAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.StatusCode != HttpStatusCode.TooManyRequests) return false;
        var (_, type, code) = OpenAiErrors.ParseBody(await ReadErrorBodyAsync(response, ct));
        return OpenAiErrors.IsQuota(type, code);
    }

    /// <summary>What the upstream asked for, uncapped: the error carries it so fallback can cool the account down that long.</summary>
    private static TimeSpan? UpstreamRetryAfter(HttpResponseMessage response)
    {
        var delay = UpstreamRetry.RetryAfterHeader(response);
        // OpenAI also sends retry-after-ms; the finer figure wins when present.
        if (response.Headers.TryGetValues("retry-after-ms", out var ms) && double.TryParse(ms.FirstOrDefault(),
                System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var millis))
            delay = TimeSpan.FromMilliseconds(millis);
        return delay < TimeSpan.Zero ? TimeSpan.Zero : delay;
    }

    /// <summary>POSTs to the account's own endpoint; see <see cref="PostAsync(OpenAiEndpoint, string, ReadOnlyMemory{byte}, CancellationToken)"/>.</summary>
    public Task<HttpResponseMessage> PostAsync(string path, ReadOnlyMemory<byte> body, CancellationToken ct) => PostAsync(Account.Endpoint, path, body, ct);

    /// <summary>
    /// POSTs <paramref name="body"/> to <paramref name="path"/> (e.g. <c>/chat/completions</c>) of
    /// <paramref name="endpoint"/>. Returns a successful response with its body unread; failures are thrown as
    /// <see cref="GatewayException"/>.
    /// </summary>
    public async Task<HttpResponseMessage> PostAsync(OpenAiEndpoint endpoint, string path, ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        HttpResponseMessage response;
        try
        {
            response = await _retry.ExecuteAsync(async (_, attemptCt) =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, endpoint.BaseUrl + path);
                request.Content = new ReadOnlyMemoryContent(body);
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                AddHeaders(request, endpoint);
                return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, attemptCt);
            }, ct, ct);
        }
        catch (HttpRequestException e)
        {
            throw Unreachable(e, endpoint);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            // The handler's connect timeout, not the caller giving up: the upstream did not answer in time.
            throw new GatewayException(ErrorKind.Timeout, $"{Account.Label} at {endpoint.BaseUrl} did not accept the connection in time.", 504, inner: e);
        }

        if (response.IsSuccessStatusCode) return response;
        using (response)
        {
            var error = await ReadErrorBodyAsync(response, ct);
            throw OpenAiErrors.FromHttp(Account.Label, (int)response.StatusCode, error, UpstreamRetryAfter(response));
        }
    }

    /// <summary>Reads <c>/models</c> (OpenAI's <c>{"object":"list","data":[{"id":…}]}</c>) of the account's own endpoint.</summary>
    public Task<IReadOnlyList<UpstreamModel>> ListModelsAsync(CancellationToken ct) => ListModelsAsync(Account.Endpoint, ct);

    /// <summary>Reads <c>/models</c> of <paramref name="endpoint"/> (the account's own, or a user's key on it).</summary>
    public async Task<IReadOnlyList<UpstreamModel>> ListModelsAsync(OpenAiEndpoint endpoint, CancellationToken ct)
    {
        using var doc = await GetModelsAsync(endpoint, ct);
        return ParseModels(doc.RootElement);
    }

    /// <summary>The raw <c>/models</c> document of <paramref name="endpoint"/>, for upstreams whose list says more than ids (Copilot's capabilities).</summary>
    public async Task<JsonDocument> GetModelsAsync(OpenAiEndpoint endpoint, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, endpoint.BaseUrl + "/models");
        AddHeaders(request, endpoint);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct);
        }
        catch (HttpRequestException e)
        {
            throw Unreachable(e, endpoint);
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
                throw OpenAiErrors.FromHttp(Account.Label, (int)response.StatusCode, await ReadErrorBodyAsync(response, ct), null);
            return await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(ct), cancellationToken: ct);
        }
    }

    internal static List<UpstreamModel> ParseModels(JsonElement root)
    {
        var models = new List<UpstreamModel>();
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array) return models;
        foreach (var m in data.EnumerateArray())
        {
            if (m.ValueKind != JsonValueKind.Object || !m.TryGetProperty("id", out var id) || id.GetString() is not { Length: > 0 } name) continue;
            int? context = null;
            // vLLM says max_model_len; some proxies say context_length or context_window.
            foreach (var field in (ReadOnlySpan<string>)["max_model_len", "context_length", "context_window"])
                if (m.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) && n > 0) { context = n; break; }
            var (images, tools) = ReadCapabilities(m);
            models.Add(new UpstreamModel(name, context, images, tools));
        }
        return models;
    }

    /// <summary>
    /// What the few servers that describe their models say: OpenRouter-style <c>architecture.input_modalities</c>
    /// and <c>supported_parameters</c>, or an Ollama-style <c>capabilities</c> list (<c>vision</c>, <c>tools</c>).
    /// A field that is absent leaves the answer unknown.
    /// </summary>
    internal static (bool? Images, bool? Tools) ReadCapabilities(JsonElement model)
    {
        bool? images = null, tools = null;
        if (model.TryGetProperty("architecture", out var arch) && arch.ValueKind == JsonValueKind.Object
            && arch.TryGetProperty("input_modalities", out var modalities) && modalities.ValueKind == JsonValueKind.Array)
            images = Lists(modalities, "image");
        if (model.TryGetProperty("supported_parameters", out var parameters) && parameters.ValueKind == JsonValueKind.Array)
            tools = Lists(parameters, "tools");
        if (model.TryGetProperty("capabilities", out var caps) && caps.ValueKind == JsonValueKind.Array)
        {
            images ??= Lists(caps, "vision");
            tools ??= Lists(caps, "tools");
        }
        return (images, tools);
    }

    private static bool Lists(JsonElement array, string value)
    {
        foreach (var item in array.EnumerateArray())
            if (item.ValueKind == JsonValueKind.String && item.ValueEquals(value)) return true;
        return false;
    }

    private GatewayException Unreachable(HttpRequestException e, OpenAiEndpoint endpoint)
    {
        if (UpstreamAddressGuard.IsRefusal(e))
            return new GatewayException(ErrorKind.UpstreamUnavailable, $"{Account.Label}: {UpstreamAddressGuard.Describe(e)}", 502, inner: e);
        return new GatewayException(ErrorKind.UpstreamUnavailable, $"Could not reach {Account.Label} at {endpoint.BaseUrl}: {e.Message}", 502, inner: e);
    }

    private static void AddHeaders(HttpRequestMessage request, OpenAiEndpoint endpoint)
    {
        if (!string.IsNullOrEmpty(endpoint.BearerToken)) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", endpoint.BearerToken);
        foreach (var (name, value) in endpoint.Headers) request.Headers.TryAddWithoutValidation(name, value);
        // Copilot's endpoint names its own editor agent; everyone else sees the gateway's.
        if (!request.Headers.Contains("User-Agent")) request.Headers.TryAddWithoutValidation("User-Agent", "gapura/0.1");
    }

    private static async Task<byte[]> ReadErrorBodyAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            var bytes = await response.Content.ReadAsByteArrayAsync(ct);
            return bytes.Length > MaxErrorBodyBytes ? bytes[..MaxErrorBodyBytes] : bytes;
        }
        catch (HttpRequestException) { return []; }
    }
}
