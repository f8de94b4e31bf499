using System.Data.Common;
using Gapura.Storage;
using Microsoft.Extensions.Options;

namespace Gapura.Ledger;

/// <summary>
/// Drains the <see cref="UsageLedger"/>'s queue into the database in batches: it takes what has accumulated
/// (waiting at most <c>Usage:FlushMilliseconds</c> for a batch to fill) and appends it in one transaction. While
/// the database is unreachable the batch is kept and retried with back-off, and the queue holds new records up to
/// <c>Usage:MaxBufferedRecords</c>; the append is idempotent by request id, so a batch whose commit was lost with
/// the connection is not counted twice. On shutdown everything queued is written before the host stops.
/// </summary>
internal sealed class UsageWriter(
    UsageLedger ledger,
    IGapuraStore store,
    IOptions<UsageOptions> options,
    TimeProvider time,
    ILogger<UsageWriter> log,
    ILoggerFactory loggers) : BackgroundService
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan DropLogInterval = TimeSpan.FromMinutes(1);

    private readonly UsageOptions _options = options.Value;
    private readonly ILogger _requests = loggers.CreateLogger(RequestLog.Category);
    private readonly List<UsageRecord> _batch = [];
    private long _written;
    private long _droppedLogged;
    private DateTimeOffset _lastDropLog = DateTimeOffset.MinValue;
    private DateTimeOffset? _failingSince;

    /// <summary>Records stored since start.</summary>
    public long Written => Interlocked.Read(ref _written);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var reader = ledger.Reader;
        try
        {
            while (await reader.WaitToReadAsync(stoppingToken))
            {
                // Let a batch gather for a moment: one transaction per request would cost more than the requests.
                if (reader.Count < _options.BatchSize && _options.FlushInterval > TimeSpan.Zero)
                    await Task.Delay(_options.FlushInterval, time, stoppingToken);
                Fill(reader);
                await WriteBatchAsync(stoppingToken);
                LogDrops();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    /// <summary>Graceful shutdown: the requests have drained by now (the server stops first); write all that is queued.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            do
            {
                Fill(ledger.Reader);
                await WriteBatchAsync(cancellationToken);
            } while (_batch.Count > 0 || ledger.Reader.Count > 0);
        }
        catch (OperationCanceledException)
        {
            log.LogError("Shutdown timed out with {Count} usage records not written", _batch.Count + ledger.Reader.Count);
        }
    }

    /// <summary>Takes what is queued, up to a batch, writing each request's log line as it leaves the queue.</summary>
    private void Fill(System.Threading.Channels.ChannelReader<UsageRecord> reader)
    {
        var from = _batch.Count;
        while (_batch.Count < _options.BatchSize && reader.TryRead(out var record)) _batch.Add(record);
        if (_batch.Count == from || !_requests.IsEnabled(LogLevel.Information)) return;
        for (var i = from; i < _batch.Count; i++) RequestLog.Write(_requests, _batch[i]);
    }

    /// <summary>Writes the batch in hand, retrying until it lands or <paramref name="ct"/> fires; the batch is kept on failure.</summary>
    private async Task WriteBatchAsync(CancellationToken ct)
    {
        var backoff = TimeSpan.FromMilliseconds(250);
        while (_batch.Count > 0)
        {
            try
            {
                await store.Usage.AppendAsync(_batch, ct);
                Interlocked.Add(ref _written, _batch.Count);
                _batch.Clear();
                if (_failingSince is { } since)
                {
                    log.LogInformation("Usage ledger: the database is back after {Seconds:F0} s; {Queued} records still queued",
                        (time.GetUtcNow() - since).TotalSeconds, ledger.QueueDepth);
                    _failingSince = null;
                }
                return;
            }
            catch (DbException e) when (IsRefusedRecord(e) && !ct.IsCancellationRequested)
            {
                // The database is up but refuses something in this batch: store the rest one by one and drop only the offender.
                await WriteOneByOneAsync(ct);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                // Whatever the failure, the writer must live on: a dead writer would lose every record after it.
                if (e is not (DatabaseUnavailableException or DbException or TimeoutException))
                    log.LogError(e, "Usage ledger: unexpected failure writing {Count} records; retrying", _batch.Count);
                if (_failingSince is null)
                {
                    _failingSince = time.GetUtcNow();
                    log.LogWarning("Usage ledger: cannot write to {Target} ({Error}); keeping records in memory (up to Usage:MaxBufferedRecords = {Max}) and retrying",
                        store.Database.Describe(), e.Message, ledger.Capacity);
                }
                LogDrops();
                await Task.Delay(backoff, time, ct);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            }
        }
    }

    private async Task WriteOneByOneAsync(CancellationToken ct)
    {
        foreach (var record in _batch.ToList())
        {
            try
            {
                await store.Usage.AppendAsync([record], ct);
                Interlocked.Increment(ref _written);
            }
            catch (DbException e) when (IsRefusedRecord(e))
            {
                ledger.CountDropped();
                log.LogError("Usage ledger: the database refused the record of request {RequestId}; it is dropped: {Error}", record.RequestId, e.Message);
            }
            _batch.Remove(record);
        }
    }

    /// <summary>A refusal of the data itself (a constraint, a type, the SQL), as opposed to a database that is away or busy.</summary>
    private static bool IsRefusedRecord(DbException e) => e switch
    {
        Npgsql.PostgresException pg => pg.SqlState.StartsWith("22", StringComparison.Ordinal) || pg.SqlState.StartsWith("23", StringComparison.Ordinal)
                                       || pg.SqlState.StartsWith("42", StringComparison.Ordinal),
        Microsoft.Data.Sqlite.SqliteException sqlite => sqlite.SqliteErrorCode is 1 or 19 or 20 or 25,
        _ => false,
    };

    /// <summary>Dropped records are logged at most once a minute, with how many since the last line.</summary>
    private void LogDrops()
    {
        var dropped = ledger.Dropped;
        if (dropped == _droppedLogged) return;
        var now = time.GetUtcNow();
        if (now - _lastDropLog < DropLogInterval) return;
        log.LogError("Usage ledger: {Count} records dropped because the queue was full (Usage:MaxBufferedRecords = {Max}); {Total} since start",
            dropped - _droppedLogged, ledger.Capacity, dropped);
        _droppedLogged = dropped;
        _lastDropLog = now;
    }
}
