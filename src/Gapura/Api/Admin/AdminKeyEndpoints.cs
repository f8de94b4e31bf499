using Gapura.Identity;
using Gapura.Storage;

namespace Gapura.Api.Admin;

/// <summary>
/// Client API keys: users see and manage their own, admins everyone's. A key is shown once, when
/// created; lists carry the prefix, never the hash. New and revoked keys reach every instance's
/// in-memory index through the change feed within the identity refresh interval.
/// </summary>
internal static class AdminKeyEndpoints
{
    public const int MaxNameLength = 100;
    public const int MaxDays = 3650;

    public static void MapAdminKeyEndpoints(this RouteGroupBuilder admin)
    {
        var keys = admin.MapGroup("/keys");
        keys.MapGet("", ListAsync).Produces<KeyList>().ProducesAdminErrors(400, 401, 403)
            .WithSummary("List API keys: your own, or (admins) everyone's or one user's with ?user_id=.");
        keys.MapPost("", CreateAsync).AcceptsJson<CreateKeyRequest>().Produces<CreatedKey>(StatusCodes.Status201Created)
            .ProducesAdminErrors(400, 401, 403, 404).WithSummary("Create a key (for yourself, or with user_id for anyone as admin); the key is in the answer, once.");
        keys.MapDelete("/{id:long}", RevokeAsync).Produces<KeyView>().ProducesAdminErrors(401, 403, 404)
            .WithSummary("Revoke a key (your own, or anyone's as admin). Refused by every instance within seconds.");
    }

    private static async Task<IResult> ListAsync(HttpContext http, IGapuraStore store, TimeProvider time, CancellationToken ct)
    {
        var me = http.GetAdminPrincipal();
        long? userId = me.UserId;
        if (http.Request.Query.TryGetValue("user_id", out var raw) && raw.Count > 0)
        {
            if (!long.TryParse(raw.ToString(), System.Globalization.CultureInfo.InvariantCulture, out var asked))
                throw AdminApiException.Invalid("user_id", "'user_id' must be a number.");
            userId = asked;
        }
        else if (me.IsAdmin) userId = null;
        if (userId != me.UserId && !me.IsAdmin) throw AdminApiException.Forbidden("Only admins may list another user's keys.");
        var keys = await store.ApiKeys.ListAsync(userId, ct: ct);
        var emails = (await store.Users.ListAsync(ct)).ToDictionary(u => u.Id, u => u.Email);
        var now = time.GetUtcNow();
        return Results.Json(new KeyList([.. keys.Select(k => KeyView.From(k, emails.GetValueOrDefault(k.UserId), now))]), AdminJsonContext.Default.KeyList);
    }

    private static async Task<IResult> CreateAsync(HttpContext http, IGapuraStore store, IdentitySync sync, TimeProvider time, CancellationToken ct)
    {
        var me = http.GetAdminPrincipal();
        var body = await AdminBody.ReadAsync(http.Request, AdminJsonContext.Default.CreateKeyRequest, ct);
        var userId = body.UserId ?? me.UserId;
        if (userId != me.UserId && !me.IsAdmin) throw AdminApiException.Forbidden("Only admins may create keys for another user.");
        var name = (body.Name ?? "").Trim();
        if (name.Length > MaxNameLength) throw AdminApiException.Invalid("name", $"'name' is at most {MaxNameLength} characters.");
        var now = time.GetUtcNow();
        DateTimeOffset? expires = null;
        if (body.ExpiresAt is not null && body.ExpiresInDays is not null)
            throw AdminApiException.Invalid("expires_at", "Give 'expires_at' or 'expires_in_days', not both.");
        if (body.ExpiresInDays is { } days)
        {
            if (days is < 1 or > MaxDays) throw AdminApiException.Invalid("expires_in_days", $"'expires_in_days' must be from 1 to {MaxDays}.");
            expires = now.AddDays(days);
        }
        if (body.ExpiresAt is { } at)
        {
            if (at <= now) throw AdminApiException.Invalid("expires_at", "'expires_at' must be in the future.");
            expires = at;
        }
        var generated = ApiKeys.Generate();
        var (key, owner) = await store.InTransactionAsync(async s =>
        {
            var user = await s.Users.GetAsync(userId, ct);
            if (user.Disabled) throw AdminApiException.Conflict($"{user.Email} is disabled; enable the account before giving it keys.");
            var stored = await s.ApiKeys.CreateAsync(new NewApiKey(userId, name, generated.Prefix, generated.Hash, expires), ct);
            await s.Audit.WriteAsync(http.Audit("key.create", "key:" + stored.Prefix,
                $"for {user.Email}{(name.Length > 0 ? $", name '{name}'" : "")}{(expires is null ? "" : $", expires {expires:u}")}"), ct);
            return (stored, user);
        }, ct);
        await sync.TickAsync(ct); // usable on this instance the moment its creator sees it
        return Results.Json(new CreatedKey(generated.Key, KeyView.From(key, owner.Email, now)), AdminJsonContext.Default.CreatedKey,
            statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> RevokeAsync(long id, HttpContext http, IGapuraStore store, IdentitySync sync, TimeProvider time, CancellationToken ct)
    {
        var me = http.GetAdminPrincipal();
        var key = await store.ApiKeys.FindAsync(id, ct);
        if (key is null || (key.UserId != me.UserId && !me.IsAdmin))
        {
            // Someone else's key is "not found" to a user: its existence is none of their business. It is still audited.
            if (key is not null)
                await store.Audit.WriteAsync(http.Audit("denied", "key:" + key.Prefix, "tried to revoke another user's key"), ct);
            throw AdminApiException.NotFound($"There is no API key with id {id}.");
        }
        var owner = await store.InTransactionAsync(async s =>
        {
            var revoked = await s.ApiKeys.RevokeAsync(id, ct);
            var user = await s.Users.FindAsync(key.UserId, ct);
            await s.Audit.WriteAsync(http.Audit("key.revoke", "key:" + key.Prefix, $"of {user?.Email}{(revoked ? "" : " (already revoked)")}"), ct);
            return user;
        }, ct);
        await sync.TickAsync(ct); // refused on this instance from the moment the revocation is confirmed
        var after = await store.ApiKeys.FindAsync(id, ct) ?? key;
        return Results.Json(KeyView.From(after, owner?.Email, time.GetUtcNow()), AdminJsonContext.Default.KeyView);
    }
}
