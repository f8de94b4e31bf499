using System.Text.Json;
using Gapura.Routing;

namespace Gapura.Formats;

/// <summary>
/// One row of a models list: the id clients should send (an alias or the catalog id) and the model
/// it stands for, whose limits are shown alongside.
/// </summary>
internal sealed record ListedModel(string Id, ModelInfo Model)
{
    /// <summary>
    /// Rows named <c>provider/model</c>: with several upstreams the same model id can come from more than one,
    /// and the prefixed name is exactly what a client sends back to pick that provider.
    /// </summary>
    public static IReadOnlyList<ListedModel> From(IEnumerable<ModelInfo> models) => models.Select(m => new ListedModel($"{m.Provider}/{m.Id}", m)).ToList();

    /// <summary>
    /// <c>supports_images</c>, <c>supports_tools</c>, <c>supports_thinking</c> — each only when known, so a client
    /// never reads a guess as a fact. Extra fields in both dialects' model objects, which their SDKs ignore.
    /// </summary>
    public void WriteCapabilities(Utf8JsonWriter w)
    {
        if (Model.SupportsImages is { } images) w.WriteBoolean("supports_images", images);
        if (Model.SupportsTools is { } tools) w.WriteBoolean("supports_tools", tools);
        if (Model.SupportsThinking is { } thinking) w.WriteBoolean("supports_thinking", thinking);
    }
}
