using System.ComponentModel.DataAnnotations;

namespace Gapura.Providers.Bedrock;

/// <summary>
/// Settings of the Amazon Bedrock provider (section <c>Providers:Bedrock</c>). A region and credentials (keys
/// or a shared profile) make the gateway's own account; without them Bedrock serves only users who connected
/// AWS keys of their own.
/// </summary>
public sealed class BedrockOptions
{
    public const string Section = "Providers:Bedrock";

    /// <summary>The gateway's region, and the region of users' accounts that name none.</summary>
    public string? Region { get; set; }

    public string? AccessKeyId { get; set; }

    public string? SecretAccessKey { get; set; }

    /// <summary>For temporary credentials (STS, SSO): sent as <c>x-amz-security-token</c>.</summary>
    public string? SessionToken { get; set; }

    /// <summary>Whether users without a Bedrock account of their own may use the gateway's (changeable at run time in the settings table).</summary>
    public bool ShareProcessLogin { get; set; } = true;

    /// <summary>A profile of the shared AWS credentials file, used when no keys are set.</summary>
    public string? Profile { get; set; }

    /// <summary>The shared credentials file; default <c>AWS_SHARED_CREDENTIALS_FILE</c>, else <c>~/.aws/credentials</c>.</summary>
    public string? CredentialsFile { get; set; }

    /// <summary>Runtime endpoint; <c>{region}</c> is replaced. Overridable for the simulator or a VPC endpoint.</summary>
    public string Endpoint { get; set; } = "https://bedrock-runtime.{region}.amazonaws.com";

    /// <summary>
    /// Model ids offered (foundation model ids or inference profile ids). Empty: the built-in Claude list.
    /// Limits come from the built-in list when the id (or the id under a profile prefix) is known.
    /// </summary>
    public List<string> Models { get; set; } = [];

    /// <summary>
    /// A cross-region inference profile prefix (<c>us</c>, <c>eu</c>, <c>apac</c>, <c>global</c>) put in front
    /// of foundation model ids resolved from short names: newer Claude models are served on demand only
    /// through a profile. Ids the client gives in full are sent as given.
    /// </summary>
    public string? InferenceProfilePrefix { get; set; }

    /// <summary>Attempts for retryable failures (429, 5xx, connection errors) before the first byte.</summary>
    [Range(1, 10)]
    public int MaxAttempts { get; set; } = 3;

    [Range(0d, 60_000d)]

    public double RetryBaseDelayMilliseconds { get; set; } = 500;

    /// <summary>Longest wait between retries, including a Retry-After the upstream asked for.</summary>
    [Range(0d, 3600d)]
    public double MaxRetryDelaySeconds { get; set; } = 10;

    /// <summary>Thinking budget used when the client gives only an effort word (OpenAI reasoning_effort).</summary>
    [Range(0, 1_000_000)]
    public int DefaultThinkingBudget { get; set; } = 8_192;

    public string UserAgent { get; set; } = "gapura/0.1";

    /// <summary>The runtime endpoint of <paramref name="region"/> (an endpoint without <c>{region}</c> serves every region).</summary>
    public string EndpointFor(string region) => Endpoint.Replace("{region}", region, StringComparison.Ordinal).TrimEnd('/');

    /// <summary>Whether the settings give the gateway an account of its own: a region and credentials.</summary>
    public bool IsConfigured => !string.IsNullOrWhiteSpace(Region)
        && (!string.IsNullOrWhiteSpace(AccessKeyId) && !string.IsNullOrWhiteSpace(SecretAccessKey) || !string.IsNullOrWhiteSpace(Profile));
}
