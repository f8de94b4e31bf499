using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Gapura.Conversations;
using Gapura.Identity;
using Gapura.Providers;
using Gapura.Providers.Accounts;
using Gapura.Providers.Copilot;
using Gapura.Providers.Kiro.Logins;
using Gapura.Routing;
using Gapura.Storage;

namespace Gapura.Api.Admin;

/// <summary>
/// The admin API's upstream surface: users' upstream logins (list, connect by device sign-in, relabel,
/// remove), each user's provider priority, and gateway-wide provider and model switches. The caller comes
/// from the admin group's authentication filter (<see cref="CallerHttpContextExtensions.SetCaller"/>);
/// every check is made here on the server — users manage only their own logins and priority, admins
/// everyone's and the switches — and every change is written to the audit log with who and from where,
/// in the same transaction as the change. No answer ever carries a token.
/// </summary>
internal static class AdminUpstreamEndpoints
{
    internal static void MapAdminUpstreamEndpoints(this RouteGroupBuilder admin)
    {
        admin.MapGet("/logins/methods", ListLoginMethods);
        admin.MapGet("/users/{id:long}/logins", ListLoginsAsync);
        admin.MapPost("/users/{id:long}/logins/kiro/device", StartKiroDeviceAsync);
        admin.MapMethods("/users/{id:long}/logins/kiro/device/{flowId}/poll", ["GET", "POST"], PollKiroDeviceAsync);
        admin.MapPost("/users/{id:long}/logins/copilot/device", StartCopilotDeviceAsync);
        admin.MapMethods("/users/{id:long}/logins/copilot/device/{flowId}/poll", ["GET", "POST"], PollCopilotDeviceAsync);
        admin.MapPost("/users/{id:long}/logins/{provider}", ConnectAccountAsync);
        admin.MapPost("/users/{id:long}/logins/{provider}/sign-in", StartSignInAsync);
        admin.MapPost("/users/{id:long}/logins/{provider}/sign-in/{flowId}", CompleteSignInAsync);
        admin.MapPatch("/users/{id:long}/logins/{loginId:long}", RelabelLoginAsync);
        admin.MapDelete("/users/{id:long}/logins/{loginId:long}", DeleteLoginAsync);
        admin.MapGet("/users/{id:long}/providers", GetPriorityAsync);
        admin.MapPut("/users/{id:long}/providers", PutPriorityAsync);
        admin.MapGet("/providers", ListProvidersAsync);
        admin.MapPut("/providers", PutProvidersAsync);
        admin.MapGet("/models", ListModelsAsync);
        // Model ids may hold dots and, with provider prefixes, slashes: the rest of the path is the id.
        admin.MapGet("/models/{**id}", GetModelAsync);
        admin.MapPut("/models/{**id}", PutModelAsync);
    }

    // ---- logins ----------------------------------------------------------------------------------

    /// <summary>
    /// How each provider of this gateway takes a user's login — device sign-in, an OAuth sign-in, a key — so a client
    /// (the console) offers exactly what the endpoints below accept, without its own copy of the list.
    /// </summary>
    private static IResult ListLoginMethods(HttpContext http)
    {
        if (http.FindCaller() is null) return Error(401, "unauthenticated", "Sign in or send an API key.");
        var signIns = http.RequestServices.GetRequiredService<SignInFlows>();
        var methods = KnownProviders(http).Select(p => new LoginMethodView(p, AccountKinds.DisplayName(p),
            DeviceSignIn: p is KiroLoginPool.Provider or CopilotProvider.ProviderName, // the two device endpoints above
            SignIn: signIns.For(p) is null ? null : SignInName(p),
            KeyKind: p != KiroLoginPool.Provider && http.RequestServices.GetKeyedService<ProviderAccounts>(p) is not null ? AccountKinds.KeyKindOf(p) : null));
        return Json(new LoginMethodsView([.. methods.Where(m => m.DeviceSignIn || m.SignIn is not null || m.KeyKind is not null)]),
            AdminUpstreamJson.Default.LoginMethodsView);
    }

    /// <summary>What the upstream calls its own sign-in: people sign in to Claude or ChatGPT, not to "anthropic".</summary>
    private static string SignInName(string provider) => provider switch
    {
        "anthropic" => "Claude",
        "openai" => "ChatGPT",
        _ => AccountKinds.DisplayName(provider),
    };

