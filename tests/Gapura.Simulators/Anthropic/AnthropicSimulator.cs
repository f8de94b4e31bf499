using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Simulators.Kiro;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Gapura.Simulators.Anthropic;

/// <summary>
/// A faithful stand-in for Anthropic's Messages API on a real Kestrel socket: <c>POST /v1/messages</c>
/// (SSE with message_start, ping, content_block_start/delta/stop, message_delta, message_stop; or one JSON
/// message), <c>POST /v1/messages/count_tokens</c> and the paged <c>GET /v1/models</c>. Requests need
/// <c>x-api-key</c> (or an OAuth bearer) and <c>anthropic-version</c>; errors have Anthropic's shape and
/// statuses (400, 401, 403, 404, 413, 429 with retry-after, 500, 529). Every request is recorded with its
/// headers and raw body bytes, so passthrough tests can compare bytes.
/// </summary>
public sealed class AnthropicSimulator : SimulatorServer
{
    private readonly AnthropicSimulatorOptions _options;
    private readonly ConcurrentQueue<AnthropicScenario> _scenarios = new();
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly ConcurrentDictionary<string, bool> _cachedPrefixes = new(StringComparer.Ordinal);
    private readonly byte[] _signingKey = RandomNumberGenerator.GetBytes(32);
    private readonly Random _seeds;
    private readonly object _seedLock = new();
    private int _messageCalls;

    private AnthropicSimulator(AnthropicSimulatorOptions options)
    {
        _options = options;
        _seeds = new Random(options.Seed);
    }

    public AnthropicSimulatorOptions Options => _options;

    /// <summary>The first configured API key, for tests.</summary>
    public string ApiKey => _options.ApiKeys.First();

    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    /// <summary><c>POST /v1/messages</c> requests only.</summary>
    public IReadOnlyList<RecordedRequest> MessageRequests => [.. _requests.Where(r => r.Method == "POST" && r.Path == "/v1/messages")];

    /// <summary>Calls of <c>POST /v1/messages</c>, refused ones included.</summary>
    public int MessageCalls => Volatile.Read(ref _messageCalls);

    public int PendingScenarios => _scenarios.Count;

