using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Gapura.Simulators.Kiro;

/// <summary>
/// A faithful stand-in for the Kiro service on a real Kestrel socket: chat turns as AWS event streams,
/// the model list, usage limits, the Kiro desktop token refresh and AWS SSO OIDC (client registration,
/// device authorization, token grants). One instance serves all of those paths, so tests point
/// <c>Kiro:Endpoint</c>, <c>Kiro:AuthEndpoint</c> and <c>Kiro:OidcEndpoint</c> at the same <see cref="BaseUrl"/>.
/// </summary>
public sealed class KiroSimulator : SimulatorServer
{
    public const string BearerInvalidMessage = "The bearer token included in the request is invalid.";

    private readonly KiroSimulatorOptions _options;
    private readonly KiroTokenAuthority _authority;
    private readonly ConcurrentQueue<KiroScenario> _scenarios = new();
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly Random _seeds;
    private readonly object _seedLock = new();
    private long _credits;
    private int _desktopRefreshCalls;
    private int _oidcRefreshCalls;
    private int _devicePolls;
    private int _chatCalls;

    private KiroSimulator(KiroSimulatorOptions options)
    {
        _options = options;
        _authority = new KiroTokenAuthority(options, TimeProvider.System);
        _seeds = new Random(options.Seed);
    }

    public KiroSimulatorOptions Options => _options;

    /// <summary>Every request received on any path, in arrival order.</summary>
    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    /// <summary>The <c>generateAssistantResponse</c> requests only.</summary>
    public IReadOnlyList<RecordedRequest> ChatRequests => [.. _requests.Where(r => r.Path == "/generateAssistantResponse")];

    public int DesktopRefreshCalls => Volatile.Read(ref _desktopRefreshCalls);

    public int OidcRefreshCalls => Volatile.Read(ref _oidcRefreshCalls);

    /// <summary>Refreshes of either kind.</summary>
    public int RefreshCalls => DesktopRefreshCalls + OidcRefreshCalls;

    public int DeviceTokenPolls => Volatile.Read(ref _devicePolls);

    public int ChatCalls => Volatile.Read(ref _chatCalls);

    /// <summary>Scripts not yet consumed.</summary>
    public int PendingScenarios => _scenarios.Count;

    public static async Task<KiroSimulator> StartAsync(KiroSimulatorOptions? options = null, CancellationToken ct = default)
    {
        var simulator = new KiroSimulator(options ?? new KiroSimulatorOptions());
        await simulator.StartHostAsync(simulator._options.Url, simulator._options.Verbose, a => simulator.Map(a), ct);
        return simulator;
    }

    /// <summary>Completes when the host is asked to stop (Ctrl+C, SIGTERM): for the standalone runner.</summary>
    // ---- test controls ---------------------------------------------------------------------------

    /// <summary>Queues a scripted answer for a coming chat call (first in, first out).</summary>
    public void Enqueue(KiroScenario scenario) => _scenarios.Enqueue(scenario);

    public void ClearRequests() => _requests.Clear();

    /// <summary>Drops scripts no request consumed (one refused before reaching its script leaves it queued).</summary>
    public void ClearScenarios() => _scenarios.Clear();

    /// <summary>Mints a valid login, as if the user had signed in. OIDC logins get a registered client too.</summary>
    public KiroIssuedCredentials IssueCredentials(KiroLoginKind kind = KiroLoginKind.Social, TimeSpan? accessTokenLifetime = null)
    {
        string? clientId = null, clientSecret = null;
        if (kind == KiroLoginKind.Oidc) (clientId, clientSecret, _) = _authority.RegisterClient();
        var (access, expires) = _authority.MintAccess(accessTokenLifetime);
        var refresh = _authority.MintRefresh(kind, clientId);
        return new KiroIssuedCredentials(kind, access, refresh, expires, kind == KiroLoginKind.Social ? _options.ProfileArn : null, clientId, clientSecret, "us-east-1");
    }

    /// <summary>Makes a refresh token unusable: the next refresh with it answers invalid_grant.</summary>
    public bool RevokeRefreshToken(string refreshToken) => _authority.Revoke(refreshToken);

    /// <summary>Expires an access token now (the next chat call with it answers 403).</summary>
    public void ExpireAccessToken(string accessToken) => _authority.ExpireAccess(accessToken);

    public bool IsValidAccessToken(string accessToken) => _authority.IsValidAccessToken(accessToken);

