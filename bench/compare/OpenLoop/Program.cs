using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;

namespace Gapura.Bench.OpenLoop;

/// <summary>
/// An open-loop load generator: request <c>i</c> is due at <c>start + i / rate</c> whether or not earlier ones have
/// answered, and its latency runs from that due time to the last byte of its body, so a system that falls behind is
/// charged for the queue it builds (no coordinated omission). Prints one <c>RESULT key=value …</c> line.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var options = Options.Parse(args);
        using var client = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = options.MaxConnections,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        })
        { Timeout = TimeSpan.FromSeconds(30) };

        // Open a pool of connections first (and let both ends warm up), so the measured part pays no handshakes.
        var warm = await Task.WhenAll(Enumerable.Range(0, options.WarmConnections).Select(_ => SendAsync(client, options)));
        if (warm.Any(ok => !ok))
        {
            Console.WriteLine("RESULT error=warm-up-failed");
            return 1;
        }

        // The schedule starts with WarmSeconds at the same rate that are not counted: the client's own code paths are
        // compiled and its connection pool has grown to what the rate needs before anything is measured.
        var warmCount = (int)Math.Ceiling(options.Rate * options.WarmSeconds);
        var total = warmCount + (int)Math.Ceiling(options.Rate * options.Duration.TotalSeconds);
        var latencies = new long[total];
        var completed = 0;
        var pending = new Task[total];
        var clock = Stopwatch.StartNew();
        var ticksPerRequest = Stopwatch.Frequency / options.Rate;
        var scheduler = new Thread(() =>
        {
            for (var i = 0; i < total; i++)
            {
                var due = (long)(i * ticksPerRequest);
                while (true)
                {
                    var wait = due - clock.ElapsedTicks;
                    if (wait <= 0) break;
                    // Sleep in whole milliseconds; the latency is counted from the due time, so waking late is charged
                    // to every system alike (direct included) and cancels out of the added figures.
                    Thread.Sleep(Math.Max(1, (int)(wait * 1000 / Stopwatch.Frequency)));
                }
                var index = i;
                pending[i] = Task.Run(async () =>
                {
                    var ok = await SendAsync(client, options);
                    // Percentiles are of the answers that came back whole; failures are counted on their own.
                    if (index < warmCount) return;
                    if (!ok) return;
                    latencies[index] = Math.Max(1, clock.ElapsedTicks - due);
                    Interlocked.Increment(ref completed);
                });
            }
        }) { IsBackground = true, Name = "open-loop scheduler", Priority = ThreadPriority.AboveNormal };
        scheduler.Start();
        scheduler.Join();
        var sendSpan = clock.Elapsed;
        using var drain = new CancellationTokenSource(TimeSpan.FromSeconds(35));
        try
        {
            await Task.WhenAll(pending).WaitAsync(drain.Token);
        }
        catch (OperationCanceledException)
        {
            // requests failed or still open after the client's own timeout are the failures counted below
        }
        var done = latencies.Where(l => l > 0).Order().ToArray();
        double Percentile(double p) => done.Length == 0 ? double.NaN
            : done[Math.Min(done.Length - 1, (int)Math.Ceiling(p / 100 * done.Length) - 1)] * 1e6 / Stopwatch.Frequency;
        Console.WriteLine(FormattableString.Invariant(
            $"RESULT rate={options.Rate} sent={total - warmCount} completed={completed} failures={total - warmCount - completed} ") +
            FormattableString.Invariant(
            $"offered_rps={total / sendSpan.TotalSeconds:F1} p50_us={Percentile(50):F0} p90_us={Percentile(90):F0} p99_us={Percentile(99):F0} max_us={Percentile(100):F0}"));
        return 0;
    }

    /// <summary>One request, its body read to the end; true when it was a 200 whose body ends as expected.</summary>
    private static async Task<bool> SendAsync(HttpClient client, Options options)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, options.Url) { Content = new ByteArrayContent(options.Body) };
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            foreach (var (name, value) in options.Headers) request.Headers.TryAddWithoutValidation(name, value);
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            var body = await response.Content.ReadAsByteArrayAsync();
            if (response.StatusCode != HttpStatusCode.OK) return false;
            if (options.Expect.Length == 0) return true;
            // The answer must end as a whole one does: only its tail is searched.
            var tail = Encoding.UTF8.GetString(body, Math.Max(0, body.Length - 256), Math.Min(256, body.Length));
            return tail.Contains(options.Expect, StringComparison.Ordinal);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            return false;
        }
    }

    private sealed record Options(Uri Url, byte[] Body, List<(string, string)> Headers, double Rate, TimeSpan Duration, double WarmSeconds,
        string Expect, int MaxConnections, int WarmConnections)
    {
        public static Options Parse(string[] args)
        {
            string? url = null, bodyFile = null, expect = "";
            var headers = new List<(string, string)>();
            double rate = 1000, seconds = 5, warmSeconds = 1;
            int maxConnections = 512, warm = 32;
            for (var i = 0; i + 1 < args.Length; i += 2)
            {
                var value = args[i + 1];
                switch (args[i])
                {
                    case "--url": url = value; break;
                    case "--body-file": bodyFile = value; break;
                    case "--header":
                        var colon = value.IndexOf(':', StringComparison.Ordinal);
                        headers.Add((value[..colon].Trim(), value[(colon + 1)..].Trim()));
                        break;
                    case "--rate": rate = double.Parse(value, CultureInfo.InvariantCulture); break;
                    case "--seconds": seconds = double.Parse(value, CultureInfo.InvariantCulture); break;
                    case "--warm-seconds": warmSeconds = double.Parse(value, CultureInfo.InvariantCulture); break;
                    case "--expect": expect = value; break;
                    case "--max-connections": maxConnections = int.Parse(value, CultureInfo.InvariantCulture); break;
                    case "--warm-connections": warm = int.Parse(value, CultureInfo.InvariantCulture); break;
                    default: throw new ArgumentException($"unknown option {args[i]}");
                }
            }
            if (url is null || bodyFile is null) throw new ArgumentException("--url and --body-file are required");
            return new Options(new Uri(url), File.ReadAllBytes(bodyFile), headers, rate, TimeSpan.FromSeconds(seconds), warmSeconds, expect, maxConnections, warm);
        }
    }
}