    public static async Task<AnthropicSimulator> StartAsync(AnthropicSimulatorOptions? options = null, CancellationToken ct = default)
    {
        var simulator = new AnthropicSimulator(options ?? new AnthropicSimulatorOptions());
        await simulator.StartHostAsync(simulator._options.Url, simulator._options.Verbose, a => simulator.Map(a), ct,
            b => b.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = null));
        return simulator;
    }

    // ---- test controls ---------------------------------------------------------------------------

    public void Enqueue(AnthropicScenario scenario) => _scenarios.Enqueue(scenario);

    public void ClearRequests() => _requests.Clear();

    /// <summary>Drops scripts no request consumed (one refused before reaching its script leaves it queued).</summary>
    public void ClearScenarios() => _scenarios.Clear();

    /// <summary>The signature the simulator gives a thinking text; only such signatures are accepted back.</summary>
    public string Sign(string thinking)
    {
        var mac = HMACSHA256.HashData(_signingKey, Encoding.UTF8.GetBytes(thinking));
        return "EqsSim" + Convert.ToBase64String(mac);
    }

    public bool IsValidSignature(string thinking, string signature) => CryptographicOperations.FixedTimeEquals(
        Encoding.UTF8.GetBytes(Sign(thinking)), Encoding.UTF8.GetBytes(signature));

    // ---- Claude sign-in (OAuth 2 + PKCE) ----------------------------------------------------------

    private readonly ConcurrentDictionary<string, (string ClientId, string Challenge, string RedirectUri)> _codes = new();
    private readonly ConcurrentDictionary<string, string> _refreshTokens = new();
    private readonly ConcurrentDictionary<string, bool> _issuedAccess = new(StringComparer.Ordinal);

    /// <summary>
    /// The user approves the sign-in in a browser: the simulator reads the authorize URL's client, PKCE challenge
    /// and state, and returns what Claude's callback page shows (<c>code#state</c>).
    /// </summary>
    public string Approve(string authorizeUrl)
    {
        var query = System.Web.HttpUtility.ParseQueryString(new Uri(authorizeUrl).Query);
        if (query["code_challenge_method"] != "S256" || string.IsNullOrEmpty(query["code_challenge"])) throw new InvalidOperationException("PKCE S256 challenge missing");
        var code = "sim-code-" + Guid.NewGuid().ToString("N");
        _codes[code] = (query["client_id"] ?? "", query["code_challenge"]!, query["redirect_uri"] ?? "");
        return code + "#" + query["state"];
    }

    /// <summary>How many refresh grants were answered with new tokens.</summary>
    public int Refreshes => _refreshes;

    private int _refreshes;

    /// <summary>Forgets every refresh token: the next refresh is refused, as when a user revokes the sign-in.</summary>
    public void RevokeRefreshTokens() => _refreshTokens.Clear();

    /// <summary>Refresh tokens issued and not yet used (they rotate on use).</summary>
    public int LiveRefreshTokens => _refreshTokens.Count;

    private async Task OAuthTokenAsync(HttpContext context)
    {
        JsonNode? body;
        try { body = JsonNode.Parse(Recorded(context).BodyBytes); }
        catch (JsonException) { body = null; }
        string? Field(string name) => body?[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        switch (Field("grant_type"))
        {
            case "authorization_code":
                if (Field("code") is not { } code || !_codes.TryRemove(code, out var issued))
                {
                    await OAuthErrorAsync(context, "invalid_grant", "Invalid or expired authorization code");
                    return;
                }
                var verifier = Field("code_verifier") ?? "";
                var challenge = Convert.ToBase64String(SHA256.HashData(Encoding.ASCII.GetBytes(verifier))).TrimEnd('=').Replace('+', '-').Replace('/', '_');
                if (challenge != issued.Challenge || Field("client_id") != issued.ClientId || Field("redirect_uri") != issued.RedirectUri)
                {
                    await OAuthErrorAsync(context, "invalid_grant", "PKCE verification failed");
                    return;
                }
                await IssueTokensAsync(context, issued.ClientId);
                return;
            case "refresh_token":
                if (Field("refresh_token") is not { } refresh || !_refreshTokens.TryRemove(refresh, out var clientId) || clientId != Field("client_id"))
                {
                    await OAuthErrorAsync(context, "invalid_grant", "Refresh token not found or invalid");
                    return;
                }
                Interlocked.Increment(ref _refreshes);
                await IssueTokensAsync(context, clientId);
                return;
            default:
                await OAuthErrorAsync(context, "unsupported_grant_type", "Unsupported grant type");
                return;
        }
    }

    private Task IssueTokensAsync(HttpContext context, string clientId)
    {
        var access = "sk-ant-oat01-sim-" + Guid.NewGuid().ToString("N");
        var refresh = "sk-ant-ort01-sim-" + Guid.NewGuid().ToString("N");
        // Kept apart from the options' set: requests read it concurrently.
        _issuedAccess[access] = true;
        _refreshTokens[refresh] = clientId;
        return WriteJsonAsync(context, 200, new JsonObject
        {
            ["token_type"] = "Bearer",
            ["access_token"] = access,
            ["refresh_token"] = refresh,
            ["expires_in"] = _options.OAuthAccessTokenSeconds,
            ["scope"] = "user:inference user:profile",
        });
    }

    private static Task OAuthErrorAsync(HttpContext context, string error, string description)
        => WriteJsonAsync(context, 400, new JsonObject { ["error"] = error, ["error_description"] = description });

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
            await next(context);
        });
        app.MapPost("/v1/messages", MessagesAsync);
        app.MapPost("/v1/messages/count_tokens", CountTokensAsync);
        app.MapGet("/v1/models", ListModelsAsync);
        app.MapPost("/v1/oauth/token", OAuthTokenAsync);
        app.MapGet("/v1/models/{id}", GetModelAsync);
        app.MapFallback(context => WriteErrorAsync(context, 404, "not_found_error", $"Not Found: {context.Request.Method} {context.Request.Path}"));
    }

    private static RecordedRequest Recorded(HttpContext context) => (RecordedRequest)context.Items[typeof(RecordedRequest)]!;

    private Random NextRandom()
    {
        lock (_seedLock) return new Random(_seeds.Next());
    }

    /// <summary>Auth, then anthropic-version — the order the real API checks them in.</summary>
    private AnthropicRejection? CheckHeaders(HttpContext context)
    {
        var key = context.Request.Headers["x-api-key"].ToString();
        var authorization = context.Request.Headers.Authorization.ToString();
        if (key.Length > 0)
        {
            if (!_options.ApiKeys.Contains(key)) return new(401, "authentication_error", "invalid x-api-key");
        }
        else if (authorization.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            var bearer = authorization["Bearer ".Length..].Trim();
            if (!_options.OAuthTokens.Contains(bearer) && !_issuedAccess.ContainsKey(bearer)) return new(401, "authentication_error", "Invalid bearer token");
            // The real API takes sign-in tokens only with the OAuth beta.
            if (!context.Request.Headers["anthropic-beta"].ToString().Split(',', StringSplitOptions.TrimEntries).Contains("oauth-2025-04-20"))
                return new(401, "authentication_error", "OAuth authentication is currently not supported.");
        }
        else return new(401, "authentication_error", "x-api-key header is required");
        if (string.IsNullOrEmpty(context.Request.Headers["anthropic-version"].ToString()))
            return new(400, "invalid_request_error", "anthropic-version: header is required");
        return null;
    }

    private AnthropicSimModel? FindModel(string id) => _options.Models.FirstOrDefault(m => m.Id == id);

    private async Task MessagesAsync(HttpContext context)
    {
        Interlocked.Increment(ref _messageCalls);
        var recorded = Recorded(context);
        if (CheckHeaders(context) is { } refused) { await RejectAsync(context, refused); return; }
        if (recorded.BodyBytes.Length > _options.MaxBodyBytes)
        {
            await WriteErrorAsync(context, 413, "request_too_large", "Request exceeds the maximum allowed number of bytes.");
            return;
        }
        JsonNode? body;
        try { body = JsonNode.Parse(recorded.BodyBytes); }
        catch (JsonException e)
        {
            await WriteErrorAsync(context, 400, "invalid_request_error", $"There was an issue with your request body: {e.Message}");
            return;
        }
        if (AnthropicRequestValidator.Validate(body, FindModel, IsValidSignature, countTokens: false) is { } invalid) { await RejectAsync(context, invalid); return; }

        var root = body!.AsObject();
        var stream = root["stream"] is JsonValue s && s.TryGetValue<bool>(out var st) && st;
        var model = (string)root["model"]!;
        var rng = NextRandom();
        if (FindModel(model) is { ContextWindow: { } window } limited)
        {
            var tokens = SimulatedLimits.CountTokens(recorded.BodyBytes);
            if (tokens > window)
            {
                await WriteErrorAsync(context, 400, "invalid_request_error", $"prompt is too long: {tokens} tokens > {window} maximum");
                return;
            }
            await PlayAsync(context, AnthropicScenario.Reply(WithinLimits(root, model, tokens)), stream, rng);
            return;
        }
        if (!_scenarios.TryDequeue(out var scenario))
            scenario = new AnthropicScenario
            {
                Message = AnthropicDefaultResponder.Respond(root, model, Sign, CacheUsage),
                DelayBeforeFirstByte = AnthropicDefaultResponder.SlowStart(root),
            };
        else if (scenario.Message is { } scripted) scripted.Model = model;
        await PlayAsync(context, scenario, stream, rng);
    }

    /// <summary>The answer of a model with limits: input counted as words; the counting prompt counts until max_tokens (at most the model's cap).</summary>
    private AnthropicSimMessage WithinLimits(JsonObject root, string model, int inputTokens)
    {
        var message = AnthropicDefaultResponder.Respond(root, model, Sign, _ => (0, 0));
        message.InputTokens = inputTokens;
        var last = root["messages"]!.AsArray()[^1]!.ToJsonString();
        if (!SimulatedLimits.AsksToCount(last)) return message;
        var maxTokens = (int)root["max_tokens"]!;
        message.Content.Clear();
        message.Content.Add(new AnthropicSimText(string.Concat(SimulatedLimits.Counting(maxTokens))));
        message.StopReason = "max_tokens";
        message.OutputTokens = maxTokens;
        return message;
    }

    /// <summary>
    /// Prompt caching, simply: the prefix up to the last <c>cache_control</c> marker is written the first time it
    /// is seen and read afterwards. Bodies without a marker use no cache, as with the real API.
    /// </summary>
    private (int Read, int Write) CacheUsage(JsonObject body)
    {
        var json = body.ToJsonString();
        var marker = json.LastIndexOf("\"cache_control\"", StringComparison.Ordinal);
        if (marker < 0) return (0, 0);
        var prefix = json[..marker];
        var tokens = AnthropicDefaultResponder.Tokens(prefix);
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(prefix)));
        return _cachedPrefixes.TryAdd(key, true) ? (0, tokens) : (tokens, 0);
    }

    private async Task PlayAsync(HttpContext context, AnthropicScenario scenario, bool stream, Random rng)
    {
        var ct = context.RequestAborted;
        if (scenario.DelayBeforeFirstByte > TimeSpan.Zero) await Task.Delay(scenario.DelayBeforeFirstByte, ct);
        context.Response.Headers["request-id"] = "req_sim_" + Guid.NewGuid().ToString("N")[..20];

        if (scenario.Status is { } status)
        {
            context.Response.StatusCode = status;
            context.Response.ContentType = "application/json";
            foreach (var (name, value) in scenario.Headers) context.Response.Headers[name] = value;
            await context.Response.WriteAsync(scenario.Body ?? "", ct);
            return;
        }

        if (!stream && scenario.Events is null && scenario.RawStream is null)
        {
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/json";
            foreach (var (name, value) in scenario.Headers) context.Response.Headers[name] = value;
            await context.Response.WriteAsync(scenario.Message!.ToJson().ToJsonString(), ct);
            return;
        }

        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/event-stream; charset=utf-8";
        context.Response.Headers.CacheControl = "no-cache";
        foreach (var (name, value) in scenario.Headers) context.Response.Headers[name] = value;
        await context.Response.StartAsync(ct);
        if (scenario.RawStream is { } raw)
        {
            await context.Response.Body.WriteAsync(raw, ct);
            return;
        }

        var events = scenario.Events ?? scenario.Message!.ToEvents();
        var split = scenario.Split ?? _options.Split;
        var encoded = events.Select(e => e.Encode()).ToList();
        var cutAt = scenario.CutInsideEvent;
        if (scenario.DelayBetweenEvents <= TimeSpan.Zero && cutAt is null)
        {
            // Without pauses the stream is one byte sequence, so writes straddle event boundaries too.
            await WriteSplitAsync(context, encoded.SelectMany(e => e).ToArray(), split, rng, ct);
            return;
        }
        for (var i = 0; i < encoded.Count; i++)
        {
            if (i > 0 && scenario.DelayBetweenEvents > TimeSpan.Zero) await Task.Delay(scenario.DelayBetweenEvents, ct);
            if (cutAt == i)
            {
                await WriteSplitAsync(context, encoded[i][..Math.Max(1, encoded[i].Length / 2)], split, rng, ct);
                // A connection lost mid-stream: the pause lets the client read what was sent before the reset.
                await Task.Delay(100, CancellationToken.None);
                context.Abort();
                return;
            }
            await WriteSplitAsync(context, encoded[i], split, rng, ct);
        }
    }

    private async Task WriteSplitAsync(HttpContext context, byte[] bytes, AnthropicSplit split, Random rng, CancellationToken ct)
    {
        var offset = 0;
        while (offset < bytes.Length)
        {
            var size = split switch
            {
                AnthropicSplit.OneByte => 1,
                AnthropicSplit.Whole => bytes.Length - offset,
                _ => rng.Next(1, Math.Max(2, _options.MaxChunkBytes + 1)),
            };
            size = Math.Min(size, bytes.Length - offset);
            await context.Response.Body.WriteAsync(bytes.AsMemory(offset, size), ct);
            await context.Response.Body.FlushAsync(ct);
            offset += size;
        }
    }

    private async Task CountTokensAsync(HttpContext context)
    {
        var recorded = Recorded(context);
        if (CheckHeaders(context) is { } refused) { await RejectAsync(context, refused); return; }
        JsonNode? body;
        try { body = JsonNode.Parse(recorded.BodyBytes); }
        catch (JsonException e)
        {
            await WriteErrorAsync(context, 400, "invalid_request_error", $"There was an issue with your request body: {e.Message}");
            return;
        }
        if (AnthropicRequestValidator.Validate(body, FindModel, IsValidSignature, countTokens: true) is { } invalid) { await RejectAsync(context, invalid); return; }
        await WriteJsonAsync(context, 200, new JsonObject { ["input_tokens"] = AnthropicDefaultResponder.Tokens(body!.ToJsonString()) });
    }

    private async Task ListModelsAsync(HttpContext context)
    {
        if (CheckHeaders(context) is { } refused) { await RejectAsync(context, refused); return; }
        var query = context.Request.Query;
        var limit = int.TryParse(query["limit"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) ? l : _options.ModelsPageSize;
        if (limit is < 1 or > 1000)
        {
            await WriteErrorAsync(context, 400, "invalid_request_error", "limit: Input should be between 1 and 1000");
            return;
        }
        // Newest first, as the real API lists them; after_id pages forward, before_id backward.
        var all = _options.Models.OrderByDescending(m => m.CreatedAt).ToList();
        var after = query["after_id"].ToString();
        var before = query["before_id"].ToString();
        List<AnthropicSimModel> page;
        bool hasMore;
        if (before.Length > 0)
        {
            var end = all.FindIndex(m => m.Id == before);
            var start = Math.Max(0, end - limit);
            page = end < 0 ? [] : all.GetRange(start, end - start);
            hasMore = start > 0;
        }
        else
        {
            var start = after.Length > 0 ? all.FindIndex(m => m.Id == after) + 1 : 0;
            if (after.Length > 0 && start == 0) start = all.Count;
            page = all.Skip(start).Take(limit).ToList();
            hasMore = start + page.Count < all.Count;
        }
        var data = new JsonArray();
        foreach (var m in page) data.Add(ModelJson(m));
        await WriteJsonAsync(context, 200, new JsonObject
        {
            ["data"] = data,
            ["has_more"] = hasMore,
            ["first_id"] = page.Count > 0 ? page[0].Id : null,
            ["last_id"] = page.Count > 0 ? page[^1].Id : null,
        });
    }

    private async Task GetModelAsync(HttpContext context, string id)
    {
        if (CheckHeaders(context) is { } refused) { await RejectAsync(context, refused); return; }
        if (FindModel(id) is { } model) await WriteJsonAsync(context, 200, ModelJson(model));
        else await WriteErrorAsync(context, 404, "not_found_error", $"model: {id}");
    }

    private static JsonObject ModelJson(AnthropicSimModel m) => new()
    {
        ["type"] = "model",
        ["id"] = m.Id,
        ["display_name"] = m.DisplayName,
        ["created_at"] = m.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
    };

    private static Task RejectAsync(HttpContext context, AnthropicRejection rejection)
        => WriteErrorAsync(context, rejection.Status, rejection.Type, rejection.Message);

    private static Task WriteErrorAsync(HttpContext context, int status, string type, string message)
        => WriteJsonAsync(context, status, new JsonObject { ["type"] = "error", ["error"] = new JsonObject { ["type"] = type, ["message"] = message } });

    private static async Task WriteJsonAsync(HttpContext context, int status, JsonNode body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        if (!context.Response.Headers.ContainsKey("request-id")) context.Response.Headers["request-id"] = "req_sim_" + Guid.NewGuid().ToString("N")[..20];
        await context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted);
    }
}
