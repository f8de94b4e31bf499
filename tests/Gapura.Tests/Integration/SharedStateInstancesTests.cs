using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Gapura.Identity;
using Gapura.Providers.Kiro.Auth;
using Gapura.Providers.Kiro.Logins;
using Gapura.Simulators.Kiro;
using Gapura.Simulators.OpenAi;
using Gapura.Storage;
using Gapura.Tests.Providers.Kiro.Logins;
using Gapura.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Gapura.Tests.Integration;

/// <summary>
/// Two gateways behind one load balancer, as far as a user can tell: two real hosts (each its own container and Kestrel
/// on 127.0.0.1) over one shared store. A sign-in started on one is finished on the other — a Kiro device code polled
/// there, a ChatGPT (PKCE) code brought there — and only by the user who started it; an account the upstream throttled
/// on one rests on the other within <c>Routing:SyncSeconds</c> (1 s), so its next request goes to the user's other
/// account first. Run over a SQLite file, a private PostgreSQL, and Redis (<c>ConnectionStrings:Redis</c>).
/// </summary>
public abstract class SharedStateInstancesTests(ITestOutputHelper output) : IAsyncLifetime
{
    /// <summary>Routing:SyncSeconds (1 s by default) plus the write and a poll's round trip, with room for a busy machine.</summary>
    private static readonly TimeSpan RestBound = TimeSpan.FromSeconds(3);

    private GatewayFixture _a = null!;
    private GatewayFixture _b = null!;
    private OpenAiSimulator _openAi = null!;
    private readonly string _sharedFolder = Directory.CreateTempSubdirectory("gapura-shared-").FullName;
    private readonly string _secretsKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>The settings that put both instances on one store.</summary>
    protected abstract Task<string[]> SharedSettingsAsync(string sqliteFile);

    /// <summary>Whether flows and rests live in Redis (then the database has none).</summary>
    protected virtual bool InRedis => false;

    public async Task InitializeAsync()
    {
        _openAi = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions());
        var sqlite = Path.Combine(_sharedFolder, "gapura.db");
        string[] common =
        [
            .. await SharedSettingsAsync(sqlite),
            $"--Secrets:Key={_secretsKey}",
            "--Kiro:MaxAttempts=1", // a 429 is the account's at once, not retried on the same account
            $"--Providers:OpenAI:BaseUrl={_openAi.ApiBaseUrl}",
            $"--Providers:OpenAI:ChatGptBaseUrl={_openAi.CodexBackendUrl}",
            $"--Providers:OpenAI:SignIn:AuthorizeUrl={_openAi.OAuthIssuer}{OpenAiSimulator.OAuthAuthorizePath}",
            $"--Providers:OpenAI:SignIn:TokenUrl={_openAi.OAuthIssuer}{OpenAiSimulator.OAuthTokenPath}",
        ];
        _a = new GatewayFixture { SimulatorOptions = new KiroSimulatorOptions { PollsUntilApproved = 0, DeviceInterval = 1 } };
        _a.Settings.AddRange(common);
        await _a.InitializeAsync();
        // One Kiro service behind both: B talks to A's simulator, which issued the device codes and the logins.
        _b = new GatewayFixture();
        _b.Settings.AddRange(common);
        _b.Settings.AddRange([$"--Kiro:Endpoint={_a.Kiro.BaseUrl}", $"--Kiro:AuthEndpoint={_a.Kiro.BaseUrl}", $"--Kiro:OidcEndpoint={_a.Kiro.BaseUrl}"]);
        await _b.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await _b.DisposeAsync();
        await _a.DisposeAsync();
        await _openAi.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_sharedFolder, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task A_kiro_device_sign_in_started_on_one_instance_is_finished_by_polling_the_other_and_only_by_its_user()
    {
        var (alice, aliceKey) = await UserAsync("alice@example.com");
        var (bob, bobKey) = await UserAsync("bob@example.com");
        using var aliceOnA = _a.Http(aliceKey);
        using var aliceOnB = _b.Http(aliceKey);
        using var bobOnB = _b.Http(bobKey);

        using var started = await aliceOnA.PostAsJsonAsync($"/admin/api/users/{alice.Id}/logins/kiro/device", new { label = "laptop" });
        Assert.Equal(HttpStatusCode.OK, started.StatusCode);
        using var start = JsonDocument.Parse(await started.Content.ReadAsStringAsync());
        var flowId = start.RootElement.GetProperty("flow_id").GetString()!;
        var userCode = start.RootElement.GetProperty("user_code").GetString()!;
        await AssertStoredWhereExpectedAsync("sign_in_flows", expectedInDatabase: 1);

        Assert.True(_a.Kiro.Approve(userCode));
        // Bob may neither poll it as his own nor as Alice's.
        using (var asOwn = await bobOnB.PostAsync($"/admin/api/users/{bob.Id}/logins/kiro/device/{flowId}/poll", null))
            Assert.Equal(HttpStatusCode.NotFound, asOwn.StatusCode);
        using (var asAlice = await bobOnB.PostAsync($"/admin/api/users/{alice.Id}/logins/kiro/device/{flowId}/poll", null))
            Assert.Equal(HttpStatusCode.Forbidden, asAlice.StatusCode);
        // Nor through the Copilot endpoint.
        using (var otherKind = await aliceOnB.PostAsync($"/admin/api/users/{alice.Id}/logins/copilot/device/{flowId}/poll", null))
            Assert.Equal(HttpStatusCode.NotFound, otherKind.StatusCode);

        JsonDocument? connected = null;
        for (var i = 0; i < 40 && connected is null; i++)
        {
            using var poll = await aliceOnB.PostAsync($"/admin/api/users/{alice.Id}/logins/kiro/device/{flowId}/poll", null);
            if (poll.StatusCode == HttpStatusCode.OK) connected = JsonDocument.Parse(await poll.Content.ReadAsStringAsync());
            else
            {
                Assert.Equal(HttpStatusCode.Accepted, poll.StatusCode);
                await Task.Delay(250);
            }
        }
        Assert.NotNull(connected);
        var login = connected!.RootElement.GetProperty("login");
        Assert.Equal(("kiro", "laptop", alice.Id), (login.GetProperty("provider").GetString(), login.GetProperty("label").GetString(), login.GetProperty("user_id").GetInt64()));

        using (var chat = await LoginsGateway.ChatAsync(aliceOnB))
        {
            Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
            Assert.Equal("laptop", chat.Headers.GetValues("x-gapura-login").Single());
        }
        // Finished: the instance that started it has nothing left to poll.
        using (var gone = await aliceOnA.PostAsync($"/admin/api/users/{alice.Id}/logins/kiro/device/{flowId}/poll", null))
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        await AssertStoredWhereExpectedAsync("sign_in_flows", expectedInDatabase: 0);
    }

