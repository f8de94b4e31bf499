using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Gapura.Conversations;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Kiro.Auth;

/// <summary>A device login's code, for the user to enter in a browser, plus what polling needs.</summary>
internal sealed record KiroDeviceCode(
    string UserCode,
    string VerificationUri,
    string VerificationUriComplete,
    DateTimeOffset ExpiresAt,
    TimeSpan Interval,
    string ClientId,
    string ClientSecret,
    DateTimeOffset? ClientSecretExpiresAt,
    string DeviceCode,
    string StartUrl) : Accounts.IDeviceCode
{
    public override string ToString() => $"device code {UserCode} at {VerificationUri}";
}

/// <summary>The answer to one device-token poll: tokens, or an OAuth error code such as <c>authorization_pending</c>.</summary>
internal readonly record struct KiroDevicePoll(string? Error, string? AccessToken, string? RefreshToken, DateTimeOffset ExpiresAt)
{
    public override string ToString() => Error ?? "tokens issued";
}

/// <summary>
/// The HTTP side of Kiro logins: the desktop refresh and AWS SSO OIDC (kiro.md §2). Every URL is a
/// setting; <c>{region}</c> takes the login's own region, since an Identity Center may live elsewhere.
/// Error text carries codes and upstream messages only, never a token.
/// </summary>
internal sealed class KiroAuthClient
{
    public static readonly string[] Scopes = ["codewhisperer:completions", "codewhisperer:analysis", "codewhisperer:conversations"];

    private const string DeviceGrant = "urn:ietf:params:oauth:grant-type:device_code";
    private readonly HttpClient _http;
    private readonly KiroOptions _options;
    private readonly TimeProvider _time;

    public KiroAuthClient(HttpClient http, IOptions<KiroOptions> options, TimeProvider? time = null)
    {
        _http = http;
        _options = options.Value;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>A client for the process: pooled connections recycled every few minutes so DNS moves are followed.</summary>
    public static HttpClient CreateHttpClient() => UpstreamHttp.Create(UpstreamHttp.Handler(decompress: false), TimeSpan.FromSeconds(30));

    private string Url(string configured, string? region, string path)
        => configured.Replace("{region}", string.IsNullOrEmpty(region) ? _options.Region : region, StringComparison.Ordinal).TrimEnd('/') + path;

    /// <summary>Trades the refresh token for a new access token. The refresh token is kept when the service sends none back.</summary>
    /// <exception cref="GatewayException">Authentication when the login is dead; UpstreamUnavailable when trying later may help.</exception>
    public async Task<KiroCredential> RefreshAsync(KiroCredential credential, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(credential.RefreshToken))
            throw Dead(credential, "it has no refresh token");
        var now = _time.GetUtcNow();
        if (credential.UsesOidc)
        {
            var request = new OidcTokenRequest(credential.ClientId!, credential.ClientSecret!, "refresh_token", RefreshToken: credential.RefreshToken);
            using var response = await PostAsync(Url(_options.OidcEndpoint, credential.Region, "/token"), request, KiroAuthJsonContext.Default.OidcTokenRequest, ct);
            if (!response.IsSuccessStatusCode) throw await RefreshFailureAsync(credential, response, ct);
            var body = await ReadAsync(response, KiroAuthJsonContext.Default.OidcTokenResponse, ct);
            if (string.IsNullOrEmpty(body?.AccessToken)) throw Unavailable("the OIDC token answer has no accessToken");
            return credential with
            {
                AccessToken = body.AccessToken,
                RefreshToken = string.IsNullOrEmpty(body.RefreshToken) ? credential.RefreshToken : body.RefreshToken,
                ExpiresAt = now.AddSeconds(body.ExpiresIn ?? 3600),
            };
        }
        else
        {
            using var response = await PostAsync(Url(_options.AuthEndpoint, credential.Region, "/refreshToken"),
                new DesktopRefreshRequest(credential.RefreshToken), KiroAuthJsonContext.Default.DesktopRefreshRequest, ct);
            if (!response.IsSuccessStatusCode) throw await RefreshFailureAsync(credential, response, ct);
            var body = await ReadAsync(response, KiroAuthJsonContext.Default.DesktopRefreshResponse, ct);
            if (string.IsNullOrEmpty(body?.AccessToken)) throw Unavailable("the desktop refresh answer has no accessToken");
            var expires = body.ExpiresIn is { } seconds ? now.AddSeconds(seconds)
                : KiroTime.TryParse(body.ExpiresAt, out var at) ? at
                : now.AddHours(1);
            return credential with
            {
                AccessToken = body.AccessToken,
                RefreshToken = string.IsNullOrEmpty(body.RefreshToken) ? credential.RefreshToken : body.RefreshToken,
                ExpiresAt = expires,
                ProfileArn = body.ProfileArn ?? credential.ProfileArn,
            };
        }
    }

