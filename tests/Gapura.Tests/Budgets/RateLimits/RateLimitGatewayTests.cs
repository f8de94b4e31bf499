using System.Net;
using Gapura.Budgets;
using Gapura.Budgets.RateLimits;
using Gapura.Identity;
using Gapura.Simulators.Kiro;
using Gapura.Storage;
using Gapura.Tests.Integration;
using Gapura.Tests.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Budgets.RateLimits;

/// <summary>
/// Rate limits as a client meets them, over real HTTP: a 429 with <c>Retry-After</c> in the dialect of the endpoint it
/// called, before anything reaches the upstream; a concurrency slot that frees when the running request ends; a limit
/// an admin stores for one user taking effect without a restart.
/// </summary>
public sealed class RateLimitGatewayTests : IAsyncLifetime
{
    private GatewayFixture? _gateway;

    /// <summary>Starts this test's gateway with its rate-limit settings; <see cref="DisposeAsync"/> stops it.</summary>
    private async Task<GatewayFixture> StartAsync(params string[] settings)
    {
        _gateway = new GatewayFixture();
        _gateway.Settings.AddRange(settings);
        await _gateway.InitializeAsync();
        return _gateway;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_gateway is not null) await _gateway.DisposeAsync();
    }

    /// <summary>A user with an API key of their own (the bootstrap key has no key id, so key limits do not apply to it).</summary>
    private static async Task<(User User, GeneratedApiKey Key, HttpClient Http)> NewKeyAsync(GatewayFixture gateway, string email)
    {
        var store = gateway.Services.GetRequiredService<IGapuraStore>();
        var user = await store.Users.CreateAsync(new NewUser(email, "Someone"));
        var key = ApiKeys.Generate();
        await store.ApiKeys.CreateAsync(new NewApiKey(user.Id, "laptop", key.Prefix, key.Hash));
        var http = gateway.Http(key.Key);
        await EventuallyAsync(async () => (await http.GetAsync("/v1/models")).StatusCode == HttpStatusCode.OK, "the new key to be accepted");
        return (user, key, http);
    }

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what, double seconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out after {seconds} s waiting for {what}");
            await Task.Delay(20);
        }
    }

    private static long RetryAfter(HttpResponseMessage response)
    {
        var value = Assert.Single(response.Headers.GetValues("Retry-After"));
        return long.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task The_fourth_request_in_a_minute_is_a_429_with_retry_after_in_anthropic_format()
    {
        var gateway = await StartAsync("--RateLimits:Key:Default:requestsPerMinute=3");
        var (_, key, http) = await NewKeyAsync(gateway, "alice@gapura.test");
        using (http)
        {
            for (var i = 0; i < 3; i++)
            {
                var (ok, okBody) = await Wire.SendAsync(http, Wire.Anthropic(Wire.AnthropicBody($"hello {i}")));
                Assert.True(ok.StatusCode == HttpStatusCode.OK, okBody);
            }
            var calls = gateway.Kiro.ChatCalls;
            var (response, body) = await Wire.SendAsync(http, Wire.Anthropic(Wire.AnthropicBody("one too many")));

            var error = Wire.AssertAnthropicError(response, body, HttpStatusCode.TooManyRequests, $"key {key.Prefix}", "3 requests per minute");
            Assert.Equal("rate_limit_error", error["type"]!.GetValue<string>());
            Assert.InRange(RetryAfter(response), 1, 120);
            Assert.Contains($"retry in {RetryAfter(response)} s", body);
            Assert.Equal(calls, gateway.Kiro.ChatCalls); // refused before the upstream

            // Another key of the same user has its own count.
            var (_, _, other) = await NewKeyAsync(gateway, "bob@gapura.test");
            using (other)
            {
                var (fresh, freshBody) = await Wire.SendAsync(other, Wire.Anthropic(Wire.AnthropicBody("mine")));
                Assert.True(fresh.StatusCode == HttpStatusCode.OK, freshBody);
            }
        }
    }

    [Fact]
    public async Task The_fourth_request_in_a_minute_is_a_429_with_retry_after_in_openai_format()
    {
        var gateway = await StartAsync("--RateLimits:Key:Default:requestsPerMinute=3");
        var (_, key, http) = await NewKeyAsync(gateway, "alice@gapura.test");
        using (http)
        {
            for (var i = 0; i < 3; i++)
            {
                var (ok, okBody) = await Wire.SendAsync(http, Wire.OpenAi(Wire.OpenAiBody($"hello {i}", stream: i == 1)));
                Assert.True(ok.StatusCode == HttpStatusCode.OK, okBody);
            }
            var (response, body) = await Wire.SendAsync(http, Wire.OpenAi(Wire.OpenAiBody("one too many", stream: true)));

            var error = Wire.AssertOpenAiError(response, body, HttpStatusCode.TooManyRequests, $"key {key.Prefix}", "3 requests per minute");
            Assert.Equal("rate_limit_exceeded", error["code"]!.GetValue<string>());
            Assert.InRange(RetryAfter(response), 1, 120);
        }
    }

    [Fact]
    public async Task A_concurrency_limit_refuses_a_parallel_request_and_admits_again_once_the_first_ends()
    {
        var gateway = await StartAsync("--RateLimits:Key:Default:concurrentRequests=1");
        var (_, _, http) = await NewKeyAsync(gateway, "alice@gapura.test");
        using (http)
        {
            gateway.Kiro.Enqueue(new KiroScenario { Frames = KiroScenario.Text("slow ", "answer").Frames, DelayBeforeFirstByte = TimeSpan.FromSeconds(2) });
            var calls = gateway.Kiro.ChatCalls;
            var slow = Wire.SendAsync(http, Wire.Anthropic(Wire.AnthropicBody("take your time")));
            // Once it reached the upstream it holds the slot.
            await EventuallyAsync(() => Task.FromResult(gateway.Kiro.ChatCalls > calls), "the first request to reach the upstream");

            var (refused, refusedBody) = await Wire.SendAsync(http, Wire.Anthropic(Wire.AnthropicBody("me too")));
            var error = Wire.AssertAnthropicError(refused, refusedBody, HttpStatusCode.TooManyRequests, "1 concurrent request");
            Assert.Equal("rate_limit_error", error["type"]!.GetValue<string>());
            Assert.Equal(1, RetryAfter(refused));

            var (done, doneBody) = await slow;
            Assert.True(done.StatusCode == HttpStatusCode.OK, doneBody);
            Assert.Contains("slow answer", doneBody);

            // The slot is released in the background, within moments.
            HttpStatusCode last = 0;
            await EventuallyAsync(async () =>
            {
                var (again, _) = await Wire.SendAsync(http, Wire.Anthropic(Wire.AnthropicBody("now?")));
                last = again.StatusCode;
                return last != HttpStatusCode.TooManyRequests;
            }, "the slot to free", seconds: 5);
            Assert.Equal(HttpStatusCode.OK, last);
        }
    }

    [Fact]
    public async Task A_limit_an_admin_stores_for_one_user_applies_to_that_user_only_without_a_restart()
    {
        var gateway = await StartAsync();
        var (alice, _, asAlice) = await NewKeyAsync(gateway, "alice@gapura.test");
        var (_, _, asBob) = await NewKeyAsync(gateway, "bob@gapura.test");
        using (asAlice)
        using (asBob)
        {
            var store = gateway.Services.GetRequiredService<IGapuraStore>();
            await store.Settings.SetAsync(BudgetKeys.UserRate(alice.Id), """{"requestsPerMinute": 1}""");
            var source = gateway.Services.GetRequiredService<BudgetConfigSource>();
            await EventuallyAsync(() => Task.FromResult(source.Current.UserRates.ContainsKey(alice.Id)), "the change feed to bring the limit");

            var (first, firstBody) = await Wire.SendAsync(asAlice, Wire.OpenAi(Wire.OpenAiBody("one")));
            Assert.True(first.StatusCode == HttpStatusCode.OK, firstBody);
            var (second, secondBody) = await Wire.SendAsync(asAlice, Wire.OpenAi(Wire.OpenAiBody("two")));
            Wire.AssertOpenAiError(second, secondBody, HttpStatusCode.TooManyRequests, "user alice@gapura.test", "1 request per minute");
            for (var i = 0; i < 3; i++)
            {
                var (bob, bobBody) = await Wire.SendAsync(asBob, Wire.OpenAi(Wire.OpenAiBody("bob")));
                Assert.True(bob.StatusCode == HttpStatusCode.OK, bobBody);
            }
        }
    }
}