    [Fact]
    public async Task A_chatgpt_sign_in_started_on_one_instance_is_completed_on_the_other_once_and_only_by_its_user()
    {
        var (alice, aliceKey) = await UserAsync("alice@example.com");
        var (bob, bobKey) = await UserAsync("bob@example.com");
        using var aliceOnA = _a.Http(aliceKey);
        using var aliceOnB = _b.Http(aliceKey);
        using var bobOnB = _b.Http(bobKey);

        using var started = await aliceOnA.PostAsJsonAsync($"/admin/api/users/{alice.Id}/logins/openai/sign-in", new { label = "pro" });
        Assert.Equal(HttpStatusCode.OK, started.StatusCode);
        using var start = JsonDocument.Parse(await started.Content.ReadAsStringAsync());
        var flowId = start.RootElement.GetProperty("flow_id").GetString()!;
        var landed = _openAi.Approve(start.RootElement.GetProperty("authorize_url").GetString()!, accountId: "acct-alice-1");

        using (var asOwn = await bobOnB.PostAsJsonAsync($"/admin/api/users/{bob.Id}/logins/openai/sign-in/{flowId}", new { code = landed }))
            Assert.Equal(HttpStatusCode.NotFound, asOwn.StatusCode);
        using (var asAlice = await bobOnB.PostAsJsonAsync($"/admin/api/users/{alice.Id}/logins/openai/sign-in/{flowId}", new { code = landed }))
            Assert.Equal(HttpStatusCode.Forbidden, asAlice.StatusCode);

        using var completed = await aliceOnB.PostAsJsonAsync(start.RootElement.GetProperty("complete_url").GetString()!, new { code = landed });
        Assert.True(completed.StatusCode == HttpStatusCode.Created, await completed.Content.ReadAsStringAsync());
        using var done = JsonDocument.Parse(await completed.Content.ReadAsStringAsync());
        Assert.Equal(("openai", "pro", "alive"), (done.RootElement.GetProperty("login").GetProperty("provider").GetString(),
            done.RootElement.GetProperty("login").GetProperty("label").GetString(), done.RootElement.GetProperty("login").GetProperty("status").GetString()));

        // A code works once, on either instance.
        using (var again = await aliceOnA.PostAsJsonAsync($"/admin/api/users/{alice.Id}/logins/openai/sign-in/{flowId}", new { code = landed }))
            Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
    }

