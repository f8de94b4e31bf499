using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace Gapura.Providers.Accounts;

/// <summary>
/// What an upstream account signs in with, as stored (encrypted) in a user's upstream login or built from
/// the process-wide settings. One shape for every provider but Kiro (whose logins keep the Kiro IDE's file
/// format): <see cref="Kind"/> says which fields are meaningful. Never logged, never returned by the API.
/// </summary>
internal sealed partial record AccountSecret
{
    public const string ApiKeyKind = "api_key";
    public const string OAuthKind = "oauth";
    public const string GitHubKind = "github";
    public const string AwsKind = "aws";

    [JsonPropertyName("kind")] public required string Kind { get; init; }

    /// <summary>An API key (Anthropic <c>x-api-key</c>, OpenAI / compatible bearer key).</summary>
    [JsonPropertyName("api_key")] public string? ApiKey { get; init; }

    /// <summary>OAuth sign-in (Claude, ChatGPT): the bearer token, how to renew it, and when it runs out.</summary>
    [JsonPropertyName("access_token")] public string? AccessToken { get; init; }
    [JsonPropertyName("refresh_token")] public string? RefreshToken { get; init; }
    [JsonPropertyName("expires_at")] public long? ExpiresAtUnixSeconds { get; init; }

    /// <summary>The account behind an OAuth sign-in where the upstream needs it named (ChatGPT's <c>chatgpt-account-id</c>).</summary>
    [JsonPropertyName("account_id")] public string? AccountId { get; init; }

    /// <summary>A GitHub OAuth token (Copilot), exchanged for short-lived Copilot tokens.</summary>
    [JsonPropertyName("github_token")] public string? GitHubToken { get; init; }

    /// <summary>AWS access keys (Bedrock) and the region they are used in.</summary>
    [JsonPropertyName("access_key_id")] public string? AccessKeyId { get; init; }
    [JsonPropertyName("secret_access_key")] public string? SecretAccessKey { get; init; }
    [JsonPropertyName("session_token")] public string? SessionToken { get; init; }
    [JsonPropertyName("region")] public string? Region { get; init; }

    [JsonIgnore]
    public DateTimeOffset? ExpiresAt => ExpiresAtUnixSeconds is { } s ? DateTimeOffset.FromUnixTimeSeconds(s) : null;

    public static AccountSecret ForApiKey(string key) => new() { Kind = ApiKeyKind, ApiKey = key };

    public string Serialize() => JsonSerializer.Serialize(this, AccountSecretJson.Default.AccountSecret);

    /// <exception cref="InvalidDataException">The stored text is not an account secret, or misses what its kind needs.</exception>
    public static AccountSecret Parse(string text)
    {
        AccountSecret? secret;
        try
        {
            secret = JsonSerializer.Deserialize(text, AccountSecretJson.Default.AccountSecret);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException("The stored account is not valid JSON: " + e.Message);
        }
        if (secret is null) throw new InvalidDataException("The stored account is empty.");
        if (secret.Problem() is { } problem) throw new InvalidDataException(problem);
        return secret;
    }

    /// <summary>What is missing for this kind of account, or null when it is complete.</summary>
    public string? Problem() => Kind switch
    {
        ApiKeyKind => string.IsNullOrWhiteSpace(ApiKey) ? "api_key: an API key is required." : null,
        OAuthKind => string.IsNullOrWhiteSpace(AccessToken) && string.IsNullOrWhiteSpace(RefreshToken) ? "an OAuth sign-in needs an access or refresh token." : null,
        GitHubKind => string.IsNullOrWhiteSpace(GitHubToken) ? "github_token: a GitHub token is required." : null,
        AwsKind => string.IsNullOrWhiteSpace(AccessKeyId) || string.IsNullOrWhiteSpace(SecretAccessKey) ? "access_key_id and secret_access_key are required."
            // The region becomes part of the endpoint's host name: only a region's shape may go there.
            : Region is not null && !AwsRegion().IsMatch(Region) ? $"region: '{Region}' is not an AWS region name (e.g. us-east-1)."
            : null,
        _ => $"kind: '{Kind}' is not a known kind of account (api_key, oauth, github, aws).",
    };

    [GeneratedRegex("^[a-z]{2,}(-[a-z0-9]+){1,4}$")]
    private static partial Regex AwsRegion();
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AccountSecret))]
internal sealed partial class AccountSecretJson : JsonSerializerContext;
