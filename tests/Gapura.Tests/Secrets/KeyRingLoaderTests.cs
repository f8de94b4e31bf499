using Gapura.Secrets;
using Microsoft.Extensions.Logging;

namespace Gapura.Tests.Secrets;

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class KeyRingLoaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gapura-keys-").FullName;
    private readonly ListLogger _log = new();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Without_a_configured_key_a_key_file_is_created_with_mode_600_and_reused()
    {
        var path = Path.Combine(_dir, "data", "gapura.key");

        var first = KeyRingLoader.Load(new SecretsOptions(), path, _log);

        Assert.True(File.Exists(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        var second = KeyRingLoader.Load(new SecretsOptions(), path, _log);
        Assert.Equal(first.Current.Id, second.Current.Id);
        Assert.Contains(_log.Lines, l => l.Contains(path) && l.Contains(first.Current.Id));
        Assert.DoesNotContain(_log.Lines, l => l.Contains(first.Current.ToBase64()));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp"));
    }

    [Fact]
    public async Task Two_instances_creating_the_key_file_at_once_end_up_with_one_key()
    {
        var path = Path.Combine(_dir, "race", "gapura.key");
        using var go = new ManualResetEventSlim();
        var loads = Enumerable.Range(0, 4).Select(_ => Task.Run(() => { go.Wait(); return KeyRingLoader.Load(new SecretsOptions(), path, _log); })).ToList();
        go.Set();

        var rings = await Task.WhenAll(loads);

        Assert.Single(rings.Select(r => r.Current.Id).Distinct());
        Assert.Equal(rings[0].Current.Id, SecretKey.Parse(await File.ReadAllTextAsync(path), "file").Id);
    }

    [Fact]
    public void A_configured_key_wins_and_previous_keys_join_the_ring()
    {
        var current = SecretKey.Generate();
        var previous = SecretKey.Generate();
        var path = Path.Combine(_dir, "unused.key");

        var ring = KeyRingLoader.Load(new SecretsOptions { Key = current.ToBase64(), PreviousKeys = [previous.ToBase64(), " "] }, path, _log);

        Assert.Equal(current.Id, ring.Current.Id);
        Assert.Equal([previous.Id], ring.Previous.Select(k => k.Id));
        Assert.False(File.Exists(path));
        Assert.DoesNotContain(_log.Lines, l => l.Contains(current.ToBase64()) || l.Contains(previous.ToBase64()));
    }

    [Fact]
    public void A_malformed_previous_key_names_its_position()
    {
        var error = Assert.Throws<SecretKeyException>(() => KeyRingLoader.Load(
            new SecretsOptions { Key = SecretKey.Generate().ToBase64(), PreviousKeys = ["AAAA"] }, Path.Combine(_dir, "k"), _log));
        Assert.Contains("Secrets:PreviousKeys:0", error.Message);
    }

    [Fact]
    public void A_key_file_readable_by_others_is_warned_about()
    {
        var path = Path.Combine(_dir, "loose.key");
        File.WriteAllText(path, SecretKey.Generate().ToBase64());
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        KeyRingLoader.Load(new SecretsOptions(), path, _log);

        Assert.Contains(_log.Lines, l => l.Contains("chmod 600"));
    }
}

/// <summary>Collects formatted log lines so tests can check what would be printed.</summary>
internal sealed class ListLogger : ILogger
{
    private readonly List<string> _lines = [];

    public IReadOnlyList<string> Lines { get { lock (_lines) return [.. _lines]; } }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_lines) _lines.Add(formatter(state, exception));
    }
}
