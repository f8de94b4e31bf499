using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Providers.Copilot;

/// <summary>A Copilot API token from the exchange, and the API address it is for. Never printed.</summary>
internal sealed record CopilotToken(string Token, DateTimeOffset ExpiresAt, DateTimeOffset RefreshAt, string ApiBaseUrl)
{
    public override string ToString() => $"Copilot token for {ApiBaseUrl}, expires {ExpiresAt:u}";
}

/// <summary>
/// Exchanges a GitHub token for a short-lived Copilot token (<c>GET /copilot_internal/v2/token</c>) and caches
/// it per GitHub token (keyed by its hash, so the cache holds no GitHub token in clear as a key). One exchange
/// at a time per account: concurrent callers share it. The token is renewed ahead of expiry, at the
/// exchange's <c>refresh_in</c> or five minutes before <c>expires_at</c>; while the old one is still good,
/// callers keep using it and the renewal runs in the background.
/// </summary>
internal sealed class CopilotTokenService(HttpClient http, CopilotOptions options, ILogger log, TimeProvider? time = null)
{
    public const string ExchangePath = "/copilot_internal/v2/token";
    private static readonly TimeSpan ExpiryMargin = TimeSpan.FromMinutes(5);
    /// <summary>A token this close to expiry is not handed out: the request using it would race the clock.</summary>
    private static readonly TimeSpan UsableMargin = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ExchangeTimeout = TimeSpan.FromSeconds(30);

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<string, Slot> _slots = new(StringComparer.Ordinal);

    private sealed class Slot
    {
        public CopilotToken? Token;
        public Task<CopilotToken>? Exchange;
    }

    public async Task<CopilotToken> GetAsync(CopilotAccount account, CancellationToken ct)
    {
        var slot = _slots.GetOrAdd(KeyOf(account.GitHubToken), _ => new Slot());
        Task<CopilotToken> exchange;
        lock (slot)
        {
            var now = _time.GetUtcNow();
            var current = slot.Token;
            if (current is not null && now < current.RefreshAt) return current;
            exchange = slot.Exchange ??= ExchangeIntoAsync(slot, account);
            if (current is not null && now < current.ExpiresAt - UsableMargin) return current;
        }
        return await exchange.WaitAsync(ct);
    }

    /// <summary>Forgets <paramref name="stale"/> (the API refused it), unless a newer token already replaced it.</summary>
    public void Invalidate(CopilotAccount account, CopilotToken stale)
    {
        if (!_slots.TryGetValue(KeyOf(account.GitHubToken), out var slot)) return;
        lock (slot)
            if (ReferenceEquals(slot.Token, stale)) slot.Token = null;
    }

    /// <summary>
    /// Runs one exchange for everyone waiting on it; not tied to any one caller's cancellation, since others
    /// share it. Failures are not cached: the next call tries again.
    /// </summary>
    private async Task<CopilotToken> ExchangeIntoAsync(Slot slot, CopilotAccount account)
    {
        // Leave the caller's lock before any work, so the clean-up below never runs inside it.
        await Task.Yield();
        try
        {
            using var cts = new CancellationTokenSource(ExchangeTimeout);
            var token = await ExchangeAsync(account, cts.Token);
            lock (slot) slot.Token = token;
            return token;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            log.LogWarning("Copilot token exchange for {Account} failed: {Reason}", account.Label, e.Message);
            throw;
        }
        finally
        {
            lock (slot) slot.Exchange = null;
        }
    }

    /// <summary>One exchange, uncached: also what <c>gapura login copilot</c> uses to check the account has Copilot.</summary>
    public async Task<CopilotToken> ExchangeAsync(CopilotAccount account, CancellationToken ct)
    {
        var url = options.GitHubApiBaseUrl.Trim().TrimEnd('/') + ExchangePath;
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        // GitHub's own scheme here, not Bearer.
        request.Headers.Authorization = new AuthenticationHeaderValue("token", account.GitHubToken);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.TryAddWithoutValidation("Editor-Version", options.EditorVersion);
        request.Headers.TryAddWithoutValidation("Editor-Plugin-Version", options.EditorPluginVersion);
        request.Headers.TryAddWithoutValidation("User-Agent", options.UserAgent);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, ct);
        }
        catch (HttpRequestException e)
        {
            throw new GatewayException(ErrorKind.UpstreamUnavailable, $"Could not reach GitHub at {url} to get a Copilot token: {e.Message}", 502, inner: e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new GatewayException(ErrorKind.Timeout, $"GitHub at {url} did not answer the Copilot token exchange in time.", 504, inner: e);
        }
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            var status = (int)response.StatusCode;
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden or HttpStatusCode.NotFound)
                throw new GatewayException(ErrorKind.UpstreamLogin,
                    $"The GitHub sign-in of {account.Label} is not valid for Copilot (no Copilot seat, or the token was revoked): GitHub answered {status}: {Message(text)}. " +
                    "Run `gapura login copilot` again or fix Providers:Copilot:GitHubToken.", 503);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
                throw new GatewayException(ErrorKind.RateLimited, $"GitHub rate-limited the Copilot token exchange: {Message(text)}", 429, Providers.UpstreamRetry.RetryAfterHeader(response));
            if (!response.IsSuccessStatusCode)
                throw new GatewayException(ErrorKind.UpstreamUnavailable, $"GitHub answered {status} to the Copilot token exchange: {Message(text)}", 502);
            return Parse(text, _time.GetUtcNow());
        }
    }

    internal static CopilotToken Parse(string json, DateTimeOffset now)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || GitHubDeviceFlow.Str(root, "token") is not { Length: > 0 } token
                || GitHubDeviceFlow.Int(root, "expires_at") is not { } expiresAtSeconds)
                throw new GatewayException(ErrorKind.UpstreamUnavailable, "GitHub's Copilot token answer lacks token or expires_at.", 502);
            var expiresAt = DateTimeOffset.FromUnixTimeSeconds(expiresAtSeconds);
            var refreshAt = expiresAt - ExpiryMargin;
            if (GitHubDeviceFlow.Int(root, "refresh_in") is { } refreshIn && now + TimeSpan.FromSeconds(refreshIn) < refreshAt)
                refreshAt = now + TimeSpan.FromSeconds(refreshIn);
            // A token living less than the margin would otherwise be renewed on every call: use half its life.
            var halfLife = now + (expiresAt - now) / 2;
            if (refreshAt < halfLife) refreshAt = halfLife;
            var api = root.TryGetProperty("endpoints", out var endpoints) && endpoints.ValueKind == JsonValueKind.Object
                ? GitHubDeviceFlow.Str(endpoints, "api") : null;
            return new CopilotToken(token, expiresAt, refreshAt, (api ?? CopilotOptions.DefaultApiBaseUrl).TrimEnd('/'));
        }
        catch (JsonException e)
        {
            throw new GatewayException(ErrorKind.UpstreamUnavailable, "GitHub's Copilot token answer is not JSON.", 502, inner: e);
        }
    }

    private static string Message(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && GitHubDeviceFlow.Str(doc.RootElement, "message") is { } m) return m;
        }
        catch (JsonException) { }
        return body.Length > 200 ? body[..200] : body.Length == 0 ? "(no message)" : body;
    }

    private static string KeyOf(string githubToken) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(githubToken)));
}
