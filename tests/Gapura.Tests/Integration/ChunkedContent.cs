using System.Net;
using System.Text;

namespace Gapura.Tests.Integration;

/// <summary>
/// A request body sent chunked (no Content-Length), in uneven pieces each flushed on its own: the gateway can neither
/// refuse it from its length nor read it in one piece.
/// </summary>
public sealed class ChunkedContent(string text) : HttpContent
{
    private readonly byte[] _bytes = Encoding.UTF8.GetBytes(text);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
    {
        for (int i = 0, piece = 700; i < _bytes.Length; i += piece, piece = piece * 3 % 9001 + 1)
        {
            await stream.WriteAsync(_bytes.AsMemory(i, Math.Min(piece, _bytes.Length - i)));
            await stream.FlushAsync();
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }
}
