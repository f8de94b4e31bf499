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
        foreach (var m in models) WriteModel(w, m, created);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary><c>GET /v1/models/{id}</c>: one model object.</summary>
    public static Task WriteOneAsync(HttpResponse response, ListedModel model, DateTimeOffset created, CancellationToken ct)
        => JsonResponses.WriteAsync(response, 200, (model, created.ToUnixTimeSeconds()), static (w, s) => WriteModel(w, s.model, s.Item2), ct);

    private static void WriteModel(Utf8JsonWriter w, ListedModel m, long created)
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
        m.WriteCapabilities(w);
        w.WriteEndObject();
    }
}
