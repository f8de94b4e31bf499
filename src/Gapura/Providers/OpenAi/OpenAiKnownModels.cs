using Gapura.Routing;

namespace Gapura.Providers.OpenAi;

/// <summary>
/// What OpenAI's <c>/models</c> does not say: context windows and output caps (as published by OpenAI),
/// which models are for chat at all, and which reason. Matched by prefix so dated snapshots
/// (<c>gpt-4o-2024-08-06</c>) inherit their family's limits.
/// </summary>
internal static class OpenAiKnownModels
{
    public const int DefaultContextWindow = 128_000;
    public const int DefaultMaxOutputTokens = 16_384;

    // Longest prefix first: "gpt-5-chat" before "gpt-5", "o1-mini" before "o1".
    private static readonly (string Prefix, int Context, int Output)[] Limits =
    [
        ("gpt-5-chat", 128_000, 16_384),
        ("gpt-5", 400_000, 128_000),
        ("gpt-4.1", 1_047_576, 32_768),
        ("gpt-4o", 128_000, 16_384),
        ("gpt-4-turbo", 128_000, 4_096),
        ("gpt-4", 8_192, 8_192),
        ("gpt-3.5-turbo", 16_385, 4_096),
        ("o1-mini", 128_000, 65_536),
        ("o1", 200_000, 100_000),
        ("o3", 200_000, 100_000),
        ("o4-mini", 200_000, 100_000),
    ];

    /// <summary>Served when <c>/models</c> cannot be read, so the provider still routes the common names.</summary>
    public static readonly IReadOnlyList<string> BuiltInIds =
        ["gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o", "gpt-4o-mini", "o3", "o4-mini"];

    // Ids /models lists that chat completions cannot serve.
    private static readonly string[] NotChat =
        ["embedding", "tts", "whisper", "dall-e", "moderation", "realtime", "transcribe", "image", "davinci", "babbage", "sora", "search-api", "computer-use"];

    public static (int ContextWindow, int MaxOutputTokens)? LimitsOf(string id)
    {
        foreach (var (prefix, context, output) in Limits)
            if (id.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)) return (context, output);
        return null;
    }

    public static bool IsChatModel(string id) => !NotChat.Any(n => id.Contains(n, StringComparison.OrdinalIgnoreCase));

    /// <summary>Reasoning models take <c>reasoning_effort</c>; the others answer 400 to it.</summary>
    public static bool Reasons(string id)
        => !id.StartsWith("gpt-5-chat", StringComparison.OrdinalIgnoreCase)
           && (id.StartsWith("gpt-5", StringComparison.OrdinalIgnoreCase) || id.StartsWith("o1", StringComparison.OrdinalIgnoreCase)
               || id.StartsWith("o3", StringComparison.OrdinalIgnoreCase) || id.StartsWith("o4", StringComparison.OrdinalIgnoreCase));

    public static ModelInfo Info(string id, string provider)
    {
        var (context, output) = LimitsOf(id) ?? (DefaultContextWindow, DefaultMaxOutputTokens);
        return new ModelInfo(id, id, context, output, provider);
    }
}
