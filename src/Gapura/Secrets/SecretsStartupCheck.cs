using Gapura.Storage;
using Microsoft.Extensions.Logging;

namespace Gapura.Secrets;

/// <summary>
/// Refuses to start when the database holds values sealed under a key the ring lacks — the sign of a
/// wrong or missing <c>Secrets:Key</c>. Failing here, with the key ids named, beats failing on the first
/// request that needs a provider token.
/// </summary>
internal sealed class SecretsStartupCheck(IStoredSecrets stored, KeyRing ring, ILogger<SecretsStartupCheck> log)
{
    public async Task<IReadOnlyDictionary<string, long>> RunAsync(CancellationToken ct = default)
    {
        var counts = await stored.CountByKeyIdAsync(ct);
        var unknown = counts.Where(c => !ring.Contains(c.Key)).OrderBy(c => c.Key, StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
        {
            var described = string.Join(", ", unknown.Select(c => $"{c.Value} under key {c.Key}"));
            throw new SecretKeyException(
                $"The secrets key does not match the database: it holds encrypted values ({described}) that the key ring " +
                $"({ring}) cannot open. Set Secrets:Key (env Secrets__Key) to the key those values were written with, " +
                "or add it to Secrets:PreviousKeys and run `gapura secrets rotate`.");
        }
        var old = counts.Where(c => c.Key != ring.Current.Id).Sum(c => c.Value);
        if (old > 0)
            log.LogInformation("{Count} stored secret(s) are still sealed under a previous key; `gapura secrets rotate` moves them to key {KeyId}",
                old, ring.Current.Id);
        return counts;
    }
}
