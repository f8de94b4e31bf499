namespace Gapura.Simulators.Kiro;

/// <summary>One entry of ListAvailableModels.</summary>
public sealed record KiroModel(string ModelId, string ModelName, string Description, int MaxInputTokens, int MaxOutputTokens);

/// <summary>The catalogue the simulator serves by default, with limits like the service announces.</summary>
public static class KiroModelCatalog
{
    public static IReadOnlyList<KiroModel> Default { get; } =
    [
        new("auto", "Auto", "Models chosen by task for optimal usage and consistent quality", 200_000, 64_000),
        new("claude-sonnet-4.5", "Claude Sonnet 4.5", "The latest Claude Sonnet model", 200_000, 64_000),
        new("claude-sonnet-4", "Claude Sonnet 4", "Hybrid reasoning and coding for regular use", 200_000, 64_000),
        new("claude-haiku-4.5", "Claude Haiku 4.5", "The latest Claude Haiku model", 200_000, 64_000),
        new("claude-opus-4.6", "Claude Opus 4.6", "The most capable Claude model for complex work", 200_000, 128_000),
        new("claude-3.7-sonnet", "Claude 3.7 Sonnet", "Legacy hybrid reasoning model", 200_000, 64_000),
        new("qwen3-coder-next", "Qwen3 Coder Next", "Open-weight coding model (experimental)", 256_000, 65_536),
    ];
}
