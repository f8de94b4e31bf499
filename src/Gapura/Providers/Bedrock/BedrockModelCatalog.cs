using System.Text.RegularExpressions;
using Gapura.Conversations;
using Gapura.Providers.Accounts;
using Gapura.Routing;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Bedrock;

/// <summary>
/// The Bedrock models this gateway offers: the configured ids (<c>Providers:Bedrock:Models</c>) or a built-in
/// list of Claude models. No call to the control plane: what an account may invoke depends on model access
/// grants that ListFoundationModels does not show, so the operator's list is the truth.
/// Resolution: optional <c>bedrock/</c> prefix → exact id → a cross-region inference profile id
/// (<c>us.anthropic…</c>, sent as given) → a short name (<c>claude-sonnet-4-5</c>, <c>claude-sonnet-4.5</c>) → 400.
/// While nobody has a Bedrock account (the gateway's own or a user's), it offers nothing.
/// </summary>
internal sealed partial class BedrockModelCatalog : IModelCatalog
{
    public const string Prefix = "bedrock/";

    /// <summary>
    /// What each model family takes through Converse, as AWS documents it, by base-id prefix, most specific first.
    /// Null where a family is mixed or unclear: unknown is allowed, while a wrong "no" would refuse good requests.
    /// Declared before <see cref="BuiltIn"/>, which is built from it (static fields initialise in text order).
    /// </summary>
    private static readonly (string Prefix, bool? Images, bool? Tools, bool? Thinking)[] Families =
    [
        ("anthropic.claude-3-7", true, true, true),
        ("anthropic.claude-3", true, true, false),
        ("anthropic.claude", true, true, true),
        ("amazon.nova-micro", false, true, null),
        ("amazon.nova", true, true, null),
        ("amazon.titan-text", false, false, false),
        ("meta.llama3-2-11b", true, null, false),
        ("meta.llama3-2-90b", true, null, false),
        ("meta.llama4", true, null, false),
        ("meta.llama", false, null, false),
        ("mistral.pixtral", true, true, null),
        ("mistral.", false, null, null),
        ("cohere.command-r", false, true, false),
        ("cohere.command", false, false, false),
        ("deepseek.r1", false, false, true),
    ];

    // Limits as Anthropic publishes them for these models.
    internal static readonly IReadOnlyList<ModelInfo> BuiltIn = [.. new ModelInfo[]
    {
        new("anthropic.claude-sonnet-4-5-20250929-v1:0", "Claude Sonnet 4.5 (Bedrock)", 200_000, 64_000, "bedrock"),
        new("anthropic.claude-haiku-4-5-20251001-v1:0", "Claude Haiku 4.5 (Bedrock)", 200_000, 64_000, "bedrock"),
        new("anthropic.claude-opus-4-5-20251101-v1:0", "Claude Opus 4.5 (Bedrock)", 200_000, 64_000, "bedrock"),
        new("anthropic.claude-opus-4-1-20250805-v1:0", "Claude Opus 4.1 (Bedrock)", 200_000, 32_000, "bedrock"),
        new("anthropic.claude-sonnet-4-20250514-v1:0", "Claude Sonnet 4 (Bedrock)", 200_000, 64_000, "bedrock"),
        new("anthropic.claude-opus-4-20250514-v1:0", "Claude Opus 4 (Bedrock)", 200_000, 32_000, "bedrock"),
        new("anthropic.claude-3-7-sonnet-20250219-v1:0", "Claude 3.7 Sonnet (Bedrock)", 200_000, 64_000, "bedrock"),
        new("anthropic.claude-3-5-haiku-20241022-v1:0", "Claude 3.5 Haiku (Bedrock)", 200_000, 8_192, "bedrock"),
    }.Select(WithCapabilities)];

    private const int DefaultContext = 200_000;
    private const int DefaultOutput = 8_192;

    private readonly IReadOnlyList<ModelInfo> _models;
    private readonly string? _profilePrefix;
    private readonly ProviderAccounts? _accounts;

    public BedrockModelCatalog(IOptions<BedrockOptions> options, ProviderAccounts? accounts = null)
    {
        _accounts = accounts;
        var o = options.Value;
        _profilePrefix = string.IsNullOrWhiteSpace(o.InferenceProfilePrefix) ? null : o.InferenceProfilePrefix.Trim().TrimEnd('.');
        _models = o.Models.Count == 0
            ? BuiltIn
            : o.Models.Where(m => !string.IsNullOrWhiteSpace(m)).Select(m => Describe(m.Trim())).DistinctBy(m => m.Id, StringComparer.OrdinalIgnoreCase).ToList();
    }

    /// <summary>No account anywhere, no models: the provider is not in use on this gateway.</summary>
    private bool InUse => _accounts is null || _accounts.HasAnyAccount;

