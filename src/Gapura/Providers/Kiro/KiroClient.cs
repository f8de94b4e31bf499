using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Gapura.Conversations;
using Gapura.Providers.Kiro.Auth;
using Gapura.Routing;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace Gapura.Providers.Kiro;

/// <summary>
/// The HTTP side of Kiro: sends a chat turn and returns the response once its headers arrived (the body,
/// an event stream, is read by the caller as it flows), and lists models. Retries before the first byte:
/// 429 and 5xx and connection failures with exponential backoff honouring Retry-After; an invalid bearer
/// forces one token refresh; 400s are never retried.
/// </summary>
internal sealed class KiroClient : IKiroModelSource
{
    private const int MaxErrorBodyBytes = 8192;

    private readonly HttpClient _http;
    private readonly KiroTokenProvider _tokens;
    private readonly KiroOptions _options;
    private readonly ILogger<KiroClient> _log;
    private readonly ResiliencePipeline<HttpResponseMessage> _retry;

    public KiroClient(HttpClient http, KiroTokenProvider tokens, IOptions<KiroOptions> options, ILogger<KiroClient> log, TimeProvider? time = null)
    {
        _http = http;
        _tokens = tokens;
        _options = options.Value;
        _log = log;
        _retry = UpstreamRetry.Build("Kiro", _options.MaxAttempts, _options.RetryBaseDelayMilliseconds, _options.MaxRetryDelaySeconds, _log, time,
            // A 429 for a spent quota (MONTHLY_REQUEST_COUNT…) lasts until the reset: retrying only delays the error.
            refuseRetry: IsSpentQuotaAsync);
    }

    /// <summary>Reads (and buffers, so it can be read again for the error) the body of a 429 to find a quota reason.</summary>
    private static async ValueTask<bool> IsSpentQuotaAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.StatusCode != HttpStatusCode.TooManyRequests) return false;
        var body = await ReadErrorBodyAsync(response, ct);
        return KiroErrors.IsQuotaReason(KiroErrors.ParseBody(body).Reason);
    }

    /// <summary>Sends one chat turn with the process-wide login. Returns a successful response whose body is the event stream.</summary>
    public Task<HttpResponseMessage> SendChatAsync(ReadOnlyMemory<byte> body, CancellationToken ct) => SendChatAsync(body, _tokens, ct);

    /// <summary>Sends one chat turn with the given login (a user's own, or the process-wide one).</summary>
    public async Task<HttpResponseMessage> SendChatAsync(ReadOnlyMemory<byte> body, IKiroTokenSource tokens, CancellationToken ct)
    {
        var forcedRefresh = false;
        while (true)
        {
            var token = await tokens.GetAsync(forceRefresh: false, ct);
            var attempt = 0;
            HttpResponseMessage response;
            try
            {
                response = await _retry.ExecuteAsync(async (_, attemptCt) =>
                {
                    attempt++;
                    using var request = new HttpRequestMessage(HttpMethod.Post, _options.Resolve(_options.Endpoint) + "/generateAssistantResponse");
                    request.Content = new ReadOnlyMemoryContent(body);
                    request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(_options.ContentType);
                    AddHeaders(request, token.Token, attempt);
                    if (!string.IsNullOrEmpty(_options.Target)) request.Headers.TryAddWithoutValidation("x-amz-target", _options.Target);
                    return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, attemptCt);
                }, ct, ct);
            }
            catch (HttpRequestException e)
            {
                throw new GatewayException(ErrorKind.UpstreamUnavailable, $"Could not reach Kiro at {_options.Resolve(_options.Endpoint)}: {e.Message}", 502, inner: e);
            }

            if (response.IsSuccessStatusCode) return response;

            var error = await ReadErrorBodyAsync(response, ct);
            var retryAfter = response.Headers.RetryAfter?.Delta;
            var status = (int)response.StatusCode;
            response.Dispose();
            if (!forcedRefresh && KiroErrors.IsInvalidBearer(status, KiroErrors.ParseBody(error).Message))
            {
                _log.LogInformation("Kiro refused the bearer token; refreshing once and retrying");
                forcedRefresh = true;
                await tokens.RefreshRejectedAsync(token.Token, ct);
                continue;
            }
            throw KiroErrors.FromHttp(status, error, retryAfter);
        }
    }

    public Task<IReadOnlyList<ModelInfo>> FetchModelsAsync(CancellationToken ct) => FetchModelsAsync(_tokens, ct);

    /// <summary>The model list as <paramref name="tokens"/> (a user's own login, say) sees it.</summary>
    public async Task<IReadOnlyList<ModelInfo>> FetchModelsAsync(IKiroTokenSource tokens, CancellationToken ct)
    {
        var token = await tokens.GetAsync(forceRefresh: false, ct);
        var models = new List<ModelInfo>();
        string? next = null;
        do
        {
            var url = _options.Resolve(_options.Endpoint) + "/ListAvailableModels?origin=AI_EDITOR";
            if (_options.SendProfileArn && (_options.ProfileArn ?? token.ProfileArn) is { } arn) url += "&profileArn=" + Uri.EscapeDataString(arn);
            if (next is not null) url += "&nextToken=" + Uri.EscapeDataString(next);
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            AddHeaders(request, token.Token, 1);
            using var response = await _http.SendAsync(request, ct);
            if (!response.IsSuccessStatusCode)
                throw KiroErrors.FromHttp((int)response.StatusCode, await ReadErrorBodyAsync(response, ct), null);
            using var doc = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(ct), cancellationToken: ct);
            models.AddRange(ParseModels(doc.RootElement));
            next = doc.RootElement.TryGetProperty("nextToken", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
        } while (!string.IsNullOrEmpty(next));
        return models;
    }

    internal static IEnumerable<ModelInfo> ParseModels(JsonElement root)
    {
        if (!root.TryGetProperty("models", out var list) || list.ValueKind != JsonValueKind.Array) yield break;
        foreach (var m in list.EnumerateArray())
        {
            if (!m.TryGetProperty("modelId", out var idEl) || idEl.GetString() is not { Length: > 0 } id) continue;
            var name = m.TryGetProperty("modelName", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : id;
            int input = 200_000, output = 64_000;
            if (m.TryGetProperty("tokenLimits", out var limits) && limits.ValueKind == JsonValueKind.Object)
            {
                if (limits.TryGetProperty("maxInputTokens", out var i) && i.TryGetInt32(out var iv) && iv > 0) input = iv;
                if (limits.TryGetProperty("maxOutputTokens", out var o) && o.TryGetInt32(out var ov) && ov > 0) output = ov;
            }
            bool? images = null;
            if (m.TryGetProperty("supportedInputTypes", out var types) && types.ValueKind == JsonValueKind.Array)
            {
                images = false;
                foreach (var t in types.EnumerateArray())
                    if (t.ValueKind == JsonValueKind.String && t.ValueEquals("IMAGE")) images = true;
            }
            yield return KiroModelCatalog.Describe(id, name, input, output, images);
        }
    }

    private void AddHeaders(HttpRequestMessage request, string accessToken, int attempt)
    {
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        request.Headers.TryAddWithoutValidation("x-amzn-codewhisperer-optout", "true");
        request.Headers.TryAddWithoutValidation("x-amzn-kiro-agent-mode", "vibe");
        request.Headers.TryAddWithoutValidation("amz-sdk-invocation-id", Guid.NewGuid().ToString());
        request.Headers.TryAddWithoutValidation("amz-sdk-request", $"attempt={attempt}; max={_options.MaxAttempts}");
        request.Headers.TryAddWithoutValidation("User-Agent", _options.UserAgent);
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
