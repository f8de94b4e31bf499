using System.Net;
using System.Text;
using System.Text.Json;
using Gapura.Cli;
using Gapura.Identity;
using Gapura.Storage;
using Gapura.Tests.Integration;
using Gapura.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Gapura.Tests.Resilience;

/// <summary>What a database outage does: a clear start-up error, a 503 in the caller's format mid-request,
/// nothing half-written — and chat traffic keeps flowing, since authentication never touches the database.</summary>
[Collection(PostgresCollection.Name)]
public class DatabaseOutageTests(PostgresCluster postgres)
{
    [Fact]
    public async Task An_unreachable_database_at_start_is_a_clear_error_and_a_non_zero_exit()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await GapuraCli.RunAsync(
        [
            "serve", "--urls=http://127.0.0.1:0", "--Storage:Provider=postgres",
            "--ConnectionStrings:Postgres=Host=127.0.0.1;Port=1;Username=gapura;Password=hunter2-secret;Timeout=2",
        ], output, error);

        Assert.NotEqual(0, exit);
        var message = error.ToString();
        Assert.Contains("Postgres", message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("127.0.0.1", message);
        Assert.DoesNotContain("hunter2-secret", message + output);
        Assert.DoesNotContain("   at ", message); // one line for the operator, not a stack trace
    }

    [Fact]
    public async Task A_database_dropping_mid_request_is_a_503_nothing_half_written_and_chat_keeps_flowing()
    {
        var direct = new NpgsqlConnectionStringBuilder(await postgres.CreateIsolatedAsync(nameof(DatabaseOutageTests)));
        await using var relay = new TcpRelay(direct.Port);
        var viaRelay = new NpgsqlConnectionStringBuilder(direct.ConnectionString) { Port = relay.Port, Timeout = 3, CommandTimeout = 5 };
        var gateway = new GatewayFixture();
        gateway.Settings.AddRange(["--Storage:Provider=postgres", $"--ConnectionStrings:Postgres={viaRelay.ConnectionString}"]);
        await gateway.InitializeAsync();
        try
        {
            var store = gateway.Services.GetRequiredService<IGapuraStore>();
            var alice = await store.Users.CreateAsync(new NewUser("alice@gapura.test", "Alice"));
            var key = ApiKeys.Generate();
            await store.ApiKeys.CreateAsync(new NewApiKey(alice.Id, "laptop", key.Prefix, key.Hash));
            using var asAlice = gateway.Http(key.Key);
            await Eventually(async () => (await asAlice.GetAsync("/v1/models")).StatusCode == HttpStatusCode.OK);

            relay.Cut();

            // Chat is served from memory: keys are indexed in-process, so the outage does not reach clients.
            using (var chat = await asAlice.PostAsync("/v1/chat/completions", Json("""{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}""")))
                Assert.Equal(HttpStatusCode.OK, chat.StatusCode);

            // The admin API must write: a 503 in its error shape, not a hang or a 500.
            using var asAdmin = gateway.Http();
            using (var create = await asAdmin.PostAsync("/admin/api/users", Json("""{"email":"dora@gapura.test","display_name":"Dora","role":"user"}""")))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, create.StatusCode);
                using var body = JsonDocument.Parse(await create.Content.ReadAsStringAsync());
                Assert.False(string.IsNullOrEmpty(body.RootElement.GetProperty("error").GetProperty("message").GetString()));
            }

            relay.Restore();
            await Eventually(async () => (await asAdmin.GetAsync("/admin/api/me")).StatusCode == HttpStatusCode.OK);
            Assert.Null(await store.Users.FindByEmailAsync("dora@gapura.test")); // nothing half-written
            using (var retry = await asAdmin.PostAsync("/admin/api/users", Json("""{"email":"dora@gapura.test","display_name":"Dora","role":"user"}""")))
                Assert.True(retry.IsSuccessStatusCode, await retry.Content.ReadAsStringAsync());
            Assert.Single(await store.Users.ListAsync(), u => u.Email == "dora@gapura.test");
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static async Task Eventually(Func<Task<bool>> condition)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while (!await condition())
        {
            if (DateTime.UtcNow > until) Assert.Fail("not true within 10 s");
            await Task.Delay(100);
        }
    }
}
