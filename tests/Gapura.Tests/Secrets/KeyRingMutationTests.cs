using System.Diagnostics;
using Gapura.Secrets;

namespace Gapura.Tests.Secrets;

/// <summary>
/// Which keys a gateway holds and what it tells the operator about them at start-up: the ring's description is
/// the only place an operator sees which keys are loaded during a rotation, and the key-file warning is the only
/// reminder to back that file up (found by mutation testing: see DEVELOPERS.md, "Mutation testing").
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class KeyRingMutationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gapura-ring-").FullName;
    private readonly ListLogger _log = new();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void The_ring_describes_its_current_and_previous_key_ids_in_order()
    {
        var (current, older, oldest) = (SecretKey.Generate(), SecretKey.Generate(), SecretKey.Generate());

        Assert.Equal($"current {current.Id}", new KeyRing(current).ToString());
        Assert.Equal($"current {current.Id}, previous {older.Id}, {oldest.Id}", new KeyRing(current, [older, current, oldest]).ToString());
    }

    [Fact]
    public void The_ring_knows_exactly_its_own_key_ids()
    {
        var (current, previous) = (SecretKey.Generate(), SecretKey.Generate());
        var ring = new KeyRing(current, [previous, previous]);

        Assert.Equal(new[] { current.Id, previous.Id }.Order(), ring.Ids.Order());
        Assert.True(ring.Contains(current.Id));
        Assert.True(ring.Contains(previous.Id));
        Assert.False(ring.Contains(SecretKey.Generate().Id));
        Assert.Same(previous, ring.Find(previous.Id));
        Assert.Null(ring.Find("unknown!"));
    }

    [Fact]
    public void Loading_logs_the_ring_by_key_id_only()
    {
        var (current, previous) = (SecretKey.Generate(), SecretKey.Generate());

        KeyRingLoader.Load(new SecretsOptions { Key = current.ToBase64(), PreviousKeys = [previous.ToBase64()] }, Path.Combine(_dir, "unused.key"), _log);

        Assert.Equal(new[] { $"Secrets key ring: current {current.Id}, previous {previous.Id}" }, _log.Lines);
    }

    [Fact]
    public void A_malformed_configured_key_names_the_setting()
    {
        var error = Assert.Throws<SecretKeyException>(() => KeyRingLoader.Load(new SecretsOptions { Key = "AAAA" }, Path.Combine(_dir, "unused.key"), _log));
        Assert.StartsWith("Secrets:Key decodes to 3 bytes", error.Message);
    }

    [Fact]
    public void A_generated_key_file_comes_with_a_warning_to_back_it_up()
    {
        var path = Path.Combine(_dir, "data", "gapura.key");

        var ring = KeyRingLoader.Load(new SecretsOptions(), path, _log);

        var warning = Assert.Single(_log.Lines, l => l.Contains("Back this file up"));
        Assert.Contains(ring.Current.Id, warning);
        Assert.Contains(path, warning);
        Assert.Contains("give every instance sharing the database the same key (Secrets:Key or Secrets:KeyFile).", warning);
        Assert.Equal(ring.Current.ToBase64() + "\n", File.ReadAllText(path));
    }

    [Fact]
    public void An_existing_key_file_is_named_in_the_log_with_the_key_id()
    {
        var key = SecretKey.Generate();
        var path = Path.Combine(_dir, "existing.key");
        File.WriteAllText(path, key.ToBase64() + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var ring = KeyRingLoader.Load(new SecretsOptions(), path, _log);

        Assert.Equal(key.Id, ring.Current.Id);
        Assert.Equal(new[] { $"Using secrets key {key.Id} from {path}", $"Secrets key ring: current {key.Id}" }, _log.Lines);
    }

    [Fact]
    public async Task A_key_file_another_instance_is_still_writing_is_read_once_complete()
    {
        var key = SecretKey.Generate();
        var path = Path.Combine(_dir, "settling.key");
        File.WriteAllText(path, "");

        var load = Task.Run(() => KeyRingLoader.Load(new SecretsOptions(), path, _log));
        await Task.Delay(300);
        Assert.False(load.IsCompleted);
        File.WriteAllText(path, key.ToBase64() + "\n");

        var ring = await load.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(key.Id, ring.Current.Id);
    }

    [Fact]
    public void A_broken_key_file_fails_after_a_short_wait_naming_the_file()
    {
        var path = Path.Combine(_dir, "broken.key");
        File.WriteAllText(path, "not a key");
        var clock = Stopwatch.StartNew();

        var error = Assert.Throws<SecretKeyException>(() => KeyRingLoader.Load(new SecretsOptions(), path, _log));

        Assert.Contains($"The secrets key file {path}", error.Message);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(30));
    }
}
