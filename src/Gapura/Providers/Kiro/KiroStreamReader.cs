using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Gapura.Conversations;
using Gapura.Providers.EventStream;

namespace Gapura.Providers.Kiro;

/// <summary>
/// Reads a Kiro response body as canonical events, each yielded as soon as its frame is decoded.
/// A body that breaks off or is corrupt becomes a <see cref="GatewayException"/>, so the client's stream
/// ends with an error event rather than something that looks like a clean stop.
/// </summary>
internal static class KiroStreamReader
{
    private static readonly EventStreamDecoder Decoder = new(KiroStreamTranslator.KnownEventTypes);

    /// <summary>Reads <paramref name="body"/> to its end. The caller owns and completes the reader.</summary>
    public static async IAsyncEnumerable<StreamEvent> ReadAsync(PipeReader body, KiroStreamTranslator translator,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        var events = new List<StreamEvent>();
        var frames = Decoder.ReadFramesAsync(body, ct).GetAsyncEnumerator(ct);
        try
        {
            while (true)
            {
                bool more;
                try
                {
                    more = await frames.MoveNextAsync().ConfigureAwait(false);
                }
                catch (EventStreamTruncatedException ex)
                {
                    throw new GatewayException(ErrorKind.UpstreamUnavailable, "Kiro's response stream broke off in the middle of a frame.", status: 502, inner: ex);
                }
                catch (EventStreamFormatException ex)
                {
                    throw new GatewayException(ErrorKind.UpstreamUnavailable, $"Kiro sent a corrupt event stream: {ex.Message}", status: 502, inner: ex);
                }
                catch (Exception ex) when (ex is IOException or HttpRequestException && !ct.IsCancellationRequested)
                {
                    throw new GatewayException(ErrorKind.UpstreamUnavailable, "The connection to Kiro failed while the answer was streaming.", status: 502, inner: ex);
                }
                if (!more) break;

                translator.Translate(frames.Current, events);
                foreach (var e in events) yield return e;
                events.Clear();
            }
        }
        finally
        {
            await frames.DisposeAsync().ConfigureAwait(false);
        }

        translator.Complete(events);
        foreach (var e in events) yield return e;
    }

    /// <summary>Reads a response body stream; the stream is left open for its owner to dispose.</summary>
    public static async IAsyncEnumerable<StreamEvent> ReadAsync(Stream body, KiroStreamTranslator translator,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        var reader = PipeReader.Create(body, new StreamPipeReaderOptions(leaveOpen: true, useZeroByteReads: true));
        try
        {
            await foreach (var e in ReadAsync(reader, translator, ct).ConfigureAwait(false))
                yield return e;
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }
}