    public ValueTask<IReadOnlyList<ModelInfo>> ListAsync(CancellationToken ct) => ValueTask.FromResult(InUse ? _models : []);

    public bool Serves(Identity.Caller? caller) => _accounts is null || _accounts.CanServe(caller);

    public ValueTask<ResolvedModel> ResolveAsync(string clientModelName, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(clientModelName)) throw GatewayException.BadRequest("model: a model name is required.");
        if (!InUse) throw GatewayException.BadRequest($"model: '{clientModelName}' is not available: nobody has connected a Bedrock account to this gateway.");
        var name = clientModelName.Trim();
        var prefixed = name.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase);
        if (prefixed) name = name[Prefix.Length..];

        if (Find(name) is { } exact) return Resolved(clientModelName, exact);

        // An inference profile id names its base model after the geography prefix: accepted as given when the
        // base model is offered, or whenever the client asked for Bedrock explicitly.
        if (ProfileId().Match(name) is { Success: true } profile)
        {
            var baseId = profile.Groups["base"].Value;
            if (Find(baseId) is { } offered) return Resolved(clientModelName, offered with { Id = name });
            if (prefixed) return Resolved(clientModelName, Describe(name));
        }

        var shortName = Shorten(name);
        var match = _models.FirstOrDefault(m => Shorten(m.Id) == shortName || Shorten(m.Id) == shortName + "-" + DateOf(m.Id));
        if (match is not null)
        {
            // Short names go through the configured profile, since newer models are not served on demand without one.
            var id = _profilePrefix is not null && !ProfileId().IsMatch(match.Id) ? $"{_profilePrefix}.{match.Id}" : match.Id;
            return Resolved(clientModelName, match with { Id = id });
        }

        // Bedrock explicitly asked for, with a full foundation model id we have no limits for: sent as given.
        if (prefixed && name.Contains('.', StringComparison.Ordinal)) return Resolved(clientModelName, Describe(name));

        throw GatewayException.BadRequest(
            $"model: '{clientModelName}' is not available on Bedrock. Available models: {string.Join(", ", _models.Select(m => m.Id))}.");
    }

    private static ValueTask<ResolvedModel> Resolved(string requested, ModelInfo model) => ValueTask.FromResult(new ResolvedModel(requested, model));

    private ModelInfo? Find(string id) => _models.FirstOrDefault(m => string.Equals(m.Id, id, StringComparison.OrdinalIgnoreCase));

    /// <summary>A configured id with the built-in limits of its base model when known.</summary>
    private static ModelInfo Describe(string id)
    {
        var baseId = ProfileId().Match(id) is { Success: true } p ? p.Groups["base"].Value : id;
        var known = BuiltIn.FirstOrDefault(m => string.Equals(m.Id, baseId, StringComparison.OrdinalIgnoreCase));
        return known is not null ? known with { Id = id } : WithCapabilities(new ModelInfo(id, id, DefaultContext, DefaultOutput, "bedrock"));
    }

    /// <summary>The model with its family's capabilities (<see cref="Families"/>); an inference profile's geography prefix is looked through.</summary>
    internal static ModelInfo WithCapabilities(ModelInfo model)
    {
        var baseId = ProfileId().Match(model.Id) is { Success: true } p ? p.Groups["base"].Value : model.Id;
        foreach (var (prefix, images, tools, thinking) in Families)
            if (baseId.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
                return model with { SupportsImages = images, SupportsTools = tools, SupportsThinking = thinking };
        return model;
    }

    /// <summary><c>anthropic.claude-sonnet-4-5-20250929-v1:0</c> → <c>claude-sonnet-4-5</c>; <c>Claude-Sonnet-4.5</c> → <c>claude-sonnet-4-5</c>.</summary>
    internal static string Shorten(string id)
    {
        var s = id.ToLowerInvariant().Replace('.', '-');
        if (ProfileId().Match(id) is { Success: true } p) s = p.Groups["base"].Value.ToLowerInvariant().Replace('.', '-');
        if (s.StartsWith("anthropic-", StringComparison.Ordinal)) s = s["anthropic-".Length..];
        s = VersionSuffix().Replace(s, "");
        s = DateSuffix().Replace(s, "");
        return s;
    }

    private static string DateOf(string id) => DateSuffixCapture().Match(id) is { Success: true } m ? m.Groups[1].Value : "";

    [GeneratedRegex(@"^(?<geo>us|eu|apac|au|jp|ca|us-gov|global)\.(?<base>[a-z0-9-]+\..+)$", RegexOptions.IgnoreCase)]
    private static partial Regex ProfileId();

    [GeneratedRegex(@"-v\d+(:\d+)?$")]
    private static partial Regex VersionSuffix();

    [GeneratedRegex(@"-\d{8}$")]
    private static partial Regex DateSuffix();

    [GeneratedRegex(@"-(\d{8})-v\d+")]
    private static partial Regex DateSuffixCapture();
}
