using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Gapura.Conversations;
using Gapura.Providers.Accounts;
using Gapura.Routing;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace Gapura.Providers.Anthropic;

/// <summary>Reads the models an Anthropic key can use (<c>GET /v1/models</c>).</summary>
internal interface IAnthropicModelSource
{
    Task<IReadOnlyList<ModelInfo>> FetchModelsAsync(CancellationToken ct);
}

/// <summary>
/// The HTTP side of Anthropic: sends a Messages request and returns the response once its headers arrived
/// (the body is read by the caller as it flows), and lists models. Retries before the first byte, like
/// Kiro's client: 429, 5xx, 529 and connection failures with exponential backoff honouring Retry-After
/// (and Anthropic's <c>x-should-retry: false</c>); 4xx other than 429 are never retried.
/// </summary>
internal sealed class AnthropicClient : IAnthropicModelSource
{
    private const int MaxErrorBodyBytes = 8192;

    private readonly HttpClient _http;
    private readonly AnthropicOptions _options;
    private readonly ILogger<AnthropicClient> _log;
    private readonly ResiliencePipeline<HttpResponseMessage> _retry;

    private readonly ProviderAccounts? _accounts;

    public AnthropicClient(HttpClient http, IOptions<AnthropicOptions> options, ILogger<AnthropicClient> log, TimeProvider? time = null, ProviderAccounts? accounts = null)
    {
        _http = http;
        _options = options.Value;
        _accounts = accounts;
        _log = log;
        _retry = UpstreamRetry.Build("Anthropic", _options.MaxAttempts, _options.RetryBaseDelayMilliseconds, _options.MaxRetryDelaySeconds, _log, time,
            refuseRetry: (r, _) => ValueTask.FromResult(ForbidsRetry(r)));
    }

    /// <summary>Anthropic says outright when a retry cannot help (e.g. a 429 for a spent spend limit).</summary>
    private static bool ForbidsRetry(HttpResponseMessage response)
        => response.Headers.TryGetValues("x-should-retry", out var values) && values.Any(v => v.Equals("false", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// POSTs <paramref name="body"/> to <c>/v1/messages</c> and returns the successful response, whose body
    /// the caller reads as it arrives. Failures are thrown as <see cref="GatewayException"/>s carrying the upstream's status and message.
    /// </summary>
    public async Task<HttpResponseMessage> SendMessagesAsync(ReadOnlyMemory<byte> body, string version, string? beta, AccountSecret account, CancellationToken ct)
    {
        if (account.Kind == AccountSecret.OAuthKind) beta = WithBeta(beta, ClaudeSignIn.OAuthBeta);
        HttpResponseMessage response;
        try
        {
            response = await _retry.ExecuteAsync(async (_, attemptCt) =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, _options.ResolvedBaseUrl + "/v1/messages");
                request.Content = new ReadOnlyMemoryContent(body);
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                AddHeaders(request, version, account);
                if (!string.IsNullOrEmpty(beta)) request.Headers.TryAddWithoutValidation("anthropic-beta", beta);
                return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, attemptCt);
            }, ct, ct);
        }
        catch (HttpRequestException e)
        {
            throw new GatewayException(ErrorKind.UpstreamUnavailable, $"Could not reach Anthropic at {_options.ResolvedBaseUrl}: {e.Message}", 502, inner: e);
        }

        if (response.IsSuccessStatusCode) return response;
        using (response)
        {
            var error = await ReadErrorBodyAsync(response, ct);
            throw AnthropicErrors.FromHttp((int)response.StatusCode, error, response.Headers.RetryAfter?.Delta);
        }
    }

    public async Task<IReadOnlyList<ModelInfo>> FetchModelsAsync(CancellationToken ct)
    {
        // The gateway's own account, else any user's: the list describes the provider, not one caller.
        var source = _accounts?.ForModelList() ?? ProcessAccount.ForApiKey(_options.ApiKey)
            ?? throw new GatewayException(ErrorKind.UpstreamLogin, "No Anthropic account to read the model list with.");
        var account = await source.GetSecretAsync(forceRefresh: false, ct);
        var models = new List<ModelInfo>();
        string? after = null;
        // Bounded: a server that always answers has_more would otherwise page forever.
        for (var page = 0; page < 50; page++)
        {
            var url = _options.ResolvedBaseUrl + "/v1/models?limit=1000";
            if (after is not null) url += "&after_id=" + Uri.EscapeDataString(after);
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            AddHeaders(request, _options.Version, account);
            if (account.Kind == AccountSecret.OAuthKind) request.Headers.TryAddWithoutValidation("anthropic-beta", ClaudeSignIn.OAuthBeta);
            using var response = await _http.SendAsync(request, ct);
            if (!response.IsSuccessStatusCode)
                throw AnthropicErrors.FromHttp((int)response.StatusCode, await ReadErrorBodyAsync(response, ct), null);
            using var doc = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(ct), cancellationToken: ct);
            var root = doc.RootElement;
            models.AddRange(ParseModels(root));
            var more = root.TryGetProperty("has_more", out var h) && h.ValueKind == JsonValueKind.True;
            after = root.TryGetProperty("last_id", out var l) && l.ValueKind == JsonValueKind.String ? l.GetString() : null;
            if (!more || after is null) break;
        }
        return models;
    }

    internal static IEnumerable<ModelInfo> ParseModels(JsonElement root)
    {
        if (!root.TryGetProperty("data", out var list) || list.ValueKind != JsonValueKind.Array) yield break;
        foreach (var m in list.EnumerateArray())
        {
            if (!m.TryGetProperty("id", out var idEl) || idEl.GetString() is not { Length: > 0 } id) continue;
            var name = m.TryGetProperty("display_name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : id;
            var known = AnthropicModelCatalog.KnownLimits(id);
            // Newer API versions publish the limits; otherwise the built-in table (or safe defaults) supplies them.
            var context = m.TryGetProperty("max_input_tokens", out var i) && i.TryGetInt32(out var iv) && iv > 0 ? iv : known.ContextWindow;
            var output = m.TryGetProperty("max_tokens", out var o) && o.TryGetInt32(out var ov) && ov > 0 ? ov : known.MaxOutputTokens;
            yield return AnthropicModelCatalog.Describe(id, name, context, output);
        }
    }

    /// <summary>Auth is always the account's (a key, or a sign-in's bearer token): a client's own credentials are never forwarded.</summary>
    private void AddHeaders(HttpRequestMessage request, string version, AccountSecret account)
    {
        if (account.Kind == AccountSecret.OAuthKind) request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + account.AccessToken);
        else request.Headers.TryAddWithoutValidation("x-api-key", account.ApiKey);
        request.Headers.TryAddWithoutValidation("anthropic-version", version);
        request.Headers.TryAddWithoutValidation("User-Agent", _options.UserAgent);
    }

    /// <summary>Adds a beta to a client's comma-separated list unless it is there already.</summary>
    internal static string WithBeta(string? betas, string beta)
    {
        if (string.IsNullOrWhiteSpace(betas)) return beta;
        foreach (var part in betas.Split(',', StringSplitOptions.TrimEntries))
            if (part.Equals(beta, StringComparison.OrdinalIgnoreCase)) return betas;
        return betas + "," + beta;
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
