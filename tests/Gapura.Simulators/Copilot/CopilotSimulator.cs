using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Simulators.Kiro;
using Gapura.Simulators.OpenAi;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gapura.Simulators.Copilot;

/// <summary>How the next device-flow poll is answered (GitHub's <c>error</c> values), or approved.</summary>
public enum DevicePoll { Pending, SlowDown, Approve, Deny, Expire }

/// <summary>
/// A faithful stand-in for GitHub Copilot's three services on one real Kestrel socket:
/// <list type="bullet">
/// <item>github.com's device flow: <c>POST /login/device/code</c> and <c>POST /login/oauth/access_token</c>
/// (form bodies; JSON only with <c>Accept: application/json</c>, form-encoded otherwise, as GitHub does; every
/// poll answered 200, with <c>authorization_pending</c>/<c>slow_down</c>/… scripted by <see cref="ScriptPolls"/>).</item>
/// <item>api.github.com's token exchange: <c>GET /copilot_internal/v2/token</c> with <c>Authorization: token …</c>,
/// issuing short-lived Copilot tokens with <c>expires_at</c>, <c>refresh_in</c> and <c>endpoints.api</c>.</item>
/// <item>api.githubcopilot.com: <c>GET /models</c> and <c>POST /chat/completions</c> (OpenAI-shaped, SSE or not),
/// which demand a live Copilot token and the editor headers, refusing with a 400 naming a missing header (and image parts without <c>Copilot-Vision-Request</c>).</item>
/// </list>
/// Answers come from the OpenAI simulator's responder and wire writer (reasoning in Copilot's <c>reasoning_text</c>);
/// scripted ones are queued by <see cref="Enqueue"/>. Every request is recorded.
/// </summary>
public sealed class CopilotSimulator : SimulatorServer
{
    /// <summary>
    /// Where Copilot's chat completions carry reasoning, in deltas and messages: its own field, not the
    /// <c>reasoning_content</c> of DeepSeek-style servers (beside it Copilot may send <c>reasoning_opaque</c>, an
    /// encrypted state the simulator does not produce).
    /// </summary>
    public const string ReasoningField = "reasoning_text";

    /// <summary>Headers the Copilot API refuses calls without (editor-authenticated tokens).</summary>
    public static readonly string[] RequiredHeaders = ["Editor-Version", "Editor-Plugin-Version", "Copilot-Integration-Id"];

    private readonly CopilotSimulatorOptions _options;
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly ConcurrentDictionary<string, bool> _githubTokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _copilotTokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DeviceGrant> _devices = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<DevicePoll> _polls = new();
    private readonly ConcurrentQueue<OpenAiAnswer> _answers = new();
    private long _ids;
    private int _exchanges;
    private int _chatCalls;

    private sealed class DeviceGrant
    {
        public required string UserCode { get; init; }
        public string? IssuedToken { get; set; }
        public int IntervalSeconds { get; set; }
    }

    private CopilotSimulator(CopilotSimulatorOptions options) => _options = options;

    public CopilotSimulatorOptions Options => _options;

    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    public IReadOnlyList<RecordedRequest> ChatRequests => [.. _requests.Where(r => r.Path == "/chat/completions")];

    public IReadOnlyList<RecordedRequest> DevicePolls => [.. _requests.Where(r => r.Path == "/login/oauth/access_token")];

    /// <summary>Token exchanges answered with a token.</summary>
    public int Exchanges => Volatile.Read(ref _exchanges);

    /// <summary>Calls that reached the chat endpoint, refused ones included.</summary>
    public int ChatCalls => Volatile.Read(ref _chatCalls);

    public static async Task<CopilotSimulator> StartAsync(CopilotSimulatorOptions? options = null, CancellationToken ct = default)
    {
        var simulator = new CopilotSimulator(options ?? new CopilotSimulatorOptions());
        await simulator.StartHostAsync(simulator._options.Url, simulator._options.Verbose, a => simulator.Map(a), ct);
        return simulator;
    }

    /// <summary>A GitHub OAuth token the simulated GitHub knows; without a seat its Copilot token exchange is refused.</summary>
    public string IssueGitHubToken(bool copilotSeat = true)
    {
        var token = "gho_" + Convert.ToHexString(Guid.NewGuid().ToByteArray()).ToLowerInvariant()[..32];
        _githubTokens[token] = copilotSeat;
        return token;
    }

    /// <summary>Takes the account's Copilot seat away (or gives it back): exchanges are refused with 403.</summary>
    public void SetSeat(string githubToken, bool copilotSeat) => _githubTokens[githubToken] = copilotSeat;

    /// <summary>Makes every Copilot token issued so far invalid (as a rotation does): the API answers 401.</summary>
    public void RevokeCopilotTokens() => _copilotTokens.Clear();

