using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Gapura.Providers.EventStream;

/// <summary>
/// CRC-32 as zlib computes it (IEEE polynomial, reflected, init and final xor 0xFFFFFFFF), which is what
/// AWS event-stream frames carry. Written here because System.IO.Hashing is not on this machine's
/// package mirror. Slice-by-8 tables: the decoder checks every byte of every frame twice over the
/// prelude and once over the message, so a byte-at-a-time loop would show up in profiles.
/// </summary>
internal static class Crc32
{
    private const uint Polynomial = 0xEDB88320u;

    private static readonly uint[] Table = BuildTable();

    /// <summary>The CRC-32 of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>
    /// Continues a CRC over more data: <c>Append(Compute(a), b) == Compute(a + b)</c>, like zlib's
    /// <c>crc32(crc, buf, len)</c>, so a frame split over pipe segments needs no copy.
    /// </summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        crc = ~crc;
        ref uint t = ref MemoryMarshal.GetArrayDataReference(Table);
        int i = 0;
        for (; i + 8 <= data.Length; i += 8)
        {
            uint one = BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(i, 4)) ^ crc;
            uint two = BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(i + 4, 4));
            crc = Unsafe.Add(ref t, 7 * 256 + (int)(one & 0xFF))
                ^ Unsafe.Add(ref t, 6 * 256 + (int)((one >> 8) & 0xFF))
                ^ Unsafe.Add(ref t, 5 * 256 + (int)((one >> 16) & 0xFF))
                ^ Unsafe.Add(ref t, 4 * 256 + (int)(one >> 24))
                ^ Unsafe.Add(ref t, 3 * 256 + (int)(two & 0xFF))
                ^ Unsafe.Add(ref t, 2 * 256 + (int)((two >> 8) & 0xFF))
                ^ Unsafe.Add(ref t, 1 * 256 + (int)((two >> 16) & 0xFF))
                ^ Unsafe.Add(ref t, (int)(two >> 24));
        }
        for (; i < data.Length; i++)
            crc = (crc >> 8) ^ Unsafe.Add(ref t, (int)((crc ^ data[i]) & 0xFF));
        return ~crc;
    }

    /// <summary>The CRC-32 of a possibly multi-segment sequence.</summary>
    public static uint Compute(in ReadOnlySequence<byte> data)
    {
        if (data.IsSingleSegment) return Compute(data.FirstSpan);
        uint crc = 0;
        foreach (var segment in data) crc = Append(crc, segment.Span);
        return crc;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[8 * 256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? Polynomial ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        // Table k maps a byte to its contribution k bytes further back, which lets one step fold 8 bytes.
        for (int k = 1; k < 8; k++)
            for (int n = 0; n < 256; n++)
            {
                uint prev = table[(k - 1) * 256 + n];
                table[k * 256 + n] = (prev >> 8) ^ table[prev & 0xFF];
            }
        return table;
    }
}