/// <summary>With <c>ConnectionStrings:Redis</c> set the counters live in Redis, and the gateway behaves the same.</summary>
[Collection(RedisCollection.Name)]
public sealed class RedisRateLimitGatewayTests(RedisServer redis) : IAsyncLifetime
{
    private readonly GatewayFixture _gateway = new();
    private readonly string _redis = redis.NewDatabase();

    public async Task InitializeAsync()
    {
        _gateway.Settings.AddRange([$"--ConnectionStrings:Redis={_redis}", "--RateLimits:User:Default:requestsPerMinute=2"]);
        await _gateway.InitializeAsync();
    }

    public Task DisposeAsync() => _gateway.DisposeAsync();

    [Fact]
    public async Task The_counters_are_in_redis_and_the_third_request_is_refused()
    {
        Assert.IsType<RedisRateLimitCounters>(_gateway.Services.GetRequiredService<IRateLimitCounters>());
        using var http = _gateway.Http(); // the bootstrap key: no key of its own, its user's limit applies
        for (var i = 0; i < 2; i++)
        {
            var (ok, okBody) = await Wire.SendAsync(http, Wire.OpenAi(Wire.OpenAiBody("hi")));
            Assert.True(ok.StatusCode == HttpStatusCode.OK, okBody);
        }
        var (response, body) = await Wire.SendAsync(http, Wire.OpenAi(Wire.OpenAiBody("hi")));
        Wire.AssertOpenAiError(response, body, HttpStatusCode.TooManyRequests, $"user {GatewayFixture.AdminEmail}", "2 requests per minute");
        Assert.InRange(long.Parse(Assert.Single(response.Headers.GetValues("Retry-After")), System.Globalization.CultureInfo.InvariantCulture), 1, 120);

        // The count is Redis's, where another instance would read it; the database holds none.
        var admin = await _gateway.Services.GetRequiredService<IGapuraStore>().Users.FindByEmailAsync(GatewayFixture.AdminEmail);
        await using var connection = new RedisConnection(_redis);
        var db = await connection.DatabaseAsync();
        Assert.Equal(2, (long)await db.HashGetAsync($"gapura:{{rate}}:w:user:{admin!.Id}", "r"));
        var database = _gateway.Services.GetRequiredService<Database>();
        await using var sql = await database.OpenAsync(CancellationToken.None);
        Assert.Equal(0, await new DbSession(database, sql, null).Sql("SELECT count(*) FROM rate_windows").ScalarAsync<long>(CancellationToken.None));
    }
}

public sealed class RateLimitRegistrationTests
{
    [Fact]
    public void The_database_keeps_the_counters_unless_a_redis_connection_string_is_set()
    {
        static IRateLimitCounters Counters(Dictionary<string, string?> settings)
        {
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
            var services = new ServiceCollection().AddLogging().AddSingleton<Database>(new SqliteDatabase(Path.Combine(Path.GetTempPath(), "never-opened.db")));
            services.AddGapuraBudgets(configuration);
            return services.BuildServiceProvider().GetRequiredService<IRateLimitCounters>();
        }
        Assert.IsType<SqlRateLimitCounters>(Counters([]));
        Assert.IsType<RedisRateLimitCounters>(Counters(new() { ["ConnectionStrings:Redis"] = "127.0.0.1:1,abortConnect=false" }));
    }
}