    /// <summary>How the coming device-flow polls are answered, in order; once used up, polls are approved.</summary>
    public void ScriptPolls(params DevicePoll[] polls)
    {
        foreach (var p in polls) _polls.Enqueue(p);
    }

    /// <summary>Queues the answer to a coming chat call instead of the default responder's.</summary>
    public void Enqueue(OpenAiAnswer answer) => _answers.Enqueue(answer);

    /// <summary>Forgets the requests recorded so far (sign-ins and exchanges included).</summary>
    public void ClearRequests() => _requests.Clear();

    /// <summary>Drops queued answers not yet used; chat calls get the default responder's again.</summary>
    public void ClearScenarios() => _answers.Clear();

    private string NextId() => Interlocked.Increment(ref _ids).ToString("x12", System.Globalization.CultureInfo.InvariantCulture);

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
            context.Response.Headers["x-request-id"] = Guid.NewGuid().ToString();
            await next(context);
        });
        app.MapPost("/login/device/code", DeviceCodeAsync);
        app.MapPost("/login/oauth/access_token", AccessTokenAsync);
        app.MapGet("/copilot_internal/v2/token", ExchangeAsync);
        app.MapGet("/models", ModelsAsync);
        app.MapPost("/chat/completions", ChatAsync);
        app.MapFallback(context => WriteJson(context, 404, new JsonObject { ["message"] = "Not Found", ["documentation_url"] = "https://docs.github.com/rest" }));
    }

    private static RecordedRequest Recorded(HttpContext context) => (RecordedRequest)context.Items[typeof(RecordedRequest)]!;

    // ---- github.com: device flow ------------------------------------------------------------------

    private async Task DeviceCodeAsync(HttpContext context)
    {
        var form = Form(context);
        if (form.GetValueOrDefault("client_id") != _options.ClientId)
        {
            // GitHub's answer to an unknown client id.
            await WriteOAuth(context, 200, new JsonObject { ["error"] = "Not Found" });
            return;
        }
        var deviceCode = Convert.ToHexString(Guid.NewGuid().ToByteArray()).ToLowerInvariant();
        var userCode = $"{Random.Shared.Next(0x1000, 0xFFFF):X4}-{Random.Shared.Next(0x1000, 0xFFFF):X4}";
        _devices[deviceCode] = new DeviceGrant { UserCode = userCode, IntervalSeconds = _options.DeviceInterval };
        await WriteOAuth(context, 200, new JsonObject
        {
            ["device_code"] = deviceCode,
            ["user_code"] = userCode,
            ["verification_uri"] = BaseUrl + "/login/device",
            ["expires_in"] = 899,
            ["interval"] = _options.DeviceInterval,
        });
    }

    private async Task AccessTokenAsync(HttpContext context)
    {
        var form = Form(context);
        if (form.GetValueOrDefault("client_id") != _options.ClientId)
        {
            await WriteOAuth(context, 200, OAuthError("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect."));
            return;
        }
        if (form.GetValueOrDefault("grant_type") != "urn:ietf:params:oauth:grant-type:device_code")
        {
            await WriteOAuth(context, 200, OAuthError("unsupported_grant_type", "The grant type must be urn:ietf:params:oauth:grant-type:device_code."));
            return;
        }
        if (form.GetValueOrDefault("device_code") is not { } code || !_devices.TryGetValue(code, out var grant))
        {
            await WriteOAuth(context, 200, OAuthError("incorrect_device_code", "The device_code provided is not valid."));
            return;
        }
        var next = _polls.TryDequeue(out var scripted) ? scripted : DevicePoll.Approve;
        switch (next)
        {
            case DevicePoll.Pending:
                await WriteOAuth(context, 200, OAuthError("authorization_pending", "The authorization request is still pending."));
                return;
            case DevicePoll.SlowDown:
                grant.IntervalSeconds += 5;
                var slow = OAuthError("slow_down", "Too many requests have been made in the same timeframe.");
                slow["interval"] = grant.IntervalSeconds;
                await WriteOAuth(context, 200, slow);
                return;
            case DevicePoll.Deny:
                await WriteOAuth(context, 200, OAuthError("access_denied", "The authorization request was denied."));
                return;
            case DevicePoll.Expire:
                await WriteOAuth(context, 200, OAuthError("expired_token", "The device_code has expired."));
                return;
        }
        grant.IssuedToken ??= IssueGitHubToken(_options.DeviceLoginsHaveSeat);
        await WriteOAuth(context, 200, new JsonObject { ["access_token"] = grant.IssuedToken, ["token_type"] = "bearer", ["scope"] = form.GetValueOrDefault("scope") ?? "read:user" });
    }

    private static JsonObject OAuthError(string error, string description)
        => new() { ["error"] = error, ["error_description"] = description, ["error_uri"] = "https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow" };

    /// <summary>GitHub's OAuth endpoints answer form-encoded unless the client asks for JSON.</summary>
    private static Task WriteOAuth(HttpContext context, int status, JsonObject body)
    {
        if (context.Request.Headers.Accept.ToString().Contains("application/json", StringComparison.OrdinalIgnoreCase)) return WriteJson(context, status, body);
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/x-www-form-urlencoded; charset=utf-8";
        var form = string.Join("&", body.Select(p => $"{Uri.EscapeDataString(p.Key)}={Uri.EscapeDataString(p.Value?.ToString() ?? "")}"));
        return context.Response.WriteAsync(form, context.RequestAborted);
    }

    private static Dictionary<string, string> Form(HttpContext context)
    {
        var recorded = Recorded(context);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        if (context.Request.ContentType?.Contains("json", StringComparison.OrdinalIgnoreCase) == true)
        {
            try
            {
                if (JsonNode.Parse(recorded.BodyBytes) is JsonObject json)
                    foreach (var (k, v) in json) values[k] = v?.ToString() ?? "";
            }
            catch (JsonException) { }
            return values;
        }
        foreach (var pair in recorded.Body.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            if (eq > 0) values[Uri.UnescapeDataString(pair[..eq].Replace('+', ' '))] = Uri.UnescapeDataString(pair[(eq + 1)..].Replace('+', ' '));
        }
        return values;
    }

    // ---- api.github.com: Copilot token exchange --------------------------------------------------

    private async Task ExchangeAsync(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        // GitHub's token scheme; the exchange accepts "token" (as the editors send) and "Bearer".
        var token = header.StartsWith("token ", StringComparison.OrdinalIgnoreCase) ? header[6..].Trim()
            : header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : null;
        if (token is null || !_githubTokens.TryGetValue(token, out var seat))
        {
            await WriteJson(context, 401, new JsonObject { ["message"] = "Bad credentials", ["documentation_url"] = "https://docs.github.com/rest", ["status"] = "401" });
            return;
        }
        if (!seat)
        {
            await WriteJson(context, 403, new JsonObject
            {
                ["message"] = "Resource not accessible by integration", ["documentation_url"] = "https://docs.github.com/rest/copilot", ["status"] = "403",
            });
            return;
        }
        if (_options.ExchangeDelay > TimeSpan.Zero) await Task.Delay(_options.ExchangeDelay, context.RequestAborted);
        Interlocked.Increment(ref _exchanges);
        var now = DateTimeOffset.UtcNow;
        var expiresAt = now + _options.CopilotTokenLifetime;
        var copilot = $"tid={NextId()};exp={expiresAt.ToUnixTimeSeconds()};sku=copilot_for_individuals;proxy-ep=proxy.individual.githubcopilot.com;8kp=1:{Guid.NewGuid():N}";
        _copilotTokens[copilot] = expiresAt;
        await WriteJson(context, 200, new JsonObject
        {
            ["token"] = copilot,
            ["expires_at"] = expiresAt.ToUnixTimeSeconds(),
            ["refresh_in"] = (long)Math.Max(1, (_options.CopilotTokenLifetime - _options.RefreshAhead).TotalSeconds),
            ["endpoints"] = new JsonObject
            {
                ["api"] = BaseUrl,
                ["origin-tracker"] = BaseUrl + "/origin-tracker",
                ["proxy"] = BaseUrl + "/proxy",
                ["telemetry"] = BaseUrl + "/telemetry",
            },
            ["chat_enabled"] = true,
            ["sku"] = "copilot_for_individuals",
            ["annotations_enabled"] = true,
            ["individual"] = true,
        });
    }

    // ---- api.githubcopilot.com -------------------------------------------------------------------

    /// <summary>The Copilot API's checks: a live Copilot token (401 otherwise) and the editor headers (400 naming the missing one).</summary>
    private async Task<bool> AuthorizeAsync(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        var token = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : null;
        if (token is null || !_copilotTokens.TryGetValue(token, out var expires))
        {
            await WritePlain(context, 401, "unauthorized: token invalid or missing\n");
            return false;
        }
        if (DateTimeOffset.UtcNow >= expires)
        {
            await WritePlain(context, 401, "unauthorized: token expired\n");
            return false;
        }
        foreach (var name in RequiredHeaders)
            if (string.IsNullOrWhiteSpace(context.Request.Headers[name].ToString()))
            {
                await WriteJson(context, 400, new JsonObject
                {
                    ["error"] = new JsonObject { ["message"] = $"missing {name} header for IDE auth", ["code"] = "bad_request" },
                });
                return false;
            }
        return true;
    }

    private async Task ModelsAsync(HttpContext context)
    {
        if (!await AuthorizeAsync(context)) return;
        var data = new JsonArray();
        foreach (var m in _options.Models)
        {
            var limits = new JsonObject();
            if (m.ContextWindow is { } context_) limits["max_context_window_tokens"] = context_;
            if (m.MaxOutput is { } output) limits["max_output_tokens"] = output;
            if (m.MaxPrompt is { } prompt) limits["max_prompt_tokens"] = prompt;
            data.Add(new JsonObject
            {
                ["id"] = m.Id, ["name"] = m.Name, ["object"] = "model", ["vendor"] = m.Vendor, ["version"] = m.Id,
                ["preview"] = false, ["model_picker_enabled"] = m.Type == "chat",
                ["capabilities"] = new JsonObject
                {
                    ["type"] = m.Type, ["family"] = m.Family, ["object"] = "model_capabilities", ["tokenizer"] = "o200k_base",
                    ["limits"] = limits,
                    ["supports"] = m.Type == "chat"
                        ? new JsonObject { ["tool_calls"] = true, ["parallel_tool_calls"] = true, ["vision"] = m.Vision, ["streaming"] = true }
                        : new JsonObject { ["embeddings"] = true },
                },
            });
        }
        await WriteJson(context, 200, new JsonObject { ["object"] = "list", ["data"] = data });
    }

    private async Task ChatAsync(HttpContext context)
    {
        Interlocked.Increment(ref _chatCalls);
        if (!await AuthorizeAsync(context)) return;
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(Recorded(context).BodyBytes);
        }
        catch (JsonException)
        {
            await WriteJson(context, 400, new JsonObject { ["error"] = new JsonObject { ["message"] = "invalid JSON body", ["code"] = "invalid_request_body" } });
            return;
        }
        using (doc)
        {
            var body = doc.RootElement;
            var model = body.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : "";
            if (!_options.Models.Any(x => x.Id == model && x.Type == "chat"))
            {
                await WriteJson(context, 400, new JsonObject
                {
                    ["error"] = new JsonObject { ["message"] = "The requested model is not supported.", ["code"] = "model_not_supported", ["param"] = "model", ["type"] = "invalid_request_error" },
                });
                return;
            }
            if (!body.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
            {
                await WriteJson(context, 400, new JsonObject { ["error"] = new JsonObject { ["message"] = "messages: at least one message is required", ["code"] = "invalid_request_body" } });
                return;
            }
            if (HasImage(messages) && context.Request.Headers["Copilot-Vision-Request"].ToString() != "true")
            {
                await WriteJson(context, 400, new JsonObject
                {
                    ["error"] = new JsonObject { ["message"] = "missing required Copilot-Vision-Request header for vision requests", ["code"] = "bad_request" },
                });
                return;
            }
            var stream = body.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
            var includeUsage = stream && body.TryGetProperty("stream_options", out var o) && o.ValueKind == JsonValueKind.Object
                               && o.TryGetProperty("include_usage", out var iu) && iu.ValueKind == JsonValueKind.True;
            if (stream && _options.RawStream is { } raw)
            {
                context.Response.StatusCode = 200;
                context.Response.ContentType = "text/event-stream";
                await context.Response.Body.WriteAsync(raw, context.RequestAborted);
                return;
            }
            var answer = _answers.TryDequeue(out var queued) ? queued : OpenAiDefaultResponder.ForChat(body, Recorded(context).BodyBytes.Length);
            var id = "chatcmpl-" + NextId();
            var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            string CallId() => "call_" + NextId();
            if (!stream)
            {
                await WriteJson(context, 200, OpenAiWireWriter.ChatCompletion(answer, model, id, created, CallId, ReasoningField));
                return;
            }
            context.Response.StatusCode = 200;
            context.Response.ContentType = "text/event-stream";
            await context.Response.StartAsync(context.RequestAborted);
            foreach (var e in OpenAiWireWriter.ChatChunks(answer, model, id, created, includeUsage, CallId, ReasoningField))
            {
                await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(e.Encode()), context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
            }
            await context.Response.Body.WriteAsync("data: [DONE]\n\n"u8.ToArray(), context.RequestAborted);
        }
    }

    private static bool HasImage(JsonElement messages) => messages.EnumerateArray().Any(m =>
        m.ValueKind == JsonValueKind.Object && m.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.Array
        && c.EnumerateArray().Any(p => p.ValueKind == JsonValueKind.Object && p.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "image_url"));

    private static Task WriteJson(HttpContext context, int status, JsonNode body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        return context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted);
    }

    private static Task WritePlain(HttpContext context, int status, string text)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(text, context.RequestAborted);
    }
}
