using System.Diagnostics;
using System.Globalization;
using Gapura.Ledger;
using Gapura.Secrets;
using Gapura.Storage;
using Gapura.Storage.Migrations;
using Npgsql;

namespace Gapura.Bench;

/// <summary>
/// The usage ledger at volume, on SQLite and on PostgreSQL: writes a month of generated records (30 days, 50 users,
/// 10 models over 4 providers, 5 clients, 3 tasks) through <see cref="IUsageRepository.AppendAsync"/> in the writer's
/// batch size, so the rollups are the real ones, timing the sustained records per second; then times the admin
/// report's query — day × model over the 30 days — from the daily rollup (whole days, as the default window is) and
/// from the hourly one (a window off midnight). Figures: <c>ledger_append_records_s_*</c>, <c>ledger_report_ms_*</c>
/// (median), <c>ledger_report_hourly_ms_*</c>.
/// </summary>
internal sealed class LedgerReportBench(BenchSettings settings, Report report)
{
    private const int Days = 30;
    private const int Users = 50;
    private const int ReportRuns = 15;

    private static readonly (string Model, string Provider, double? InputPrice)[] Models =
    [
        ("claude-sonnet-4.5", "kiro", 3), ("claude-opus-4.5", "anthropic", 5), ("claude-haiku-4.5", "kiro", 1), ("gpt-5", "openai", 1.25),
        ("gpt-5-mini", "openai", 0.25), ("gpt-4.1", "copilot", 2), ("claude-sonnet-4", "copilot", 3), ("o3", "openai", 2),
        ("llama3.2", "compatible", null), ("qwen3-coder", "compatible", null),
    ];

    private static readonly string[] Clients = ["claude-code", "codex-cli", "opencode", "openai-sdk-python", "curl"];
    private static readonly string[] Tasks = ["unknown", "chat", "agent"];

    public async Task RunAsync()
    {
        MeasureHotPath();
        var records = settings.LedgerRecords;
        report.Note($"{records:N0} records over {Days} days, {Users} users, {Models.Length} models; batches of {BatchSize}");
        var table = report.Table($"  {"back end",-12} {"append/s b1000/b100",14} {"report ms (daily) p50",22} {"p95",8} {"report ms (hourly) p50",23} {"p95",8} {"rows",6}");

        var sqliteDir = Directory.CreateTempSubdirectory("gapura-bench-ledger-").FullName;
        try
        {
            await using (var steady = new SqliteDatabase(Path.Combine(sqliteDir, "steady.db"))) await MeasureSteadyWriterAsync("sqlite", steady);
            await using var sqlite = new SqliteDatabase(Path.Combine(sqliteDir, "gapura.db"));
            await MeasureAsync("sqlite", sqlite, records, table);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try { Directory.Delete(sqliteDir, recursive: true); } catch (IOException) { }
        }

        await using var cluster = await BenchPostgres.StartAsync();
        await using var postgres = new PostgresDatabase(cluster.ConnectionString);
        await MeasureSteadyWriterAsync("postgres", postgres);
        await using (var connection = await postgres.OpenAsync(CancellationToken.None))
            await new DbSession(postgres, connection, null).Sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public").ExecuteAsync(CancellationToken.None);
        await MeasureAsync("postgres", postgres, records, table);
    }

    private int BatchSize => settings.LedgerBatch;

