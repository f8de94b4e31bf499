using Gapura.Routing;

namespace Gapura.Providers.OpenAi;

/// <summary>
/// What OpenAI's <c>/models</c> does not say: context windows and output caps (as published by OpenAI),
/// which take images and tools, which models are for chat at all, and which reason. Matched by prefix so dated snapshots
/// (<c>gpt-4o-2024-08-06</c>) inherit their family's limits.
/// </summary>
internal static class OpenAiKnownModels
{
    public const int DefaultContextWindow = 128_000;
    public const int DefaultMaxOutputTokens = 16_384;

    // Longest prefix first: "gpt-5-chat" before "gpt-5", "o1-mini" before "o1". Images and Tools as OpenAI
    // publishes them; null where a family is mixed or unclear (unknown is allowed, a wrong "no" would refuse).
    private static readonly (string Prefix, int Context, int Output, bool? Images, bool? Tools)[] Limits =
    [
        ("gpt-5-chat", 128_000, 16_384, true, null),
        ("gpt-5", 400_000, 128_000, true, true),
        ("gpt-4.1", 1_047_576, 32_768, true, true),
        ("gpt-4o", 128_000, 16_384, true, true),
        ("gpt-4-turbo", 128_000, 4_096, true, true),
        ("gpt-4.5", 128_000, 16_384, true, true),
        ("gpt-4", 8_192, 8_192, false, true),
        ("gpt-3.5-turbo", 16_385, 4_096, false, true),
        ("o1-mini", 128_000, 65_536, false, false),
        ("o1-preview", 128_000, 32_768, false, false),
        ("o1", 200_000, 100_000, true, true),
        ("o3-mini", 200_000, 100_000, false, true),
        ("o3", 200_000, 100_000, true, true),
        ("o4-mini", 200_000, 100_000, true, true),
    ];

    /// <summary>Served when <c>/models</c> cannot be read, so the provider still routes the common names.</summary>
    public static readonly IReadOnlyList<string> BuiltInIds =
        ["gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o", "gpt-4o-mini", "o3", "o4-mini"];

    // Ids /models lists that chat completions cannot serve.
    private static readonly string[] NotChat =
        ["embedding", "tts", "whisper", "dall-e", "moderation", "realtime", "transcribe", "image", "davinci", "babbage", "sora", "search-api", "computer-use"];

    private static (string Prefix, int Context, int Output, bool? Images, bool? Tools)? Known(string id)
    {
        foreach (var known in Limits)
            if (id.StartsWith(known.Prefix, StringComparison.OrdinalIgnoreCase)) return known;
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
        var known = Known(id);
        return new ModelInfo(id, id, known?.Context ?? DefaultContextWindow, known?.Output ?? DefaultMaxOutputTokens, provider)
        {
            SupportsImages = known?.Images,
            SupportsTools = known?.Tools,
            SupportsThinking = Reasons(id),
        };
    }
}
