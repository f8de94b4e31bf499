using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Text.Json;
using Gapura.Conversations;
using Gapura.Formats;
using Gapura.Formats.Anthropic;
using Gapura.Formats.OpenAi;
using Gapura.Providers.EventStream;
using Gapura.Providers.Kiro;

namespace Gapura.Bench;

/// <summary>
/// Part 1: event-stream decode and conversion on one core. A few MB of recorded Kiro answers are encoded
/// once; each tier then walks them answer by answer (a fresh translator, limiter and writer per answer, as
/// per response in production) for a fixed time per round. The figure of a tier is the median of its rounds.
/// </summary>
internal sealed class DecodeBench(BenchSettings settings, Report report)
{
    private const int DistinctAnswers = 8;
    private const int TargetBytes = 4 * 1024 * 1024;

    private long _flushes;
    private long _flushedEvents;
    private readonly EventStreamDecoder _decoder = new(KiroStreamTranslator.KnownEventTypes);
    private byte[] _wire = [];
    private (int Offset, int Length, int Frames)[] _answers = [];
    private ResponseContext _openAiContext = null!;
    private ResponseContext _anthropicContext = null!;

    private delegate ValueTask<(long Events, long OutBytes)> Tier(ReadOnlySequence<byte> answer);

    public async Task RunAsync()
    {
        Prepare();
        var tiers = new (string Key, string Label, Tier Run)[]
        {
            ("decode", "decode only (EventStreamDecoder.TryReadFrame, CRCs checked)", DecodeOnly),
            ("translate", "decode + KiroStreamTranslator (KiroStreamReader over a PipeReader)", Translate),
            ("openai", "decode + translate + OutputLimiter + OpenAI chat SSE writer", a => Write(a, OpenAiChatFrontDoor.Instance, _openAiContext)),
            ("anthropic", "decode + translate + OutputLimiter + Anthropic SSE writer", a => Write(a, AnthropicMessagesFrontDoor.Instance, _anthropicContext)),
        };

        // Warm every tier first: tiered JIT promotes hot methods after ~30 calls plus a 100 ms delay.
        foreach (var tier in tiers) await RoundAsync(tier.Run, settings.DecodeWarmup);

        foreach (var (key, label, run) in tiers)
        {
            var mbs = new List<double>();
            var eventsPerSecond = new List<double>();
            var allocPerMb = new List<double>();
            var outPerIn = new List<double>();
            _flushes = _flushedEvents = 0;
            for (var r = 0; r < settings.DecodeRounds; r++)
            {
                var round = await RoundAsync(run, settings.DecodeRoundTime);
                var seconds = round.Elapsed.TotalSeconds;
                mbs.Add(round.WireBytes / 1e6 / seconds);
                eventsPerSecond.Add(round.Frames / seconds);
                allocPerMb.Add(round.Allocated / (round.WireBytes / 1e6));
                outPerIn.Add(round.OutBytes / (double)round.WireBytes);
            }
            var mb = Stats.Median(mbs);
            var ev = Stats.Median(eventsPerSecond);
            var alloc = Stats.Median(allocPerMb);
            report.Section1($"{label}", mb, ev, alloc, Stats.Spread(mbs));
            report.Machine($"{key}_mb_s", mb, "F1");
            report.Machine($"{key}_events_s", ev, "F0");
            report.Machine($"{key}_alloc_bytes_per_mb", alloc, "F0");
            report.Machine($"{key}_alloc_bytes_per_event", alloc * (mb / ev), "F1");
            if (key is "openai" or "anthropic")
            {
                report.Machine($"{key}_sse_bytes_per_wire_byte", Stats.Median(outPerIn), "F2");
                report.Machine($"{key}_flushes_per_event", _flushes / (double)Math.Max(1, _flushedEvents), "F2");
            }
        }
    }

