using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Gapura.Api.Admin;
using Gapura.Conversations;
using Gapura.Formats.Anthropic;
using Gapura.Formats.OpenAi;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Gapura.Hosting;

/// <summary>
/// Gives a JSON body to the answers Kestrel writes itself, before any middleware runs: a request line or headers it
/// cannot parse (a NUL or control character in the target: 400), a request line over <c>MaxRequestLineSize</c> (414),
/// headers over <c>MaxRequestHeadersTotalSize</c> (431), and its other refusals (408, 411, 505…). Kestrel offers no hook
/// for these (they are answered from its parser, with <c>Content-Length: 0</c> and <c>Connection: close</c>), so this is
/// connection middleware: it watches the bytes Kestrel writes and, when a flush is exactly such a bodiless refusal head,
/// sends it with a small error body in the shape of the door the request's path names — <c>/v1/messages…</c> Anthropic's,
/// <c>/admin…</c> the admin API's, anything else OpenAI's. Everything else passes through untouched: per write it costs
/// a look at the first bytes of a response; only 4xx heads are copied aside until their flush.
/// HTTP/1.x in clear text only: under TLS terminated by Kestrel the middleware sees ciphertext and lets it pass, and
/// HTTP/2 refusals are frames, not heads.
/// </summary>
internal sealed class ServerRejectionBodies
{
    private readonly KestrelServerOptions _kestrel;
    private readonly ConcurrentDictionary<(RequestDoor Door, int Status), byte[]> _bodies = new();

    private ServerRejectionBodies(KestrelServerOptions kestrel) => _kestrel = kestrel;

    /// <summary>Adds the middleware to every endpoint Kestrel listens on.</summary>
    public static void Configure(KestrelServerOptions kestrel)
    {
        var bodies = new ServerRejectionBodies(kestrel);
        kestrel.ConfigureEndpointDefaults(listen => listen.Use(next => async connection =>
        {
            var transport = connection.Transport;
            var door = new DoorSniffingReader(transport.Input);
            connection.Transport = new DuplexPipe(door, new RejectionBodyWriter(transport.Output, door, bodies));
            try
            {
                await next(connection);
            }
            finally
            {
                connection.Transport = transport;
            }
        }));
    }

    /// <summary>The JSON body for a refusal with this status on this door, built once per pair.</summary>
    internal byte[] BodyFor(RequestDoor door, int status) => _bodies.GetOrAdd((door, status), key => Build(key.Door, key.Status));

    private byte[] Build(RequestDoor door, int status)
    {
        var message = MessageFor(status);
        var kind = status == StatusCodes.Status413PayloadTooLarge ? ErrorKind.RequestTooLarge : ErrorKind.InvalidRequest;
        if (door == RequestDoor.Admin)
            return JsonSerializer.SerializeToUtf8Bytes(new ErrorBody(new ErrorDetail(message, ErrorTypes.InvalidRequest)), AdminJsonContext.Default.ErrorBody);
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            var error = new GatewayException(kind, message, status);
            if (door == RequestDoor.Anthropic) AnthropicWire.WriteError(w, error);
            else OpenAiWire.WriteError(w, error);
        }
        return buffer.WrittenSpan.ToArray();
    }

    private string MessageFor(int status) => status switch
    {
        StatusCodes.Status400BadRequest => "The request is not valid HTTP: its request line or a header is malformed, or the path holds a NUL or another control character. Send a well-formed request.",
        StatusCodes.Status408RequestTimeout => "The request's headers did not arrive in time; send the whole request promptly.",
        StatusCodes.Status411LengthRequired => "The request has a body but neither Content-Length nor chunked Transfer-Encoding; send one of them.",
        StatusCodes.Status413PayloadTooLarge => "The request body is larger than the server accepts; send a smaller one.",
        StatusCodes.Status414UriTooLong => $"The request line is longer than the server accepts ({_kestrel.Limits.MaxRequestLineSize} bytes); shorten the URL.",
        StatusCodes.Status431RequestHeaderFieldsTooLarge => $"The request headers are larger than the server accepts ({_kestrel.Limits.MaxRequestHeadersTotalSize} bytes in all, at most {_kestrel.Limits.MaxRequestHeaderCount} headers); send fewer or smaller headers.",
        StatusCodes.Status505HttpVersionNotsupported => "That HTTP version is not supported; use HTTP/1.1.",
        _ => $"The server refused the request (HTTP {status}); check that it is well-formed HTTP.",
    };

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}

/// <summary>Which error shape a request's path asks for.</summary>
internal enum RequestDoor
{
    OpenAi,
    Anthropic,
    Admin,
}

/// <summary>
/// Passes Kestrel's reads through, noting the door of each request line it sees at the start of a read — where a new
/// request begins once Kestrel has consumed the one before. A look at a few bytes; nothing is copied.
/// </summary>
internal sealed class DoorSniffingReader(PipeReader inner) : PipeReader
{
    private static ReadOnlySpan<byte> Messages => "/v1/messages"u8;
    private static ReadOnlySpan<byte> Admin => "/admin"u8;

    /// <summary>The door of the latest request line read on this connection.</summary>
    public RequestDoor Door { get; private set; }