    private static async Task<IResult> ListLoginsAsync(HttpContext http, long id, CancellationToken ct)
    {
        if (Authorize(http, id, out var caller) is { } refused) return refused;
        var store = Store(http);
        if (await store.Users.FindAsync(id, ct) is null) return NotFound($"There is no user with id {id}.");
        var logins = await store.UpstreamLogins.ListAsync(id, ct: ct);
        var views = new List<LoginView>(logins.Count);
        foreach (var login in logins) views.Add(await ViewAsync(http, store, login, ct));
        return Json(new LoginList(views), AdminUpstreamJson.Default.LoginList);
    }

    private static Task<IResult> StartKiroDeviceAsync(HttpContext http, long id, CancellationToken ct)
        => StartDeviceAsync(http, id, KiroLoginPool.Provider, http.RequestServices.GetRequiredService<KiroDeviceFlows>(), ct);

    private static Task<IResult> PollKiroDeviceAsync(HttpContext http, long id, string flowId, CancellationToken ct)
        => PollDeviceAsync(http, id, flowId, http.RequestServices.GetRequiredService<KiroDeviceFlows>(), async (store, flow, credential, audit) =>
        {
            var saved = await KiroUserLogins.SaveAsync(store, id, flow.Label, credential, flow.Code.StartUrl, flow.Code.ClientSecretExpiresAt, audit, ct);
            // This instance uses it at once; the others follow the change feed.
            await http.RequestServices.GetRequiredService<KiroLoginPool>().ReloadLoginAsync(saved.Login.Id, ct);
            return saved;
        }, ct);

    private static Task<IResult> StartCopilotDeviceAsync(HttpContext http, long id, CancellationToken ct)
        => StartDeviceAsync(http, id, CopilotProvider.ProviderName, http.RequestServices.GetRequiredService<CopilotDeviceFlows>(), ct);

    private static Task<IResult> PollCopilotDeviceAsync(HttpContext http, long id, string flowId, CancellationToken ct)
        => PollDeviceAsync(http, id, flowId, http.RequestServices.GetRequiredService<CopilotDeviceFlows>(), async (store, flow, githubToken, audit) =>
        {
            // A sign-in without a Copilot seat would only fail at the first request: checked here, nothing stored if refused.
            await http.RequestServices.GetRequiredService<CopilotTokenService>().ExchangeAsync(new CopilotAccount("new login", githubToken), ct);
            var secret = new AccountSecret { Kind = AccountSecret.GitHubKind, GitHubToken = githubToken };
            var saved = await UserLogins.SaveAsync(store, id, CopilotProvider.ProviderName, flow.Label, secret.Serialize(), audit, ct);
            await http.RequestServices.GetRequiredService<AccountPool>().ReloadLoginAsync(saved.Login.Id, ct);
            return saved;
        }, ct);

    /// <summary>Starts a device sign-in for a user: the code to show, and where to poll.</summary>
    private static async Task<IResult> StartDeviceAsync<TCode, TResult>(HttpContext http, long id, string provider, DeviceFlows<TCode, TResult> flows, CancellationToken ct)
        where TCode : IDeviceCode where TResult : class
    {
        if (Authorize(http, id, out var caller) is { } refused) return refused;
        var body = await ReadAsync(http, AdminUpstreamJson.Default.DeviceStartRequest, ct);
        if (body.Error is { } bad) return bad;
        if (UserLogins.ValidateLabel(body.Value?.Label) is { } problem) return BadRequest(problem);
        var store = Store(http);
        if (await store.Users.FindAsync(id, ct) is null) return NotFound($"There is no user with id {id}.");
        DeviceFlow<TCode> flow;
        try
        {
            flow = await flows.StartAsync(id, body.Value?.Label?.Trim(), ct);
        }
        catch (GatewayException e)
        {
            return Error(e.Kind == ErrorKind.RateLimited ? 429 : 502, "sign_in_failed", e.Message);
        }
        await store.Audit.WriteAsync(Audit(http, caller, "upstream_login.device_start", $"user:{id}", $"{provider} sign-in {flow.Id} started"), ct);
        var code = flow.Code;
        return Json(new DeviceStartView(flow.Id, code.UserCode, code.VerificationUri, code.VerificationUriComplete, code.ExpiresAt,
            (int)Math.Ceiling(flow.Interval.TotalSeconds), $"{http.Request.PathBase}{http.Request.Path}/{flow.Id}/poll"), AdminUpstreamJson.Default.DeviceStartView);
    }

