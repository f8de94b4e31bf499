using System.Diagnostics;
using Gapura.Bench;

// Gapura benchmarks, one run, comparable figures: dotnet run -c Release --project bench/Gapura.Bench [-- --quick]
// Part 1: event-stream decode + conversion throughput on one core. Part 2: the gateway's added latency
// against each provider's simulator, translated and passthrough. See bench/README.md for what each figure means.

if (args.Length > 0 && args[0] == "--role") return await ServerRoles.RunAsync(args);

var settings = BenchSettings.Parse(args);
var report = new Report();
var total = Stopwatch.StartNew();
var loadStart = Report.LoadAverage();
Console.WriteLine($"Gapura bench{(settings.Quick ? " (--quick)" : "")} — {DateTimeOffset.Now:yyyy-MM-dd HH:mm:ss zzz}");
Console.WriteLine("  machine: " + Report.Machine());
#if DEBUG
Console.WriteLine("  WARNING: Debug build; run with -c Release for meaningful figures.");
#endif

if (settings.RunDecode)
{
    Console.WriteLine();
    Console.WriteLine("== 1. Event-stream decode + conversion, one thread ==");
    Console.WriteLine(Report.DecodeHeader());
    await new DecodeBench(settings, report).RunAsync();
}

if (settings.RunDecode)
{
    Console.WriteLine();
    Console.WriteLine("== 1b. Authentication alone, in process, one thread ==");
    new AuthBench(settings, report).Run();
}

if (settings.RunLatency)
{
    Console.WriteLine();
    Console.WriteLine($"== 2. Gateway added latency vs each provider's simulator (loopback, concurrency {settings.Concurrency}) ==");
    await new LatencyBench(settings, report).RunAsync();
}

if (settings.RunLedger)
{
    Console.WriteLine();
    Console.WriteLine("== 3. Usage ledger: sustained appends and the admin report over a month of records, SQLite and PostgreSQL ==");
    await new LedgerReportBench(settings, report).RunAsync();
}

if (settings.RunClassifier)
{
    Console.WriteLine();
    Console.WriteLine("== 4. Task classifier: facts + classification per request, one thread ==");
    new ClassifierBench(settings, report).Run();
}

if (settings.RunBudgets)
{
    Console.WriteLine();
    Console.WriteLine($"== 5. Budgets: the budget check's cost per request, off vs counters in SQLite, PostgreSQL and Redis (concurrency {settings.Concurrency}, then 1) ==");
    await new BudgetBench(settings, report).RunAsync();
}

report.Machine("loadavg_start", loadStart ?? "na");
report.Machine("loadavg_end", Report.LoadAverage() ?? "na");
report.Machine("quick", settings.Quick ? "1" : "0");
report.Machine("cores", Environment.ProcessorCount.ToString(System.Globalization.CultureInfo.InvariantCulture));
report.Machine("wall_s", total.Elapsed.TotalSeconds, "F1");
report.Print();
return report.Failed ? 1 : 0;
