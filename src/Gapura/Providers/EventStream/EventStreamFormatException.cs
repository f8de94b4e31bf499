namespace Gapura.Providers.EventStream;

/// <summary>
/// The bytes are not a valid AWS event stream (bad CRC, impossible length, unknown header type).
/// The stream cannot be resynchronised after this: frame boundaries are only known from lengths.
/// </summary>
internal class EventStreamFormatException : IOException
{
    public EventStreamFormatException(string message) : base(message) { }
}

/// <summary>The stream ended in the middle of a frame (connection cut, upstream crashed).</summary>
internal sealed class EventStreamTruncatedException : EventStreamFormatException
{
    public EventStreamTruncatedException(long bytesReceived)
        : base($"The event stream ended in the middle of a frame ({bytesReceived} bytes of an unfinished frame received).")
        => BytesReceived = bytesReceived;

    public long BytesReceived { get; }
}
