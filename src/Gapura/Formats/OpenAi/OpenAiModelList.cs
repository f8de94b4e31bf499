using System.Text.Json;

namespace Gapura.Formats.OpenAi;

/// <summary><c>GET /v1/models</c> in OpenAI's shape.</summary>
internal static class OpenAiModelList
{
    /// <param name="created">Reported as every model's <c>created</c>; the catalog has no release dates.</param>
    public static Task WriteAsync(HttpResponse response, IReadOnlyList<ListedModel> models, DateTimeOffset created, CancellationToken ct)
        => JsonResponses.WriteAsync(response, 200, (models, created.ToUnixTimeSeconds()), static (w, s) => Write(w, s.models, s.Item2), ct);

    internal static void Write(Utf8JsonWriter w, IReadOnlyList<ListedModel> models, long created)
    {
        w.WriteStartObject();
        w.WriteString("object", "list");
        w.WriteStartArray("data");
        foreach (var m in models)
        {
            w.WriteStartObject();
            w.WriteString("id", m.Id);
            w.WriteString("object", "model");
            w.WriteNumber("created", created);
            w.WriteString("owned_by", m.Model.Provider);
            // Not OpenAI fields, but opencode-style clients and humans use them to size requests.
            w.WriteString("display_name", m.Model.DisplayName);
            w.WriteNumber("context_window", m.Model.ContextWindow);
            w.WriteNumber("max_output_tokens", m.Model.MaxOutputTokens);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
