using Gapura.Identity;
using Gapura.Storage;

namespace Gapura.Tests.Storage;

public abstract class ApiKeyRepositoryTests : StoreTestBase
{
    [Fact]
    public async Task A_key_is_stored_as_hash_and_prefix_and_found_by_either()
    {
        var user = await NewUserAsync();
        var key = ApiKeys.Generate();

        var stored = await Store.ApiKeys.CreateAsync(new NewApiKey(user.Id, " laptop ", key.Prefix, key.Hash, Time.Now.AddDays(30)));

        Assert.Equal(("laptop", key.Prefix, key.Hash, Time.Now.AddDays(30)), (stored.Name, stored.Prefix, stored.Hash, stored.ExpiresAt!.Value));
        Assert.Equal(stored, await Store.ApiKeys.FindByHashAsync(ApiKeys.Hash(key.Key)));
        Assert.Equal([stored], await Store.ApiKeys.FindByPrefixAsync(key.Prefix));
        Assert.Equal([stored], await Store.ApiKeys.FindByPrefixAsync(key.Key));
        Assert.Equal(0, await CountAsync("SELECT count(*) FROM api_keys WHERE hash = @k OR prefix = @k", ("k", key.Key)));
    }

    [Fact]
    public async Task A_duplicate_hash_is_refused_without_a_row()
    {
        var user = await NewUserAsync();
        var key = ApiKeys.Generate();
        await Store.ApiKeys.CreateAsync(new NewApiKey(user.Id, "a", key.Prefix, key.Hash));

        await Assert.ThrowsAsync<DuplicateApiKeyException>(() => Store.ApiKeys.CreateAsync(new NewApiKey(user.Id, "b", key.Prefix, key.Hash)));

        Assert.Equal(1, await CountAsync("SELECT count(*) FROM api_keys"));
    }

    [Fact]
    public async Task Revoking_a_key_moves_the_change_feed_once()
    {
        var user = await NewUserAsync();
        var key = ApiKeys.Generate();
        var stored = await Store.ApiKeys.CreateAsync(new NewApiKey(user.Id, "ci", key.Prefix, key.Hash));
        var before = await Store.Changes.GetVersionAsync();

        Assert.True(await Store.ApiKeys.RevokeAsync(stored.Id));
        Assert.False(await Store.ApiKeys.RevokeAsync(stored.Id));

        var batch = await Store.Changes.GetChangesSinceAsync(before);
        Assert.Equal(before + 1, batch.Version);
        Assert.Equal([new Change(before + 1, ChangeEntity.ApiKey, stored.Id.ToString())], batch.Changes);
        Assert.Equal(Time.Now, (await Store.ApiKeys.FindAsync(stored.Id))!.RevokedAt);
        await Assert.ThrowsAsync<ApiKeyNotFoundException>(() => Store.ApiKeys.RevokeAsync(987654));
    }

    [Fact]
    public async Task A_revocation_on_one_instance_is_visible_to_another_by_polling_the_version()
    {
        var user = await NewUserAsync();
        var key = ApiKeys.Generate();
        var stored = await Store.ApiKeys.CreateAsync(new NewApiKey(user.Id, "ci", key.Prefix, key.Hash));
        var other = new GapuraStore(Backend.OpenAgain(Db), Box, Time);
        var seen = await other.Changes.GetVersionAsync();

        await Store.ApiKeys.RevokeAsync(stored.Id);

        Assert.NotEqual(seen, await other.Changes.GetVersionAsync());
        var batch = await other.Changes.GetChangesSinceAsync(seen);
        Assert.Contains(new Change(batch.Version, ChangeEntity.ApiKey, stored.Id.ToString()), batch.Changes);
        Assert.Empty(await other.ApiKeys.ListActiveAsync(Time.Now, user.Id));
    }

