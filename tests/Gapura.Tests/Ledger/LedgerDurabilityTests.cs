using System.Text;
using Gapura.Storage;
using Gapura.Tests.Integration;
using Gapura.Tests.Resilience;
using Gapura.Tests.Storage;
using Npgsql;

namespace Gapura.Tests.Ledger;

/// <summary>
/// The ledger under a failing database and at shutdown: every request served is stored exactly once — never lost
/// while the database is away (records wait in memory), never twice when a batch is retried after a lost commit.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class LedgerDurabilityTests(PostgresCluster postgres)
{
    private const string Ask = """{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}""";

    [Fact]
    public async Task Killing_the_database_mid_load_and_bringing_it_back_stores_every_record_once()
    {
        var direct = new NpgsqlConnectionStringBuilder(await postgres.CreateIsolatedAsync(nameof(LedgerDurabilityTests)));
        await using var relay = new TcpRelay(direct.Port);
        var viaRelay = new NpgsqlConnectionStringBuilder(direct.ConnectionString) { Port = relay.Port, Timeout = 2, CommandTimeout = 3 };
        var gateway = new GatewayFixture();
        gateway.Settings.AddRange(["--Storage:Provider=postgres", $"--ConnectionStrings:Postgres={viaRelay.ConnectionString}", "--Usage:FlushMilliseconds=20", "--Usage:BatchSize=25"]);
        await gateway.InitializeAsync();
        var served = new System.Collections.Concurrent.ConcurrentBag<string>();
        try
        {
            using var http = gateway.Http();
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(6));
            // Four clients keep sending while the database is cut and restored three times under them.
            var load = Enumerable.Range(0, 4).Select(async _ =>
            {
                // Bounded in count too: the point is many small batches cut mid-way, not volume.
                while (!stop.IsCancellationRequested && served.Count < 1500)
                {
                    using var response = await http.PostAsync("/v1/chat/completions", new StringContent(Ask, Encoding.UTF8, "application/json"));
                    Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
                    served.Add(response.Headers.GetValues("x-gapura-request-id").Single());
                }
            }).ToList();
            for (var i = 0; i < 3; i++)
            {
                await Task.Delay(700);
                relay.Cut();
                await Task.Delay(900);
                relay.Restore();
            }
            await Task.WhenAll(load);
            Assert.True(served.Count > 30, $"only {served.Count} requests served");

            await using var db = new PostgresDatabase(direct.ConnectionString);
            long rows = 0;
            for (var until = DateTime.UtcNow.AddSeconds(30); DateTime.UtcNow < until && rows < served.Count; await Task.Delay(100))
                rows = await Count(db, "SELECT count(*) FROM usage_records");
            Assert.True(served.Count == rows, $"{rows} of {served.Count} stored; " + string.Join("\n", gateway.Logs.Lines.Where(l => l.Contains("Usage ledger")).Take(5)));
            Assert.Equal(served.Count, await Count(db, "SELECT count(DISTINCT request_id) FROM usage_records"));
            // The rollups grew once per stored record: a retried batch added nothing twice.
            Assert.Equal(served.Count, await Count(db, "SELECT sum(requests) FROM usage_hourly"));
            Assert.Equal(served.Count, await Count(db, "SELECT sum(requests) FROM usage_daily"));
            Assert.Equal(await Count(db, "SELECT sum(input_tokens) FROM usage_records"), await Count(db, "SELECT sum(input_tokens) FROM usage_daily"));
            await using var connection = await db.OpenAsync(default);
            var ids = (await new DbSession(db, connection, null).Sql("SELECT request_id FROM usage_records").ListAsync(r => r.String("request_id"), default)).ToHashSet();
            Assert.True(ids.SetEquals(served));
            Assert.Contains(gateway.Logs.Lines, l => l.Contains("Usage ledger: cannot write"));
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }

    [Fact]
    public async Task Stopping_the_gateway_writes_every_queued_record_first()
    {
        var gateway = new GatewayFixture();
        // A writer that waits as long as it is allowed before writing: the records are still queued at shutdown.
        gateway.Settings.Add("--Usage:FlushMilliseconds=1000");
        await gateway.InitializeAsync();
        var dbPath = Path.Combine(gateway.DataDirectory, "gapura.db");
        var copy = Path.Combine(Directory.CreateTempSubdirectory("gapura-ledger-").FullName, "gapura.db");
        try
        {
            using var http = gateway.Http();
            for (var i = 0; i < 12; i++)
            {
                using var response = await http.PostAsync("/v1/chat/completions", new StringContent(Ask, Encoding.UTF8, "application/json"));
                Assert.True(response.IsSuccessStatusCode);
            }
            await gateway.StopAsync();
            // The database as the stopped gateway left it (copied: disposing the fixture deletes its folder).
            File.Copy(dbPath, copy);
            foreach (var suffix in (string[])["-wal", "-shm"]) if (File.Exists(dbPath + suffix)) File.Copy(dbPath + suffix, copy + suffix);
        }
        finally
        {
            await gateway.DisposeAsync();
        }
        await using var db = new SqliteDatabase(copy);
        Assert.Equal(12, await Count(db, "SELECT count(*) FROM usage_records"));
        Assert.Equal(12, await Count(db, "SELECT sum(requests) FROM usage_daily"));
    }

    private static async Task<long> Count(Database db, string sql)
    {
        await using var connection = await db.OpenAsync(CancellationToken.None);
        return await new DbSession(db, connection, null).Sql($"SELECT COALESCE(({sql}), 0) AS v").ScalarAsync<long>(CancellationToken.None);
    }
}
