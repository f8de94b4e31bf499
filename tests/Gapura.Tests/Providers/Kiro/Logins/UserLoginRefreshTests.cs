using System.Net;
using System.Text.Json.Nodes;
using Gapura.Conversations;
using Gapura.Providers.Kiro;
using Gapura.Providers.Kiro.Auth;
using Gapura.Providers.Kiro.Logins;
using Gapura.Routing;
using Gapura.Simulators.Kiro;
using Gapura.Storage;
using Gapura.Tests.Providers.Kiro.Auth;
using Gapura.Tests.Storage;
using Microsoft.Extensions.Options;

namespace Gapura.Tests.Providers.Kiro.Logins;

/// <summary>
/// Users' stored logins against the Kiro simulator, on both back ends: background refresh with write-back,
/// dead logins, bounded concurrency, single flight, and the change feed keeping the pool current.
/// </summary>
public abstract class UserLoginRefreshTests : StoreTestBase, IAsyncLifetime
{
    private KiroSimulator _kiro = null!;
    private readonly ListLogger<KiroLoginPool> _log = new();
    private readonly ConcurrencyProbe _probe = new();

    private protected KiroOptions Options { get; } = new();

    public new async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _kiro = await KiroSimulator.StartAsync();
        Options.Endpoint = Options.AuthEndpoint = Options.OidcEndpoint = _kiro.BaseUrl;
    }

    async Task IAsyncLifetime.InitializeAsync() => await InitializeAsync();

    async Task IAsyncLifetime.DisposeAsync()
    {
        await _kiro.DisposeAsync();
        await DisposeAsync();
    }

    private KiroLoginPool Pool() => new(Store, new KiroAuthClient(new HttpClient(_probe), Microsoft.Extensions.Options.Options.Create(Options)),
        Microsoft.Extensions.Options.Options.Create(Options), TimeProvider.System, _log);

    private KiroLoginRefresher Refresher(KiroLoginPool pool)
        => new(pool, Microsoft.Extensions.Options.Options.Create(Options), TimeProvider.System, new ListLogger<KiroLoginRefresher>());

    private async Task<UpstreamLogin> ConnectAsync(long userId, string label, KiroIssuedCredentials login)
    {
        var credential = new KiroCredential(login.AccessToken, login.RefreshToken, login.ExpiresAt, login.ProfileArn, login.Region,
            login.Kind == KiroLoginKind.Social ? "social" : "IdC", login.ClientId, login.ClientSecret, KiroLoginSecret.SourceFor(0));
        return (await KiroUserLogins.SaveAsync(Store, userId, label, credential, null, null, new NewAuditEntry("test", "upstream_login.connect"), default)).Login;
    }

    private async Task<JsonObject> StoredAsync(long id) => JsonNode.Parse(await Store.UpstreamLogins.ReadSecretAsync(id))!.AsObject();

    [Fact]
    public async Task Background_refresh_renews_a_nearly_expired_login_and_writes_it_back_encrypted()
    {
        var user = await NewUserAsync();
        var issued = _kiro.IssueCredentials(KiroLoginKind.Oidc, TimeSpan.FromMinutes(2));
        var row = await ConnectAsync(user.Id, "work", issued);
        var pool = Pool();
        await pool.ReloadAllAsync(default);
        var refresher = Refresher(pool);

        Assert.Equal([row.Id], refresher.Due().Select(l => l.Id));
        Assert.Equal(1, await refresher.RefreshDueAsync(default));

        Assert.Equal(1, _kiro.OidcRefreshCalls);
        var stored = await StoredAsync(row.Id);
        var access = stored["accessToken"]!.GetValue<string>();
        Assert.NotEqual(issued.AccessToken, access);
        Assert.True(_kiro.IsValidAccessToken(access));
        Assert.Equal(issued.ClientId, stored["clientId"]!.GetValue<string>()); // read-merge-write keeps the rest
        Assert.True(pool.Find(row.Id)!.ExpiresAt > DateTimeOffset.UtcNow.AddMinutes(30));
        var raw = await ScalarTextAsync("SELECT secret_enc AS v FROM upstream_logins WHERE id = @id", ("id", row.Id));
        Assert.DoesNotContain(access, raw);
        Assert.DoesNotContain(issued.RefreshToken, raw);
        // Fresh now: the next scan has nothing to do, and a request gets the new token without a refresh.
        Assert.Empty(refresher.Due());
        Assert.Equal(access, (await pool.Find(row.Id)!.GetAsync(false, default)).Token);
        Assert.Equal(1, _kiro.RefreshCalls);
        Assert.DoesNotContain(_log.Lines, l => l.Contains(access) || l.Contains(issued.RefreshToken));
    }

    [Fact]
    public async Task A_refused_refresh_marks_the_login_dead_reports_it_and_is_not_retried()
    {
        var user = await NewUserAsync();
        var issued = _kiro.IssueCredentials(KiroLoginKind.Social, TimeSpan.FromMinutes(1));
        var row = await ConnectAsync(user.Id, "work", issued);
        _kiro.RevokeRefreshToken(issued.RefreshToken);
        var pool = Pool();
        await pool.ReloadAllAsync(default);
        var refresher = Refresher(pool);

        Assert.Equal(0, await refresher.RefreshDueAsync(default));
        for (var i = 0; i < 5; i++) await refresher.RefreshDueAsync(default);
        var error = await Assert.ThrowsAsync<GatewayException>(() => pool.Find(row.Id)!.GetAsync(false, default).AsTask());

        Assert.Equal(1, _kiro.RefreshCalls);
        Assert.Equal(ErrorKind.UpstreamLogin, error.Kind);
        Assert.Contains("'work' is dead", error.Message);
        var stored = (await Store.UpstreamLogins.FindAsync(row.Id))!;
        Assert.Equal(UpstreamLoginStatus.Dead, stored.Status);
        Assert.Contains("refused the refresh", stored.LastError);
        Assert.Single(_log.Lines, l => l.StartsWith("Error:") && l.Contains($"#{row.Id} 'work'") && l.Contains("dead"));
        Assert.DoesNotContain(_log.Lines, l => l.Contains(issued.RefreshToken) || l.Contains(issued.AccessToken));

        // A pool loaded afresh (another instance, a restart) knows it is dead without asking the upstream.
        var other = Pool();
        await other.ReloadAllAsync(default);
        Assert.True(other.Find(row.Id)!.IsDead);
        Assert.Empty(Refresher(other).Due());
        Assert.Equal(1, _kiro.RefreshCalls);
    }

    [Fact]
    public async Task Many_users_logins_are_refreshed_with_bounded_concurrency()
    {
        const int users = 12;
        Options.LoginRefreshConcurrency = 3;
        _probe.Delay = TimeSpan.FromMilliseconds(150);
        for (var i = 0; i < users; i++)
            await ConnectAsync((await NewUserAsync()).Id, "work", _kiro.IssueCredentials(KiroLoginKind.Social, TimeSpan.FromMinutes(3)));
        var pool = Pool();
        await pool.ReloadAllAsync(default);

        Assert.Equal(users, await Refresher(pool).RefreshDueAsync(default));

        Assert.Equal(users, _kiro.DesktopRefreshCalls);
        Assert.InRange(_probe.MaxConcurrent, 2, 3);
        Assert.All(pool.All, l => Assert.True(l.ExpiresAt > DateTimeOffset.UtcNow.AddMinutes(30)));
    }

    [Fact]
    public async Task Concurrent_requests_share_one_refresh()
    {
        var user = await NewUserAsync();
        var row = await ConnectAsync(user.Id, "work", _kiro.IssueCredentials(KiroLoginKind.Social, TimeSpan.FromSeconds(30)));
        _probe.Delay = TimeSpan.FromMilliseconds(200);
        var pool = Pool();
        await pool.ReloadAllAsync(default);
        var login = pool.Find(row.Id)!;

        var tokens = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => login.GetAsync(false, default).AsTask()));

        Assert.Equal(1, _kiro.RefreshCalls);
        Assert.Single(tokens.Select(t => t.Token).Distinct());
    }

    [Fact]
    public async Task The_change_feed_brings_logins_added_relabelled_or_removed_elsewhere()
    {
        var user = await NewUserAsync();
        var pool = Pool();
        var routing = new RoutingState(Store);
        var sync = new StoreChangeSync(Store, [pool, routing], Microsoft.Extensions.Options.Options.Create(new RoutingOptions()), TimeProvider.System, new ListLogger<StoreChangeSync>());
        await sync.StartAsync(default);
        await sync.StopAsync(default);
        Assert.Empty(pool.ForUser(user.Id));

        // Another instance (another store over the same database) connects two logins.
        var elsewhere = new GapuraStore(Backend.OpenAgain(Db), Box, Time);
        var first = await KiroUserLogins.SaveAsync(elsewhere, user.Id, "one", Credential(_kiro.IssueCredentials()), null, null, new NewAuditEntry("t", "a"), default);
        await KiroUserLogins.SaveAsync(elsewhere, user.Id, "two", Credential(_kiro.IssueCredentials()), null, null, new NewAuditEntry("t", "a"), default);
        await elsewhere.Settings.SetAsync("Kiro:ShareProcessLogin", "false");
        await sync.TickAsync(default);
        Assert.Equal(["one", "two"], pool.ForUser(user.Id).Select(l => l.Label));
        Assert.False(routing.GetBool("Kiro:ShareProcessLogin"));

        await elsewhere.UpstreamLogins.RelabelAsync(first.Login.Id, "main");
        await sync.TickAsync(default);
        Assert.Equal(["main", "two"], pool.ForUser(user.Id).Select(l => l.Label));

        await elsewhere.Users.DeleteAsync(user.Id);
        await sync.TickAsync(default);
        Assert.Empty(pool.ForUser(user.Id));
        Assert.Empty(pool.All);
    }

    private static KiroCredential Credential(KiroIssuedCredentials login) => new(login.AccessToken, login.RefreshToken, login.ExpiresAt, login.ProfileArn,
        login.Region, "social", null, null, KiroLoginSecret.SourceFor(0));

    /// <summary>Counts refresh calls in flight at once, optionally slowing each down so overlaps show.</summary>
    private sealed class ConcurrencyProbe() : DelegatingHandler(new HttpClientHandler())
    {
        private int _current;
        private int _max;

        public TimeSpan Delay { get; set; }

        public int MaxConcurrent => Volatile.Read(ref _max);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var now = Interlocked.Increment(ref _current);
            int seen;
            while ((seen = Volatile.Read(ref _max)) < now && Interlocked.CompareExchange(ref _max, now, seen) != seen) { }
            try
            {
                if (Delay > TimeSpan.Zero) await Task.Delay(Delay, ct);
                return await base.SendAsync(request, ct);
            }
            finally
            {
                Interlocked.Decrement(ref _current);
            }
        }
    }
}

public sealed class SqliteUserLoginRefreshTests : UserLoginRefreshTests
{
    private protected override IBackend CreateBackend() => new SqliteBackend();
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresUserLoginRefreshTests(PostgresCluster cluster) : UserLoginRefreshTests
{
    private protected override IBackend CreateBackend() => new PostgresBackend(cluster, GetType().Name);
}
