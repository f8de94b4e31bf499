using Gapura.Conversations;
using Gapura.Providers.Accounts;

namespace Gapura.Providers.Bedrock;

/// <summary>
/// Where the signing credentials come from: the keys in settings, or a profile of the shared AWS credentials
/// file. The file is read with a small INI reader rather than AWSSDK.Core's <c>SharedCredentialsFile</c>, to
/// keep the SDK out of the gateway (see <see cref="SigV4Signer"/>). It is re-read when it changes, so keys
/// rotated by <c>aws configure</c> or a credential helper are picked up without a restart.
/// </summary>
internal sealed class BedrockCredentialSource
{
    private readonly BedrockOptions _options;
    private readonly object _gate = new();
    private (DateTime WriteTime, AwsCredentials Credentials)? _cached;

    public BedrockCredentialSource(BedrockOptions options) => _options = options;

    public AwsCredentials Get()
    {
        if (!string.IsNullOrWhiteSpace(_options.AccessKeyId) && !string.IsNullOrWhiteSpace(_options.SecretAccessKey))
            return new AwsCredentials(_options.AccessKeyId.Trim(), _options.SecretAccessKey.Trim(),
                string.IsNullOrWhiteSpace(_options.SessionToken) ? null : _options.SessionToken.Trim());
        if (string.IsNullOrWhiteSpace(_options.Profile))
            throw new GatewayException(ErrorKind.UpstreamLogin, "Bedrock has no credentials: set Providers:Bedrock:AccessKeyId and SecretAccessKey, or Providers:Bedrock:Profile.");

        var path = CredentialsFilePath(_options.CredentialsFile);
        DateTime writeTime;
        try { writeTime = File.GetLastWriteTimeUtc(path); }
        catch (IOException) { writeTime = DateTime.MinValue; }
        lock (_gate)
        {
            if (_cached is { } c && c.WriteTime == writeTime && writeTime != DateTime.MinValue) return c.Credentials;
            var credentials = ReadProfile(path, _options.Profile.Trim());
            _cached = (writeTime, credentials);
            return credentials;
        }
    }

    public static string CredentialsFilePath(string? configured)
    {
        if (!string.IsNullOrWhiteSpace(configured)) return configured;
        if (Environment.GetEnvironmentVariable("AWS_SHARED_CREDENTIALS_FILE") is { Length: > 0 } env) return env;
        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".aws", "credentials");
    }

    /// <summary>Reads <c>[profile]</c> from an AWS credentials file (INI: <c>key = value</c>, <c>#</c>/<c>;</c> comments).</summary>
    public static AwsCredentials ReadProfile(string path, string profile)
    {
        if (!File.Exists(path))
            throw new GatewayException(ErrorKind.UpstreamLogin, $"Bedrock profile '{profile}': the AWS credentials file {path} does not exist.");
        string? section = null;
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var found = false;
        foreach (var rawLine in File.ReadLines(path))
        {
            var line = rawLine.Trim();
            if (line.Length == 0 || line[0] is '#' or ';') continue;
            if (line[0] == '[' && line[^1] == ']')
            {
                section = line[1..^1].Trim();
                // ~/.aws/config spells sections "profile name"; the credentials file uses the bare name. Accept both.
                if (section.StartsWith("profile ", StringComparison.Ordinal)) section = section["profile ".Length..].Trim();
                if (section == profile) found = true;
                continue;
            }
            if (section != profile) continue;
            var eq = line.IndexOf('=');
            if (eq <= 0) continue;
            values[line[..eq].Trim()] = line[(eq + 1)..].Trim();
        }
        if (!found) throw new GatewayException(ErrorKind.UpstreamLogin, $"Bedrock profile '{profile}' is not in {path}.");
        if (!values.TryGetValue("aws_access_key_id", out var id) || id.Length == 0
            || !values.TryGetValue("aws_secret_access_key", out var secret) || secret.Length == 0)
            throw new GatewayException(ErrorKind.UpstreamLogin,
                $"Bedrock profile '{profile}' in {path} has no aws_access_key_id/aws_secret_access_key (SSO and role profiles are not supported; export keys into the file).");
        values.TryGetValue("aws_session_token", out var token);
        return new AwsCredentials(id, secret, string.IsNullOrEmpty(token) ? null : token);
    }
}

/// <summary>
/// The gateway's own Bedrock account, from the settings. Its keys are read through
/// <see cref="BedrockCredentialSource"/> on every call, so keys rotated in the credentials file are used
/// without a restart; it has no region of its own, so calls go to <c>Providers:Bedrock:Region</c>.
/// </summary>
internal sealed class BedrockProcessAccount(BedrockCredentialSource credentials) : IUpstreamAccount
{
    public string Label => ProcessAccount.ProcessLabel;

    public ValueTask<AccountSecret> GetSecretAsync(bool forceRefresh, CancellationToken ct)
    {
        var keys = credentials.Get();
        return ValueTask.FromResult(new AccountSecret
        {
            Kind = AccountSecret.AwsKind,
            AccessKeyId = keys.AccessKeyId,
            SecretAccessKey = keys.SecretAccessKey,
            SessionToken = keys.SessionToken,
        });
    }

    /// <summary>The account the settings describe (a region and keys or a profile), or null when they give none.</summary>
    public static BedrockProcessAccount? From(BedrockOptions options) => options.IsConfigured ? new(new BedrockCredentialSource(options)) : null;
}
