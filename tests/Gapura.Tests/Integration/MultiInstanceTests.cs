using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Gapura.Identity;
using Gapura.Storage;
using Gapura.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit.Abstractions;

namespace Gapura.Tests.Integration;

/// <summary>
/// Several gateway instances behind one PostgreSQL — the scale-out story. Nothing that must be shared
/// lives in one process's memory: a key revoked through one instance is refused by the other.
/// </summary>
[Collection(PostgresCollection.Name)]
public class MultiInstanceTests(PostgresCluster postgres, ITestOutputHelper output)
{
    private static readonly TimeSpan RevocationBound = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Two_instances_start_together_migrate_once_and_share_revocations_within_five_seconds()
    {
        var connection = await postgres.CreateIsolatedAsync(nameof(MultiInstanceTests));
        var secretsKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        string[] shared = ["--Storage:Provider=postgres", $"--ConnectionStrings:Postgres={connection}", $"--Secrets:Key={secretsKey}"];
        var a = new GatewayFixture();
        var b = new GatewayFixture();
        a.Settings.AddRange(shared);
        b.Settings.AddRange(shared);
        try
        {
            // Both first starts race on the empty database.
            await Task.WhenAll(a.InitializeAsync(), b.InitializeAsync());

            await using (var db = new NpgsqlConnection(connection))
            {
                await db.OpenAsync();
                await using var versions = new NpgsqlCommand("SELECT count(*), count(DISTINCT version) FROM schema_migrations", db);
                await using var reader = await versions.ExecuteReaderAsync();
                await reader.ReadAsync();
                Assert.True(reader.GetInt64(0) > 0);
                Assert.Equal(reader.GetInt64(1), reader.GetInt64(0)); // every step applied exactly once
            }
            var storeA = a.Services.GetRequiredService<IGapuraStore>();
            Assert.Single(await storeA.Users.ListAsync()); // one first admin, not two

            var bob = await storeA.Users.CreateAsync(new NewUser("bob@gapura.test", "Bob"));
            var key = ApiKeys.Generate();
            var stored = await storeA.ApiKeys.CreateAsync(new NewApiKey(bob.Id, "laptop", key.Prefix, key.Hash));

            using var viaA = a.Http(key.Key);
            using var viaB = b.Http(key.Key);
            // Each instance picks the new key up on its own poll: both within the bound.
            await WaitUntilAsync(async () => (await viaB.GetAsync("/v1/models")).StatusCode == HttpStatusCode.OK, RevocationBound);
            await WaitUntilAsync(async () => (await viaA.GetAsync("/v1/models")).StatusCode == HttpStatusCode.OK, RevocationBound);

            // Revoke through instance A's store; instance B must refuse the key within the bound.
            var clock = Stopwatch.StartNew();
            Assert.True(await storeA.ApiKeys.RevokeAsync(stored.Id));
            await WaitUntilAsync(async () => (await viaB.GetAsync("/v1/models")).StatusCode == HttpStatusCode.Unauthorized, RevocationBound);
            output.WriteLine($"revocation reached the other instance in {clock.Elapsed.TotalMilliseconds:F0} ms");
            await WaitUntilAsync(async () => (await viaA.GetAsync("/v1/models")).StatusCode == HttpStatusCode.Unauthorized, RevocationBound);

            // Disabling a user takes their other keys with them, on every instance.
            var second = ApiKeys.Generate();
            await storeA.ApiKeys.CreateAsync(new NewApiKey(bob.Id, "desktop", second.Prefix, second.Hash));
            using var secondViaB = b.Http(second.Key);
            await WaitUntilAsync(async () => (await secondViaB.GetAsync("/v1/models")).StatusCode == HttpStatusCode.OK, RevocationBound);
            clock.Restart();
            await storeA.Users.SetDisabledAsync(bob.Id, true);
            await WaitUntilAsync(async () => (await secondViaB.GetAsync("/v1/models")).StatusCode == HttpStatusCode.Unauthorized, RevocationBound);
            output.WriteLine($"disabling reached the other instance in {clock.Elapsed.TotalMilliseconds:F0} ms");
        }
        finally
        {
            await a.DisposeAsync();
            await b.DisposeAsync();
        }
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
