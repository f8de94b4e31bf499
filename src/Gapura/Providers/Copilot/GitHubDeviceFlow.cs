using System.Net.Http.Headers;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Providers.Copilot;

/// <summary>What the user is shown to approve a sign-in, and what the poll needs.</summary>
internal sealed record GitHubDeviceCode(string DeviceCode, string UserCode, string VerificationUri, TimeSpan Interval, DateTimeOffset ExpiresAt)
    : Accounts.IDeviceCode
{
    /// <summary>GitHub has no address with the code filled in: the user types it at <see cref="VerificationUri"/>.</summary>
    public string VerificationUriComplete => VerificationUri;

    /// <summary>Never prints the device code: it is what a token is claimed with.</summary>
    public override string ToString() => $"device code for {VerificationUri} ({UserCode})";
}

/// <summary>
/// GitHub's OAuth device flow (RFC 8628 as GitHub runs it): ask for a code, show it, then poll until the user
/// approved it. GitHub answers every poll with 200 and an <c>error</c> field while waiting:
/// <c>authorization_pending</c> (ask again after the interval), <c>slow_down</c> (interval + 5 s from now on),
/// <c>expired_token</c> and <c>access_denied</c> (stop).
/// </summary>
internal sealed class GitHubDeviceFlow(HttpClient http, CopilotOptions options, TimeProvider? time = null,
    Func<TimeSpan, CancellationToken, Task>? delay = null)
{
    public const string Scope = "read:user";
    public const string DeviceGrant = "urn:ietf:params:oauth:grant-type:device_code";
    private static readonly TimeSpan SlowDownStep = TimeSpan.FromSeconds(5);

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Func<TimeSpan, CancellationToken, Task> _delay = delay ?? ((d, ct) => Task.Delay(d, time ?? TimeProvider.System, ct));
    private string BaseUrl => options.GitHubBaseUrl.Trim().TrimEnd('/');

    public async Task<GitHubDeviceCode> StartAsync(CancellationToken ct)
    {
        using var doc = await PostAsync("/login/device/code", [new("client_id", options.ClientId), new("scope", Scope)], ct);
        var root = doc.RootElement;
        if (Str(root, "error") is { } error)
            throw new GatewayException(ErrorKind.UpstreamLogin, $"GitHub refused to start a sign-in ({error}): {Str(root, "error_description") ?? "no description"}.");
        if (Str(root, "device_code") is not { } deviceCode || Str(root, "user_code") is not { } userCode || Str(root, "verification_uri") is not { } uri)
            throw new GatewayException(ErrorKind.UpstreamLogin, "GitHub's device code answer lacks device_code, user_code or verification_uri.");
        var interval = TimeSpan.FromSeconds(Math.Max(1, Int(root, "interval") ?? 5));
        var expiresAt = _time.GetUtcNow() + TimeSpan.FromSeconds(Int(root, "expires_in") ?? 900);
        return new GitHubDeviceCode(deviceCode, userCode, uri, interval, expiresAt);
    }

    /// <summary>Polls until the user approved (returns the GitHub OAuth token), refused, or the code expired.</summary>
    public async Task<string> WaitForTokenAsync(GitHubDeviceCode code, CancellationToken ct)
    {
        var interval = code.Interval;
        while (true)
        {
            if (_time.GetUtcNow() >= code.ExpiresAt) throw Expired();
            await _delay(interval, ct);
            var (token, slowDownTo) = await PollOnceAsync(code, ct);
            if (token is not null) return token;
            // GitHub may say the new interval itself; never poll faster than it asked.
            if (slowDownTo is { } asked) interval = asked > interval + SlowDownStep ? asked : interval + SlowDownStep;
        }
    }

    /// <summary>One poll: the GitHub token once approved, else null, with the interval GitHub asked for when it said slow_down.</summary>
    /// <exception cref="GatewayException">UpstreamLogin when the user refused or the code expired.</exception>
    public async Task<(string? Token, TimeSpan? SlowDownTo)> PollOnceAsync(GitHubDeviceCode code, CancellationToken ct)
    {
        using var doc = await PostAsync("/login/oauth/access_token",
            [new("client_id", options.ClientId), new("device_code", code.DeviceCode), new("grant_type", DeviceGrant)], ct);
        var root = doc.RootElement;
        if (Str(root, "access_token") is { Length: > 0 } token) return (token, null);
        return Str(root, "error") switch
        {
            "authorization_pending" => (null, null),
            "slow_down" => (null, Int(root, "interval") is { } seconds ? TimeSpan.FromSeconds(seconds) : TimeSpan.Zero),
            "expired_token" => throw Expired(),
            "access_denied" => throw new GatewayException(ErrorKind.UpstreamLogin, "The GitHub sign-in was cancelled (access denied)."),
            { } other => throw new GatewayException(ErrorKind.UpstreamLogin, $"GitHub refused the sign-in ({other}): {Str(root, "error_description") ?? "no description"}."),
            null => throw new GatewayException(ErrorKind.UpstreamLogin, "GitHub's token answer holds neither an access_token nor an error."),
        };
    }

    private static GatewayException Expired() => new(ErrorKind.UpstreamLogin, "The GitHub sign-in code expired before it was approved; run `gapura login copilot` again.");

    private async Task<JsonDocument> PostAsync(string path, KeyValuePair<string, string>[] form, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, BaseUrl + path) { Content = new FormUrlEncodedContent(form) };
        // Without it GitHub answers form-encoded.
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.TryAddWithoutValidation("User-Agent", options.UserAgent);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, ct);
        }
        catch (HttpRequestException e)
        {
            throw new GatewayException(ErrorKind.UpstreamUnavailable, $"Could not reach GitHub at {BaseUrl}: {e.Message}", 502, inner: e);
        }
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            try
            {
                var doc = JsonDocument.Parse(text);
                if (doc.RootElement.ValueKind == JsonValueKind.Object) return doc;
                doc.Dispose();
            }
            catch (JsonException) { }
            throw new GatewayException(ErrorKind.UpstreamUnavailable,
                $"GitHub answered {(int)response.StatusCode} to {path} with no JSON: {(text.Length > 200 ? text[..200] : text)}", 502);
        }
    }

    internal static string? Str(JsonElement obj, string name) => obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    internal static long? Int(JsonElement obj, string name) => obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : null;
}
