using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Gapura.Secrets;

namespace Gapura.Storage.Shared;

/// <summary>
/// Sign-ins in progress in the shared store (<see cref="ISharedState"/>), so any instance finishes a flow another started.
/// What the service handed out — device code, PKCE verifier and state — is sealed with the secrets key under the flow's
/// id (<see cref="SecretColumns.SignInFlow"/>), never stored in the clear. A flow is found only by the user it was started
/// for and through the kind of endpoint that started it.
/// </summary>
internal sealed class SignInFlowStore(ISharedState store, SecretBox secrets, TimeProvider time)
{
    public TimeProvider Time => time;

    /// <summary>A new flow id: 128 random bits, unguessable, so knowing it is no way in — the owner check still applies.</summary>
    public static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    /// <summary>Stores a new flow; false when its user already has <paramref name="maxPerUser"/> of this kind waiting.</summary>
    public Task<bool> AddAsync<TState>(string id, string kind, long userId, string? label, TState state, JsonTypeInfo<TState> json,
        DateTimeOffset expiresAt, DateTimeOffset nextPollAt, TimeSpan interval, int maxPerUser, CancellationToken ct)
    {
        var sealedState = secrets.Seal(JsonSerializer.Serialize(state, json), SecretColumns.SignInFlow.PurposeFor(id));
        return store.AddFlowAsync(new SignInFlowRow(id, kind, userId, label, sealedState, expiresAt, nextPollAt, interval), maxPerUser, time.GetUtcNow(), ct);
    }

    /// <summary>The user's waiting flow of this kind with its opened state; null when it is not theirs, finished, expired or unreadable.</summary>
    public async Task<(SignInFlowRow Row, TState State)?> FindAsync<TState>(string id, string kind, long userId, JsonTypeInfo<TState> json, CancellationToken ct)
    {
        if (await store.FindFlowAsync(id, time.GetUtcNow(), ct) is not { } row || row.Kind != kind || row.UserId != userId) return null;
        try
        {
            return JsonSerializer.Deserialize(secrets.Open(row.SealedState, SecretColumns.SignInFlow.PurposeFor(id)), json) is { } state ? (row, state) : null;
        }
        catch (Exception e) when (e is SecretDecryptionException or JsonException)
        {
            // Sealed under a key no longer in the ring, or by another version: the user starts again.
            return null;
        }
    }

    public Task<bool> ClaimPollAsync(string id, DateTimeOffset holdUntil, CancellationToken ct) => store.ClaimPollAsync(id, time.GetUtcNow(), holdUntil, ct);

    public Task SetNextPollAsync(string id, DateTimeOffset nextPollAt, TimeSpan interval, CancellationToken ct) => store.SetNextPollAsync(id, nextPollAt, interval, ct);

    public Task<bool> RemoveAsync(string id, CancellationToken ct) => store.RemoveFlowAsync(id, ct);
}