    /// <summary>One poll of a user's device sign-in; once approved, <paramref name="save"/> stores the login.</summary>
    private static async Task<IResult> PollDeviceAsync<TCode, TResult>(HttpContext http, long id, string flowId, DeviceFlows<TCode, TResult> flows,
        Func<IGapuraStore, DeviceFlow<TCode>, TResult, NewAuditEntry, Task<(UpstreamLogin Login, bool Replaced)>> save, CancellationToken ct)
        where TCode : IDeviceCode where TResult : class
    {
        if (Authorize(http, id, out var caller) is { } refused) return refused;
        if (await flows.FindAsync(id, flowId, ct) is not { } flow)
            return NotFound("No such sign-in is waiting for this user (it finished or expired); start a new one.");
        var store = Store(http);
        try
        {
            if (await flows.PollAsync(flow, ct) is not { } result)
                return Json(new DevicePollView("pending", (int)Math.Ceiling(flow.Interval.TotalSeconds), null, null), AdminUpstreamJson.Default.DevicePollView, 202);
            var (saved, replaced) = await save(store, flow, result, Audit(http, caller, "upstream_login.connect", null, null));
            return Json(new DevicePollView("connected", null, await ViewAsync(http, store, saved, ct), replaced), AdminUpstreamJson.Default.DevicePollView);
        }
        catch (GatewayException e)
        {
            return Error(e.Kind == ErrorKind.UpstreamLogin ? 400 : 502, "sign_in_failed", e.Message);
        }
    }

    /// <summary>Connects a key-based account (API key, GitHub token, AWS keys) for a provider other than Kiro.</summary>
    private static async Task<IResult> ConnectAccountAsync(HttpContext http, long id, string provider, CancellationToken ct)
    {
        if (Authorize(http, id, out var caller) is { } refused) return refused;
        provider = provider.Trim().ToLowerInvariant();
        if (provider == KiroLoginPool.Provider)
            return BadRequest($"Kiro logins are connected by device sign-in: POST {http.Request.PathBase}/admin/api/users/{id}/logins/kiro/device.");
        if (http.RequestServices.GetKeyedService<ProviderAccounts>(provider) is null)
            return NotFound($"'{provider}' is not a provider of this gateway that takes accounts. Known: {string.Join(", ", AccountProviders(http))}.");
        var body = await ReadAsync(http, AdminUpstreamJson.Default.ConnectAccountRequest, ct);
        if (body.Error is { } bad) return bad;
        if (body.Value is not { } request) return BadRequest("A JSON body with the account's credentials is required.");
        if (UserLogins.ValidateLabel(request.Label) is { } problem) return BadRequest(problem);
        var secret = AccountKinds.FromRequest(provider, request);
        if (secret.Problem() is { } missing) return BadRequest(missing);
        return await SaveAccountAsync(http, caller, id, provider, request.Label, secret, ct);
    }

    /// <summary>Starts an OAuth sign-in (Claude, ChatGPT): the user opens the URL, then brings the code back to <see cref="CompleteSignInAsync"/>.</summary>
    private static async Task<IResult> StartSignInAsync(HttpContext http, long id, string provider, CancellationToken ct)
    {
        if (Authorize(http, id, out var caller) is { } refused) return refused;
        provider = provider.Trim().ToLowerInvariant();
        var flows = http.RequestServices.GetRequiredService<SignInFlows>();
        if (flows.For(provider) is null)
            return NotFound($"'{provider}' has no sign-in on this gateway. Sign-ins: {string.Join(", ", flows.Providers.Order())}; other providers take a key (POST …/logins/{provider}).");
        var body = await ReadAsync(http, AdminUpstreamJson.Default.DeviceStartRequest, ct);
        if (body.Error is { } bad) return bad;
        if (UserLogins.ValidateLabel(body.Value?.Label) is { } problem) return BadRequest(problem);
        if (await Store(http).Users.FindAsync(id, ct) is null) return NotFound($"There is no user with id {id}.");
        SignInFlows.Flow flow;
        try
        {
            flow = await flows.StartAsync(id, provider, body.Value?.Label?.Trim(), ct);
        }
        catch (GatewayException e) when (e.Kind == ErrorKind.RateLimited)
        {
            return Error(429, "sign_in_failed", e.Message);
        }
        await Store(http).Audit.WriteAsync(Audit(http, caller, "upstream_login.sign_in_start", $"user:{id}", $"{provider} sign-in {flow.Id} started"), ct);
        return Json(new SignInStartView(flow.Id, flow.Started.AuthorizeUrl, flow.ExpiresAt, $"{http.Request.PathBase}{http.Request.Path}/{flow.Id}"),
            AdminUpstreamJson.Default.SignInStartView);
    }

