using System.Globalization;
using System.Runtime.InteropServices;

namespace Gapura.Bench;

/// <summary>Collects figures as they are measured; prints the summary table and the machine-readable lines at the end.</summary>
internal sealed class Report
{
    private readonly List<string> _decodeRows = [];
    private readonly List<SummaryTable> _tables = [];
    private readonly List<(string Key, string Value)> _machine = [];
    private readonly List<string> _failures = [];

    /// <summary>Whether a check failed: the run then ends with exit code 1.</summary>
    public bool Failed => _failures.Count > 0;

    public static string Machine()
        => $"{Environment.ProcessorCount} logical cores, {RuntimeInformation.OSDescription.Trim()} {RuntimeInformation.OSArchitecture}, " +
           $".NET {Environment.Version}, load average {LoadAverage() ?? "n/a"}";

    /// <summary>The 1-minute load average (Linux), to show how busy the shared machine was.</summary>
    public static string? LoadAverage()
    {
        try
        {
            return File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Progress and context, printed at once.</summary>
    public void Note(string line) => Console.WriteLine("  " + line);

    /// <summary>A check that failed: printed at once and again at the very end of the summary.</summary>
    public void Fail(string line)
    {
        _failures.Add(line);
        Console.WriteLine("  FAILED: " + line);
    }

    public void Section1(string label, double mbPerSecond, double eventsPerSecond, double allocPerMb, double spread)
    {
        _decodeRows.Add(string.Create(CultureInfo.InvariantCulture,
            $"  {label,-66} {mbPerSecond,8:F1} {eventsPerSecond / 1e6,8:F2} {allocPerMb / 1e6,9:F2} {spread * 100,6:F0}%"));
        Console.WriteLine(_decodeRows[^1]);
    }

    /// <summary>Starts a table, printed in the summary in the order the tables were started.</summary>
    public SummaryTable Table(string header)
    {
        var table = new SummaryTable(header);
        _tables.Add(table);
        return table;
    }

    public void Machine(string key, double value, string format)
        => _machine.Add((key, value.ToString(format, CultureInfo.InvariantCulture)));

    public void Machine(string key, string value) => _machine.Add((key, value));

    public static string DecodeHeader()
        => $"  {"tier (one thread, median of rounds)",-66} {"MB/s",8} {"Mev/s",8} {"alloc MB",9} {"spread",7}\n" +
           $"  {"",-66} {"wire",8} {"frames",8} {"per MB",9} {"",7}";

    public void Print()
    {
        Console.WriteLine();
        Console.WriteLine("==== Summary (one run; compare ratios within a run, not absolute figures across runs) ====");
        Console.WriteLine("  machine: " + Machine());
        if (_decodeRows.Count > 0)
        {
            Console.WriteLine();
            Console.WriteLine(DecodeHeader());
            foreach (var row in _decodeRows) Console.WriteLine(row);
        }
        foreach (var table in _tables)
        {
            Console.WriteLine();
            Console.WriteLine(table.Header);
            foreach (var row in table.Rows) Console.WriteLine(row);
        }
        Console.WriteLine();
        foreach (var (key, value) in _machine) Console.WriteLine($"BENCH {key}={value}");
        if (_failures.Count == 0) return;
        Console.WriteLine();
        foreach (var failure in _failures) Console.WriteLine("FAILED: " + failure);
    }
}

/// <summary>A header line and rows of text, already formatted.</summary>
internal sealed class SummaryTable(string header)
{
    public string Header => header;

    public List<string> Rows { get; } = [];
}
