using System.Text.Json;
using Gapura.Routing;

namespace Gapura.Providers.Copilot;

/// <summary>
/// Copilot's <c>/models</c>: OpenAI's list shape with capabilities — type (<c>chat</c>, <c>embeddings</c>…),
/// family and limits (<c>max_context_window_tokens</c>, <c>max_output_tokens</c>, <c>max_prompt_tokens</c>).
/// Only chat models are kept.
/// </summary>
internal static class CopilotModels
{
    private const int DefaultContextWindow = 128_000;
    private const int DefaultMaxOutputTokens = 4_096;

    /// <summary>Served until the list is read (and whenever it cannot be), so a request still reaches the token exchange and its error.</summary>
    public static IReadOnlyList<ModelInfo> Fallback { get; } =
    [
        new("gpt-4.1", "GPT-4.1", 128_000, 16_384, CopilotProvider.ProviderName),
        new("gpt-4o", "GPT-4o", 128_000, 4_096, CopilotProvider.ProviderName),
        new("gpt-5-mini", "GPT-5 mini", 264_000, 64_000, CopilotProvider.ProviderName),
        new("claude-sonnet-4", "Claude Sonnet 4", 128_000, 16_000, CopilotProvider.ProviderName),
    ];

    public static List<ModelInfo> Parse(JsonElement root)
    {
        var models = new List<ModelInfo>();
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array) return models;
        foreach (var m in data.EnumerateArray())
        {
            if (m.ValueKind != JsonValueKind.Object || GitHubDeviceFlow.Str(m, "id") is not { Length: > 0 } id) continue;
            if (!m.TryGetProperty("capabilities", out var caps) || caps.ValueKind != JsonValueKind.Object || GitHubDeviceFlow.Str(caps, "type") != "chat") continue;
            int? context = null, output = null, prompt = null;
            if (caps.TryGetProperty("limits", out var limits) && limits.ValueKind == JsonValueKind.Object)
            {
                context = Positive(limits, "max_context_window_tokens");
                output = Positive(limits, "max_output_tokens");
                prompt = Positive(limits, "max_prompt_tokens");
            }
            var window = context ?? (prompt + output) ?? prompt ?? DefaultContextWindow;
            models.Add(new ModelInfo(id, GitHubDeviceFlow.Str(m, "name") ?? id, window, Math.Min(output ?? DefaultMaxOutputTokens, window), CopilotProvider.ProviderName));
        }
        return models;
    }

    private static int? Positive(JsonElement obj, string name)
        => GitHubDeviceFlow.Int(obj, name) is { } n && n > 0 && n <= int.MaxValue ? (int)n : null;
}