    private static async Task<IResult> CompleteSignInAsync(HttpContext http, long id, string provider, string flowId, CancellationToken ct)
    {
        if (Authorize(http, id, out var caller) is { } refused) return refused;
        provider = provider.Trim().ToLowerInvariant();
        var flows = http.RequestServices.GetRequiredService<SignInFlows>();
        if (await flows.FindAsync(id, provider, flowId, ct) is not { } flow)
            return NotFound("No such sign-in is waiting for this user (it finished or expired); start a new one.");
        var body = await ReadAsync(http, AdminUpstreamJson.Default.SignInCompleteRequest, ct);
        if (body.Error is { } bad) return bad;
        if (string.IsNullOrWhiteSpace(body.Value?.Code)) return BadRequest("code: the code (or the whole address) the sign-in page showed is required.");
        AccountSecret secret;
        try
        {
            secret = await flows.CompleteAsync(flow, body.Value.Code, ct);
        }
        catch (GatewayException e)
        {
            return Error(e.Kind is ErrorKind.UpstreamLogin or ErrorKind.InvalidRequest ? 400 : 502, "sign_in_failed", e.Message);
        }
        return await SaveAccountAsync(http, caller, id, provider, flow.Label, secret, ct);
    }

    private static async Task<IResult> SaveAccountAsync(HttpContext http, Caller caller, long id, string provider, string? label, AccountSecret secret, CancellationToken ct)
    {
        var store = Store(http);
        if (await store.Users.FindAsync(id, ct) is null) return NotFound($"There is no user with id {id}.");
        var (saved, replaced) = await UserLogins.SaveAsync(store, id, provider, label, secret.Serialize(),
            Audit(http, caller, "upstream_login.connect", null, null), ct);
        // This instance uses it at once; the others follow the change feed.
        await http.RequestServices.GetRequiredService<AccountPool>().ReloadLoginAsync(saved.Id, ct);
        return Json(new DevicePollView("connected", null, await ViewAsync(http, store, saved, ct), replaced), AdminUpstreamJson.Default.DevicePollView,
            replaced ? 200 : 201);
    }

    private static IEnumerable<string> AccountProviders(HttpContext http)
        => KnownProviders(http).Where(p => http.RequestServices.GetKeyedService<ProviderAccounts>(p) is not null);

    private static async Task<IResult> RelabelLoginAsync(HttpContext http, long id, long loginId, CancellationToken ct)
    {
        if (Authorize(http, id, out var caller) is { } refused) return refused;
        var body = await ReadAsync(http, AdminUpstreamJson.Default.RelabelRequest, ct);
        if (body.Error is { } bad) return bad;
        var label = body.Value?.Label;
        if (string.IsNullOrWhiteSpace(label)) return BadRequest("label: a new label is required.");
        if (KiroUserLogins.ValidateLabel(label) is { } problem) return BadRequest(problem);
        var store = Store(http);
        if (await store.UpstreamLogins.FindAsync(loginId, ct) is not { } login || login.UserId != id)
            return NotFound($"User {id} has no upstream login {loginId}.");
        try
        {
            await store.InTransactionAsync(async tx =>
            {
                await tx.UpstreamLogins.RelabelAsync(loginId, label, ct);
                await tx.Audit.WriteAsync(Audit(http, caller, "upstream_login.relabel", $"user:{id}/login:{loginId}", $"{login.Provider} login '{login.Label}' → '{label.Trim()}'"), ct);
            }, ct);
        }
        catch (DuplicateUpstreamLoginException e)
        {
            return Error(409, "conflict", e.Message);
        }
        await ReloadLoginAsync(http, loginId, ct);
        return Json(await ViewAsync(http, store, (await store.UpstreamLogins.FindAsync(loginId, ct))!, ct), AdminUpstreamJson.Default.LoginView);
    }

    private static async Task<IResult> DeleteLoginAsync(HttpContext http, long id, long loginId, CancellationToken ct)
    {
        if (Authorize(http, id, out var caller) is { } refused) return refused;
        var store = Store(http);
        if (await store.UpstreamLogins.FindAsync(loginId, ct) is not { } login || login.UserId != id)
            return NotFound($"User {id} has no upstream login {loginId}.");
        try
        {
            await store.InTransactionAsync(async tx =>
            {
                await tx.UpstreamLogins.DeleteAsync(loginId, ct);
                await tx.Audit.WriteAsync(Audit(http, caller, "upstream_login.delete", $"user:{id}/login:{loginId}", $"{login.Provider} login '{login.Label}'"), ct);
            }, ct);
        }
        catch (UpstreamLoginNotFoundException e)
        {
            return NotFound(e.Message);
        }
        await ReloadLoginAsync(http, loginId, ct);
        return Results.NoContent();
    }