    private void Prepare()
    {
        var answers = Enumerable.Range(0, DistinctAnswers).Select(seed => RecordedAnswer.Frames(1000 + seed)).ToList();
        var encoded = answers.Select(RecordedAnswer.Encode).ToList();
        report.Note("answer: " + RecordedAnswer.Describe(answers[0], encoded[0]));

        using var all = new MemoryStream(TargetBytes + encoded.Max(e => e.Length));
        var offsets = new List<(int, int, int)>();
        for (var i = 0; all.Length < TargetBytes; i++)
        {
            var bytes = encoded[i % encoded.Count];
            offsets.Add(((int)all.Length, bytes.Length, answers[i % answers.Count].Count));
            all.Write(bytes);
        }
        _wire = all.ToArray();
        _answers = [.. offsets];
        report.Note($"decode input: {_answers.Length} answers ({DistinctAnswers} distinct), {_wire.Length / 1e6:F1} MB, one thread");

        _openAiContext = Context(OpenAiChatFrontDoor.Instance,
            """{"model":"claude-sonnet-4.5","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Fix the decoder."}]}""");
        _anthropicContext = Context(AnthropicMessagesFrontDoor.Instance,
            """{"model":"claude-sonnet-4.5","stream":true,"max_tokens":8192,"messages":[{"role":"user","content":"Fix the decoder."}]}""");
    }

    private static ResponseContext Context(IFrontDoor door, string json)
    {
        using var doc = JsonDocument.Parse(json);
        var request = door.ParseRequest(doc.RootElement);
        return new ResponseContext(door.NewResponseId(), request.Model, DateTimeOffset.UtcNow, request, 12);
    }

    private async Task<Round> RoundAsync(Tier run, TimeSpan duration)
    {
        long frames = 0, events = 0, wire = 0, output = 0;
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var started = Stopwatch.GetTimestamp();
        var deadline = started + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var i = 0;
        long now;
        do
        {
            var (offset, length, count) = _answers[i];
            i = i + 1 == _answers.Length ? 0 : i + 1;
            var (e, o) = await run(new ReadOnlySequence<byte>(_wire, offset, length));
            frames += count;
            events += e;
            output += o;
            wire += length;
            now = Stopwatch.GetTimestamp();
        }
        while (now < deadline);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        return new Round(Stopwatch.GetElapsedTime(started, now), wire, frames, events, output, allocated);
    }

    private ValueTask<(long, long)> DecodeOnly(ReadOnlySequence<byte> answer)
    {
        long frames = 0, payload = 0;
        while (_decoder.TryReadFrame(ref answer, out var frame))
        {
            frames++;
            payload += frame.Payload.Length;   // touch the frame so nothing is optimised away
        }
        if (answer.Length != 0) throw new InvalidOperationException("an answer did not decode to its end");
        return ValueTask.FromResult((frames, payload > 0 ? 0L : -1L));
    }

    private static async ValueTask<(long, long)> Translate(ReadOnlySequence<byte> answer)
    {
        var reader = PipeReader.Create(answer);
        var translator = NewTranslator();
        long events = 0;
        await foreach (var e in KiroStreamReader.ReadAsync(reader, translator)) events++;
        return (events, 0);
    }

    private async ValueTask<(long, long)> Write(ReadOnlySequence<byte> answer, IFrontDoor door, ResponseContext context)
    {
        var reader = PipeReader.Create(answer);
        var output = new DiscardPipeWriter();
        var writer = door.CreateStreamWriter(output, context);
        var translator = NewTranslator();
        long events = 0;
        // The provider's chain as KiroProvider runs it: reader → OutputLimiter (max_tokens is always set by the pipeline).
        var stream = OutputLimiter.Apply(KiroStreamReader.ReadAsync(reader, translator), 64_000, context.Request.StopSequences, 12);
        await foreach (var e in stream)
        {
            events++;
            await writer.WriteEventAsync(e, CancellationToken.None);
        }
        _flushes += output.Flushes;
        _flushedEvents += events;
        return (events, output.Written);
    }

    private static KiroStreamTranslator NewTranslator() => new(200_000, thinkingRequested: false, resolveToolName: null, estimatedInputTokens: 12);

    private readonly record struct Round(TimeSpan Elapsed, long WireBytes, long Frames, long Events, long OutBytes, long Allocated);
}
