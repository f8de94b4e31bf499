namespace Gapura.Storage.Shared;

/// <summary>An upstream account or provider resting until <paramref name="Until"/>, by its stable name (<see cref="Routing.RestKey"/>).</summary>
internal readonly record struct SharedRest(string Key, DateTimeOffset Until);

/// <summary>
/// A sign-in in progress as every instance sees it. <paramref name="Kind"/> names the flow's service (<c>device:kiro</c>,
/// <c>oauth:anthropic</c>…), so an id is only ever finished through the endpoint that started it. <paramref name="SealedState"/>
/// holds the service's codes (device code, PKCE verifier) sealed with the secrets key under the flow's id.
/// </summary>
internal sealed record SignInFlowRow(string Id, string Kind, long UserId, string? Label, string SealedState,
    DateTimeOffset ExpiresAt, DateTimeOffset NextPollAt, TimeSpan Interval);

/// <summary>
/// State that must not live in one instance's memory: upstream cool-downs and sign-ins in progress. In the gateway's
/// database (SQLite or PostgreSQL), or in Redis when <c>ConnectionStrings:Redis</c> is set — chosen like the rate-limit
/// counters. Nothing here is called on the model request path: rests are written and read by <see cref="Routing.CooldownSync"/>
/// in the background, flows by the admin API.
/// </summary>
internal interface ISharedState
{
    /// <summary>Records rests; a key already resting longer keeps its later end. Rests already over are dropped.</summary>
    Task RestAsync(IReadOnlyList<SharedRest> rests, DateTimeOffset now, CancellationToken ct);

    /// <summary>Every rest that has not ended at <paramref name="now"/>.</summary>
    Task<IReadOnlyList<SharedRest>> RestingAsync(DateTimeOffset now, CancellationToken ct);

    /// <summary>Stores a new flow unless its user already has <paramref name="maxPerUser"/> of its kind waiting (then false). Drops expired flows.</summary>
    Task<bool> AddFlowAsync(SignInFlowRow flow, int maxPerUser, DateTimeOffset now, CancellationToken ct);

    /// <summary>The flow, unless it is gone or expired.</summary>
    Task<SignInFlowRow?> FindFlowAsync(string id, DateTimeOffset now, CancellationToken ct);

    /// <summary>
    /// Takes the right to poll the service now: true for exactly one caller once the flow's next poll is due, which
    /// pushes the next poll to <paramref name="holdUntil"/> so no other instance polls meanwhile (a device code is
    /// redeemed once). A poller that dies lets the flow be polled again at <paramref name="holdUntil"/>.
    /// </summary>
    Task<bool> ClaimPollAsync(string id, DateTimeOffset now, DateTimeOffset holdUntil, CancellationToken ct);

    /// <summary>After a poll: when the next may be made, and the interval (wider after the service asked to slow down).</summary>
    Task SetNextPollAsync(string id, DateTimeOffset nextPollAt, TimeSpan interval, CancellationToken ct);

    /// <summary>Ends a flow; true when this call removed it (a code is exchanged by one caller only).</summary>
    Task<bool> RemoveFlowAsync(string id, CancellationToken ct);
}

internal static class SharedStateServiceCollectionExtensions
{
    /// <summary>The shared store: Redis when a <see cref="RedisConnection"/> is registered (<c>ConnectionStrings:Redis</c>), else the database.</summary>
    public static IServiceCollection AddSharedState(this IServiceCollection services)
    {
        services.AddSingleton<ISharedState>(sp => sp.GetService<RedisConnection>() is { } redis
            ? new RedisSharedState(redis)
            : new SqlSharedState(sp.GetRequiredService<Database>()));
        services.AddSingleton<SignInFlowStore>();
        return services;
    }
}
