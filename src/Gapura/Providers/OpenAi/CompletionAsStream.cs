using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Conversations;

namespace Gapura.Providers.OpenAi;

/// <summary>
/// A whole <c>chat.completion</c> answer, from a compatible server that ignored <c>stream: true</c> (some small local
/// servers do), as the stream it would have sent: one chunk whose choices carry the message as their <c>delta</c> (tool
/// calls numbered), a usage chunk, <c>[DONE]</c>. The gateway's translated path always asks for a stream; this lets
/// <see cref="ChatCompletionsStreamDecoder"/> read such an answer instead of reporting a broken stream.
/// </summary>
internal static class CompletionAsStream
{
    /// <summary>Most bytes read of such an answer: a whole completion, never a stream that could run on.</summary>
    public const int MaxBytes = 32 * 1024 * 1024;

    /// <summary>The whole answer, up to <see cref="MaxBytes"/>.</summary>
    public static async Task<byte[]> ReadAsync(Stream body, string label, CancellationToken ct)
    {
        using var whole = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await body.ReadAsync(buffer, ct)) > 0)
        {
            if (whole.Length + read > MaxBytes)
                throw new GatewayException(ErrorKind.UpstreamUnavailable, $"{label} answered a JSON completion over {MaxBytes >> 20} MB.", 502);
            whole.Write(buffer, 0, read);
        }
        return whole.ToArray();
    }

    public static byte[] ToSse(ReadOnlySpan<byte> json, string label)
    {
        JsonObject completion;
        try
        {
            completion = JsonNode.Parse(json) as JsonObject ?? throw new JsonException("not an object");
        }
        catch (JsonException e)
        {
            throw new GatewayException(ErrorKind.UpstreamUnavailable, $"{label} answered JSON that is not a chat completion: {e.Message}", 502);
        }
        var sse = new StringBuilder();
        void Chunk(JsonObject chunk) => sse.Append("data: ").Append(chunk.ToJsonString()).Append("\n\n");

        if (completion["error"] is { } error)
        {
            Chunk(new JsonObject { ["error"] = error.DeepClone() }); // the decoder reports it as the upstream's error
            return Encoding.UTF8.GetBytes(sse.ToString());
        }
        var choices = new JsonArray();
        foreach (var choice in completion["choices"] as JsonArray ?? [])
        {
            if (choice is not JsonObject c) continue;
            var delta = c["message"]?.DeepClone() as JsonObject ?? [];
            if (delta["tool_calls"] is JsonArray calls)
                for (var i = 0; i < calls.Count; i++)
                    if (calls[i] is JsonObject call) call["index"] = i;
            choices.Add(new JsonObject { ["index"] = c["index"]?.DeepClone() ?? 0, ["delta"] = delta, ["finish_reason"] = c["finish_reason"]?.DeepClone() });
        }
        if (choices.Count == 0)
            throw new GatewayException(ErrorKind.UpstreamUnavailable, $"{label} answered JSON with no choices where a chat completion was expected.", 502);
        Chunk(new JsonObject { ["object"] = "chat.completion.chunk", ["model"] = completion["model"]?.DeepClone(), ["choices"] = choices });
        if (completion["usage"] is JsonObject usage) Chunk(new JsonObject { ["object"] = "chat.completion.chunk", ["choices"] = new JsonArray(), ["usage"] = usage.DeepClone() });
        sse.Append("data: [DONE]\n\n");
        return Encoding.UTF8.GetBytes(sse.ToString());
    }
}
