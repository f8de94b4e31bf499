using System.Buffers.Binary;
using System.Text;

namespace Gapura.Providers.EventStream;

/// <summary>Header value types of the AWS event-stream encoding.</summary>
internal enum EventStreamHeaderType : byte
{
    BoolTrue = 0,
    BoolFalse = 1,
    Byte = 2,
    Int16 = 3,
    Int32 = 4,
    Int64 = 5,
    ByteArray = 6,
    String = 7,
    Timestamp = 8,
    Uuid = 9,
}

/// <summary>One header, as views into the frame's header block; integers are kept big-endian until read.</summary>
internal readonly ref struct EventStreamHeader
{
    public EventStreamHeader(ReadOnlySpan<byte> nameUtf8, EventStreamHeaderType type, ReadOnlySpan<byte> value)
    {
        NameUtf8 = nameUtf8;
        Type = type;
        RawValue = value;
    }

    public ReadOnlySpan<byte> NameUtf8 { get; }
    public EventStreamHeaderType Type { get; }

    /// <summary>The value bytes without the type byte or length prefix.</summary>
    public ReadOnlySpan<byte> RawValue { get; }

    public string Name => Encoding.UTF8.GetString(NameUtf8);

    public bool AsBool() => Type switch
    {
        EventStreamHeaderType.BoolTrue => true,
        EventStreamHeaderType.BoolFalse => false,
        _ => throw WrongType(),
    };

    public sbyte AsByte() => Type == EventStreamHeaderType.Byte ? (sbyte)RawValue[0] : throw WrongType();
    public short AsInt16() => Type == EventStreamHeaderType.Int16 ? BinaryPrimitives.ReadInt16BigEndian(RawValue) : throw WrongType();
    public int AsInt32() => Type == EventStreamHeaderType.Int32 ? BinaryPrimitives.ReadInt32BigEndian(RawValue) : throw WrongType();
    public long AsInt64() => Type == EventStreamHeaderType.Int64 ? BinaryPrimitives.ReadInt64BigEndian(RawValue) : throw WrongType();
    public ReadOnlySpan<byte> AsBytes() => Type == EventStreamHeaderType.ByteArray ? RawValue : throw WrongType();
    public string AsString() => Type == EventStreamHeaderType.String ? Encoding.UTF8.GetString(RawValue) : throw WrongType();

    public DateTimeOffset AsTimestamp() => Type == EventStreamHeaderType.Timestamp
        ? DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64BigEndian(RawValue))
        : throw WrongType();

    /// <summary>The UUID's 16 bytes in network (RFC 4122) order.</summary>
    public Guid AsUuid() => Type == EventStreamHeaderType.Uuid ? new Guid(RawValue, bigEndian: true) : throw WrongType();

    private InvalidOperationException WrongType() => new($"Header '{Name}' has type {Type}.");
}

/// <summary>
/// Walks a header block without allocating: <c>foreach (var h in new EventStreamHeaderReader(block))</c>.
/// Throws <see cref="EventStreamFormatException"/> on a malformed block.
/// </summary>
internal ref struct EventStreamHeaderReader
{
    private readonly ReadOnlySpan<byte> _block;
    private int _offset;

    public EventStreamHeaderReader(ReadOnlySpan<byte> block)
    {
        _block = block;
        _offset = 0;
        Current = default;
    }

    public EventStreamHeader Current { get; private set; }

    public readonly EventStreamHeaderReader GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_offset >= _block.Length) return false;
        var rest = _block[_offset..];
        int nameLength = rest[0];
        // name, then at least the type byte
        if (1 + nameLength + 1 > rest.Length) throw Truncated();
        var name = rest.Slice(1, nameLength);
        int pos = 1 + nameLength;
        var type = (EventStreamHeaderType)rest[pos++];
        int valueLength;
        switch (type)
        {
            case EventStreamHeaderType.BoolTrue:
            case EventStreamHeaderType.BoolFalse: valueLength = 0; break;
            case EventStreamHeaderType.Byte: valueLength = 1; break;
            case EventStreamHeaderType.Int16: valueLength = 2; break;
            case EventStreamHeaderType.Int32: valueLength = 4; break;
            case EventStreamHeaderType.Int64:
            case EventStreamHeaderType.Timestamp: valueLength = 8; break;
            case EventStreamHeaderType.Uuid: valueLength = 16; break;
            case EventStreamHeaderType.ByteArray:
            case EventStreamHeaderType.String:
                if (pos + 2 > rest.Length) throw Truncated();
                valueLength = BinaryPrimitives.ReadUInt16BigEndian(rest.Slice(pos, 2));
                pos += 2;
                break;
            default:
                throw new EventStreamFormatException($"Unknown event-stream header type {(byte)type}.");
        }
        if (pos + valueLength > rest.Length) throw Truncated();
        Current = new EventStreamHeader(name, type, rest.Slice(pos, valueLength));
        _offset += pos + valueLength;
        return true;
    }

    private static EventStreamFormatException Truncated() => new("An event-stream header runs past the end of the header block.");
}
