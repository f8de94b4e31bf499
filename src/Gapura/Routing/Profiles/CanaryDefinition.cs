using System.Text.Json;

namespace Gapura.Routing.Profiles;

/// <summary>
/// A candidate model serving <see cref="Percent"/> of a profile's requests while the profile's own model (the baseline)
/// serves the rest. Stored as the setting <c>Routing:Canary:&lt;profile&gt;</c> so every instance splits alike.
/// </summary>
internal sealed record CanaryDefinition(string Profile, string Model, string? Provider, int Percent, DateTimeOffset StartedAt, string StartedBy)
{
    public const string Baseline = "baseline";
    public const string Candidate = "candidate";

    /// <summary>The candidate's model name as resolved: <c>provider/model</c> when a provider is pinned.</summary>
    public string Choice => Provider is null ? Model : $"{Provider}/{Model}";

    public string ToJson() => JsonSerializer.Serialize(new StoredCanary(Model, Provider, Percent, StartedAt, StartedBy), RoutingJsonContext.Default.StoredCanary);

    public static CanaryDefinition? FromJson(string profile, string json)
    {
        try
        {
            var s = JsonSerializer.Deserialize(json, RoutingJsonContext.Default.StoredCanary);
            return s is null || string.IsNullOrWhiteSpace(s.Model) ? null : new CanaryDefinition(profile, s.Model, s.Provider, Math.Clamp(s.Percent, 0, 100), s.StartedAt, s.StartedBy ?? "?");
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>How a canary is written in the settings table.</summary>
internal sealed record StoredCanary(string Model, string? Provider, int Percent, DateTimeOffset StartedAt, string? StartedBy);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(StoredCanary))]
internal sealed partial class RoutingJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
