using System.Globalization;
using Gapura.Conversations;
using Gapura.Providers.Accounts;
using Gapura.Providers.Bedrock;
using Gapura.Providers.Compatible;
using Gapura.Providers.Copilot;
using Gapura.Providers.Kiro;
using Gapura.Providers.Kiro.Auth;
using Gapura.Providers.Kiro.Logins;
using Gapura.Storage;

namespace Gapura.Hosting.Diagnostics;

/// <summary>
/// One upstream login the gateway can call with: where it is (a file, a setting, a user's row in the database), when
/// its access token runs out, and what is wrong with it. Never holds a secret.
/// </summary>
/// <param name="Provider">The routing name: <c>kiro</c>, <c>anthropic</c>, a compatible server's name…</param>
/// <param name="Source">Where the login is, in words a person can act on: a path, a setting name, a user's login label.</param>
/// <param name="UserId">For a user's own login: whose (null for the gateway's own).</param>
/// <param name="LoginId">For a user's own login: its row id.</param>
/// <param name="Problem">Why it cannot serve (missing, unreadable, dead); null when it looks usable.</param>
/// <param name="Fix">What to do about <paramref name="Problem"/>; null when there is none.</param>
internal sealed record UpstreamLoginFinding(
    string Provider,
    string Source,
    DateTimeOffset? ExpiresAt,
    string? Problem = null,
    string? Fix = null,
    long? UserId = null,
    long? LoginId = null,
    string? Label = null)
{
    public bool IsUserLogin => UserId is not null;

    public bool Found => Problem is null;
}

/// <summary>
/// The upstream logins the gateway has, found by local reads only (files, settings, the in-memory pools of users'
/// logins): no network call, no database round trip. The start-up summary and <c>gapura doctor</c> both read it, so
/// they never disagree about where a login is. Not for the request path.
/// </summary>
internal sealed class UpstreamLoginReport(IServiceProvider services, IConfiguration configuration)
{
    /// <summary>The providers besides compatible servers, in the order the gateway tries them.</summary>
    public static readonly string[] BuiltInProviders = [KiroLoginPool.Provider, "anthropic", "openai", AccountKinds.Bedrock, AccountKinds.Copilot];

    /// <summary>Every login found, and for Kiro a finding that says there is none (Kiro is the default upstream).</summary>
    /// <param name="userLogins">Include users' own logins (loaded from the database): false when the database cannot be used.</param>
    public IReadOnlyList<UpstreamLoginFinding> Find(bool userLogins = true)
    {
        var found = new List<UpstreamLoginFinding>();
        found.AddRange(FindKiro(userLogins));
        foreach (var provider in BuiltInProviders.Skip(1).Concat(CompatibleServerOptions.ReadAll(configuration).Select(s => s.Name)))
            found.AddRange(FindAccounts(provider, userLogins));
        return found;
    }

    /// <summary>Providers with at least one usable login (the gateway's own or a user's): the ones that offer models.</summary>
    public static IReadOnlyList<string> Enabled(IReadOnlyList<UpstreamLoginFinding> findings)
        => [.. findings.Where(f => f.Found).Select(f => f.Provider).Distinct(StringComparer.Ordinal)];

    /// <summary>What to run to give the gateway a login of its own for <paramref name="provider"/>.</summary>
    public static string LoginHint(string provider) => provider switch
    {
        KiroLoginPool.Provider => "run `gapura login kiro`",
        AccountKinds.Copilot => "run `gapura login copilot`",
        "anthropic" => "set Providers:Anthropic:ApiKey, or run `gapura login anthropic --user EMAIL`",
        "openai" => "set Providers:OpenAI:ApiKey, or run `gapura login openai --user EMAIL`",
        AccountKinds.Bedrock => "set Providers:Bedrock:Region with AccessKeyId/SecretAccessKey or Profile, or run `gapura login bedrock --user EMAIL …`",
        _ => $"set Providers:Compatible:{provider}:ApiKey, or run `gapura login {provider} --user EMAIL --api-key KEY`",
    };

    /// <summary>What to run to replace a user's dead login.</summary>
    public static string UserLoginHint(string provider, string who, string label)
        => $"run `gapura login {provider} --user {who} --label \"{label}\"`" + (provider is "kiro" or "anthropic" or "openai" or AccountKinds.Copilot ? "" : " with the new key");

