using System.Text;
using Gapura.Providers.EventStream;

namespace Gapura.Tests.Providers.EventStream;

/// <summary>
/// Header blocks read byte by byte at their edges: a header that exactly fills the block, one a byte short, a value
/// of the wrong type asked for (found by mutation testing: see DEVELOPERS.md, "Mutation testing"). Bedrock and Kiro
/// route every frame on these headers.
/// </summary>
public class EventStreamHeaderMutationTests
{
    private static byte[] Header(string name, byte type, params byte[] value)
        => [(byte)name.Length, .. Encoding.UTF8.GetBytes(name), type, .. value];

    /// <summary>Names and values of every header, or the format error's message.</summary>
    private static string Read(byte[] block)
    {
        var seen = new List<string>();
        try
        {
            foreach (var h in new EventStreamHeaderReader(block)) seen.Add($"{h.Name}:{h.Type}:{Convert.ToHexString(h.RawValue)}");
        }
        catch (EventStreamFormatException e)
        {
            return e.Message;
        }
        return string.Join(" ", seen);
    }

    private const string Truncated = "An event-stream header runs past the end of the header block.";

    [Fact]
    public void Headers_that_exactly_fill_the_block_are_all_read()
    {
        Assert.Equal("", Read([]));
        Assert.Equal("t:BoolTrue:", Read(Header("t", 0)));
        Assert.Equal("s:String: b:Byte:07", Read([.. Header("s", 7, 0, 0), .. Header("b", 2, 7)]));
        Assert.Equal("x:ByteArray:0102", Read(Header("x", 6, 0, 2, 1, 2)));
        Assert.Equal("b:Byte:07 s:String:", Read([.. Header("b", 2, 7), .. Header("s", 7, 0, 0)])); // an empty string last
    }

    [Fact]
    public void A_header_one_byte_short_anywhere_is_truncated()
    {
        Assert.Equal(Truncated, Read([3, (byte)'a', (byte)'b']));            // name cut
        Assert.Equal(Truncated, Read([1, (byte)'a']));                        // no type byte
        Assert.Equal(Truncated, Read(Header("s", 7, 0)));                     // half a length
        Assert.Equal(Truncated, Read(Header("s", 7, 0, 2, (byte)'x')));       // value cut
        Assert.Equal(Truncated, Read(Header("i", 4, 0, 0, 0)));               // int32 cut
        Assert.Equal(Truncated, Read([.. Header("t", 0), 5]));                // a second header's name length only
    }

    [Fact]
    public void An_unknown_value_type_is_named()
        => Assert.Equal("Unknown event-stream header type 10.", Read(Header("q", 10)));

    [Fact]
    public void Asking_a_header_for_another_type_names_the_header_and_its_type()
    {
        var messages = new List<string>();
        foreach (var h in new EventStreamHeaderReader([.. Header(":event-type", 7, 0, 1, (byte)'x'), .. Header("t", 0)]))
        {
            foreach (var read in Enumerable.Range(0, 9))
            {
                try
                {
                    switch (read)
                    {
                        case 0: _ = h.AsByte(); break;
                        case 1: _ = h.AsInt16(); break;
                        case 2: _ = h.AsInt32(); break;
                        case 3: _ = h.AsInt64(); break;
                        case 4: _ = h.AsBytes().Length; break;
                        case 5: _ = h.AsTimestamp(); break;
                        case 6: _ = h.AsUuid(); break;
                        case 7: _ = h.AsBool(); break;
                        case 8: _ = h.AsString(); break;
                    }
                    messages.Add("read");
                }
                catch (InvalidOperationException e)
                {
                    messages.Add(e.Message);
                }
            }
        }

        string[] wrongForString = [.. Enumerable.Repeat("Header ':event-type' has type String.", 8), "read"];
        string[] wrongForBool = [.. Enumerable.Repeat("Header 't' has type BoolTrue.", 7), "read", "Header 't' has type BoolTrue."];
        Assert.Equal([.. wrongForString, .. wrongForBool], messages);
    }

    [Fact]
    public void A_frame_that_was_never_decoded_is_empty_and_as_long_as_the_overhead()
    {
        var none = default(EventStreamFrame);
        Assert.True(none.Headers.IsEmpty);
        Assert.True(none.Payload.IsEmpty);
        Assert.Equal(EventStreamDecoder.Overhead, none.WireLength);
        Assert.Null(none.MessageType);
    }
}