    // ---- provider priority -----------------------------------------------------------------------

    private static async Task<IResult> GetPriorityAsync(HttpContext http, long id, CancellationToken ct)
    {
        if (Authorize(http, id, out _) is { } refused) return refused;
        if (await Store(http).Users.FindAsync(id, ct) is null) return NotFound($"There is no user with id {id}.");
        return Json(PriorityView(http, id), AdminUpstreamJson.Default.PriorityView);
    }

    private static async Task<IResult> PutPriorityAsync(HttpContext http, long id, CancellationToken ct)
    {
        if (Authorize(http, id, out var caller) is { } refused) return refused;
        var body = await ReadAsync(http, AdminUpstreamJson.Default.PriorityRequest, ct);
        if (body.Error is { } bad) return bad;
        if (body.Value?.Providers is not { } requested) return BadRequest("providers: an ordered list of provider names is required (empty to clear).");
        var known = KnownProviders(http);
        var list = requested.Select(p => (p ?? "").Trim().ToLowerInvariant()).ToList();
        if (list.FirstOrDefault(p => !known.Contains(p)) is { } unknown)
            return BadRequest($"providers: '{unknown}' is not a provider of this gateway. Known: {string.Join(", ", known)}.");
        if (list.Distinct().Count() != list.Count) return BadRequest("providers: each provider may appear once.");
        var store = Store(http);
        if (await store.Users.FindAsync(id, ct) is null) return NotFound($"There is no user with id {id}.");
        await store.InTransactionAsync(async tx =>
        {
            await RoutingSettings.SetPriorityAsync(tx.Settings, id, list, ct);
            await tx.Audit.WriteAsync(Audit(http, caller, "routing.priority", $"user:{id}", list.Count == 0 ? "cleared" : string.Join(" > ", list)), ct);
        }, ct);
        await http.RequestServices.GetRequiredService<RoutingState>().ReloadAllAsync(ct);
        return Json(PriorityView(http, id), AdminUpstreamJson.Default.PriorityView);
    }

    // ---- gateway-wide switches (admins only) -----------------------------------------------------

    private static IResult ListProvidersAsync(HttpContext http)
    {
        if (AuthorizeAdmin(http, out _) is { } refused) return refused;
        return Json(ProvidersView(http), AdminUpstreamJson.Default.ProvidersView);
    }

    private static async Task<IResult> PutProvidersAsync(HttpContext http, CancellationToken ct)
    {
        if (AuthorizeAdmin(http, out var caller) is { } refused) return refused;
        var body = await ReadAsync(http, AdminUpstreamJson.Default.ProvidersRequest, ct);
        if (body.Error is { } bad) return bad;
        if (body.Value?.Providers is not { Count: > 0 } changes) return BadRequest("providers: a list of {\"name\", \"enabled\"?, \"shareProcessLogin\"?} is required.");
        var known = KnownProviders(http);
        foreach (var change in changes)
        {
            if (string.IsNullOrWhiteSpace(change.Name) || !known.Contains(change.Name.Trim().ToLowerInvariant()))
                return BadRequest($"providers: '{change.Name}' is not a provider of this gateway. Known: {string.Join(", ", known)}.");
            if (change.Enabled is null && change.ShareProcessLogin is null)
                return BadRequest($"providers: give 'enabled' or 'shareProcessLogin' (true or false) for '{change.Name}'.");
        }
        await Store(http).InTransactionAsync(async tx =>
        {
            foreach (var change in changes)
            {
                var name = change.Name!.Trim().ToLowerInvariant();
                if (change.Enabled is { } enabled)
                {
                    await RoutingSettings.SetProviderEnabledAsync(tx.Settings, name, enabled, ct);
                    await tx.Audit.WriteAsync(Audit(http, caller, enabled ? "routing.provider_enable" : "routing.provider_disable", $"provider:{name}", null), ct);
                }
                if (change.ShareProcessLogin is { } share)
                {
                    // Stored even when it equals the configured default: the admin's choice then survives a config change.
                    await tx.Settings.SetAsync(UpstreamLoginPolicy.SharedLoginSetting(name), share ? "true" : "false", ct);
                    await tx.Audit.WriteAsync(Audit(http, caller, "routing.share_process_login", $"provider:{name}", $"shareProcessLogin={(share ? "true" : "false")}"), ct);
                }
            }
        }, ct);
        await http.RequestServices.GetRequiredService<RoutingState>().ReloadAllAsync(ct);
        return Json(ProvidersView(http), AdminUpstreamJson.Default.ProvidersView);
    }

