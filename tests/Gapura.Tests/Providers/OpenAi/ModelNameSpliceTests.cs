using System.Text;
using Gapura.Conversations;
using Gapura.Providers.OpenAi;

namespace Gapura.Tests.Providers.OpenAi;

public class ModelNameSpliceTests
{
    private static string Splice(string body, string model) => Encoding.UTF8.GetString(ModelNameSplice.Replace(Encoding.UTF8.GetBytes(body), model).Span);

    [Fact]
    public void Only_the_top_level_model_value_changes()
    {
        var body = """{ "messages":[{"role":"user","content":"x","model":"inner"}],"x_unknown":{"model":"keep"}, "model" : "openai/gpt-4o" ,"n":1.0e0}""";
        Assert.Equal(body.Replace("\"openai/gpt-4o\"", "\"gpt-4o\""), Splice(body, "gpt-4o"));
    }

    [Fact]
    public void Escaped_values_and_names_needing_escapes_round_trip()
    {
        var spliced = Splice("""{"model":"\u0067pt","z":1}""", "a\"b");
        using var doc = System.Text.Json.JsonDocument.Parse(spliced);
        Assert.Equal("a\"b", doc.RootElement.GetProperty("model").GetString());
        Assert.EndsWith(""","z":1}""", spliced);
    }

    [Fact]
    public void Same_name_returns_the_clients_own_bytes()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"model":"gpt-4o"}""");
        var result = ModelNameSplice.Replace(bytes, "gpt-4o");
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(result, out var segment) && ReferenceEquals(segment.Array, bytes));
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("""{"messages":[]}""")]
    [InlineData("""{"model":5}""")]
    public void Bad_bodies_are_400(string body)
    {
        var e = Assert.Throws<GatewayException>(() => Splice(body, "m"));
        Assert.Equal(400, e.Status);
    }
}
