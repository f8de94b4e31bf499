using Gapura.Api.Admin;

namespace Gapura.Providers.Accounts;

/// <summary>Which kind of key-based account each provider takes, so the admin API and the CLI build the same secret.</summary>
internal static class AccountKinds
{
    public const string Copilot = "copilot";
    public const string Bedrock = "bedrock";

    /// <summary>The kind a provider's key-based accounts are: a GitHub token for Copilot, AWS keys for Bedrock, an API key elsewhere.</summary>
    public static string KeyKindOf(string provider) => provider switch
    {
        Copilot => AccountSecret.GitHubKind,
        Bedrock => AccountSecret.AwsKind,
        _ => AccountSecret.ApiKeyKind,
    };

    /// <summary>The kind of an account's secret, known without reading it (null for an account type that does not say).</summary>
    public static string? Of(IUpstreamAccount account) => account switch
    {
        UserAccount user => user.Kind,
        ProcessAccount process => process.Secret.Kind,
        _ => null,
    };

    /// <summary>How people write the provider's name in prose.</summary>
    public static string DisplayName(string provider) => provider switch
    {
        "kiro" => "Kiro",
        "anthropic" => "Anthropic",
        "openai" => "OpenAI",
        Copilot => "Copilot",
        Bedrock => "Bedrock",
        _ => provider,
    };

    public static AccountSecret FromRequest(string provider, ConnectAccountRequest request) => KeyKindOf(provider) switch
    {
        AccountSecret.GitHubKind => new AccountSecret { Kind = AccountSecret.GitHubKind, GitHubToken = request.GitHubToken?.Trim() },
        AccountSecret.AwsKind => new AccountSecret
        {
            Kind = AccountSecret.AwsKind,
            AccessKeyId = request.AccessKeyId?.Trim(),
            SecretAccessKey = request.SecretAccessKey?.Trim(),
            SessionToken = string.IsNullOrWhiteSpace(request.SessionToken) ? null : request.SessionToken.Trim(),
            Region = string.IsNullOrWhiteSpace(request.Region) ? null : request.Region.Trim(),
        },
        _ => AccountSecret.ForApiKey(request.ApiKey?.Trim() ?? ""),
    };
}
