using System.Text.Json;

namespace Gapura.Formats.Anthropic;

/// <summary><c>GET /v1/models</c> in Anthropic's shape (one page holding every model).</summary>
internal static class AnthropicModelList
{
    /// <param name="created">Reported as every model's <c>created_at</c>; the catalog has no release dates.</param>
    public static Task WriteAsync(HttpResponse response, IReadOnlyList<ListedModel> models, DateTimeOffset created, CancellationToken ct)
        => JsonResponses.WriteAsync(response, 200, (models, created), static (w, s) => Write(w, s.models, s.created), ct);

    internal static void Write(Utf8JsonWriter w, IReadOnlyList<ListedModel> models, DateTimeOffset created)
    {
        w.WriteStartObject();
        w.WriteStartArray("data");
        foreach (var m in models) WriteModel(w, m, created);
        w.WriteEndArray();
        w.WriteBoolean("has_more", false);
        if (models.Count == 0)
        {
            w.WriteNull("first_id");
            w.WriteNull("last_id");
        }
        else
        {
            w.WriteString("first_id", models[0].Id);
            w.WriteString("last_id", models[^1].Id);
        }
        w.WriteEndObject();
    }

    /// <summary><c>GET /v1/models/{id}</c>: one model object.</summary>
    public static Task WriteOneAsync(HttpResponse response, ListedModel model, DateTimeOffset created, CancellationToken ct)
        => JsonResponses.WriteAsync(response, 200, (model, created), static (w, s) => WriteModel(w, s.model, s.created), ct);

    private static void WriteModel(Utf8JsonWriter w, ListedModel m, DateTimeOffset created)
    {
        w.WriteStartObject();
        w.WriteString("type", "model");
        w.WriteString("id", m.Id);
        w.WriteString("display_name", m.Model.DisplayName);
        w.WriteString("created_at", created.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture));
        // Not Anthropic fields; clients that size requests from the list use them.
        w.WriteNumber("context_window", m.Model.ContextWindow);
        w.WriteNumber("max_output_tokens", m.Model.MaxOutputTokens);
        m.WriteCapabilities(w);
        w.WriteEndObject();
    }
}