    /// <summary>Registers a public OIDC client and starts a device authorization at <paramref name="startUrl"/>.</summary>
    public async Task<KiroDeviceCode> StartDeviceAuthorizationAsync(string clientName, string startUrl, CancellationToken ct)
    {
        var register = new OidcRegisterRequest(clientName, "public", Scopes);
        OidcRegisterResponse? client;
        using (var response = await PostAsync(Url(_options.OidcEndpoint, null, "/client/register"), register, KiroAuthJsonContext.Default.OidcRegisterRequest, ct))
        {
            if (!response.IsSuccessStatusCode) throw await LoginFailureAsync("client registration", response, ct);
            client = await ReadAsync(response, KiroAuthJsonContext.Default.OidcRegisterResponse, ct);
        }
        if (string.IsNullOrEmpty(client?.ClientId) || string.IsNullOrEmpty(client.ClientSecret))
            throw new GatewayException(ErrorKind.UpstreamUnavailable, "AWS SSO OIDC client registration returned no client credentials.");

        var authorize = new OidcDeviceAuthorizationRequest(client.ClientId, client.ClientSecret, startUrl);
        using var started = await PostAsync(Url(_options.OidcEndpoint, null, "/device_authorization"), authorize, KiroAuthJsonContext.Default.OidcDeviceAuthorizationRequest, ct);
        if (!started.IsSuccessStatusCode) throw await LoginFailureAsync("device authorization", started, ct);
        var device = await ReadAsync(started, KiroAuthJsonContext.Default.OidcDeviceAuthorizationResponse, ct);
        if (string.IsNullOrEmpty(device?.DeviceCode) || string.IsNullOrEmpty(device.UserCode) || string.IsNullOrEmpty(device.VerificationUri))
            throw new GatewayException(ErrorKind.UpstreamUnavailable, "AWS SSO OIDC device authorization returned no device code.");

        var now = _time.GetUtcNow();
        return new KiroDeviceCode(
            device.UserCode,
            device.VerificationUri,
            device.VerificationUriComplete ?? device.VerificationUri,
            now.AddSeconds(device.ExpiresIn ?? 600),
            TimeSpan.FromSeconds(Math.Max(1, device.Interval ?? 5)),
            client.ClientId,
            client.ClientSecret,
            client.ClientSecretExpiresAt is { } secretExpires ? DateTimeOffset.FromUnixTimeSeconds(secretExpires) : null,
            device.DeviceCode,
            startUrl);
    }

    /// <summary>One poll of the device-code grant.</summary>
    public async Task<KiroDevicePoll> PollDeviceTokenAsync(KiroDeviceCode code, CancellationToken ct)
    {
        var request = new OidcTokenRequest(code.ClientId, code.ClientSecret, DeviceGrant, DeviceCode: code.DeviceCode);
        using var response = await PostAsync(Url(_options.OidcEndpoint, null, "/token"), request, KiroAuthJsonContext.Default.OidcTokenRequest, ct);
        if (!response.IsSuccessStatusCode)
        {
            var error = await ReadErrorAsync(response, ct);
            return new KiroDevicePoll(error?.Error ?? $"http_{(int)response.StatusCode}", null, null, default);
        }
        var body = await ReadAsync(response, KiroAuthJsonContext.Default.OidcTokenResponse, ct);
        if (string.IsNullOrEmpty(body?.AccessToken) || string.IsNullOrEmpty(body.RefreshToken))
            throw new GatewayException(ErrorKind.UpstreamUnavailable, "AWS SSO OIDC issued no access or refresh token.");
        return new KiroDevicePoll(null, body.AccessToken, body.RefreshToken, _time.GetUtcNow().AddSeconds(body.ExpiresIn ?? 3600));
    }

