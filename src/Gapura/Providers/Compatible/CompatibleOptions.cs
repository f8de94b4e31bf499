using Gapura.Providers.OpenAi;

namespace Gapura.Providers.Compatible;

/// <summary>
/// One compatible server: <c>Providers:Compatible:&lt;name&gt;:BaseUrl</c> (+ <c>ApiKey</c>, <c>Models</c>, …).
/// Read by hand rather than bound, because <c>Models</c> may be a comma list or an array.
/// </summary>
internal sealed class CompatibleServerOptions
{
    public const string Section = "Providers:Compatible";

    /// <summary>Admin allow-list of base-URL prefixes (<c>Providers:Compatible:AllowedBaseUrls</c>); not a server name.</summary>
    public const string AllowedBaseUrlsKey = "AllowedBaseUrls";

    /// <summary>Names the gateway's own providers use; a compatible server cannot take them.</summary>
    public static readonly string[] ReservedNames = ["openai", "kiro", "anthropic", "copilot", "bedrock", "gapura"];

    public required string Name { get; init; }

    /// <summary>Including the version segment: <c>http://localhost:11434/v1</c>.</summary>
    public required string BaseUrl { get; init; }

    public string? ApiKey { get; init; }

    /// <summary>Configured model ids; empty: read from the server's <c>/models</c>.</summary>
    public IReadOnlyList<string> Models { get; init; } = [];

    /// <summary>
    /// <c>TextOnlyModels</c>: models that accept no images — ids, or prefixes ending in <c>*</c> (<c>*</c> alone: all
    /// of them). A request with images to one of them is a 400 (or goes to another provider) instead of the
    /// server dropping the images. Models listed nowhere are assumed capable unless the server's <c>/models</c> says otherwise.
    /// </summary>
    public IReadOnlyList<string> TextOnlyModels { get; init; } = [];

    /// <summary><c>NoToolModels</c>: models that cannot call tools, in the same form as <see cref="TextOnlyModels"/>.</summary>
    public IReadOnlyList<string> NoToolModels { get; init; } = [];

    /// <summary>
    /// <c>AllowLinkLocal</c>: lets the base URL resolve to link-local or cloud-metadata addresses
    /// (169.254.0.0/16, fe80::/10, fd00:ec2::254, metadata.google.internal). Off by default, because a
    /// gateway that fetches such an address on request hands out the machine's cloud credentials.
    /// </summary>
    public bool AllowLinkLocal { get; init; }

    /// <summary>Context window assumed for models the server does not describe.</summary>
    public int ContextWindow { get; init; } = 32_768;

    /// <summary>Output cap for its models; the gateway fills in max_tokens with it when a client leaves it out.</summary>
    public int MaxOutputTokens { get; init; } = 4_096;

    /// <summary>Send <c>max_completion_tokens</c> instead of <c>max_tokens</c> (for proxies in front of OpenAI's reasoning models).</summary>
    public bool UseMaxCompletionTokens { get; init; }

    public RetrySettings Retry { get; init; } = RetrySettings.Default;

    /// <summary>
    /// <c>Api</c>: <c>chat</c> (default; most servers implement only chat completions) or <c>responses</c> for a
    /// server that implements <c>/responses</c>, whose Responses front door requests then pass through.
    /// </summary>
    public OpenAiApi Api { get; init; } = OpenAiApi.ChatCompletions;

    public double ModelsRefreshMinutes { get; init; } = 10;

    /// <summary>
    /// Whether users who connected no key of their own for this server use the configured one (or none, for a
    /// keyless server). False on a company proxy that bills per user: each user must bring their key.
    /// </summary>
    public bool ShareProcessLogin { get; init; } = true;

    /// <summary>Every configured server, in name order (configuration sorts keys). Throws with the setting's name on a bad entry.</summary>
    public static List<CompatibleServerOptions> ReadAll(IConfiguration configuration)
    {
        var servers = new List<CompatibleServerOptions>();
        foreach (var section in configuration.GetSection(Section).GetChildren())
        {
            if (section.Key.Equals(AllowedBaseUrlsKey, StringComparison.OrdinalIgnoreCase)) continue;
            var name = section.Key.Trim().ToLowerInvariant();
            var path = $"{Section}:{section.Key}";
            if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
                throw new InvalidOperationException($"{path}: a compatible server's name may hold letters, digits, '-', '_' and '.' only.");
            if (ReservedNames.Contains(name))
                throw new InvalidOperationException($"{path}: '{name}' is the name of a built-in provider; choose another name.");
            var baseUrl = section["BaseUrl"];
            if (string.IsNullOrWhiteSpace(baseUrl)) throw new InvalidOperationException($"{path}:BaseUrl is required.");
            var defaults = new CompatibleServerOptions { Name = name, BaseUrl = "" };
            servers.Add(new CompatibleServerOptions
            {
                Name = name,
                BaseUrl = baseUrl.Trim().TrimEnd('/'),
                ApiKey = string.IsNullOrWhiteSpace(section["ApiKey"]) ? null : section["ApiKey"]!.Trim(),
                Models = ReadList(section.GetSection("Models")),
                TextOnlyModels = ReadList(section.GetSection("TextOnlyModels")),
                NoToolModels = ReadList(section.GetSection("NoToolModels")),
                AllowLinkLocal = section.GetValue("AllowLinkLocal", false),
                ContextWindow = section.GetValue("ContextWindow", defaults.ContextWindow),
                MaxOutputTokens = section.GetValue("MaxOutputTokens", defaults.MaxOutputTokens),
                UseMaxCompletionTokens = section.GetValue("UseMaxCompletionTokens", false),
                Api = OpenAiEndpoint.ParseApi(section["Api"], $"{path}:Api"),
                ModelsRefreshMinutes = section.GetValue("ModelsRefreshMinutes", defaults.ModelsRefreshMinutes),
                ShareProcessLogin = section.GetValue("ShareProcessLogin", true),
                Retry = new RetrySettings(
                    section.GetValue("MaxAttempts", RetrySettings.Default.MaxAttempts),
                    section.GetValue("RetryBaseDelayMilliseconds", RetrySettings.Default.BaseDelayMilliseconds),
                    section.GetValue("MaxRetryDelaySeconds", RetrySettings.Default.MaxDelaySeconds)),
            });
        }
        return servers;
    }

    /// <summary>Whether <paramref name="id"/> is in a list of ids and <c>prefix*</c> patterns (case-insensitive).</summary>
    public static bool Matches(IReadOnlyList<string> patterns, string id)
    {
        foreach (var p in patterns)
        {
            if (p.EndsWith('*') ? id.StartsWith(p.AsSpan(0, p.Length - 1), StringComparison.OrdinalIgnoreCase) : id.Equals(p, StringComparison.OrdinalIgnoreCase))
                return true;
        }
        return false;
    }

    /// <summary>A comma list (<c>"a,b"</c>) or an array (<c>Models:0</c>, <c>Models:1</c>, or a JSON array).</summary>
    public static IReadOnlyList<string> ReadList(IConfigurationSection section)
    {
        var values = section.Value is { } single ? [single] : section.GetChildren().Select(c => c.Value ?? "");
        return values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Distinct(StringComparer.Ordinal).ToList();
    }
}
