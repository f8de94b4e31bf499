using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Providers.OpenAi;

/// <summary>
/// The SSE framing both OpenAI wire formats share (chat completions and Responses): fed with bytes as they
/// arrive in any split (a line, even a UTF-8 character, may straddle two reads), it cuts lines on raw bytes,
/// joins an event's <c>data:</c> lines and hands each complete event to <see cref="OnEvent"/> at its blank
/// line. Subclasses decide what an event means and when the answer is done.
/// </summary>
internal abstract class SseStreamDecoder(string label)
{
    private readonly ArrayBufferWriter<byte> _line = new(1024);
    private readonly ArrayBufferWriter<byte> _data = new(1024);
    private bool _hasData;
    private string? _eventName;

    /// <summary>How messages name the upstream.</summary>
    public string Label => label;

    /// <summary>True once the answer is complete: whatever follows is ignored.</summary>
    public bool IsDone { get; protected set; }

    public void Feed(ReadOnlySpan<byte> bytes, List<StreamEvent> output)
    {
        while (!bytes.IsEmpty && !IsDone)
        {
            var newline = bytes.IndexOf((byte)'\n');
            if (newline < 0)
            {
                _line.Write(bytes);
                return;
            }
            if (_line.WrittenCount == 0) HandleLine(bytes[..newline], output);
            else
            {
                _line.Write(bytes[..newline]);
                HandleLine(_line.WrittenSpan, output);
                _line.ResetWrittenCount();
            }
            bytes = bytes[(newline + 1)..];
        }
    }

    /// <summary>The body ended: a last event without its blank line still counts, then <see cref="EndOfBody"/> decides.</summary>
    public void Complete(List<StreamEvent> output)
    {
        if (IsDone) return;
        if (_line.WrittenCount > 0)
        {
            HandleLine(_line.WrittenSpan, output);
            _line.ResetWrittenCount();
        }
        if (_hasData) Dispatch(output);
        if (IsDone) return;
        EndOfBody(output);
    }

    /// <summary>One complete event: its <c>event:</c> name (null when none) and its joined <c>data:</c>.</summary>
    protected abstract void OnEvent(string? eventName, ReadOnlyMemory<byte> data, List<StreamEvent> output);

    /// <summary>The body ended before the answer was marked done: finish it, or throw when it is cut.</summary>
    protected abstract void EndOfBody(List<StreamEvent> output);

    /// <summary>A stream that stopped without its terminal event is a failure, not a short answer.</summary>
    protected GatewayException BrokenOff() =>
        new(ErrorKind.UpstreamUnavailable, $"{label}'s response stream broke off before the answer was complete.", 502);

    protected JsonDocument ParseJson(ReadOnlyMemory<byte> data)
    {
        try
        {
            return JsonDocument.Parse(data);
        }
        catch (JsonException e)
        {
            throw new GatewayException(ErrorKind.UpstreamUnavailable, $"{label} sent a stream event that is not JSON: {e.Message}", 502, inner: e);
        }
    }

    private void HandleLine(ReadOnlySpan<byte> line, List<StreamEvent> output)
    {
        if (!line.IsEmpty && line[^1] == (byte)'\r') line = line[..^1];
        if (line.IsEmpty)
        {
            if (_hasData) Dispatch(output);
            _eventName = null;
            return;
        }
        if (line[0] == (byte)':') return; // comment / keep-alive
        var colon = line.IndexOf((byte)':');
        var field = colon < 0 ? line : line[..colon];
        var value = colon < 0 ? [] : line[(colon + 1)..];
        if (!value.IsEmpty && value[0] == (byte)' ') value = value[1..];
        if (field.SequenceEqual("data"u8))
        {
            if (_hasData) _data.Write("\n"u8);
            _data.Write(value);
            _hasData = true;
        }
        else if (field.SequenceEqual("event"u8)) _eventName = System.Text.Encoding.UTF8.GetString(value);
    }

    private void Dispatch(List<StreamEvent> output)
    {
        try
        {
            OnEvent(_eventName, _data.WrittenMemory, output);
        }
        finally
        {
            _data.ResetWrittenCount();
            _hasData = false;
        }
    }

    /// <summary>Reads <paramref name="body"/> until the decoder is done or the body ends; the stream is left for its owner to dispose.</summary>
    public static async IAsyncEnumerable<StreamEvent> ReadAsync(Stream body, SseStreamDecoder decoder,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        byte[]? buffer = null;
        var events = new List<StreamEvent>();
        try
        {
            while (!decoder.IsDone)
            {
                int read;
                try
                {
                    // Wait for the upstream with no buffer in hand (the decoder keeps any partial event itself).
                    await UpstreamHttp.WaitForDataAsync(body, ct).ConfigureAwait(false);
                    buffer ??= ArrayPool<byte>.Shared.Rent(16 * 1024);
                    read = await body.ReadAsync(buffer, ct).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or HttpRequestException && !ct.IsCancellationRequested)
                {
                    throw new GatewayException(ErrorKind.UpstreamUnavailable, $"The connection to {decoder.Label} failed while the answer was streaming.", 502, inner: ex);
                }
                if (read == 0) break;
                decoder.Feed(buffer!.AsSpan(0, read), events);
                ArrayPool<byte>.Shared.Return(buffer!);
                buffer = null;
                foreach (var e in events) yield return e;
                events.Clear();
            }
            decoder.Complete(events);
            foreach (var e in events) yield return e;
        }
        finally
        {
            if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
