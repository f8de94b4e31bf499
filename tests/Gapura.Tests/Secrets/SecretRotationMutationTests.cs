using Gapura.Secrets;
using Gapura.Storage;
using Microsoft.Extensions.Logging;

namespace Gapura.Tests.Secrets;

/// <summary>
/// Rotation's own bookkeeping, over an in-memory store that can play a running gateway rewriting a value
/// mid-rotation: what the operator is told, and that a value changed meanwhile is left as written (the database
/// cases are in <see cref="SecretRotationTests"/>; found by mutation testing: see DEVELOPERS.md, "Mutation testing").
/// </summary>
public class SecretRotationMutationTests
{
    private readonly SecretKey _old = SecretKey.Generate();
    private readonly SecretKey _new = SecretKey.Generate();

    [Fact]
    public async Task A_value_rewritten_meanwhile_is_counted_apart_and_left_as_written()
    {
        var oldBox = new SecretBox(new KeyRing(_old));
        var box = new SecretBox(new KeyRing(_new, [_old]));
        var store = new MemorySecrets();
        for (var id = 1L; id <= 3; id++) store.Add(SecretColumns.UpstreamLogin, id, oldBox.Seal($"tokens-{id}", SecretColumns.UpstreamLogin.PurposeFor(id)));
        // A token refresh on another instance rewrites login 2 just before rotation swaps it.
        var refreshed = box.Seal("tokens-2-refreshed", SecretColumns.UpstreamLogin.PurposeFor(2L));
        store.RewriteBeforeReplace[2L] = refreshed;
        var log = new TypedListLogger<SecretRotation>();

        var result = await new SecretRotation(store, box, log).RotateAsync(batchSize: 2);

        Assert.Equal((2, 1), (result.Reencrypted, result.SkippedChanged));
        Assert.Equal(2, result.PerColumn["upstream_logins.secret_enc"]);
        Assert.Equal(refreshed, store.Value(SecretColumns.UpstreamLogin, 2L));
        Assert.Equal("tokens-3", box.Open(store.Value(SecretColumns.UpstreamLogin, 3L), SecretColumns.UpstreamLogin.PurposeFor(3L)));
        var line = Assert.Single(log.Lines);
        Assert.StartsWith($"Re-encrypted 2 stored secret(s) under key {_new.Id} in ", line);
        Assert.EndsWith(" ms (1 changed meanwhile and left as written)", line);
    }

    [Fact]
    public async Task Rotation_pages_through_a_column_in_row_order_until_it_is_empty()
    {
        var oldBox = new SecretBox(new KeyRing(_old));
        var box = new SecretBox(new KeyRing(_new, [_old]));
        var store = new MemorySecrets();
        for (var id = 1L; id <= 5; id++) store.Add(SecretColumns.Setting, id, oldBox.Seal($"v{id}", SecretColumns.Setting.PurposeFor(id)));
        store.RewriteBeforeReplace[1L] = "gp1:someone:else";

        var result = await new SecretRotation(store, box).RotateAsync(batchSize: 2);

        Assert.Equal((4, 1), (result.Reencrypted, result.SkippedChanged));
        Assert.Equal(4, result.PerColumn["settings.value_enc"]);
        Assert.Equal(0, result.PerColumn["users.totp_secret_enc"]);
        // Pages of two, each starting after the last row of the one before.
        Assert.Equal(new object?[] { null, 2L, 4L, 5L }, store.PagesAfter(SecretColumns.Setting));
    }

    [Fact]
    public async Task A_batch_size_below_one_is_refused()
    {
        var box = new SecretBox(new KeyRing(_new));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => new SecretRotation(new MemorySecrets(), box).RotateAsync(batchSize: 0));
        Assert.Equal(0, (await new SecretRotation(new MemorySecrets(), box).RotateAsync(batchSize: 1)).Reencrypted);
    }

    private sealed class MemorySecrets : IStoredSecrets
    {
        private readonly Dictionary<(SecretColumn, long), string> _values = [];
        private readonly List<(SecretColumn Column, object? After)> _pages = [];

        /// <summary>Row id → the value another writer puts there just before rotation's swap (so the swap must fail).</summary>
        public Dictionary<long, string> RewriteBeforeReplace { get; } = [];

        public void Add(SecretColumn column, long id, string value) => _values[(column, id)] = value;

        public string Value(SecretColumn column, long id) => _values[(column, id)];

        public IReadOnlyList<object?> PagesAfter(SecretColumn column) => [.. _pages.Where(p => p.Column == column).Select(p => p.After)];

        public Task<IReadOnlyDictionary<string, long>> CountByKeyIdAsync(CancellationToken ct = default)
            => throw new NotSupportedException();

        public Task<IReadOnlyList<StoredSecret>> ListNotUnderKeyAsync(SecretColumn column, string keyId, object? afterId, int limit, CancellationToken ct = default)
        {
            _pages.Add((column, afterId));
            var after = (long?)afterId ?? 0;
            IReadOnlyList<StoredSecret> page = [.. _values
                .Where(v => v.Key.Item1 == column && v.Key.Item2 > after && SecretBox.KeyIdOf(v.Value) != keyId)
                .OrderBy(v => v.Key.Item2).Take(limit)
                .Select(v => new StoredSecret(column, v.Key.Item2, v.Value))];
            return Task.FromResult(page);
        }

        public Task<bool> ReplaceAsync(StoredSecret secret, string replacement, CancellationToken ct = default)
        {
            var key = (secret.Column, (long)secret.RowId);
            if (RewriteBeforeReplace.Remove(key.Item2, out var rewritten)) _values[key] = rewritten;
            if (_values[key] != secret.Value) return Task.FromResult(false);
            _values[key] = replacement;
            return Task.FromResult(true);
        }
    }
}

/// <summary><see cref="ListLogger"/> for a class that asks for its own typed logger.</summary>
internal sealed class TypedListLogger<T> : ILogger<T>
{
    private readonly ListLogger _inner = new();

    public IReadOnlyList<string> Lines => _inner.Lines;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => _inner.BeginScope(state);

    public bool IsEnabled(LogLevel logLevel) => _inner.IsEnabled(logLevel);

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        => _inner.Log(logLevel, eventId, state, exception, formatter);
}