    private IEnumerable<UpstreamLoginFinding> FindKiro(bool userLogins)
    {
        var store = services.GetRequiredService<KiroCredentialStore>();
        var options = services.GetRequiredService<Microsoft.Extensions.Options.IOptions<KiroOptions>>().Value;
        UpstreamLoginFinding process;
        try
        {
            var credential = store.Discover();
            process = new UpstreamLoginFinding(KiroLoginPool.Provider, Describe(credential.Source), credential.ExpiresAt);
        }
        catch (GatewayException e) when (!string.IsNullOrWhiteSpace(options.CredentialsFile))
        {
            // The configured file is used alone: signing in elsewhere cannot help, only a new file or no setting.
            process = new UpstreamLoginFinding(KiroLoginPool.Provider, "Kiro:CredentialsFile", null, e.Message,
                $"sign in again with the program that writes {options.CredentialsFile}, or remove Kiro:CredentialsFile and run `gapura login kiro`");
        }
        catch (GatewayException e)
        {
            process = new UpstreamLoginFinding(KiroLoginPool.Provider, "none", null,
                e.Message.StartsWith(KiroCredentialStore.NoLoginMessage, StringComparison.Ordinal) ? "no Kiro login found" + e.Message[KiroCredentialStore.NoLoginMessage.Length..] : e.Message,
                LoginHint(KiroLoginPool.Provider) + " (or sign in with the Kiro IDE or kiro-cli)");
        }
        yield return process;
        if (!userLogins) yield break;
        foreach (var login in (services.GetService<KiroLoginPool>()?.All ?? []).OrderBy(l => l.Id))
        {
            yield return new UpstreamLoginFinding(KiroLoginPool.Provider, $"database: user {login.UserId}, login '{login.Label}'", login.ExpiresAt,
                login.DeadReason is { } reason ? "dead: " + reason : null,
                login.IsDead ? UserLoginHint(KiroLoginPool.Provider, $"<user {login.UserId}>", login.Label) : null,
                login.UserId, login.Id, login.Label);
        }
    }

    private IEnumerable<UpstreamLoginFinding> FindAccounts(string provider, bool userLogins)
    {
        if (Accounts(provider) is not { } accounts) yield break;
        if (accounts.Process is not null) yield return new UpstreamLoginFinding(provider, ProcessSource(provider), null);
        if (!userLogins) yield break;
        foreach (var login in (services.GetService<AccountPool>()?.All ?? []).Where(a => a.Provider == provider).OrderBy(a => a.Id))
        {
            yield return new UpstreamLoginFinding(provider, $"database: user {login.UserId}, login '{login.Label}' ({login.Kind})", null,
                login.IsDead ? "dead" : null,
                login.IsDead ? UserLoginHint(provider, $"<user {login.UserId}>", login.Label) : null,
                login.UserId, login.Id, login.Label);
        }
    }

    /// <summary>The provider's accounts; null when it has none registered or they cannot be built (an unusable secrets key, which doctor reports on its own row).</summary>
    private ProviderAccounts? Accounts(string provider)
    {
        try
        {
            return services.GetKeyedService<ProviderAccounts>(provider);
        }
        catch (Exception e) when (e is Secrets.SecretKeyException or System.Security.Cryptography.CryptographicException or StorageException)
        {
            return null;
        }
    }

    /// <summary>Where the gateway's own account of a key-based provider comes from: the setting's name, never its value.</summary>
    private string ProcessSource(string provider)
    {
        switch (provider)
        {
            case "anthropic": return "setting Providers:Anthropic:ApiKey";
            case "openai": return "setting Providers:OpenAI:ApiKey";
            case AccountKinds.Copilot:
                return !string.IsNullOrWhiteSpace(configuration[$"{CopilotOptions.Section}:GitHubToken"])
                    ? "setting Providers:Copilot:GitHubToken"
                    : "file " + CopilotLoginFile.PathIn(services.GetRequiredService<KiroAuthEnvironment>().HomeDirectory);
            case AccountKinds.Bedrock:
                var bedrock = configuration.GetSection(BedrockOptions.Section).Get<BedrockOptions>() ?? new BedrockOptions();
                return !string.IsNullOrWhiteSpace(bedrock.AccessKeyId)
                    ? $"settings Providers:Bedrock:AccessKeyId/SecretAccessKey, region {bedrock.Region}"
                    : $"AWS profile '{bedrock.Profile}', region {bedrock.Region}";
            default:
                return string.IsNullOrWhiteSpace(configuration[$"{CompatibleServerOptions.Section}:{provider}:ApiKey"])
                    ? $"{configuration[$"{CompatibleServerOptions.Section}:{provider}:BaseUrl"]} (no key)"
                    : $"setting Providers:Compatible:{provider}:ApiKey";
        }
    }

    private static string Describe(KiroCredentialSource source) => source.Kind switch
    {
        KiroCredentialSourceKind.ConfiguredFile => "file " + source.Path + " (Kiro:CredentialsFile)",
        KiroCredentialSourceKind.GapuraStore => "file " + source.Path + " (gapura login kiro)",
        KiroCredentialSourceKind.KiroIde => "file " + source.Path + " (Kiro IDE)",
        KiroCredentialSourceKind.KiroCli => "database " + source.Path + " (kiro-cli)",
        _ => source.ToString(),
    };

    /// <summary>"expires 2026-12-06 10:05Z (in 52 min)" / "token expired 3 h ago, refreshed on first use".</summary>
    public static string Expiry(DateTimeOffset? expiresAt, DateTimeOffset now)
    {
        if (expiresAt is not { } at) return "does not expire";
        var when = at.ToUniversalTime().ToString("yyyy-MM-dd HH:mm'Z'", CultureInfo.InvariantCulture);
        var left = at - now;
        return left > TimeSpan.Zero
            ? $"access token expires {when} (in {Span(left)})"
            : $"access token expired {when} ({Span(-left)} ago; renewed on first use)";
    }

    private static string Span(TimeSpan t) => t.TotalMinutes < 1 ? $"{(int)t.TotalSeconds} s"
        : t.TotalHours < 2 ? $"{(int)t.TotalMinutes} min"
        : t.TotalDays < 2 ? $"{(int)t.TotalHours} h"
        : $"{(int)t.TotalDays} days";
}
