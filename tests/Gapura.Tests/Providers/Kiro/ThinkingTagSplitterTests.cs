using Gapura.Conversations;
using Gapura.Providers.Kiro;

namespace Gapura.Tests.Providers.Kiro;

public class ThinkingTagSplitterTests
{
    [Fact]
    public void Leading_whitespace_before_the_tag_is_dropped()
    {
        var (reasoning, text) = Split("\n\n<thinking>why</thinking>\n\nAnswer");
        Assert.Equal("why", reasoning);
        Assert.Equal("Answer", text);
    }

    [Fact]
    public void Whitespace_only_text_is_not_lost()
    {
        var (reasoning, text) = Split("  \n");
        Assert.Equal("", reasoning);
        Assert.Equal("  \n", text);
    }

    [Fact]
    public void A_mismatched_closing_tag_stays_reasoning()
    {
        var (reasoning, text) = Split("<think>a</thinking> b</think>c");
        Assert.Equal("a</thinking> b", reasoning);
        Assert.Equal("c", text);
    }

    [Fact]
    public void A_near_miss_opening_is_text()
    {
        var (reasoning, text) = Split("<thinkingX>hello");
        Assert.Equal("", reasoning);
        Assert.Equal("<thinkingX>hello", text);
    }

    [Fact]
    public void Text_after_the_answer_starts_is_never_held()
    {
        var splitter = new ThinkingTagSplitter();
        var output = new List<StreamEvent>();
        splitter.Push("Hello", output);
        splitter.Push(" <thin", output);
        Assert.Equal([new TextDelta("Hello"), new TextDelta(" <thin")], output);
    }

    [Theory]
    [InlineData("abc</th", "</thinking>", 4)]
    [InlineData("abc<", "</thinking>", 1)]
    [InlineData("abc", "</thinking>", 0)]
    [InlineData("</thinking", "</thinking>", 10)]
    public void Partial_suffix_is_the_longest_proper_tag_prefix(string text, string tag, int expected)
        => Assert.Equal(expected, ThinkingTagSplitter.PartialSuffix(text, tag));

    private static (string Reasoning, string Text) Split(string input)
    {
        var splitter = new ThinkingTagSplitter();
        var output = new List<StreamEvent>();
        foreach (var c in input) splitter.Push(c.ToString(), output);   // worst case: one char per delta
        splitter.Flush(output);
        return (string.Concat(output.OfType<ReasoningDelta>().Select(r => r.Text)), string.Concat(output.OfType<TextDelta>().Select(t => t.Text)));
    }
}