    private static async Task<IResult> ListModelsAsync(HttpContext http, CancellationToken ct)
    {
        if (AuthorizeAdmin(http, out _) is { } refused) return refused;
        var state = http.RequestServices.GetRequiredService<RoutingState>();
        var models = await http.RequestServices.GetRequiredService<RequestRouter>().ListAllAsync(ct);
        return Json(new ModelsView([.. models.Select(m => ModelView(state, m))]), AdminUpstreamJson.Default.ModelsView);
    }

    private static async Task<IResult> GetModelAsync(HttpContext http, string id, CancellationToken ct)
    {
        if (AuthorizeAdmin(http, out _) is { } refused) return refused;
        var state = http.RequestServices.GetRequiredService<RoutingState>();
        if (await FindModelAsync(http, id, ct) is not { } model) return NotFound($"No provider of this gateway offers a model '{id}'.");
        return Json(ModelView(state, model), AdminUpstreamJson.Default.ModelView);
    }

    private static async Task<IResult> PutModelAsync(HttpContext http, string id, CancellationToken ct)
    {
        if (AuthorizeAdmin(http, out var caller) is { } refused) return refused;
        var body = await ReadAsync(http, AdminUpstreamJson.Default.ModelRequest, ct);
        if (body.Error is { } bad) return bad;
        if (body.Value?.Enabled is not { } enabled) return BadRequest("enabled: true or false is required.");
        // Only ids a catalog lists: a typo would otherwise disable nothing and look as if it worked.
        if (await FindModelAsync(http, id, ct) is not { } model) return NotFound($"No provider of this gateway offers a model '{id}'.");
        await Store(http).InTransactionAsync(async tx =>
        {
            await RoutingSettings.SetModelEnabledAsync(tx.Settings, model.Id, enabled, ct);
            await tx.Audit.WriteAsync(Audit(http, caller, enabled ? "routing.model_enable" : "routing.model_disable", $"model:{model.Id}", model.Provider), ct);
        }, ct);
        var state = http.RequestServices.GetRequiredService<RoutingState>();
        await state.ReloadAllAsync(ct);
        return Json(ModelView(state, model), AdminUpstreamJson.Default.ModelView);
    }

    // ---- helpers ---------------------------------------------------------------------------------

    private static IGapuraStore Store(HttpContext http) => http.RequestServices.GetRequiredService<IGapuraStore>();

    /// <summary>The caller may act on <paramref name="userId"/>'s things: it is them, or an admin.</summary>
    private static IResult? Authorize(HttpContext http, long userId, out Caller caller)
    {
        caller = http.FindCaller()!;
        if (caller is null) return Error(401, "unauthenticated", "Sign in or send an API key.");
        return caller.IsAdmin || caller.UserId == userId ? null
            : Error(403, "forbidden", "You can manage only your own upstream logins and provider priority.");
    }

    private static IResult? AuthorizeAdmin(HttpContext http, out Caller caller)
    {
        caller = http.FindCaller()!;
        if (caller is null) return Error(401, "unauthenticated", "Sign in or send an API key.");
        return caller.IsAdmin ? null : Error(403, "forbidden", "Only administrators can enable or disable providers and models.");
    }

    private static NewAuditEntry Audit(HttpContext http, Caller caller, string action, string? target, string? detail)
        => new(caller.Email, action, target, detail, http.Connection.RemoteIpAddress?.ToString());

    private static async Task ReloadLoginAsync(HttpContext http, long loginId, CancellationToken ct)
    {
        if (http.RequestServices.GetService<KiroLoginPool>() is { } kiro) await kiro.ReloadLoginAsync(loginId, ct);
        await http.RequestServices.GetRequiredService<AccountPool>().ReloadLoginAsync(loginId, ct);
    }

