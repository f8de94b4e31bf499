using Gapura.Secrets;
using Gapura.Storage;
using Gapura.Tests.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gapura.Tests.Secrets;

/// <summary>Rotation and the start-up key check, over real databases of both back ends.</summary>
public abstract class SecretRotationTests : StoreTestBase
{
    private const string FlowId = "0123456789abcdef0123456789abcdef";
    private static readonly System.Text.Json.Serialization.Metadata.JsonTypeInfo<string> StringJson =
        (System.Text.Json.Serialization.Metadata.JsonTypeInfo<string>)System.Text.Json.JsonSerializerOptions.Default.GetTypeInfo(typeof(string));

    private Gapura.Storage.Shared.SignInFlowStore Flows(SecretBox box) => new(new Gapura.Storage.Shared.SqlSharedState(Db), box, Time);

    private async Task<(long User, long Login1, long Login2)> SeedAsync()
    {
        var user = await NewUserAsync();
        await Store.Users.SetTotpSecretAsync(user.Id, "JBSWY3DPEHPK3PXP");
        var a = await Store.UpstreamLogins.AddAsync(user.Id, "kiro", "a", "tokens-a");
        var b = await Store.UpstreamLogins.AddAsync(user.Id, "kiro", "b", "tokens-b");
        await Store.Settings.SetSecretAsync("oidc.client_secret", "client-secret");
        await Store.Settings.SetAsync("plain", "not a secret");
        // A sign-in in progress: its device code is sealed too.
        Assert.True(await Flows(Box).AddAsync(FlowId, "device:test", user.Id, null, "device-code", StringJson, Time.Now.AddMinutes(10), Time.Now, TimeSpan.FromSeconds(5), 5, default));
        return (user.Id, a.Id, b.Id);
    }

    [Fact]
    public async Task Rotation_reseals_every_stored_secret_so_the_old_key_is_no_longer_needed()
    {
        var (user, login1, login2) = await SeedAsync();
        var oldKey = Box.Ring.Current;
        var newKey = SecretKey.Generate();
        var transitional = new SecretBox(new KeyRing(newKey, [oldKey]));
        var store = StoreWith(transitional);

        var result = await new SecretRotation(store.Secrets, transitional).RotateAsync(batchSize: 1);

        Assert.Equal(5, result.Reencrypted);
        Assert.Equal(new Dictionary<string, int>
        {
            ["users.totp_secret_enc"] = 1, ["upstream_logins.secret_enc"] = 2, ["settings.value_enc"] = 1, ["sign_in_flows.state_enc"] = 1, ["stored_responses.payload_enc"] = 0,
        }, result.PerColumn);
        Assert.Equal(new Dictionary<string, long> { [newKey.Id] = 5 }, await store.Secrets.CountByKeyIdAsync());

        var onlyNew = StoreWith(new SecretBox(new KeyRing(newKey)));
        Assert.Equal("JBSWY3DPEHPK3PXP", await onlyNew.Users.GetTotpSecretAsync(user));
        Assert.Equal("tokens-a", await onlyNew.UpstreamLogins.ReadSecretAsync(login1));
        Assert.Equal("tokens-b", await onlyNew.UpstreamLogins.ReadSecretAsync(login2));
        Assert.Equal("client-secret", await onlyNew.Settings.GetSecretAsync("oidc.client_secret"));
        Assert.Equal("not a secret", await onlyNew.Settings.GetAsync("plain"));
        Assert.Equal("device-code", (await Flows(new SecretBox(new KeyRing(newKey))).FindAsync(FlowId, "device:test", user, StringJson, default))?.State);

        var again = await new SecretRotation(store.Secrets, transitional).RotateAsync();
        Assert.Equal(0, again.Reencrypted);
    }

    [Fact]
    public async Task Rotation_stops_at_a_value_it_cannot_open_rather_than_skip_it()
    {
        await SeedAsync();
        var stranger = new SecretBox(new KeyRing(SecretKey.Generate()));

        await Assert.ThrowsAsync<SecretDecryptionException>(() => new SecretRotation(StoreWith(stranger).Secrets, stranger).RotateAsync());
    }

    [Fact]
    public async Task The_start_up_check_refuses_a_key_that_cannot_open_the_stored_secrets()
    {
        await SeedAsync();
        var wrong = new KeyRing(SecretKey.Generate());

        var error = await Assert.ThrowsAsync<SecretKeyException>(() =>
            new SecretsStartupCheck(Store.Secrets, wrong, NullLogger<SecretsStartupCheck>.Instance).RunAsync());

        Assert.Contains($"5 under key {Box.CurrentKeyId}", error.Message);
        Assert.Contains(wrong.Current.Id, error.Message);
        Assert.Contains("Secrets:Key", error.Message);
    }

    [Fact]
    public async Task The_start_up_check_accepts_the_right_key_an_empty_database_and_a_key_in_rotation()
    {
        var empty = new KeyRing(SecretKey.Generate());
        Assert.Empty(await new SecretsStartupCheck(Store.Secrets, empty, NullLogger<SecretsStartupCheck>.Instance).RunAsync());

        await SeedAsync();
        Assert.Equal(5, (await new SecretsStartupCheck(Store.Secrets, Box.Ring, NullLogger<SecretsStartupCheck>.Instance).RunAsync())[Box.CurrentKeyId]);

        var rotating = new KeyRing(SecretKey.Generate(), [Box.Ring.Current]);
        await new SecretsStartupCheck(Store.Secrets, rotating, NullLogger<SecretsStartupCheck>.Instance).RunAsync();
    }
}

public sealed class SqliteSecretRotationTests : SecretRotationTests
{
    private protected override IBackend CreateBackend() => new SqliteBackend();
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresSecretRotationTests(PostgresCluster cluster) : SecretRotationTests
{
    private protected override IBackend CreateBackend() => new PostgresBackend(cluster, GetType().Name);
}
