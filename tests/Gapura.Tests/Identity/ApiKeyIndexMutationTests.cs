using Gapura.Identity;
using Gapura.Storage;
using Microsoft.AspNetCore.Http;
using Gapura.Tests.Storage;

namespace Gapura.Tests.Identity;

/// <summary>
/// Who a presented key makes the caller: the in-memory key index and the authenticator in front of it. These
/// decide identity on every request, so each rule a user relies on is pinned here (found by mutation testing:
/// see DEVELOPERS.md, "Mutation testing").
/// </summary>
public class ApiKeyIndexMutationTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private const string BootstrapKey = "sk-gp-bootstrap-key-configured-by-the-operator";

    private static User Admin(long id, string email) => new(id, email, "", UserRole.Admin, false, true, false, Now, Now);

    private static ActiveApiKey Key(long id, long userId, string key, string email, UserRole role = UserRole.User, DateTimeOffset? expires = null)
        => new(new ApiKey(id, userId, "laptop", ApiKeys.PrefixOf(key), ApiKeys.Hash(key), Now, expires, null, null), email, role);

    [Fact]
    public void A_stored_key_finds_its_owner_with_key_id_and_prefix()
    {
        var index = new ApiKeyIndex();
        var ada = ApiKeys.Generate();
        var bob = ApiKeys.Generate();
        index.Replace([Key(7, 70, ada.Key, "ada@example.com", UserRole.Admin, Now.AddDays(1)), Key(8, 80, bob.Key, "bob@example.com")], null, null, 3);

        var found = index.Find(ada.Key);
        Assert.NotNull(found);
        Assert.Equal(new Caller(70, "ada@example.com", UserRole.Admin, 7, ada.Prefix), found.Caller);
        Assert.Equal(Now.AddDays(1), found.ExpiresAt);
        Assert.Equal(80, index.Find(bob.Key)!.Caller.UserId);
        Assert.Equal((2, 3L), (index.Count, index.Version));
        Assert.Null(index.Find(ApiKeys.Generate().Key));
        Assert.Null(index.Find(ada.Key.AsSpan(0, ada.Key.Length - 1)));
    }

    [Fact]
    public void The_bootstrap_key_belongs_to_the_given_admin_and_never_expires()
    {
        var index = new ApiKeyIndex();
        index.Replace([], ApiKeys.Hash(BootstrapKey), Admin(1, "owner@example.com"), 5);

        var entry = index.Find(BootstrapKey);
        Assert.NotNull(entry);
        Assert.Equal(new Caller(1, "owner@example.com", UserRole.Admin, null, "bootstrap"), entry.Caller);
        Assert.True(entry.Caller.IsAdmin);
        Assert.Null(entry.ExpiresAt);
        Assert.Equal(1, index.Count);
        // Owned: it is a working key, not a "finish set-up" one.
        Assert.False(index.IsOwnerlessBootstrapKey(BootstrapKey));
    }

    [Fact]
    public void Without_an_enabled_admin_the_bootstrap_key_authenticates_nobody_but_is_recognised_as_ownerless()
    {
        var index = new ApiKeyIndex();
        var stored = ApiKeys.Generate();
        index.Replace([Key(1, 10, stored.Key, "user@example.com")], ApiKeys.Hash(BootstrapKey), null, 1);

        Assert.Null(index.Find(BootstrapKey));
        Assert.Equal(1, index.Count);
        Assert.True(index.IsOwnerlessBootstrapKey(BootstrapKey));
        Assert.False(index.IsOwnerlessBootstrapKey(stored.Key));
        Assert.False(index.IsOwnerlessBootstrapKey(BootstrapKey + "x"));

        // An admin appears (set-up finished): the same key now works and is no longer "ownerless".
        index.Replace([], ApiKeys.Hash(BootstrapKey), Admin(2, "first@example.com"), 2);
        Assert.Equal(2, index.Find(BootstrapKey)!.Caller.UserId);
        Assert.False(index.IsOwnerlessBootstrapKey(BootstrapKey));
    }

    [Fact]
    public void No_bootstrap_key_configured_means_no_bootstrap_entry_and_nothing_ownerless()
    {
        var index = new ApiKeyIndex();
        index.Replace([], null, Admin(1, "owner@example.com"), 1);

        Assert.Equal(0, index.Count);
        Assert.False(index.IsOwnerlessBootstrapKey(BootstrapKey));
        index.Replace([], null, null, 2);
        Assert.False(index.IsOwnerlessBootstrapKey(BootstrapKey));
    }

    [Fact]
    public void Empty_and_oversized_keys_are_refused_without_hashing_a_long_header()
    {
        var index = new ApiKeyIndex();
        var exactly512 = "sk-gp-" + new string('a', 506);
        var over512 = exactly512 + "a";
        index.Replace([Key(1, 10, exactly512, "a@example.com"), Key(2, 20, over512, "b@example.com")], null, null, 1);

        Assert.Null(index.Find(""));
        Assert.Equal(10, index.Find(exactly512)!.Caller.UserId);
        Assert.Null(index.Find(over512));
    }

    [Fact]
    public void A_fresh_index_knows_no_key_and_is_at_version_minus_one()
    {
        var index = new ApiKeyIndex();
        Assert.Equal((0, -1L), (index.Count, index.Version));
        Assert.False(index.IsOwnerlessBootstrapKey(BootstrapKey));
    }

    [Fact]
    public void Non_ascii_keys_are_hashed_as_utf8_like_the_stored_hash()
    {
        var index = new ApiKeyIndex();
        const string key = "sk-gp-ключ-🔑-clé";
        index.Replace([Key(1, 10, key, "a@example.com")], null, null, 1);

        Assert.Equal(10, index.Find(key)!.Caller.UserId);
    }

    private static (ApiKeyAuthenticator Auth, LastUsedRecorder LastUsed, ManualTime Time, ApiKeyIndex Index) Authenticator()
    {
        var index = new ApiKeyIndex();
        var lastUsed = new LastUsedRecorder();
        var time = new ManualTime(Now);
        return (new ApiKeyAuthenticator(index, lastUsed, time), lastUsed, time, index);
    }

    private static HttpRequest RequestWith(params (string Name, string Value)[] headers)
    {
        var http = new DefaultHttpContext();
        foreach (var (name, value) in headers) http.Request.Headers[name] = value;
        return http.Request;
    }

    [Fact]
    public void The_authenticator_reads_x_api_key_first_then_a_bearer_token_and_records_last_use()
    {
        var (auth, lastUsed, _, index) = Authenticator();
        var ada = ApiKeys.Generate();
        var bob = ApiKeys.Generate();
        index.Replace([Key(7, 70, ada.Key, "ada@example.com"), Key(8, 80, bob.Key, "bob@example.com")], null, null, 1);

        Assert.Equal(70, auth.Authenticate(RequestWith(("x-api-key", $"  {ada.Key} ")))!.UserId);
        Assert.Equal(80, auth.Authenticate(RequestWith(("Authorization", $"bearer {bob.Key} ")))!.UserId);
        Assert.Equal(70, auth.Authenticate(RequestWith(("x-api-key", ada.Key), ("Authorization", $"Bearer {bob.Key}")))!.UserId);
        Assert.Equal(80, auth.Authenticate(RequestWith(("x-api-key", "  "), ("Authorization", $"Bearer {bob.Key}")))!.UserId);
        Assert.Null(auth.Authenticate(RequestWith(("Authorization", $"Basic {bob.Key}"))));
        Assert.Null(auth.Authenticate(RequestWith()));

        Assert.Equal([7L, 8L], lastUsed.Drain().Select(p => p.Key).Order());
        Assert.Equal(ada.Key, ApiKeyAuthenticator.ReadKey(RequestWith(("x-api-key", $" {ada.Key} "), ("Authorization", "Bearer other"))));
        Assert.Equal(bob.Key, ApiKeyAuthenticator.ReadKey(RequestWith(("x-api-key", " "), ("Authorization", $"BEARER  {bob.Key}"))));
        Assert.Null(ApiKeyAuthenticator.ReadKey(RequestWith(("Authorization", $"Token {bob.Key}"))));
    }

    [Fact]
    public void A_key_that_expired_since_the_last_reload_is_refused_at_its_expiry_instant()
    {
        var (auth, lastUsed, time, index) = Authenticator();
        var key = ApiKeys.Generate();
        index.Replace([Key(7, 70, key.Key, "ada@example.com", expires: Now.AddMinutes(1))], null, null, 1);

        Assert.NotNull(auth.Authenticate(RequestWith(("x-api-key", key.Key))));
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Null(auth.Authenticate(RequestWith(("x-api-key", key.Key))));
        Assert.Equal(Now, Assert.Single(lastUsed.Drain()).Value);
    }

    [Fact]
    public void The_bootstrap_key_authenticates_without_recording_a_last_use()
    {
        var (auth, lastUsed, _, index) = Authenticator();
        index.Replace([], ApiKeys.Hash(BootstrapKey), Admin(1, "owner@example.com"), 1);

        Assert.Equal("bootstrap", auth.Authenticate(RequestWith(("Authorization", $"Bearer {BootstrapKey}")))!.KeyPrefix);
        Assert.Empty(lastUsed.Drain());
    }
}
