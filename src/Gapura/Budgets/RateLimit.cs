using System.Globalization;
using System.Text.Json;
using Gapura.Hosting;

namespace Gapura.Budgets;

/// <summary>
/// Rate limits of one user or key: <c>{"requests_per_minute": 60, "tokens_per_minute": 200000, "concurrent_requests": 4}</c>,
/// each optional. Exceeding one is a 429 with <c>Retry-After</c>; unlike a budget it lifts by itself within a minute.
/// </summary>
internal sealed record RateLimit(int? RequestsPerMinute, long? TokensPerMinute, int? ConcurrentRequests)
{
    public bool IsEmpty => RequestsPerMinute is null && TokensPerMinute is null && ConcurrentRequests is null;

    public static RateLimit Parse(JsonElement json, string field = "rate_limit")
    {
        if (json.ValueKind == JsonValueKind.Object && FieldNames.TryGet(json, "rate_limit", out var inner)) json = inner;
        if (json.ValueKind != JsonValueKind.Object)
            throw new BudgetConfigException(field, $"{field}: an object such as {{\"requests_per_minute\": 60, \"tokens_per_minute\": 200000, \"concurrent_requests\": 4}}.");
        int? rpm = null, concurrent = null;
        long? tpm = null;
        foreach (var p in json.EnumerateObject())
        {
            var f = $"{field}.{p.Name}";
            var ok = p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt64(out var n) && n >= 1;
            n = ok ? p.Value.GetInt64() : 0;
            switch (FieldNames.Fold(p.Name))
            {
                case "requestsperminute": rpm = ok && n <= int.MaxValue ? (int)n : throw Positive(f, p.Value.GetRawText()); break;
                case "tokensperminute": tpm = ok ? n : throw Positive(f, p.Value.GetRawText()); break;
                case "concurrentrequests": concurrent = ok && n <= int.MaxValue ? (int)n : throw Positive(f, p.Value.GetRawText()); break;
                default: throw new BudgetConfigException(f, $"{f}: unknown field; a rate limit has requests_per_minute, tokens_per_minute and concurrent_requests.");
            }
        }
        var limit = new RateLimit(rpm, tpm, concurrent);
        return limit.IsEmpty ? throw new BudgetConfigException(field, $"{field}: set at least one of requests_per_minute, tokens_per_minute and concurrent_requests.") : limit;
    }

    public static RateLimit Parse(string json, string field = "rate_limit") => DefinitionJson.Parse(json, field, Parse);

    /// <summary>A configuration section in the same shape (<c>RateLimits:User:Default:requestsPerMinute</c>), or null when absent.</summary>
    public static RateLimit? FromConfiguration(IConfigurationSection section)
    {
        if (!section.Exists()) return null;
        long? Read(string key, long max)
        {
            if (section[key] is not { Length: > 0 } v) return null;
            return long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 && n <= max ? n : throw Positive($"{section.Path}:{key}", v);
        }
        foreach (var child in section.GetChildren())
            if (!(child.Key.Equals("requestsPerMinute", StringComparison.OrdinalIgnoreCase) || child.Key.Equals("tokensPerMinute", StringComparison.OrdinalIgnoreCase)
                  || child.Key.Equals("concurrentRequests", StringComparison.OrdinalIgnoreCase)))
                throw new BudgetConfigException($"{section.Path}:{child.Key}", $"{section.Path}:{child.Key}: unknown setting; a rate limit has requestsPerMinute, tokensPerMinute and concurrentRequests.");
        var limit = new RateLimit((int?)Read("requestsPerMinute", int.MaxValue), Read("tokensPerMinute", long.MaxValue), (int?)Read("concurrentRequests", int.MaxValue));
        return limit.IsEmpty ? null : limit;
    }

    private static BudgetConfigException Positive(string field, string got)
        => new(field, $"{field}: a whole number, 1 or more (got {(got.Length <= 40 ? got : got[..40] + "…")}).");

    public string ToJson() => DefinitionJson.Write(WriteTo);

    internal void WriteTo(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        if (RequestsPerMinute is { } r) w.WriteNumber("requests_per_minute", r);
        if (TokensPerMinute is { } t) w.WriteNumber("tokens_per_minute", t);
        if (ConcurrentRequests is { } c) w.WriteNumber("concurrent_requests", c);
        w.WriteEndObject();
    }
}
