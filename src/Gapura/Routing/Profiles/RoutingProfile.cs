using System.Globalization;
using System.Text.Json;
using Gapura.Hosting;

namespace Gapura.Routing.Profiles;

/// <summary>
/// A model choice with its parameters, as the seed's <c>.kiro/settings.json</c> writes one:
/// <c>{"provider": "anthropic", "model": "claude-sonnet-4-5", "max_tokens": 8192, "temperature": 0.1, "fallbacks": [...]}</c>.
/// <see cref="Model"/> and each fallback are model names as a client would send them (resolved per request, so a
/// profile keeps working when an upstream renames a dated id); <see cref="Provider"/> pins the first choice to one upstream.
/// </summary>
internal sealed record RoutingProfile(string Name, string? Provider, string Model, int? MaxTokens, double? Temperature, IReadOnlyList<string> Fallbacks)
{
    public const string Primary = "primary";
    public const string Fast = "fast";

    /// <summary>The fields a profile may have; anything else is refused so a typo never goes unnoticed.</summary>
    public static readonly IReadOnlyList<string> Fields = ["provider", "model", "max_tokens", "temperature", "fallbacks"];

    /// <summary>The model name the first choice is resolved with: <c>provider/model</c> when a provider is pinned.</summary>
    public string FirstChoice => Provider is null ? Model : $"{Provider}/{Model}";

    /// <summary>Every model name to try, in order: the first choice, then the fallbacks.</summary>
    public IEnumerable<string> Choices()
    {
        yield return FirstChoice;
        foreach (var f in Fallbacks) yield return f;
    }

    /// <summary>A profile name: letters, digits, '-', '_' and '.', at most 64, not a task name's reserved word <c>auto</c>.</summary>
    public static string ValidName(string? name, string field)
    {
        var n = name?.Trim() ?? "";
        if (n.Length is 0 or > 64 || !n.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new RoutingConfigException(field, $"{field}: a profile name is 1 to 64 letters, digits, '-', '_' or '.' (got '{name}').");
        if (n.Equals("auto", StringComparison.OrdinalIgnoreCase))
            throw new RoutingConfigException(field, $"{field}: 'auto' is the model that classifies and routes; it cannot be a profile's name.");
        return n;
    }

    /// <summary>Reads a profile object; <paramref name="path"/> prefixes every field named in an error (<c>profiles.fast</c>).</summary>
    public static RoutingProfile Parse(string name, JsonElement json, string path)
    {
        name = ValidName(name, path);
        if (json.ValueKind != JsonValueKind.Object) throw new RoutingConfigException(path, $"{path}: a profile is an object with {string.Join(", ", Fields)}.");
        string? provider = null, model = null;
        int? maxTokens = null;
        double? temperature = null;
        var fallbacks = new List<string>();
        foreach (var p in json.EnumerateObject())
        {
            var field = $"{path}.{p.Name}";
            switch (FieldNames.Fold(p.Name))
            {
                case "provider":
                    provider = p.Value.ValueKind == JsonValueKind.Null ? null : ModelName(p.Value, field);
                    break;
                case "model":
                    model = ModelName(p.Value, field);
                    break;
                case "maxtokens":
                    if (p.Value.ValueKind == JsonValueKind.Null) break;
                    if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out var max) || max < 1 || max > 1_000_000)
                        throw new RoutingConfigException(field, $"{field}: a whole number of tokens from 1 to 1,000,000.");
                    maxTokens = max;
                    break;
                case "temperature":
                    if (p.Value.ValueKind == JsonValueKind.Null) break;
                    if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetDouble(out var t) || t < 0 || t > 2)
                        throw new RoutingConfigException(field, $"{field}: a number from 0 to 2.");
                    temperature = t;
                    break;
                case "fallbacks":
                    if (p.Value.ValueKind == JsonValueKind.Null) break;
                    if (p.Value.ValueKind != JsonValueKind.Array) throw new RoutingConfigException(field, $"{field}: a list of model names, tried in order.");
                    var i = 0;
                    foreach (var f in p.Value.EnumerateArray()) fallbacks.Add(ModelName(f, $"{field}[{i++}]"));
                    if (fallbacks.Count > 16) throw new RoutingConfigException(field, $"{field}: at most 16 fallbacks.");
                    break;
                default:
                    throw new RoutingConfigException(field, $"{field}: unknown profile field '{p.Name}'; a profile has {string.Join(", ", Fields)}.");
            }
        }
        if (model is null) throw new RoutingConfigException($"{path}.model", $"{path}.model: a profile needs a model.");
        return new RoutingProfile(name, provider, model, maxTokens, temperature, fallbacks);
    }

    /// <summary>Reads <c>Routing:Profiles:&lt;name&gt;</c> from the configuration.</summary>
    public static RoutingProfile FromConfiguration(IConfigurationSection section)
    {
        var path = $"Routing:Profiles:{section.Key}";
        foreach (var child in section.GetChildren())
            if (!Fields.Any(f => FieldNames.Same(f, child.Key)))
                throw new RoutingConfigException($"{path}:{child.Key}", $"{path}:{child.Key}: unknown profile field; a profile has {string.Join(", ", Fields)}.");
        var model = section["model"];
        if (string.IsNullOrWhiteSpace(model)) throw new RoutingConfigException($"{path}:model", $"{path}:model: a profile needs a model.");
        int? maxTokens = null;
        if ((section["maxTokens"] ?? section["max_tokens"]) is { Length: > 0 } m)
            maxTokens = int.TryParse(m, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v is >= 1 and <= 1_000_000 ? v
                : throw new RoutingConfigException($"{path}:maxTokens", $"{path}:maxTokens: a whole number of tokens from 1 to 1,000,000.");
        double? temperature = null;
        if (section["temperature"] is { Length: > 0 } t)
            temperature = double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d is >= 0 and <= 2 ? d
                : throw new RoutingConfigException($"{path}:temperature", $"{path}:temperature: a number from 0 to 2.");
        var fallbacks = section.GetSection("fallbacks").GetChildren().Select(c => c.Value).Where(v => !string.IsNullOrWhiteSpace(v)).Select(v => v!.Trim()).ToList();
        return new RoutingProfile(ValidName(section.Key, path), NullIfEmpty(section["provider"]), model.Trim(), maxTokens, temperature, fallbacks);
    }

    public void WriteTo(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        if (Provider is not null) w.WriteString("provider", Provider);
        w.WriteString("model", Model);
        if (MaxTokens is { } m) w.WriteNumber("max_tokens", m);
        if (Temperature is { } t) w.WriteNumber("temperature", t);
        w.WriteStartArray("fallbacks");
        foreach (var f in Fallbacks) w.WriteStringValue(f);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer)) WriteTo(w);
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static string ModelName(JsonElement value, string field)
    {
        if (value.ValueKind != JsonValueKind.String || value.GetString() is not { } s || string.IsNullOrWhiteSpace(s) || s.Trim().Length > 200)
            throw new RoutingConfigException(field, $"{field}: a model name (a string of 1 to 200 characters).");
        return s.Trim();
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s.Trim();
}