    private async Task<HttpResponseMessage> PostAsync<T>(string url, T body, JsonTypeInfo<T> type, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = JsonContent.Create(body, type) };
        request.Headers.TryAddWithoutValidation("User-Agent", _options.UserAgent);
        try
        {
            return await _http.SendAsync(request, ct);
        }
        catch (HttpRequestException e)
        {
            throw new GatewayException(ErrorKind.UpstreamUnavailable, $"Cannot reach {new Uri(url).GetLeftPart(UriPartial.Authority)}: {e.Message}", inner: e);
        }
        catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new GatewayException(ErrorKind.Timeout, $"{new Uri(url).GetLeftPart(UriPartial.Authority)} did not answer in time.", inner: e);
        }
    }

    private static async Task<T?> ReadAsync<T>(HttpResponseMessage response, JsonTypeInfo<T> type, CancellationToken ct)
    {
        try
        {
            return await response.Content.ReadFromJsonAsync(type, ct);
        }
        catch (JsonException e)
        {
            throw new GatewayException(ErrorKind.UpstreamUnavailable, "The Kiro login service answered with malformed JSON.", inner: e);
        }
    }

    private static async Task<OidcErrorResponse?> ReadErrorAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            return await response.Content.ReadFromJsonAsync(KiroAuthJsonContext.Default.OidcErrorResponse, ct);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
        {
            return null;
        }
    }

    private static async Task<GatewayException> RefreshFailureAsync(KiroCredential credential, HttpResponseMessage response, CancellationToken ct)
    {
        var error = await ReadErrorAsync(response, ct);
        var what = error?.Error ?? error?.Message ?? $"HTTP {(int)response.StatusCode}";
        var status = (int)response.StatusCode;
        // 4xx other than throttling means the service rejected the refresh token or the client: retrying cannot help.
        if (status is >= 400 and < 500 && status is not 408 and not 429)
            return Dead(credential, $"the service refused the refresh ({what})");
        return new GatewayException(
            status == 429 ? ErrorKind.RateLimited : ErrorKind.UpstreamUnavailable,
            $"Refreshing the Kiro login failed ({what}); will retry.",
            retryAfter: response.Headers.RetryAfter?.Delta);
    }

    private static async Task<GatewayException> LoginFailureAsync(string step, HttpResponseMessage response, CancellationToken ct)
    {
        var error = await ReadErrorAsync(response, ct);
        var what = error?.ErrorDescription ?? error?.Error ?? error?.Message ?? $"HTTP {(int)response.StatusCode}";
        var kind = response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden
            ? ErrorKind.UpstreamLogin : ErrorKind.UpstreamUnavailable;
        return new GatewayException(kind, $"AWS SSO OIDC {step} failed: {what}");
    }

    private static GatewayException Unavailable(string what) => new(ErrorKind.UpstreamUnavailable, $"Refreshing the Kiro login failed: {what}.");

    /// <summary>The login cannot be refreshed any more; only the user can fix that.</summary>
    public static GatewayException Dead(KiroCredential credential, string why) => new(
        ErrorKind.UpstreamLogin,
        credential.Source.Kind == KiroCredentialSourceKind.UserLogin
            ? $"The Kiro login {credential.Source.Path} is dead: {why}. {credential.Source.FixAdvice}."
            : $"The Kiro login from {credential.Source.Kind} ({credential.Source.Path}) is dead: {why}. {credential.Source.FixAdvice}, and retry.");
}
