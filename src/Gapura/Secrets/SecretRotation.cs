using System.Diagnostics;
using Gapura.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gapura.Secrets;

internal sealed record RotationResult(int Reencrypted, int SkippedChanged, IReadOnlyDictionary<string, int> PerColumn, TimeSpan Elapsed);

/// <summary>
/// Re-seals every stored secret under the ring's current key. Each value is swapped on its own, guarded
/// by its old text: instances keep running (their rings hold both keys), a value changed meanwhile by a
/// token refresh is left alone (it was just sealed under the current key), and an interrupted run can
/// simply be started again.
/// </summary>
internal sealed class SecretRotation(IStoredSecrets stored, SecretBox box, ILogger<SecretRotation>? log = null)
{
    private readonly ILogger _log = (ILogger?)log ?? NullLogger.Instance;

    public async Task<RotationResult> RotateAsync(int batchSize = 200, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var clock = Stopwatch.StartNew();
        var perColumn = new Dictionary<string, int>(StringComparer.Ordinal);
        int total = 0, skipped = 0;
        foreach (var column in SecretColumns.All)
        {
            var count = 0;
            object? after = null;
            while (true)
            {
                var batch = await stored.ListNotUnderKeyAsync(column, box.CurrentKeyId, after, batchSize, ct);
                if (batch.Count == 0) break;
                foreach (var secret in batch)
                {
                    // Opening throws on a value under a key the ring lacks: rotation must not skip what it cannot read.
                    var plaintext = box.Open(secret.Value, secret.Purpose);
                    if (await stored.ReplaceAsync(secret, box.Seal(plaintext, secret.Purpose), ct)) count++;
                    else skipped++;
                }
                after = batch[^1].RowId;
            }
            perColumn[$"{column.Table}.{column.Column}"] = count;
            total += count;
        }
        var result = new RotationResult(total, skipped, perColumn, clock.Elapsed);
        _log.LogInformation("Re-encrypted {Count} stored secret(s) under key {KeyId} in {Ms} ms ({Skipped} changed meanwhile and left as written)",
            total, box.CurrentKeyId, (int)result.Elapsed.TotalMilliseconds, skipped);
        return result;
    }
}