    [Fact]
    public async Task Active_keys_exclude_revoked_expired_and_disabled_owners()
    {
        var admin = await NewUserAsync(role: UserRole.Admin);
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        async Task<ApiKey> Make(long userId, string name, DateTimeOffset? expires = null)
        {
            var k = ApiKeys.Generate();
            return await Store.ApiKeys.CreateAsync(new NewApiKey(userId, name, k.Prefix, k.Hash, expires));
        }
        var good = await Make(alice.Id, "good");
        var forever = await Make(admin.Id, "forever");
        var revoked = await Make(alice.Id, "revoked");
        await Store.ApiKeys.RevokeAsync(revoked.Id);
        await Make(alice.Id, "expired", Time.Now.AddSeconds(-1));
        await Make(alice.Id, "expires-now", Time.Now);
        var later = await Make(alice.Id, "later", Time.Now.AddMinutes(5));
        await Make(bob.Id, "bob");
        await Store.Users.SetDisabledAsync(bob.Id, true);

        var active = await Store.ApiKeys.ListActiveAsync(Time.Now);

        Assert.Equal([good.Id, forever.Id, later.Id], active.Select(a => a.Key.Id));
        Assert.Equal((admin.Email, UserRole.Admin), (active[1].OwnerEmail, active[1].OwnerRole));
        Assert.Equal(7, (await Store.ApiKeys.ListAsync()).Count);
        Assert.Equal(4, (await Store.ApiKeys.ListAsync(alice.Id, includeRevoked: false)).Count);
        Assert.Equal([good.Id, later.Id], (await Store.ApiKeys.ListActiveAsync(Time.Now, alice.Id)).Select(a => a.Key.Id));
    }

    [Fact]
    public async Task Last_used_times_only_move_forward()
    {
        var user = await NewUserAsync();
        var k = ApiKeys.Generate();
        var key = await Store.ApiKeys.CreateAsync(new NewApiKey(user.Id, "k", k.Prefix, k.Hash));
        var version = await Store.Changes.GetVersionAsync();

        await Store.ApiKeys.RecordLastUsedAsync([new(key.Id, Time.Now.AddMinutes(2))]);
        await Store.ApiKeys.RecordLastUsedAsync([new(key.Id, Time.Now.AddMinutes(1)), new(999_999, Time.Now)]);

        Assert.Equal(Time.Now.AddMinutes(2), (await Store.ApiKeys.FindAsync(key.Id))!.LastUsedAt);
        Assert.Equal(version, await Store.Changes.GetVersionAsync());
    }

    [Fact]
    public async Task Concurrent_changes_get_dense_ordered_change_numbers()
    {
        var user = await NewUserAsync();
        var stores = new[] { Store, new GapuraStore(Backend.OpenAgain(Db), Box, Time) };
        var before = await Store.Changes.GetVersionAsync();

        await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
        {
            var k = ApiKeys.Generate();
            return stores[i % 2].ApiKeys.CreateAsync(new NewApiKey(user.Id, $"k{i}", k.Prefix, k.Hash));
        }));

        var batch = await Store.Changes.GetChangesSinceAsync(before);
        Assert.True(batch.Complete);
        Assert.Equal(before + 20, batch.Version);
        Assert.Equal(Enumerable.Range((int)before + 1, 20).Select(i => (long)i), batch.Changes.Select(c => c.Seq));
    }

    [Fact]
    public async Task A_pruned_feed_tells_a_poller_that_is_too_far_behind_to_reload()
    {
        var user = await NewUserAsync();
        Time.Advance(TimeSpan.FromHours(1));
        await Store.Users.UpdateDisplayNameAsync(user.Id, "x");

        Assert.Equal(1, await Store.Changes.PruneAsync(Time.Now.AddMinutes(-30)));

        var behind = await Store.Changes.GetChangesSinceAsync(0);
        Assert.False(behind.Complete);
        Assert.Equal(2, behind.Version);
        var current = await Store.Changes.GetChangesSinceAsync(1);
        Assert.True(current.Complete);
        Assert.Single(current.Changes);
        var paged = await Store.Changes.GetChangesSinceAsync(1, limit: 1);
        Assert.Equal((2L, true), (paged.Version, paged.Complete));
    }
}

public sealed class SqliteApiKeyRepositoryTests : ApiKeyRepositoryTests
{
    private protected override IBackend CreateBackend() => new SqliteBackend();
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresApiKeyRepositoryTests(PostgresCluster cluster) : ApiKeyRepositoryTests
{
    private protected override IBackend CreateBackend() => new PostgresBackend(cluster, GetType().Name);
}
