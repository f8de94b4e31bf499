using System.Net;
using System.Net.Http.Headers;
using Gapura.Api;
using Gapura.Hosting.Memory;
using Gapura.Tests.Integration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Gapura.Tests.Hosting;

/// <summary>
/// When the memory of large request bodies is given back (<see cref="LargeBodyMemory"/>): once a burst adding up to the
/// setting is over, then the follow-ups for the shared array pool, and never for ordinary bodies or a steady stream.
/// </summary>
public sealed class LargeBodyMemoryTests
{
    private const int Mb = 1024 * 1024;

    /// <summary>A clock the test moves by hand; timestamps in ticks of 100 ns.</summary>
    private sealed class HandClock : TimeProvider
    {
        public long Ticks { get; private set; } = TimeSpan.FromHours(1).Ticks;

        public override long GetTimestamp() => Ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public void Advance(TimeSpan by) => Ticks += by.Ticks;
    }

    private static (LargeBodyMemory Memory, HandClock Clock) Start(int reclaimAfterMegabytes = 64)
    {
        var clock = new HandClock();
        var memory = new LargeBodyMemory(Options.Create(new GatewayOptions { ReclaimMemoryAfterMegabytes = reclaimAfterMegabytes }), clock,
            NullLogger<LargeBodyMemory>.Instance);
        return (memory, clock);
    }

    /// <summary>One tick a second for <paramref name="seconds"/> seconds, as the background loop does.</summary>
    private static void Run(LargeBodyMemory memory, HandClock clock, int seconds)
    {
        for (var i = 0; i < seconds; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            memory.Tick();
        }
    }

    [Fact]
    public void A_burst_over_the_setting_is_reclaimed_once_it_has_been_quiet_then_followed_up_for_the_array_pool()
    {
        var (memory, clock) = Start();
        for (var i = 0; i < 8; i++) memory.BodyRead(30 * Mb);
        Run(memory, clock, 4);
        Assert.Equal(0, memory.Reclaims); // not while the burst may still be going on
        Run(memory, clock, 1);
        Assert.Equal(1, memory.Reclaims); // 5 s of quiet
        Run(memory, clock, 14);
        Assert.Equal(1, memory.Reclaims);
        Run(memory, clock, 1);
        Assert.Equal(2, memory.Reclaims); // 15 s after the first pass
        Run(memory, clock, 105);
        Assert.Equal(9, memory.Reclaims); // 30, 45, … 120 s
        Run(memory, clock, 600);
        Assert.Equal(9, memory.Reclaims); // and then nothing more
    }

    [Fact]
    public void Ordinary_bodies_and_a_burst_under_the_setting_never_cause_a_collection()
    {
        var (memory, clock) = Start();
        for (var i = 0; i < 100_000; i++) memory.BodyRead(LargeBodyMemory.LargeBody - 1); // 100 GB of bodies just under 1 MB
        for (var i = 0; i < 63; i++) memory.BodyRead(Mb); // 63 MB of large ones
        Run(memory, clock, 600);
        Assert.Equal(0, memory.Reclaims);
        memory.BodyRead(Mb); // the 64th
        Run(memory, clock, 5);
        Assert.Equal(1, memory.Reclaims);
    }

    [Fact]
    public void Large_bodies_that_keep_coming_are_left_to_the_gc()
    {
        var (memory, clock) = Start();
        for (var second = 0; second < 300; second++)
        {
            memory.BodyRead(10 * Mb); // one every 4 s: never 5 s of quiet
            if (second % 4 == 3) Run(memory, clock, 4);
        }
        Assert.Equal(0, memory.Reclaims);
        Run(memory, clock, 5);
        Assert.Equal(1, memory.Reclaims);
    }

    [Fact]
    public void Zero_turns_it_off()
    {
        var (memory, clock) = Start(reclaimAfterMegabytes: 0);
        for (var i = 0; i < 100; i++) memory.BodyRead(30 * Mb);
        Run(memory, clock, 600);
        Assert.Equal(0, memory.Reclaims);
    }
}

/// <summary>
/// Bodies read as they arrive into one array (<see cref="ChatPipeline.ReadJsonBodyAsync"/>): whole and unchanged
/// upstream, with or without a Content-Length, past the first buffer's 16 KB.
/// </summary>
public sealed class LargeBodyReadingTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_300_KB_prompt_reaches_the_upstream_whole(bool chunked)
    {
        // Multi-byte text, so a piece boundary falls inside a character somewhere.
        var marker = $"large-body-{chunked}-end";
        var prompt = string.Concat(Enumerable.Range(0, 12_000).Select(i => $"ünïcode {i:D5} ")) + marker;
        using var http = gateway.Http();
        var request = Wire.OpenAi(Wire.OpenAiBody(prompt));
        if (chunked)
        {
            request.Content = new ChunkedContent(Wire.OpenAiBody(prompt));
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            request.Headers.TransferEncodingChunked = true;
        }
        var (response, text) = await Wire.SendAsync(http, request);
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var sent = gateway.Kiro.ChatRequests.Select(r => r.Body).Single(b => b.Contains(marker, StringComparison.Ordinal));
        Assert.Contains(System.Text.Json.JsonEncodedText.Encode(prompt, System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping).ToString(), sent);
    }
}