    /// <summary>The user approves the device login with this code in the browser.</summary>
    public bool Approve(string userCode) => _authority.SetDeviceState(userCode, KiroDeviceState.Approved);

    /// <summary>The user refuses the device login.</summary>
    public bool Deny(string userCode) => _authority.SetDeviceState(userCode, KiroDeviceState.Denied);

    /// <summary>The device code times out.</summary>
    public bool ExpireDeviceCode(string userCode) => _authority.SetDeviceState(userCode, KiroDeviceState.Expired);

    /// <summary>Kiro credits consumed so far by default answers (as getUsageLimits reports).</summary>
    public double CreditsUsed => Interlocked.Read(ref _credits) / 10.0;

    // ---- endpoints -------------------------------------------------------------------------------

    private void Map(WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
            var body = buffer.ToArray();
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var (name, values) in context.Request.Headers) headers[name] = values.ToString();
            var recorded = new RecordedRequest(context.Request.Method, context.Request.Path.Value ?? "", context.Request.QueryString.Value ?? "", headers, body);
            _requests.Enqueue(recorded);
            context.Items[typeof(RecordedRequest)] = recorded;
            await next(context);
        });

        app.MapPost("/generateAssistantResponse", GenerateAsync);
        app.MapGet("/ListAvailableModels", ListModelsAsync);
        app.MapGet("/getUsageLimits", UsageLimitsAsync);
        app.MapPost("/refreshToken", DesktopRefreshAsync);
        app.MapPost("/client/register", RegisterClientAsync);
        app.MapPost("/device_authorization", DeviceAuthorizationAsync);
        app.MapPost("/token", TokenAsync);
        app.MapFallback(context => WriteJsonAsync(context, 404, new JsonObject { ["message"] = $"No route for {context.Request.Method} {context.Request.Path}" }));
    }

    private static RecordedRequest Recorded(HttpContext context) => (RecordedRequest)context.Items[typeof(RecordedRequest)]!;

    private Random NextRandom()
    {
        lock (_seedLock) return new Random(_seeds.Next());
    }

    private bool Authorized(HttpContext context)
    {
        if (!_options.RequireAuth) return true;
        var header = context.Request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.Ordinal) && _authority.IsValidAccessToken(header["Bearer ".Length..].Trim());
    }

    private static Task BearerInvalid(HttpContext context)
    {
        context.Response.Headers["x-amzn-ErrorType"] = "AccessDeniedException";
        return WriteJsonAsync(context, 403, new JsonObject { ["message"] = BearerInvalidMessage });
    }

    private async Task GenerateAsync(HttpContext context)
    {
        Interlocked.Increment(ref _chatCalls);
        var request = Recorded(context);
        if (!Authorized(context))
        {
            await BearerInvalid(context);
            return;
        }
        var contentType = context.Request.ContentType ?? "";
        if (!contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase)
            && !contentType.StartsWith("application/x-amz-json-1.0", StringComparison.OrdinalIgnoreCase))
        {
            await Reject(context, KiroRejection.Improper($"content type '{contentType}' is not JSON"));
            return;
        }
        var rejection = KiroRequestValidator.Validate(request.BodyBytes, _options.MaxBodyBytes, IsKnownModel);
        if (rejection is not null)
        {
            await Reject(context, rejection);
            return;
        }

        if (_options.Limits.Count > 0 && LimitedModel(request.BodyBytes) is { } limited)
        {
            await AnswerWithinLimitsAsync(context, request.BodyBytes, limited.Root, limited.Limits);
            return;
        }

        var rng = NextRandom();
        if (_scenarios.TryDequeue(out var scenario))
        {
            await PlayAsync(context, scenario, rng);
            return;
        }

        using var doc = JsonDocument.Parse(request.BodyBytes);
        var current = doc.RootElement.GetProperty("conversationState").GetProperty("currentMessage").GetProperty("userInputMessage");
        var modelId = current.TryGetProperty("modelId", out var m) ? m.GetString() : null;
        var model = _options.Models.FirstOrDefault(x => x.ModelId == modelId) ?? _options.Models.FirstOrDefault();
        var frames = KiroDefaultResponder.Respond(doc.RootElement, request.BodyBytes.Length, model?.MaxInputTokens ?? 200_000, rng, _options.EmitExtraEvents);
        Interlocked.Add(ref _credits, 1);
        await PlayAsync(context, new KiroScenario { Frames = frames, DelayBeforeFirstByte = KiroDefaultResponder.SlowStart(doc.RootElement) }, rng);
    }

    private (JsonElement Root, SimulatedLimits Limits)? LimitedModel(byte[] body)
    {
        var root = JsonSerializer.Deserialize<JsonElement>(body); // a copy that needs no disposing
        var current = root.GetProperty("conversationState").GetProperty("currentMessage").GetProperty("userInputMessage");
        var modelId = current.TryGetProperty("modelId", out var m) ? m.GetString() : null;
        return modelId is not null && _options.Limits.TryGetValue(modelId, out var limits) ? (root, limits) : null;
    }

    /// <summary>A model with real limits (<see cref="KiroSimulatorOptions.Limits"/>): refuse what is too long, else answer within the caps.</summary>
    private async Task AnswerWithinLimitsAsync(HttpContext context, byte[] body, JsonElement root, SimulatedLimits limits)
    {
        var tokens = SimulatedLimits.CountTokens(body);
        if (tokens > limits.ContextWindow)
        {
            // What the service answers for a conversation over the model's window (kiro.md §5).
            await Reject(context, new KiroRejection(400, "Input is too long.", "CONTENT_LENGTH_EXCEEDS_THRESHOLD", $"{tokens} tokens > {limits.ContextWindow}"));
            return;
        }
        var rng = NextRandom();
        var content = root.GetProperty("conversationState").GetProperty("currentMessage").GetProperty("userInputMessage").GetProperty("content").GetString() ?? "";
        var percentage = Math.Round(tokens * 100.0 / limits.ContextWindow, 4);
        List<KiroFrame> frames;
        if (SimulatedLimits.AsksToCount(content))
        {
            // Kiro has no max_tokens: the model counts until the service cuts it at the model's output cap.
            frames = [.. SimulatedLimits.Counting(limits.MaxOutputTokens).Select(piece => KiroFrame.Text(piece))];
            frames.Add(KiroFrame.Metering(0.1));
            frames.Add(KiroFrame.Metadata(tokens, limits.MaxOutputTokens, contextUsagePercentage: percentage));
            frames.Add(KiroFrame.ContextUsage(percentage));
            frames.Add(KiroFrame.Exception("ContentLengthExceededException", "The response exceeded the maximum output length."));
        }
        else
        {
            frames = KiroDefaultResponder.Respond(root, body.Length, limits.ContextWindow, rng, extraEvents: false);
            frames.RemoveAt(frames.Count - 1); // its context usage is by bytes; this model reports it by its own count
            frames.Add(KiroFrame.Metadata(tokens, 10, contextUsagePercentage: percentage));
            frames.Add(KiroFrame.ContextUsage(percentage));
        }
        Interlocked.Add(ref _credits, 1);
        await PlayAsync(context, new KiroScenario { Frames = frames, Split = KiroSplit.Whole }, rng);
    }

    private bool IsKnownModel(string id) => _options.Models.Any(m => m.ModelId == id) || _options.HiddenModelIds.Contains(id);

    private static Task Reject(HttpContext context, KiroRejection rejection)
    {
        context.Response.Headers["x-amzn-ErrorType"] = "ValidationException";
        // Not something the service sends: it tells a failing test what the simulator objected to.
        context.Response.Headers["x-simulator-detail"] = Ascii(rejection.Detail);
        return WriteJsonAsync(context, rejection.Status, new JsonObject { ["message"] = rejection.Message, ["reason"] = rejection.Reason });
    }

    private static string Ascii(string text)
    {
        var builder = new StringBuilder(Math.Min(text.Length, 500));
        foreach (var c in text.AsSpan(0, Math.Min(text.Length, 500))) builder.Append(c is >= ' ' and <= '~' ? c : '?');
        return builder.ToString();
    }

    private async Task PlayAsync(HttpContext context, KiroScenario scenario, Random rng)
    {
        var ct = context.RequestAborted;
        if (scenario.DelayBeforeFirstByte > TimeSpan.Zero) await Task.Delay(scenario.DelayBeforeFirstByte, ct);

        if (scenario.Status is { } status)
        {
            context.Response.StatusCode = status;
            foreach (var (name, value) in scenario.Headers) context.Response.Headers[name] = value;
            if (!scenario.Headers.ContainsKey("Content-Type")) context.Response.ContentType = "application/json";
            context.Response.Headers["x-amzn-RequestId"] = Guid.NewGuid().ToString();
            await context.Response.WriteAsync(scenario.Body ?? "", ct);
            return;
        }

        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/vnd.amazon.eventstream";
        context.Response.Headers["x-amzn-RequestId"] = Guid.NewGuid().ToString();
        foreach (var (name, value) in scenario.Headers) context.Response.Headers[name] = value;
        await context.Response.StartAsync(ct);

        var encoded = scenario.Frames.Select(f => f.Encode()).ToList();
        long? cut = scenario.CutAfterBytes;
        if (scenario.CutInsideFrame is { } index && index < encoded.Count)
        {
            var before = encoded.Take(index).Sum(e => (long)e.Length);
            var inside = before + Math.Max(1, encoded[index].Length / 2);
            cut = cut is null ? inside : Math.Min(cut.Value, inside);
        }

        var split = scenario.Split ?? _options.Split;
        var writer = new ChunkWriter(context, split, _options.MaxChunkBytes, rng, cut);
        // Without pauses the whole stream is one byte sequence, so chunks also straddle frame boundaries.
        if (scenario.DelayBetweenFrames <= TimeSpan.Zero)
        {
            var all = encoded.SelectMany(e => e).ToArray();
            await writer.WriteAsync(all, ct);
        }
        else
        {
            for (var i = 0; i < encoded.Count && !writer.Cut; i++)
            {
                if (i > 0) await Task.Delay(scenario.DelayBetweenFrames, ct);
                await writer.WriteAsync(encoded[i], ct);
            }
        }
        if (writer.Cut || cut is not null && writer.Written >= cut)
        {
            // A connection lost mid-stream: no terminating chunk, the client sees a truncated body. The pause
            // lets the client read what was sent first; a reset that overtakes unread data would discard it.
            await Task.Delay(100, CancellationToken.None);
            context.Abort();
        }
    }

    private sealed class ChunkWriter(HttpContext context, KiroSplit split, int maxChunk, Random rng, long? cutAt)
    {
        public long Written { get; private set; }

        public bool Cut { get; private set; }

        public async Task WriteAsync(byte[] bytes, CancellationToken ct)
        {
            var offset = 0;
            while (offset < bytes.Length && !Cut)
            {
                var size = split switch
                {
                    KiroSplit.OneByte => 1,
                    KiroSplit.Whole => bytes.Length - offset,
                    _ => rng.Next(1, Math.Max(2, maxChunk + 1)),
                };
                size = Math.Min(size, bytes.Length - offset);
                if (cutAt is { } limit && Written + size >= limit)
                {
                    size = (int)Math.Max(0, limit - Written);
                    Cut = true;
                }
                if (size > 0)
                {
                    await context.Response.Body.WriteAsync(bytes.AsMemory(offset, size), ct);
                    await context.Response.Body.FlushAsync(ct);
                }
                offset += size;
                Written += size;
            }
        }
    }

    private async Task ListModelsAsync(HttpContext context)
    {
        if (!Authorized(context))
        {
            await BearerInvalid(context);
            return;
        }
        var query = context.Request.Query;
        if (string.IsNullOrEmpty(query["origin"]))
        {
            await Reject(context, KiroRejection.Improper("origin query parameter is missing"));
            return;
        }
        var start = 0;
        var next = query["nextToken"].ToString();
        if (next.Length > 0)
        {
            if (!TryDecodeNextToken(next, out start) || start > _options.Models.Count)
            {
                await Reject(context, KiroRejection.Improper("nextToken is not one the service issued"));
                return;
            }
        }
        var pageSize = int.TryParse(query["maxResults"], NumberStyles.None, CultureInfo.InvariantCulture, out var max) && max > 0
            ? Math.Min(max, _options.ModelsPageSize)
            : _options.ModelsPageSize;
        var page = _options.Models.Skip(start).Take(pageSize).ToList();
        var models = new JsonArray();
        foreach (var model in page) models.Add(ModelJson(model));
        var body = new JsonObject { ["models"] = models };
        var defaultModel = _options.Models.FirstOrDefault(x => x.ModelId == "auto") ?? _options.Models.FirstOrDefault();
        if (defaultModel is not null) body["defaultModel"] = ModelJson(defaultModel);
        if (start + page.Count < _options.Models.Count)
            body["nextToken"] = Convert.ToBase64String(Encoding.UTF8.GetBytes($"page:{start + page.Count}"));
        await WriteJsonAsync(context, 200, body);
    }

    private static bool TryDecodeNextToken(string token, out int start)
    {
        start = 0;
        try
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(token));
            return text.StartsWith("page:", StringComparison.Ordinal) && int.TryParse(text.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out start);
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private static JsonObject ModelJson(KiroModel model) => new()
    {
        ["modelId"] = model.ModelId,
        ["modelName"] = model.ModelName,
        ["description"] = model.Description,
        ["supportedInputTypes"] = new JsonArray("TEXT", "IMAGE"),
        ["tokenLimits"] = new JsonObject { ["maxInputTokens"] = model.MaxInputTokens, ["maxOutputTokens"] = model.MaxOutputTokens },
        ["rateMultiplier"] = model.ModelId.Contains("opus", StringComparison.Ordinal) ? 2.2 : model.ModelId.Contains("haiku", StringComparison.Ordinal) ? 0.4 : 1.0,
        ["rateUnit"] = "credit",
    };

    private async Task UsageLimitsAsync(HttpContext context)
    {
        if (!Authorized(context))
        {
            await BearerInvalid(context);
            return;
        }
        var reset = new DateTimeOffset(DateTime.UtcNow.Year, DateTime.UtcNow.Month, 1, 0, 0, 0, TimeSpan.Zero).AddMonths(1);
        var used = CreditsUsed;
        var body = new JsonObject
        {
            ["daysUntilReset"] = Math.Max(0, (int)(reset - DateTimeOffset.UtcNow).TotalDays),
            ["nextDateReset"] = reset.ToUnixTimeSeconds(),
            ["limits"] = new JsonArray(),
            ["subscriptionInfo"] = new JsonObject { ["subscriptionTitle"] = "KIRO FREE", ["type"] = "Q_DEVELOPER_STANDALONE_FREE" },
            ["usageBreakdownList"] = new JsonArray(new JsonObject
            {
                ["resourceType"] = "CREDIT",
                ["displayName"] = "Credit",
                ["displayNamePlural"] = "Credits",
                ["unit"] = "INVOCATIONS",
                ["currency"] = "USD",
                ["currentUsage"] = (int)Math.Floor(used),
                ["currentUsageWithPrecision"] = used,
                ["usageLimit"] = 50,
                ["usageLimitWithPrecision"] = 50.0,
                ["overageRate"] = 0.04,
                ["nextDateReset"] = reset.ToUnixTimeSeconds(),
            }),
            ["userInfo"] = new JsonObject { ["email"] = "simulated.user@example.com", ["userId"] = "sim-user-0001" },
        };
        await WriteJsonAsync(context, 200, body);
    }

    private async Task DesktopRefreshAsync(HttpContext context)
    {
        Interlocked.Increment(ref _desktopRefreshCalls);
        var body = ReadJson(context);
        var refreshToken = Str(body, "refreshToken");
        if (refreshToken is null)
        {
            await WriteJsonAsync(context, 400, new JsonObject { ["message"] = "refreshToken is required", ["reason"] = null });
            return;
        }
        if (_authority.CheckRefresh(refreshToken, KiroLoginKind.Social, null) is not null)
        {
            await WriteJsonAsync(context, 401, new JsonObject { ["message"] = "Invalid refresh token provided", ["reason"] = "INVALID_REFRESH_TOKEN" });
            return;
        }
        var (access, expires) = _authority.MintAccess(null);
        var answer = new JsonObject
        {
            ["accessToken"] = access,
            ["expiresIn"] = (int)Math.Round((expires - _authority.Now).TotalSeconds),
        };
        if (_options.RotateRefreshTokens) answer["refreshToken"] = _authority.MintRefresh(KiroLoginKind.Social, null);
        if (_options.DesktopRefreshReturnsProfileArn) answer["profileArn"] = _options.ProfileArn;
        await WriteJsonAsync(context, 200, answer);
    }

    private async Task RegisterClientAsync(HttpContext context)
    {
        var body = ReadJson(context);
        var name = Str(body, "clientName");
        var type = Str(body, "clientType");
        if (string.IsNullOrEmpty(name) || type != "public")
        {
            await OidcError(context, 400, "invalid_request", "clientName and clientType \"public\" are required");
            return;
        }
        var (id, secret, expires) = _authority.RegisterClient();
        await WriteJsonAsync(context, 200, new JsonObject
        {
            ["clientId"] = id,
            ["clientSecret"] = secret,
            ["clientIdIssuedAt"] = _authority.Now.ToUnixTimeSeconds(),
            ["clientSecretExpiresAt"] = expires.ToUnixTimeSeconds(),
        });
    }

    private async Task DeviceAuthorizationAsync(HttpContext context)
    {
        var body = ReadJson(context);
        var clientId = Str(body, "clientId");
        if (!_authority.IsValidClient(clientId, Str(body, "clientSecret")))
        {
            await OidcError(context, 401, "invalid_client", "Invalid client provided");
            return;
        }
        if (string.IsNullOrEmpty(Str(body, "startUrl")))
        {
            await OidcError(context, 400, "invalid_request", "startUrl is required");
            return;
        }
        var device = _authority.StartDevice(clientId!);
        var verification = BaseUrl + "/device";
        await WriteJsonAsync(context, 200, new JsonObject
        {
            ["deviceCode"] = device.DeviceCode,
            ["userCode"] = device.UserCode,
            ["verificationUri"] = verification,
            ["verificationUriComplete"] = verification + "?user_code=" + device.UserCode,
            ["expiresIn"] = (int)_options.DeviceCodeLifetime.TotalSeconds,
            ["interval"] = _options.DeviceInterval,
        });
    }

    private async Task TokenAsync(HttpContext context)
    {
        var body = ReadJson(context);
        var clientId = Str(body, "clientId");
        if (!_authority.IsValidClient(clientId, Str(body, "clientSecret")))
        {
            await OidcError(context, 401, "invalid_client", "Invalid client provided");
            return;
        }
        switch (Str(body, "grantType"))
        {
            case "urn:ietf:params:oauth:grant-type:device_code":
            {
                Interlocked.Increment(ref _devicePolls);
                var device = _authority.FindDevice(Str(body, "deviceCode") ?? "");
                if (device is null || device.ClientId != clientId)
                {
                    await OidcError(context, 400, "invalid_grant", "Invalid device code provided");
                    return;
                }
                var error = _authority.Poll(device);
                if (error is not null)
                {
                    await OidcError(context, 400, error, error switch
                    {
                        "authorization_pending" => "Authorization is still pending",
                        "slow_down" => "Client is polling too quickly",
                        "access_denied" => "The user denied the authorization",
                        _ => "Device code has expired",
                    });
                    return;
                }
                await IssueOidcTokens(context, clientId!, includeRefresh: true);
                return;
            }
            case "refresh_token":
            {
                Interlocked.Increment(ref _oidcRefreshCalls);
                if (_authority.CheckRefresh(Str(body, "refreshToken"), KiroLoginKind.Oidc, clientId) is { } error)
                {
                    await OidcError(context, 400, error, "Invalid refresh token provided");
                    return;
                }
                await IssueOidcTokens(context, clientId!, includeRefresh: _options.RotateRefreshTokens);
                return;
            }
            default:
                await OidcError(context, 400, "unsupported_grant_type", "Unsupported grant type");
                return;
        }
    }

    private Task IssueOidcTokens(HttpContext context, string clientId, bool includeRefresh)
    {
        var (access, expires) = _authority.MintAccess(null);
        var answer = new JsonObject
        {
            ["accessToken"] = access,
            ["tokenType"] = "Bearer",
            ["expiresIn"] = (int)Math.Round((expires - _authority.Now).TotalSeconds),
        };
        if (includeRefresh) answer["refreshToken"] = _authority.MintRefresh(KiroLoginKind.Oidc, clientId);
        return WriteJsonAsync(context, 200, answer);
    }

    private static Task OidcError(HttpContext context, int status, string error, string description)
    {
        // AWS SSO OIDC names the exception in a header and the OAuth error in the body.
        var type = string.Concat(error.Split('_').Select(p => p.Length == 0 ? p : char.ToUpperInvariant(p[0]) + p[1..])) + "Exception";
        context.Response.Headers["x-amzn-ErrorType"] = type;
        return WriteJsonAsync(context, status, new JsonObject { ["error"] = error, ["error_description"] = description });
    }

    private static string? Str(JsonNode? body, string name)
        => body is JsonObject obj && obj[name] is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;

    private static JsonNode? ReadJson(HttpContext context)
    {
        try
        {
            var body = Recorded(context).BodyBytes;
            return body.Length == 0 ? null : JsonNode.Parse(body);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static async Task WriteJsonAsync(HttpContext context, int status, JsonNode body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.Headers["x-amzn-RequestId"] = Guid.NewGuid().ToString();
        await context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted);
    }
}
