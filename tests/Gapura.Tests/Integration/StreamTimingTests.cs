using System.Diagnostics;
using System.Net;
using Gapura.Simulators.Kiro;

namespace Gapura.Tests.Integration;

/// <summary>An upstream that says nothing: <c>Gateway:FirstByteTimeoutSeconds</c> turns it into a 504 in the caller's format.</summary>
public class FirstByteTimeoutTests(FirstByteTimeoutGateway fixture) : IClassFixture<FirstByteTimeoutGateway>
{
    private readonly GatewayFixture _gateway = fixture.Gateway;

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Silent_upstream_is_a_504_in_the_callers_format(bool anthropic, bool stream)
    {
        _gateway.Kiro.Enqueue(new KiroScenario { Frames = [KiroFrame.Text("too late"), KiroFrame.Metering()], DelayBeforeFirstByte = TimeSpan.FromSeconds(5) });
        using var http = _gateway.Http();
        var clock = Stopwatch.StartNew();
        var (response, body) = await Wire.SendAsync(http, anthropic
            ? Wire.Anthropic(Wire.AnthropicBody(stream: stream))
            : Wire.OpenAi(Wire.OpenAiBody(stream: stream)));
        clock.Stop();
        if (anthropic) Wire.AssertAnthropicError(response, body, HttpStatusCode.GatewayTimeout, "FirstByteTimeoutSeconds");
        else Wire.AssertOpenAiError(response, body, HttpStatusCode.GatewayTimeout, "FirstByteTimeoutSeconds");
        // 0.5 s configured: the answer must not wait for the keep-alive interval (15 s) or the upstream (5 s).
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"took {clock.ElapsedMilliseconds} ms");
        Assert.DoesNotContain("too late", body);
    }

    [Fact]
    public async Task An_upstream_that_answers_in_time_is_not_cut()
    {
        _gateway.Kiro.Enqueue(new KiroScenario { Frames = [KiroFrame.Text("in time"), KiroFrame.Metering()], DelayBeforeFirstByte = TimeSpan.FromMilliseconds(100) });
        using var http = _gateway.Http();
        var (response, body) = await Wire.SendAsync(http, Wire.OpenAi(Wire.OpenAiBody(stream: true)));
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        Assert.Equal("in time", Wire.OpenAiText(Wire.ParseSse(body)));
    }
}

/// <summary>Keep-alives while Kiro is silent, and the idle timeout once a started stream goes quiet for too long.</summary>
public class KeepAliveTests(KeepAliveGateway fixture) : IClassFixture<KeepAliveGateway>
{
    private readonly GatewayFixture _gateway = fixture.Gateway;

    private static KiroScenario Slow(TimeSpan beforeFirst, TimeSpan between) => new()
    {
        Frames = [KiroFrame.Text("Hello "), KiroFrame.Text("slow "), KiroFrame.Text("world"), KiroFrame.Metering(), KiroFrame.ContextUsage(1)],
        DelayBeforeFirstByte = beforeFirst,
        DelayBetweenFrames = between,
    };

    [Fact]
    public async Task Openai_stream_carries_keep_alive_comments_and_still_completes()
    {
        _gateway.Kiro.Enqueue(Slow(TimeSpan.FromMilliseconds(700), TimeSpan.FromMilliseconds(500)));
        using var http = _gateway.Http();
        var (response, items, _) = await Wire.StreamAsync(http, Wire.OpenAi(Wire.OpenAiBody(stream: true)));
        // Keep-alives sent the headers before the first event: the provider is named, its account not yet known.
        Assert.StartsWith("kiro", response.Headers.GetValues("x-gapura-provider").Single());
        var keepAlives = items.Count(i => i.Comment == "keep-alive");
        Assert.True(keepAlives >= 3, $"{keepAlives} keep-alive(s)");
        // Some came before any content: the upstream was silent from the start.
        Assert.Equal("keep-alive", items[0].Comment);
        Assert.Equal("Hello slow world", Wire.OpenAiText(items));
        Assert.Equal("stop", Wire.OpenAiFinishReason(items));
        Assert.Equal("[DONE]", Wire.OpenAiData(items)[^1]);
    }

    [Fact]
    public async Task Anthropic_stream_carries_pings_and_still_completes()
    {
        _gateway.Kiro.Enqueue(Slow(TimeSpan.FromMilliseconds(700), TimeSpan.FromMilliseconds(500)));
        using var http = _gateway.Http();
        var (_, items, _) = await Wire.StreamAsync(http, Wire.Anthropic(Wire.AnthropicBody(stream: true)));
        var pings = items.Count(i => i.Event == "ping");
        Assert.True(pings >= 3, $"{pings} ping(s)");
        Assert.Equal("message_start", items[0].Event);
        Assert.Equal("ping", items[1].Event);
        Assert.Equal("Hello slow world", Wire.AnthropicText(items));
        Assert.Equal("end_turn", Wire.AnthropicStopReason(items));
        Assert.Equal("message_stop", items.Last(i => i.Event is not null).Event);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_stream_silent_past_the_idle_timeout_ends_with_an_error_event(bool anthropic)
    {
        // Silent for 6 s against a 2.5 s idle timeout: the error must come long before the upstream speaks again.
        _gateway.Kiro.Enqueue(Slow(TimeSpan.Zero, TimeSpan.FromSeconds(6)));
        using var http = _gateway.Http();
        var clock = Stopwatch.StartNew();
        var (_, items, _) = await Wire.StreamAsync(http, anthropic ? Wire.Anthropic(Wire.AnthropicBody(stream: true)) : Wire.OpenAi(Wire.OpenAiBody(stream: true)));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5.5), $"took {clock.ElapsedMilliseconds} ms");
        if (anthropic)
        {
            Assert.Equal("Hello ", Wire.AnthropicText(items));
            var last = items.Last(i => i.Event is not null);
            Assert.Equal("error", last.Event);
            Wire.AssertAnthropicErrorJson(last.Data!, "IdleTimeoutSeconds");
            Assert.DoesNotContain(items, i => i.Event == "message_stop");
        }
        else
        {
            Assert.Equal("Hello ", Wire.OpenAiText(items));
            var data = Wire.OpenAiData(items);
            Assert.DoesNotContain("[DONE]", data);
            Wire.AssertOpenAiErrorJson(data[^1], "IdleTimeoutSeconds");
        }
    }
}
