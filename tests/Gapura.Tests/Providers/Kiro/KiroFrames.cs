using System.Text.Json;
using Gapura.Conversations;
using Gapura.Providers.Kiro;
using Gapura.Tests.Providers.EventStream;

namespace Gapura.Tests.Providers.Kiro;

/// <summary>Kiro frames encoded by the AWS SDK, and a runner that pushes them through the real reader.</summary>
internal static class KiroFrames
{
    public static byte[] Text(string content) => AwsFrames.Event("assistantResponseEvent", Json(new { content }));

    public static byte[] Tool(string id, string name, string? input = null, bool stop = false)
        => AwsFrames.Event("toolUseEvent", stop
            ? Json(new { toolUseId = id, name, input, stop = true })
            : Json(new { toolUseId = id, name, input }));

    public static byte[] ToolRaw(string json) => AwsFrames.Event("toolUseEvent", json);

    public static byte[] Context(double pct) => AwsFrames.Event("contextUsageEvent", Json(new { contextUsagePercentage = pct }));

    public static byte[] Metering(double usage) => AwsFrames.Event("meteringEvent", Json(new { unit = "credit", unitPlural = "credits", usage }));

    public static byte[] Metadata(object tokenUsage) => AwsFrames.Event("metadataEvent", Json(new { tokenUsage }));

    public static byte[] Reasoning(string? text = null, string? signature = null)
        => AwsFrames.Event("reasoningContentEvent", Json(new { text, signature }));

    public static string Json(object value) => JsonSerializer.Serialize(value, new JsonSerializerOptions { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull });

    public static async Task<List<StreamEvent>> RunAsync(KiroStreamTranslator translator, params byte[][] frames)
    {
        var events = new List<StreamEvent>();
        await foreach (var e in KiroStreamReader.ReadAsync(new MemoryStream(AwsFrames.Concat(frames)), translator))
            events.Add(e);
        return events;
    }

    public static Task<List<StreamEvent>> RunAsync(params byte[][] frames) => RunAsync(new KiroStreamTranslator(200_000), frames);

    public static MessageEnd End(List<StreamEvent> events)
    {
        Assert.Single(events.OfType<MessageEnd>());
        return Assert.IsType<MessageEnd>(events[^1]);
    }

    public static string AllText(IEnumerable<StreamEvent> events) => string.Concat(events.OfType<TextDelta>().Select(t => t.Text));

    public static string AllReasoning(IEnumerable<StreamEvent> events) => string.Concat(events.OfType<ReasoningDelta>().Select(t => t.Text));
}
