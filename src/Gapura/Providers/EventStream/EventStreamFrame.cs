namespace Gapura.Providers.EventStream;

/// <summary>
/// One decoded, CRC-checked frame. The headers consumers route on are pre-read as strings; everything
/// else stays in <see cref="Headers"/> (raw block, walk it with <see cref="EnumerateHeaders"/>).
/// Headers and payload share one array, the frame's only allocation besides unknown header strings.
/// </summary>
internal readonly struct EventStreamFrame
{
    private readonly byte[]? _body;
    private readonly int _headersLength;

    internal EventStreamFrame(byte[] body, int headersLength, in KnownHeaders known)
    {
        _body = body;
        _headersLength = headersLength;
        MessageType = known.MessageType;
        EventType = known.EventType;
        ContentType = known.ContentType;
        ExceptionType = known.ExceptionType;
        ErrorCode = known.ErrorCode;
        ErrorMessage = known.ErrorMessage;
    }

    /// <summary><c>:message-type</c>: <c>event</c>, <c>exception</c> or <c>error</c>.</summary>
    public string? MessageType { get; }

    /// <summary><c>:event-type</c> of an <c>event</c> frame.</summary>
    public string? EventType { get; }

    public string? ContentType { get; }

    /// <summary><c>:exception-type</c> of an <c>exception</c> frame (the payload is the message).</summary>
    public string? ExceptionType { get; }

    /// <summary><c>:error-code</c> of an <c>error</c> frame.</summary>
    public string? ErrorCode { get; }

    /// <summary><c>:error-message</c> of an <c>error</c> frame.</summary>
    public string? ErrorMessage { get; }

    // Stryker disable once Conditional : only a frame never decoded has no body, and its header length is 0, so AsMemory gives the same empty memory
    public ReadOnlyMemory<byte> Headers => _body is null ? default : _body.AsMemory(0, _headersLength);

    // Stryker disable once Conditional : as above
    public ReadOnlyMemory<byte> Payload => _body is null ? default : _body.AsMemory(_headersLength);

    public EventStreamHeaderReader EnumerateHeaders() => new(Headers.Span);

    /// <summary>Size of the frame on the wire, prelude and CRCs included.</summary>
    public int WireLength => (_body?.Length ?? 0) + EventStreamDecoder.Overhead;

    internal struct KnownHeaders
    {
        public string? MessageType, EventType, ContentType, ExceptionType, ErrorCode, ErrorMessage;
    }
}