    private static async Task<LoginView> ViewAsync(HttpContext http, IGapuraStore store, UpstreamLogin login, CancellationToken ct)
    {
        DateTimeOffset? expires = null;
        if (login.Provider == KiroLoginPool.Provider && http.RequestServices.GetRequiredService<KiroLoginPool>().Find(login.Id) is { } held)
            expires = held.ExpiresAt; // the copy in use, refreshed in memory
        else if (login.Provider != KiroLoginPool.Provider)
        {
            try { expires = AccountSecret.Parse(await store.UpstreamLogins.ReadSecretAsync(login.Id, ct)).ExpiresAt; }
            catch (Exception e) when (e is InvalidDataException or Secrets.SecretDecryptionException or UpstreamLoginNotFoundException) { }
        }
        else
        {
            try { expires = KiroLoginSecret.ReadExpiry(await store.UpstreamLogins.ReadSecretAsync(login.Id, ct)); }
            catch (Exception e) when (e is Secrets.SecretDecryptionException or UpstreamLoginNotFoundException) { }
        }
        return new LoginView(login.Id, login.UserId, login.Provider, login.Label, Status(http, login), login.LastError, expires, login.CreatedAt, login.UpdatedAt);
    }

    /// <summary>
    /// Dead (refused by its upstream, stored), resting (throttled or out of quota: tried after the others until its
    /// Retry-After — on any instance, shared within <c>Routing:SyncSeconds</c>), else alive.
    /// </summary>
    private static string Status(HttpContext http, UpstreamLogin login)
    {
        if (login.Status == UpstreamLoginStatus.Dead) return "dead";
        return http.RequestServices.GetRequiredService<LoginCooldowns>().IsResting(login.Provider, login.Id) ? "resting" : "alive";
    }

    private static SortedSet<string> KnownProviders(HttpContext http)
        => new(http.RequestServices.GetServices<IChatProvider>().Select(p => p.Name.ToLowerInvariant()), StringComparer.Ordinal);

    private static PriorityView PriorityView(HttpContext http, long userId)
        => new(userId, http.RequestServices.GetRequiredService<RoutingState>().PriorityOf(userId), [.. KnownProviders(http)]);

    private static ProvidersView ProvidersView(HttpContext http)
    {
        var state = http.RequestServices.GetRequiredService<RoutingState>();
        var picker = http.RequestServices.GetService<KiroLoginPicker>();
        return new ProvidersView([.. KnownProviders(http).Select(name => new ProviderView(name, !state.IsProviderDisabled(name),
            name == KiroLoginPool.Provider ? picker?.ShareProcessLogin : http.RequestServices.GetKeyedService<ProviderAccounts>(name)?.ShareProcessLogin))]);
    }

    private static ModelView ModelView(RoutingState state, Routing.ModelInfo m)
        => new(m.Id, m.Provider, m.DisplayName, !state.IsProviderDisabled(m.Provider) && !state.IsModelDisabled(m.Id), !state.IsModelDisabled(m.Id),
            m.ContextWindow, m.MaxOutputTokens, m.SupportsImages, m.SupportsTools, m.SupportsThinking);

    private static async Task<Routing.ModelInfo?> FindModelAsync(HttpContext http, string id, CancellationToken ct)
        => (await http.RequestServices.GetRequiredService<RequestRouter>().ListAllAsync(ct))
            .FirstOrDefault(m => string.Equals(m.Id, id.Trim(), StringComparison.OrdinalIgnoreCase));

    private static async Task<(T? Value, IResult? Error)> ReadAsync<T>(HttpContext http, JsonTypeInfo<T> type, CancellationToken ct) where T : class
    {
        if (http.Request.ContentLength == 0 || !http.Request.HasJsonContentType() && http.Request.ContentLength is null) return (null, null);
        try
        {
            return (await http.Request.ReadFromJsonAsync(type, ct), null);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            return (null, BadRequest($"The request body is not valid JSON for this endpoint: {e.Message}"));
        }
    }

    private static IResult Json<T>(T value, JsonTypeInfo<T> type, int status = 200) => TypedResults.Json(value, type, statusCode: status);

    /// <summary>The admin API's one error shape (<see cref="AdminErrorFilter.Result"/>), with its error types.</summary>
    private static IResult Error(int status, string type, string message)
        => AdminErrorFilter.Result(new AdminApiException(status, type switch
        {
            "unauthenticated" => ErrorTypes.Authentication,
            "forbidden" => ErrorTypes.Permission,
            "invalid_request" => ErrorTypes.InvalidRequest,
            "not_found" => ErrorTypes.NotFound,
            "conflict" => ErrorTypes.Conflict,
            _ => type,
        }, message));

