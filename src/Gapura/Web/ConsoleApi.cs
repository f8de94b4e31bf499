using System.Net;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Gapura.Api.Admin;
using Gapura.Web.InProcess;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Authorization;

namespace Gapura.Web;

/// <summary>
/// The console's one way to read and change anything: the admin API, called in process as the signed-in user
/// (their session cookie and CSRF token). The pages hold no rule of their own — who may do what, validation,
/// audit and the wording of every refusal are the admin API's, so the console and the API can never disagree.
/// </summary>
internal sealed class ConsoleApi(ApplicationCapture capture, AuthenticationStateProvider authentication, NavigationManager navigation) : IDisposable
{
    /// <summary>Any host does: the request never leaves the process.</summary>
    private static readonly Uri BaseAddress = new("http://console.gapura.internal/");

    private HttpClient? _client;

    /// <summary>The circuit (or prerender) ended.</summary>
    public void Dispose() => _client?.Dispose();

    public Task<T> GetAsync<T>(string path, JsonTypeInfo<T> type, CancellationToken ct = default)
        => SendAsync(HttpMethod.Get, path, null, type, ct);

    public Task<JsonNode> GetJsonAsync(string path, CancellationToken ct = default)
        => SendAsync(HttpMethod.Get, path, null, ConsoleJson.Node, ct);

    public async Task<string> GetTextAsync(string path, CancellationToken ct = default)
    {
        using var response = await SendRawAsync(HttpMethod.Get, path, null, ct);
        return await response.Content.ReadAsStringAsync(ct);
    }

    public Task<T> PostAsync<T>(string path, JsonNode? body, JsonTypeInfo<T> type, CancellationToken ct = default)
        => SendAsync(HttpMethod.Post, path, body, type, ct);

    public Task<T> PutAsync<T>(string path, JsonNode? body, JsonTypeInfo<T> type, CancellationToken ct = default)
        => SendAsync(HttpMethod.Put, path, body, type, ct);

    public Task<T> PatchAsync<T>(string path, JsonNode? body, JsonTypeInfo<T> type, CancellationToken ct = default)
        => SendAsync(HttpMethod.Patch, path, body, type, ct);

    /// <summary>A change whose answer the page does not need (204s, or a refresh follows anyway).</summary>
    public async Task SendAsync(HttpMethod method, string path, JsonNode? body = null, CancellationToken ct = default)
    {
        using var _ = await SendRawAsync(method, path, body, ct);
    }

    public async Task<T> SendAsync<T>(HttpMethod method, string path, JsonNode? body, JsonTypeInfo<T> type, CancellationToken ct = default)
    {
        using var response = await SendRawAsync(method, path, body, ct);
        return await response.Content.ReadFromJsonAsync(type, ct)
            ?? throw new ConsoleApiException(500, $"The admin API answered {path} with no body.", null);
    }

    private async Task<HttpResponseMessage> SendRawAsync(HttpMethod method, string path, JsonNode? body, CancellationToken ct)
    {
        var client = _client ??= await CreateClientAsync();
        using var request = new HttpRequestMessage(method, AdminEndpoints.Prefix + path);
        if (body is not null) request.Content = new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json");
        var response = await client.SendAsync(request, ct);
        if (response.IsSuccessStatusCode) return response;
        using (response)
        {
            var error = await ReadErrorAsync(response, ct);
            // The session ended (signed out elsewhere, expired, account disabled): back to the sign-in page.
            if (response.StatusCode == HttpStatusCode.Unauthorized)
                navigation.NavigateTo(ConsolePaths.SignIn + "?ended=1", forceLoad: true);
            throw error;
        }
    }

    public static async Task<ConsoleApiException> ReadErrorAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var status = (int)response.StatusCode;
        try
        {
            var body = await response.Content.ReadFromJsonAsync(AdminJsonContext.Default.ErrorBody, ct);
            if (body?.Error is { } e) return new ConsoleApiException(status, e.Message, e.Param);
        }
        catch (JsonException) { }
        return new ConsoleApiException(status, $"The gateway answered {status} {response.ReasonPhrase}.", null);
    }

    private async Task<HttpClient> CreateClientAsync()
    {
        var user = (await authentication.GetAuthenticationStateAsync()).User;
        var token = user.FindFirstValue(ConsoleClaims.SessionToken)
            ?? throw new ConsoleApiException(401, "You are not signed in.", null);
        IPAddress.TryParse(user.FindFirstValue(ConsoleClaims.RemoteAddress), out var remote);
        return CreateClient(capture, token, remote);
    }

    /// <summary>
    /// A client of the admin API in process, as the holder of <paramref name="sessionToken"/> (or anonymous, for
    /// set-up), seen as calling from <paramref name="remote"/> — the browser's address, for the audit log.
    /// </summary>
    public static HttpClient CreateClient(ApplicationCapture capture, string? sessionToken, IPAddress? remote)
    {
        var client = new HttpClient(new InProcessHandler(capture, remote)) { BaseAddress = BaseAddress };
        if (sessionToken is not null)
        {
            client.DefaultRequestHeaders.Add("Cookie", $"{AdminSessions.CookieName}={sessionToken}");
            client.DefaultRequestHeaders.Add(AdminSessions.CsrfHeader, AdminSessions.CsrfFor(sessionToken));
        }
        return client;
    }
}

/// <summary>A refusal or failure of the admin API, with its own message (already written for people).</summary>
internal sealed class ConsoleApiException(int status, string message, string? param) : Exception(message)
{
    public int Status { get; } = status;

    /// <summary>The request field the message is about, when the API named one.</summary>
    public string? Param { get; } = param;
}

internal static class ConsoleJson
{
    public static readonly JsonTypeInfo<JsonNode> Node = (JsonTypeInfo<JsonNode>)JsonSerializerOptions.Default.GetTypeInfo(typeof(JsonNode));
}
