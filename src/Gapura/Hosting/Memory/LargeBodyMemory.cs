using System.Diagnostics;
using Gapura.Api;
using Microsoft.Extensions.Options;

namespace Gapura.Hosting.Memory;

/// <summary>
/// Gives the memory of a burst of large request bodies back to the system once the burst is over.
/// <para>
/// A 30 MB body (eight screenshots) is held several times while it is served: in Kestrel's buffers, as the bytes kept
/// for passthrough, as the parsed images' text, as the body sent upstream, and as the parser's index, which
/// <see cref="System.Text.Json.JsonDocument"/> rents from the shared array pool at the body's own size. The server GC
/// grows its heap to fit a few such requests at once and then keeps that memory: a collection only runs when something
/// allocates, and an idle gateway allocates almost nothing. Measured (bench/compare, the burst): eight such bodies left
/// the process at 740–1,060 MB for as long as it stayed idle.
/// </para>
/// <para>
/// So the chat pipeline reports every body of <see cref="LargeBody"/> or more. When at least
/// <see cref="GatewayOptions.ReclaimMemoryAfterMegabytes"/> of them have arrived and none for <see cref="Quiet"/>, an
/// aggressive, compacting collection runs (it also decommits what it frees). The shared array pool keeps the parser's
/// arrays longer: a full collection a minute after an earlier one first saw them makes it drop one array per core, and
/// each later one another (the burst's own collections may have seen them first), so short follow-up passes run every
/// <see cref="FollowUpEvery"/> after the first, until <see cref="FollowUpUntil"/>. Each pass pauses the process for tens of
/// milliseconds, so none runs while large bodies keep coming (the GC's own collections handle a steady load), and
/// ordinary traffic never causes one.
/// </para>
/// </summary>
internal sealed class LargeBodyMemory(IOptions<GatewayOptions> options, TimeProvider time, ILogger<LargeBodyMemory> log) : BackgroundService
{
    /// <summary>How long no large body may have arrived before the first collection runs.</summary>
    public static readonly TimeSpan Quiet = TimeSpan.FromSeconds(5);

    /// <summary>The pool drops one array per core per full collection once they are a minute old, then waits 15 s before the next.</summary>
    public static readonly TimeSpan FollowUpEvery = TimeSpan.FromSeconds(15);

    /// <summary>After the first pass: by then the pool has let go of what the burst left in it.</summary>
    public static readonly TimeSpan FollowUpUntil = TimeSpan.FromSeconds(120);

    /// <summary>A body this large or larger counts (Claude Code's largest text-only requests are a few hundred KB).</summary>
    public const int LargeBody = 1024 * 1024;

    private readonly long _reclaimAfter = options.Value.ReclaimMemoryAfterMegabytes * 1024L * 1024;
    private long _pendingBytes;
    private long _lastLargeTicks;
    private long? _firstPassAt;
    private TimeSpan _nextFollowUp;

    /// <summary>Passes run since start (for tests and the log).</summary>
    public int Reclaims { get; private set; }

    /// <summary>Called with the size of every request body read; counts only the large ones (one comparison otherwise).</summary>
    public void BodyRead(long bytes)
    {
        if (bytes < LargeBody || _reclaimAfter <= 0) return;
        Interlocked.Add(ref _pendingBytes, bytes);
        Volatile.Write(ref _lastLargeTicks, time.GetTimestamp());
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_reclaimAfter <= 0) return;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken)) Tick();
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { } // stopping, or a start that failed
    }

    /// <summary>Once a second: the first pass when a burst is over, then the follow-ups.</summary>
    internal void Tick()
    {
        if (_reclaimAfter <= 0) return;
        var quietFor = time.GetElapsedTime(Volatile.Read(ref _lastLargeTicks));
        if (Volatile.Read(ref _pendingBytes) >= _reclaimAfter && quietFor >= Quiet)
        {
            var bodies = Interlocked.Exchange(ref _pendingBytes, 0);
            Reclaim($"{bodies >> 20} MB of large request bodies are served");
            _firstPassAt = time.GetTimestamp();
            _nextFollowUp = FollowUpEvery;
        }
        else if (_firstPassAt is { } first && time.GetElapsedTime(first) >= _nextFollowUp)
        {
            Reclaim($"follow-up {_nextFollowUp.TotalSeconds:0} s after, for the arrays the shared pool lets go of");
            _nextFollowUp += FollowUpEvery;
            if (_nextFollowUp > FollowUpUntil) _firstPassAt = null;
        }
    }

    private void Reclaim(string why)
    {
        var before = Environment.WorkingSet;
        var clock = Stopwatch.StartNew();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Reclaims++;
        log.LogDebug("Memory: {Why}; the process went from {Before} MB to {After} MB in {Ms} ms",
            why, before >> 20, Environment.WorkingSet >> 20, clock.ElapsedMilliseconds);
    }
}
