using System.Security.Cryptography;
using System.Text;
using Gapura.Storage;

namespace Gapura.Identity;

/// <summary>
/// The one-time code that lets the owner account (see <see cref="OwnerAccount"/>) be given its e-mail and password over
/// HTTP — the set-up API or the console's set-up page — while it has none. Only its hash is stored; it expires, using it
/// once ends it, and each start issues a new one until the owner is claimed.
/// </summary>
internal sealed class SetupCode(IGapuraStore store, TimeProvider time)
{
    private const string HashSetting = "setup.code_hash";
    private const string ExpirySetting = "setup.code_expires_at";
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);

    public async Task<string> IssueAsync(CancellationToken ct)
    {
        // 60 random bits in Crockford-style groups: easy to type, and useless after one use or a day.
        var code = Base32.Encode(RandomNumberGenerator.GetBytes(8))[..12];
        code = $"{code[..4]}-{code[4..8]}-{code[8..]}";
        await store.InTransactionAsync(async s =>
        {
            await s.Settings.SetAsync(HashSetting, Hash(code), ct);
            await s.Settings.SetAsync(ExpirySetting, (time.GetUtcNow() + Lifetime).ToUnixTimeSeconds().ToString(), ct);
        }, ct);
        return code;
    }

    /// <summary>True once for the right, unexpired code; the code is gone afterwards.</summary>
    public async Task<bool> TryConsumeAsync(string code, CancellationToken ct)
    {
        return await store.InTransactionAsync(async s =>
        {
            var stored = await s.Settings.GetAsync(HashSetting, ct);
            var expires = await s.Settings.GetAsync(ExpirySetting, ct);
            if (stored is null || !long.TryParse(expires, out var until) || time.GetUtcNow().ToUnixTimeSeconds() > until) return false;
            var presented = Encoding.ASCII.GetBytes(Hash(code.Trim().ToUpperInvariant()));
            if (!CryptographicOperations.FixedTimeEquals(presented, Encoding.ASCII.GetBytes(stored))) return false;
            await s.Settings.DeleteAsync(HashSetting, ct);
            await s.Settings.DeleteAsync(ExpirySetting, ct);
            return true;
        }, ct);
    }

    private static string Hash(string code) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(code)));
}
