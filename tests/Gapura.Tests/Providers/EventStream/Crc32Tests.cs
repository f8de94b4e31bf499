using System.Text;
using Gapura.Providers.EventStream;

namespace Gapura.Tests.Providers.EventStream;

public class Crc32Tests
{
    [Fact]
    public void Check_value_matches_zlib() => Assert.Equal(0xCBF43926u, Crc32.Compute("123456789"u8));

    [Fact]
    public void Empty_input_is_zero() => Assert.Equal(0u, Crc32.Compute(ReadOnlySpan<byte>.Empty));

    [Fact]
    public void Matches_a_bitwise_reference_for_every_length_and_alignment()
    {
        var random = new Random(1234);
        var data = new byte[300];
        random.NextBytes(data);
        for (int start = 0; start < 9; start++)
            for (int length = 0; length + start <= data.Length; length += 7)
                Assert.Equal(Reference(data.AsSpan(start, length)), Crc32.Compute(data.AsSpan(start, length)));
    }

    [Fact]
    public void Append_continues_a_crc_across_any_split()
    {
        var data = Encoding.UTF8.GetBytes("The quick brown fox jumps over the lazy dog — ünïcödé 🌍");
        uint whole = Crc32.Compute(data);
        for (int cut = 0; cut <= data.Length; cut++)
            Assert.Equal(whole, Crc32.Append(Crc32.Compute(data.AsSpan(0, cut)), data.AsSpan(cut)));
        Assert.Equal(whole, Crc32.Compute(AwsFrames.Segments(AwsFrames.Split(data, [3, 10, 11, 40]))));
    }

    private static uint Reference(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (var b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }
        return ~crc;
    }
}
