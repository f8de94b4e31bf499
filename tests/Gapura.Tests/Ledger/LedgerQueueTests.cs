using Gapura.Ledger;
using Gapura.Tests.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Gapura.Tests.Ledger;

/// <summary>The request path's side of the ledger, and retention by the clock.</summary>
public sealed class LedgerQueueTests : StoreTestBase
{
    private protected override IBackend CreateBackend() => new SqliteBackend();

    [Fact]
    public void A_full_queue_drops_and_counts_instead_of_blocking_and_observers_still_see_every_record()
    {
        var seen = new List<string>();
        var ledger = new UsageLedger(Options.Create(new UsageOptions { MaxBufferedRecords = 2 }), [new Observer(seen)]);

        foreach (var id in (string[])["a", "b", "c", "d"]) ledger.Record(UsageRepositoryTests.Record(id, Time.Now));

        Assert.Equal((2, 2L), (ledger.QueueDepth, ledger.Dropped));
        Assert.Equal(["a", "b", "c", "d"], seen);
    }

    [Fact]
    public async Task The_writer_stores_what_was_queued_and_a_stop_flushes_the_rest()
    {
        var ledger = new UsageLedger(Options.Create(new UsageOptions()), []);
        var writer = new UsageWriter(ledger, Store, Options.Create(new UsageOptions { FlushMilliseconds = 1000 }), TimeProvider.System, NullLogger<UsageWriter>.Instance, NullLoggerFactory.Instance);
        await writer.StartAsync(CancellationToken.None);
        for (var i = 0; i < 50; i++) ledger.Record(UsageRepositoryTests.Record($"r{i}", Time.Now));

        await writer.StopAsync(CancellationToken.None);

        Assert.Equal(50, writer.Written);
        Assert.Equal(50, await CountAsync("SELECT count(*) FROM usage_records"));
    }

    [Fact]
    public async Task Retention_deletes_raw_records_past_the_configured_days()
    {
        await Store.Usage.AppendAsync([UsageRepositoryTests.Record("old", Time.Now.AddDays(-31)), UsageRepositoryTests.Record("new", Time.Now.AddDays(-29))]);
        var retention = new UsageRetention(Store, Options.Create(new UsageOptions { RetentionDays = 30 }), Time, NullLogger<UsageRetention>.Instance);

        Assert.Equal(1, await retention.PurgeAsync(CancellationToken.None));

        Assert.Equal(1, await CountAsync("SELECT count(*) FROM usage_records WHERE request_id = 'new'"));
        Assert.Equal(2, await CountAsync("SELECT sum(requests) FROM usage_daily"));
    }

    private sealed class Observer(List<string> seen) : IUsageObserver
    {
        public void Observe(UsageRecord record) => seen.Add(record.RequestId);
    }
}