    private static IResult BadRequest(string message) => Error(400, "invalid_request", message);

    private static IResult NotFound(string message) => Error(404, "not_found", message);
}

/// <param name="Status">alive, resting or dead; <paramref name="LastError"/> says why a login died.</param>
internal sealed record LoginView(long Id, long UserId, string Provider, string Label, string Status, string? LastError, DateTimeOffset? ExpiresAt, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

internal sealed record LoginList(IReadOnlyList<LoginView> Logins);

/// <param name="DeviceSignIn">Connected by a device code (POST …/logins/{provider}/device).</param>
/// <param name="SignIn">The name of its OAuth sign-in (POST …/logins/{provider}/sign-in), or null.</param>
/// <param name="KeyKind">The key it takes (POST …/logins/{provider}): api_key, github or aws; null for none.</param>
internal sealed record LoginMethodView(string Provider, string DisplayName, bool DeviceSignIn, string? SignIn, string? KeyKind);

internal sealed record LoginMethodsView(IReadOnlyList<LoginMethodView> Methods);

internal sealed record DeviceStartRequest(string? Label);

internal sealed record DeviceStartView(string FlowId, string UserCode, string VerificationUri, string VerificationUriComplete, DateTimeOffset ExpiresAt, int IntervalSeconds, string PollUrl);

internal sealed record DevicePollView(string Status, int? IntervalSeconds, LoginView? Login, bool? Replaced);

internal sealed record RelabelRequest(string? Label);

/// <summary>A key-based account: the fields the provider's kind needs (<see cref="AccountKinds"/>).</summary>
internal sealed record ConnectAccountRequest(
    string? Label,
    [property: JsonPropertyName("api_key")] string? ApiKey,
    [property: JsonPropertyName("github_token")] string? GitHubToken,
    [property: JsonPropertyName("access_key_id")] string? AccessKeyId,
    [property: JsonPropertyName("secret_access_key")] string? SecretAccessKey,
    [property: JsonPropertyName("session_token")] string? SessionToken,
    string? Region);

internal sealed record SignInStartView(string FlowId, string AuthorizeUrl, DateTimeOffset ExpiresAt, string CompleteUrl);

internal sealed record SignInCompleteRequest(string? Code);

internal sealed record PriorityView(long UserId, IReadOnlyList<string> Providers, IReadOnlyList<string> Available);

internal sealed record PriorityRequest(List<string?>? Providers);

internal sealed record ProviderView(string Name, bool Enabled, bool? ShareProcessLogin);

internal sealed record ProvidersView(IReadOnlyList<ProviderView> Providers);

internal sealed record ProviderChange(string? Name, bool? Enabled, bool? ShareProcessLogin = null);

internal sealed record ProvidersRequest(List<ProviderChange>? Providers);

/// <param name="Usable">Neither the model nor its provider is disabled.</param>
/// <param name="SupportsImages">Null where the provider does not say (as for the three capability flags).</param>
internal sealed record ModelView(string Id, string Provider, string DisplayName, bool Usable, bool Enabled, int ContextWindow, int MaxOutputTokens,
    bool? SupportsImages, bool? SupportsTools, bool? SupportsThinking);

internal sealed record ModelsView(IReadOnlyList<ModelView> Models);

internal sealed record ModelRequest(bool? Enabled);



// snake_case in and out, like the rest of the admin API; an unknown field is a 400, not silently ignored (a camelCase body from an older client must not pass as empty).
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(LoginView))]
[JsonSerializable(typeof(LoginList))]
[JsonSerializable(typeof(LoginMethodsView))]
[JsonSerializable(typeof(DeviceStartRequest))]
[JsonSerializable(typeof(DeviceStartView))]
[JsonSerializable(typeof(DevicePollView))]
[JsonSerializable(typeof(RelabelRequest))]
[JsonSerializable(typeof(ConnectAccountRequest))]
[JsonSerializable(typeof(SignInStartView))]
[JsonSerializable(typeof(SignInCompleteRequest))]
[JsonSerializable(typeof(PriorityView))]
[JsonSerializable(typeof(PriorityRequest))]
[JsonSerializable(typeof(ProvidersView))]
[JsonSerializable(typeof(ProvidersRequest))]
[JsonSerializable(typeof(ModelView))]
[JsonSerializable(typeof(ModelsView))]
[JsonSerializable(typeof(ModelRequest))]
internal sealed partial class AdminUpstreamJson : JsonSerializerContext;