    public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        var result = await inner.ReadAsync(cancellationToken);
        Note(result.Buffer);
        return result;
    }

    public override bool TryRead(out ReadResult result)
    {
        if (!inner.TryRead(out result)) return false;
        Note(result.Buffer);
        return true;
    }

    public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);
    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);
    public override void CancelPendingRead() => inner.CancelPendingRead();
    public override void Complete(Exception? exception = null) => inner.Complete(exception);
    public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

    private void Note(ReadOnlySequence<byte> buffer)
    {
        Span<byte> head = stackalloc byte[32];
        var length = (int)Math.Min(buffer.Length, head.Length);
        if (length < 3) return;
        buffer.Slice(0, length).CopyTo(head);
        head = head[..length];
        // A request line starts with an upper-case method token and one space ("GET /…").
        var space = head.IndexOf((byte)' ');
        if (space < 1 || space + 1 >= head.Length) return;
        foreach (var b in head[..space]) if (b is < (byte)'A' or > (byte)'Z') return;
        var target = head[(space + 1)..];
        if (target[0] != (byte)'/') return;
        Door = target.StartsWith(Messages) ? RequestDoor.Anthropic : target.StartsWith(Admin) ? RequestDoor.Admin : RequestDoor.OpenAi;
    }
}

/// <summary>
/// Passes Kestrel's writes through; a flush that starts with a 4xx/5xx status line is held aside and, when it is
/// exactly a bodiless refusal head (<c>Content-Length: 0</c>, <c>Connection: close</c>, no content type), sent with a
/// JSON body instead. Anything else held is sent as it was.
/// </summary>
internal sealed class RejectionBodyWriter(PipeWriter inner, DoorSniffingReader door, ServerRejectionBodies bodies) : PipeWriter
{
    /// <summary>A refusal head is a few hundred bytes; anything longer is not one and is let go.</summary>
    private const int MaxHeld = 4096;

    private static ReadOnlySpan<byte> ErrorStatusLine => "HTTP/1.1 "u8;
    private static ReadOnlySpan<byte> EmptyLength => "\r\nContent-Length: 0\r\n"u8;
    private static ReadOnlySpan<byte> Close => "\r\nConnection: close\r\n"u8;
    private static ReadOnlySpan<byte> ContentType => "\r\nContent-Type:"u8;
    private static ReadOnlySpan<byte> HeadEnd => "\r\n\r\n"u8;

    private Memory<byte> _lent;
    private bool _written;
    private byte[]? _held;
    private int _heldLength;

    // Always the transport's own memory: what is held is copied out of it at Advance, and memory lent but not
    // advanced is simply lent again, as the PipeWriter contract allows.
    public override Memory<byte> GetMemory(int sizeHint = 0) => _lent = inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public override void Advance(int bytes)
    {
        var written = _lent.Span[..bytes];
        // Kestrel may go on writing into the rest of the same memory after an Advance (its BufferWriter does).
        _lent = _lent[bytes..];
        if (_held is not null)
        {
            if (_heldLength + bytes <= _held.Length)
            {
                written.CopyTo(_held.AsSpan(_heldLength));
                _heldLength += bytes;
                return;
            }
            // Too long for a refusal head: let it all go as it came, this write included.
            var start = _held.AsSpan(0, _heldLength).ToArray();
            ArrayPool<byte>.Shared.Return(_held);
            _held = null;
            _heldLength = 0;
            var rest = written.ToArray();
            inner.Write(start);
            inner.Write(rest);
            return;
        }
        if (!_written && IsErrorStatusLine(written) && bytes <= MaxHeld)
        {
            // Not committed to the transport: copied aside until the flush shows whether it is a bare refusal.
            _held = ArrayPool<byte>.Shared.Rent(MaxHeld);
            written.CopyTo(_held);
            _heldLength = bytes;
            _written = true;
            return;
        }
        _written = true;
        inner.Advance(bytes);
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_held is not null) Release();
        _written = false;
        return inner.FlushAsync(cancellationToken);
    }

    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    // Kestrel asks (System.Text.Json flushes by it); what is held counts as written.
    public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => inner.UnflushedBytes + _heldLength;

    public override void Complete(Exception? exception = null)
    {
        if (_held is not null) Release();
        inner.Complete(exception);
    }

    public override async ValueTask CompleteAsync(Exception? exception = null)
    {
        if (_held is not null) Release();
        await inner.CompleteAsync(exception);
    }

    private static bool IsErrorStatusLine(ReadOnlySpan<byte> written)
        => written.Length > ErrorStatusLine.Length + 3 && written.StartsWith(ErrorStatusLine) && written[ErrorStatusLine.Length] is (byte)'4' or (byte)'5';

    /// <summary>Sends what was held: with a body when it is a bare refusal head, else as it was.</summary>
    private void Release()
    {
        var held = _held!;
        var head = held.AsSpan(0, _heldLength);
        _held = null;
        _heldLength = 0;
        try
        {
            var lengthAt = head.IndexOf(EmptyLength);
            if (head.EndsWith(HeadEnd) && head.IndexOf(HeadEnd) == head.Length - HeadEnd.Length && lengthAt > 0
                && head.IndexOf(Close) > 0 && head.IndexOf(ContentType) < 0
                && int.TryParse(head.Slice(ErrorStatusLine.Length, 3), out var status))
            {
                var body = bodies.BodyFor(door.Door, status);
                inner.Write(head[..lengthAt]);
                inner.Write(Encoding.ASCII.GetBytes($"\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n"));
                inner.Write(head[(lengthAt + EmptyLength.Length)..]);
                inner.Write(body);
            }
            else
            {
                inner.Write(head);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(held);
        }
    }
}
