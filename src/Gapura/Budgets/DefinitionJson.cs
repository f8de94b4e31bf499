using System.Text.Json;

namespace Gapura.Budgets;

/// <summary>The JSON text of budget and rate-limit definitions, as the settings table stores them: read with the field named, written compactly.</summary>
internal static class DefinitionJson
{
    /// <summary>Parses <paramref name="json"/> with <paramref name="parse"/>; text that is not JSON is an error naming <paramref name="field"/>.</summary>
    public static T Parse<T>(string json, string field, Func<JsonElement, string, T> parse)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return parse(doc.RootElement, field);
        }
        catch (JsonException e)
        {
            throw new BudgetConfigException(field, $"{field}: not valid JSON ({e.Message}).");
        }
    }

    public static string Write(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer)) write(w);
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}