    /// <summary>
    /// What the ledger adds to the request path itself, one thread: naming the client and its session from Claude
    /// Code's headers and body, building the record, and handing it to the queue (drained as the writer would).
    /// </summary>
    public void MeasureHotPath()
    {
        var http = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        http.Request.Headers.UserAgent = "claude-cli/2.1.197 (external, sdk-cli)";
        http.Request.Headers["x-claude-code-session-id"] = "0b1c7a8e-4f5d-4c1a-9b2e-1f2e3d4c5b6a";
        using var body = System.Text.Json.JsonDocument.Parse("{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":32000,\"metadata\":{\"user_id\":\"x\"},\"messages\":[]}");
        var ledger = new UsageLedger(Microsoft.Extensions.Options.Options.Create(new UsageOptions()), []);
        const int n = 200_000;
        var best = double.MaxValue;
        long allocated = 0;
        for (var round = 0; round < 5; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < n; i++)
            {
                var client = ClientApps.Recognize(http.Request.Headers);
                ledger.Record(new UsageRecord
                {
                    RequestId = Guid.CreateVersion7().ToString("N"), At = DateTimeOffset.UtcNow, UserId = 1, KeyId = 2, KeyPrefix = "gpr_abcdefgh",
                    Client = client.Name, ClientVersion = client.Version, UserAgent = client.UserAgent,
                    SessionId = ClientApps.SessionId(http.Request.Headers, body.RootElement), FrontDoor = "anthropic-messages",
                    RequestedModel = "claude-sonnet-4-5", Provider = "kiro", UpstreamModel = "claude-sonnet-4.5", Stream = true,
                    InputTokens = 1000, OutputTokens = 100, DurationMs = 12, HttpStatus = 200, Status = UsageStatus.Ok,
                });
                while (ledger.Reader.TryRead(out _)) { }
            }
            best = Math.Min(best, clock.Elapsed.TotalNanoseconds / n);
            allocated = (GC.GetAllocatedBytesForCurrentThread() - before) / n;
        }
        report.Note($"ledger request path: {best:F0} ns and {allocated} bytes allocated per request");
        report.Machine("ledger_hot_path_ns", best, "F0");
        report.Machine("ledger_hot_path_alloc_bytes", allocated, "F0");
    }

    /// <summary>
    /// The writer's CPU per record as a busy gateway makes it: batches of 300 (what 1,500 requests/s gather in
    /// Usage:FlushMilliseconds) from a few users and one model, so a batch grows a handful of rollup rows.
    /// </summary>
    private async Task MeasureSteadyWriterAsync(string name, Database database)
    {
        await new Migrator(database).MigrateAsync();
        var store = new GapuraStore(database, new SecretBox(new KeyRing(SecretKey.Generate())));
        var at = new DateTimeOffset(2026, 11, 1, 9, 0, 0, TimeSpan.Zero);
        List<UsageRecord> Batch(int round) => [.. Enumerable.Range(0, 300).Select(i => new UsageRecord
        {
            RequestId = Guid.CreateVersion7(at.AddMilliseconds(round * 300 + i)).ToString("N"), At = at.AddMilliseconds(round * 300 + i),
            UserId = 1 + i % 4, KeyId = 10 + i % 4, KeyPrefix = "gpr_abcdefgh", Client = "claude-code", ClientVersion = "2.1.197",
            SessionId = "0b1c7a8e-4f5d-4c1a-9b2e-1f2e3d4c5b6" + (i % 4), FrontDoor = "anthropic-messages", RequestedModel = "claude-sonnet-4-5",
            Provider = "kiro", Login = "process", UpstreamModel = "claude-sonnet-4.5", Stream = true, InputTokens = 12_000 + i, OutputTokens = 300,
            CacheReadTokens = 40_000, Credits = 0.1, CostUsd = 0.05, TimeToFirstByteMs = 800, DurationMs = 4000, HttpStatus = 200, Status = UsageStatus.Ok,
        })];
        for (var round = 0; round < 10; round++) await store.Usage.AppendAsync(Batch(round)); // warm-up
        var batches = Enumerable.Range(10, 40).Select(Batch).ToList();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        foreach (var batch in batches) await store.Usage.AppendAsync(batch);
        var perRecord = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMicroseconds / (40 * 300);
        report.Note($"{name}: the writer at a gateway's pace spends {perRecord:F1} µs of this process's CPU per record");
        report.Machine($"ledger_writer_cpu_us_per_record_steady_{name}", perRecord, "F1");
    }

    private async Task MeasureAsync(string name, Database database, int count, SummaryTable table)
    {
        await new Migrator(database).MigrateAsync();
        var store = new GapuraStore(database, new SecretBox(new KeyRing(SecretKey.Generate())));
        var end = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        var start = end.AddDays(-Days);
        var random = new Random(20261101);
        var step = (end - start).Ticks / count;

        // Writes through AppendAsync, timed: a few batches of the writer's size, then more of a tenth of it; the month
        // itself is loaded below, faster. The CPU this process spent per appended record is the writer's share of a
        // request's CPU (all of it on SQLite; on PostgreSQL the server's own work is on top).
        var generated = 0;
        var appendCpu = TimeSpan.Zero;
        async Task<double> AppendAsync(int records, int batchSize)
        {
            // Made first, so only the writing is timed.
            var all = new List<UsageRecord>(records);
            for (; all.Count < records && generated < count; generated++) all.Add(Generate(random, generated, start.AddTicks(step * generated)));
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < all.Count; i += batchSize) await store.Usage.AppendAsync(all.GetRange(i, Math.Min(batchSize, all.Count - i)));
            var elapsed = clock.Elapsed;
            appendCpu += Process.GetCurrentProcess().TotalProcessorTime - cpu;
            return all.Count / elapsed.TotalSeconds;
        }
        // Warm-up, untimed: the first batches pay for JIT compilation of the whole write path (on other threads too).
        await AppendAsync(BatchSize * 3, BatchSize);
        appendCpu = TimeSpan.Zero;
        var appendPerSecond = await AppendAsync(settings.LedgerAppendBatches * BatchSize, BatchSize);
        var appendSmallPerSecond = await AppendAsync(settings.LedgerAppendBatches * 10 * (BatchSize / 10), BatchSize / 10);
        report.Note($"{name}: AppendAsync {appendPerSecond:N0} records/s in batches of {BatchSize}, {appendSmallPerSecond:N0} in batches of {BatchSize / 10}");

        // The rest of the month: rolled up in memory exactly as AppendAsync rolls up a batch, written to the rollups
        // directly (the raw rows are not read by the report).
        var load = Stopwatch.StartNew();
        var hourlyRows = new Dictionary<(long, long, long, string, string, string, string), Sum>();
        var dailyRows = new Dictionary<(long, long, long, string, string, string, string), Sum>();
        for (; generated < count; generated++)
        {
            var r = Generate(random, generated, start.AddTicks(step * generated));
            Add(hourlyRows, (UsageBuckets.HourOf(r.At), r.UserId ?? 0, r.KeyId ?? 0, r.Client, r.Model, r.Provider ?? "", r.Task), r);
            Add(dailyRows, (UsageBuckets.DayOf(r.At), r.UserId ?? 0, r.KeyId ?? 0, r.Client, r.Model, r.Provider ?? "", r.Task), r);
        }
        await UpsertAsync(database, "usage_hourly", "hour", hourlyRows);
        await UpsertAsync(database, "usage_daily", "day", dailyRows);
        if (database.Backend == StorageBackend.Postgres)
        {
            // What autovacuum does soon after a bulk load in production: statistics, and the visibility map an
            // index-only scan needs.
            await using var connection = await database.OpenAsync(CancellationToken.None);
            await new DbSession(database, connection, null).Sql("VACUUM ANALYZE usage_daily").ExecuteAsync(CancellationToken.None);
            await new DbSession(database, connection, null).Sql("VACUUM ANALYZE usage_hourly").ExecuteAsync(CancellationToken.None);
        }
        report.Note($"{name}: the other {count - settings.LedgerAppendBatches * BatchSize * 2 - BatchSize * 3:N0} records rolled up and written in {load.Elapsed.TotalSeconds:F1} s");

        var daily = new UsageQuery(start, end, [UsageDimension.Day, UsageDimension.Model]);
        // The same 30 days, starting an hour after midnight: not whole days, so the hourly rollup answers.
        var hourly = daily with { From = start.AddHours(1), To = end.AddHours(1) };
        var (dailyTimes, rows, dailyCpu) = await TimeAsync(store, daily);
        var (hourlyTimes, _, _) = await TimeAsync(store, hourly);
        var sum = (await store.UsageReports.QueryAsync(daily)).Sum(r => r.Requests);
        if (sum != count) throw new InvalidOperationException($"{name}: the report adds up to {sum} requests, not {count}.");

        table.Rows.Add(string.Create(CultureInfo.InvariantCulture,
            $"  {name,-12} {appendPerSecond,7:N0}/{appendSmallPerSecond,6:N0} {Stats.Percentile(dailyTimes, 50),22:F1} {Stats.Percentile(dailyTimes, 95),8:F1} " +
            $"{Stats.Percentile(hourlyTimes, 50),23:F1} {Stats.Percentile(hourlyTimes, 95),8:F1} {rows,6}"));
        report.Machine($"ledger_append_records_s_{name}", appendPerSecond, "F0");
        report.Machine($"ledger_append_cpu_us_per_record_{name}", appendCpu.TotalMicroseconds / (settings.LedgerAppendBatches * BatchSize * 2), "F1");
        report.Machine($"ledger_append_b{BatchSize / 10}_records_s_{name}", appendSmallPerSecond, "F0");
        report.Machine($"ledger_report_ms_{name}", Stats.Percentile(dailyTimes, 50), "F1");
        report.Machine($"ledger_report_client_cpu_ms_{name}", dailyCpu, "F1");
        report.Machine($"ledger_report_p95_ms_{name}", Stats.Percentile(dailyTimes, 95), "F1");
        report.Machine($"ledger_report_hourly_ms_{name}", Stats.Percentile(hourlyTimes, 50), "F1");
        report.Machine($"ledger_rollup_rows_{name}", await CountAsync(database, "usage_daily") + "/" + await CountAsync(database, "usage_hourly"));
    }

    private sealed class Sum
    {
        public long Requests, Errors, ClientClosed, Input, Output, CacheRead, CacheWrite, Reasoning, Estimated, Unpriced, TtfbCount;
        public double Credits, CostUsd, DurationMs, TtfbMs;
    }

    /// <summary>The same sums as the repository's rollup (UsageRepository.RollupSum).</summary>
    private static void Add(Dictionary<(long, long, long, string, string, string, string), Sum> rows, (long, long, long, string, string, string, string) key, UsageRecord r)
    {
        if (!rows.TryGetValue(key, out var s)) rows[key] = s = new Sum();
        s.Requests++;
        if (r.Status == UsageStatus.Error) s.Errors++;
        if (r.Status == UsageStatus.ClientClosed) s.ClientClosed++;
        s.Input += r.InputTokens; s.Output += r.OutputTokens; s.CacheRead += r.CacheReadTokens; s.CacheWrite += r.CacheWriteTokens;
        s.Reasoning += r.ReasoningTokens;
        if (r.Estimated) s.Estimated++;
        s.Credits += r.Credits ?? 0;
        if (r.CostUsd is { } cost) s.CostUsd += cost; else s.Unpriced++;
        s.DurationMs += r.DurationMs;
        if (r.TimeToFirstByteMs is { } ttfb) { s.TtfbMs += ttfb; s.TtfbCount++; }
    }

    /// <summary>
    /// Adds the sums to the rollup rows (created when new), in one transaction, through one prepared statement reused
    /// for every chunk: one row a statement on SQLite (in process, and binding cost grows with the square of the
    /// parameters), 200 on PostgreSQL (each statement is a round trip).
    /// </summary>
    private static async Task UpsertAsync(Database database, string table, string time, Dictionary<(long, long, long, string, string, string, string), Sum> rows)
    {
        string[] sums = ["requests", "errors", "client_closed", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
            "reasoning_tokens", "estimated", "credits", "cost_usd", "unpriced", "duration_ms", "ttfb_ms", "ttfb_count"];
        const int width = 22;
        var perStatement = database.Backend == StorageBackend.Sqlite ? 1 : 200;
        await using var connection = await database.OpenAsync(CancellationToken.None);
        await using var transaction = await database.BeginWriteAsync(connection, CancellationToken.None);
        var list = rows.ToList();
        System.Data.Common.DbCommand? prepared = null;
        try
        {
            for (var at = 0; at < list.Count; at += perStatement)
            {
                var n = Math.Min(perStatement, list.Count - at);
                var command = prepared is not null && prepared.Parameters.Count == n * width ? prepared : null;
                if (command is null)
                {
                    var sql = new System.Text.StringBuilder($"INSERT INTO {table} ({time}, user_id, key_id, client, model, provider, task, {string.Join(", ", sums)}) VALUES ");
                    for (var i = 0; i < n; i++)
                    {
                        sql.Append(i == 0 ? "(" : ", (");
                        for (var c = 0; c < width; c++) sql.Append(c == 0 ? "" : ", ").Append(CultureInfo.InvariantCulture, $"@p{i}_{c}");
                        sql.Append(')');
                    }
                    sql.Append($" ON CONFLICT ({time}, user_id, key_id, client, model, provider, task) DO UPDATE SET ")
                        .AppendJoin(", ", sums.Select(c => $"{c} = {table}.{c} + excluded.{c}"));
                    command = connection.CreateCommand();
                    command.Transaction = transaction;
                    command.CommandText = sql.ToString();
                    for (var i = 0; i < n; i++)
                        for (var c = 0; c < width; c++)
                        {
                            var p = command.CreateParameter();
                            p.ParameterName = $"p{i}_{c}";
                            command.Parameters.Add(p);
                        }
                    if (prepared is null) prepared = command;
                }
                for (var i = 0; i < n; i++)
                {
                    var ((bucket, user, key, client, model, provider, task), s) = list[at + i];
                    object[] values = [bucket, user, key, client, model, provider, task, s.Requests, s.Errors, s.ClientClosed, s.Input, s.Output,
                        s.CacheRead, s.CacheWrite, s.Reasoning, s.Estimated, s.Credits, s.CostUsd, s.Unpriced, s.DurationMs, s.TtfbMs, s.TtfbCount];
                    for (var c = 0; c < width; c++) command.Parameters[i * width + c].Value = values[c];
                }
                await command.ExecuteNonQueryAsync();
                if (!ReferenceEquals(command, prepared)) await command.DisposeAsync();
            }
        }
        finally
        {
            if (prepared is not null) await prepared.DisposeAsync();
        }
        await transaction.CommitAsync();
    }

    /// <summary>
    /// Wall time per query, sorted, and this process's CPU time per query: on a shared, loaded machine the wall time
    /// includes waiting for a core, while for SQLite (in process) the CPU time is the query's own cost.
    /// </summary>
    private static async Task<(double[] Times, int Rows, double CpuMs)> TimeAsync(GapuraStore store, UsageQuery query)
    {
        var rows = (await store.UsageReports.QueryAsync(query)).Count; // warm-up: plan cache, page cache
        var times = new List<double>(ReportRuns);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        for (var i = 0; i < ReportRuns; i++)
        {
            var clock = Stopwatch.StartNew();
            await store.UsageReports.QueryAsync(query);
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        var cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds / ReportRuns;
        return ([.. times.Order()], rows, cpuMs);
    }

    private static async Task<string> CountAsync(Database database, string table)
    {
        await using var connection = await database.OpenAsync(CancellationToken.None);
        var count = await new DbSession(database, connection, null).Sql($"SELECT count(*) FROM {table}").ScalarAsync<long>(CancellationToken.None);
        return count.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// A plausible team: each user has one key and a main client (a second one a fifth of the time), models skewed
    /// towards the first few, each model served by its own provider, a few errors and unpriced local models.
    /// </summary>
    private static UsageRecord Generate(Random random, int i, DateTimeOffset at)
    {
        var user = 1 + random.Next(Users);
        var client = Clients[random.Next(5) == 0 ? (user + 1) % Clients.Length : user % Clients.Length];
        var m = Math.Min(Models.Length - 1, (int)(random.NextDouble() * random.NextDouble() * Models.Length * 1.5));
        var (model, provider, price) = Models[m];
        var input = random.Next(200, 20_000);
        var output = random.Next(20, 3_000);
        var cacheRead = random.Next(3) == 0 ? random.Next(0, 40_000) : 0;
        var status = random.Next(50) == 0 ? UsageStatus.Error : random.Next(100) == 0 ? UsageStatus.ClientClosed : UsageStatus.Ok;
        return new UsageRecord
        {
            RequestId = "bench-" + i.ToString(CultureInfo.InvariantCulture),
            At = at,
            UserId = user,
            KeyId = 1000 + user,
            KeyPrefix = "sk-gp-bench",
            Client = client,
            ClientVersion = "1.0.0",
            SessionId = $"s-{user}-{at.DayOfYear}",
            FrontDoor = "anthropic-messages",
            RequestedModel = model,
            Provider = provider,
            Login = "process",
            UpstreamModel = model,
            Stream = true,
            Task = Tasks[random.Next(Tasks.Length)],
            InputTokens = input,
            OutputTokens = output,
            CacheReadTokens = cacheRead,
            ReasoningTokens = output / 5,
            CostUsd = price is { } p ? (input * p + output * p * 5 + cacheRead * p / 10) / 1_000_000 : null,
            Credits = provider == "kiro" ? 0.1 : null,
            TimeToFirstByteMs = status == UsageStatus.Error ? null : random.Next(200, 2_000),
            DurationMs = random.Next(1_000, 60_000),
            HttpStatus = status == UsageStatus.Error ? 502 : 200,
            Status = status,
            ErrorKind = status == UsageStatus.Error ? "upstream_unavailable" : null,
        };
    }
}

/// <summary>The bench's PostgreSQL: a private cluster with shared buffers big enough for the month of rollups.</summary>
internal sealed class BenchPostgres : IAsyncDisposable
{
    private readonly Gapura.Simulators.Postgres.PrivatePostgres _server;

    private BenchPostgres(Gapura.Simulators.Postgres.PrivatePostgres server) => _server = server;

    public string ConnectionString => _server.ConnectionString("postgres") + ";Command Timeout=300";

    public static async Task<BenchPostgres> StartAsync()
        => new(await Gapura.Simulators.Postgres.PrivatePostgres.StartAsync("gapura-bench-pg-", "shared_buffers=256MB"));

    public ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        return _server.DisposeAsync();
    }
}