    [Fact]
    public async Task An_account_throttled_on_one_instance_rests_on_the_other_within_the_sync_interval()
    {
        var (alice, aliceKey) = await UserAsync("alice@example.com");
        await ConnectKiroAsync(alice.Id, "one");
        await ConnectKiroAsync(alice.Id, "two");
        using var aliceOnA = _a.Http(aliceKey);
        using var aliceOnB = _b.Http(aliceKey);
        // Until B has followed the change feed to both logins it may have none for alice yet (a 503): wait, don't fail.
        await WaitUntilAsync(async () => await LoginOfAsync(aliceOnA, allowRefusal: true) == "one" && await LoginOfAsync(aliceOnB, allowRefusal: true) == "one", TimeSpan.FromSeconds(10));

        // "one" is throttled on A for a minute: A moves on to "two" and rests "one".
        _a.Kiro.Enqueue(KiroScenario.Throttled(TimeSpan.FromSeconds(60)));
        var clock = Stopwatch.StartNew();
        Assert.Equal("two", await LoginOfAsync(aliceOnA));

        // B has seen no 429 itself; within the bound its next request goes to "two" first.
        string? servedOnB;
        while ((servedOnB = await LoginOfAsync(aliceOnB)) != "two" && clock.Elapsed < RestBound) await Task.Delay(100);
        output.WriteLine($"the rest reached the other instance in {clock.Elapsed.TotalMilliseconds:F0} ms");
        Assert.Equal("two", servedOnB);
        Assert.True(clock.Elapsed <= RestBound, $"rested on B after {clock.Elapsed}");
        // And B lists it as resting, as A does.
        using var listed = JsonDocument.Parse(await aliceOnB.GetStringAsync($"/admin/api/users/{alice.Id}/logins"));
        Assert.Equal("resting", listed.RootElement.GetProperty("logins").EnumerateArray().Single(l => l.GetProperty("label").GetString() == "one").GetProperty("status").GetString());
        await AssertStoredWhereExpectedAsync("upstream_rests", expectedInDatabase: 1);
    }

    private static async Task<string?> LoginOfAsync(HttpClient http, bool allowRefusal = false)
    {
        using var chat = await LoginsGateway.ChatAsync(http);
        if (allowRefusal && chat.StatusCode != HttpStatusCode.OK) return null;
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        return chat.Headers.GetValues("x-gapura-login").Single();
    }

    /// <summary>A user made on A, with a key both instances accept (each follows the change feed on its own).</summary>
    private async Task<(User User, string Key)> UserAsync(string email)
    {
        var store = _a.Services.GetRequiredService<IGapuraStore>();
        var user = await store.Users.CreateAsync(new NewUser(email, email));
        var key = ApiKeys.Generate();
        await store.ApiKeys.CreateAsync(new NewApiKey(user.Id, "test", key.Prefix, key.Hash));
        foreach (var gateway in new[] { _a, _b })
        {
            using var http = gateway.Http(key.Key);
            await WaitUntilAsync(async () => (await http.GetAsync($"/admin/api/users/{user.Id}/logins")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(10));
        }
        return (user, key.Key);
    }

    private async Task ConnectKiroAsync(long userId, string label)
    {
        var login = _a.Kiro.IssueCredentials(KiroLoginKind.Social, TimeSpan.FromHours(1));
        var credential = new KiroCredential(login.AccessToken, login.RefreshToken, login.ExpiresAt, login.ProfileArn, login.Region, "social",
            login.ClientId, login.ClientSecret, KiroLoginSecret.SourceFor(0));
        await KiroUserLogins.SaveAsync(_a.Services.GetRequiredService<IGapuraStore>(), userId, label, credential, null, null,
            new NewAuditEntry("test", "upstream_login.connect"), default);
    }

    /// <summary>In the database's table for the SQL stores; with Redis, the database holds none of it.</summary>
    private async Task AssertStoredWhereExpectedAsync(string table, long expectedInDatabase)
    {
        var database = _a.Services.GetRequiredService<Database>();
        await using var connection = await database.OpenAsync(default);
        var rows = await new DbSession(database, connection, null).Sql($"SELECT count(*) FROM {table}").ScalarAsync<long>(default);
        Assert.Equal(InRedis ? 0 : expectedInDatabase, rows);
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > bound) Assert.Fail($"not true within {bound.TotalSeconds:0} s");
            await Task.Delay(50);
        }
    }
}

/// <summary>Both instances on one SQLite file.</summary>
public sealed class SharedStateInstancesSqliteTests(ITestOutputHelper output) : SharedStateInstancesTests(output)
{
    protected override Task<string[]> SharedSettingsAsync(string sqliteFile) => Task.FromResult<string[]>([$"--Storage:Path={sqliteFile}"]);
}

/// <summary>Both instances on one PostgreSQL database.</summary>
[Collection(PostgresCollection.Name)]
public sealed class SharedStateInstancesPostgresTests(PostgresCluster postgres, ITestOutputHelper output) : SharedStateInstancesTests(output)
{
    protected override async Task<string[]> SharedSettingsAsync(string sqliteFile)
        => ["--Storage:Provider=postgres", $"--ConnectionStrings:Postgres={await postgres.CreateIsolatedAsync(nameof(SharedStateInstancesPostgresTests))}"];
}

/// <summary>Both instances on one SQLite file for users and logins, with cool-downs and sign-ins in Redis.</summary>
[Collection(RedisCollection.Name)]
public sealed class SharedStateInstancesRedisTests(RedisServer redis, ITestOutputHelper output) : SharedStateInstancesTests(output)
{
    protected override bool InRedis => true;

    protected override Task<string[]> SharedSettingsAsync(string sqliteFile)
        => Task.FromResult<string[]>([$"--Storage:Path={sqliteFile}", $"--ConnectionStrings:Redis={redis.NewDatabase()}"]);
}
