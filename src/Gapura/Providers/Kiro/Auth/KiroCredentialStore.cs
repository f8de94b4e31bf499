using System.Text.Json.Nodes;
using Gapura.Conversations;
using Gapura.Hosting;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Kiro.Auth;

/// <summary>
/// Finds the user's Kiro login where the tools already keep it (kiro.md §2), so nobody copies tokens by
/// hand, and writes refreshed tokens back to the same place. Order: <c>Kiro:CredentialsFile</c>, Gapura's
/// own store, the Kiro IDE cache, kiro-cli's database (then the older Amazon Q CLI's).
/// </summary>
internal sealed class KiroCredentialStore
{
    public const string NoLoginMessage =
        "No Kiro login found. Run `gapura login kiro`, sign in with the Kiro IDE or kiro-cli, or set Kiro:CredentialsFile.";

    private readonly KiroOptions _options;
    private readonly KiroAuthEnvironment _environment;

    public KiroCredentialStore(IOptions<KiroOptions> options, KiroAuthEnvironment environment)
    {
        _options = options.Value;
        _environment = environment;
    }

    /// <summary>Gapura's own store, written by <c>gapura login kiro</c>.</summary>
    public string GapuraStorePath => Path.Combine(_environment.HomeDirectory, ".gapura", "kiro-credentials.json");

    public string KiroIdePath => Path.Combine(_environment.HomeDirectory, ".aws", "sso", "cache", "kiro-auth-token.json");

    public IReadOnlyList<string> KiroCliPaths =>
    [
        Path.Combine(_environment.HomeDirectory, ".local", "share", "kiro-cli", "data.sqlite3"),
        Path.Combine(_environment.HomeDirectory, ".local", "share", "amazon-q", "data.sqlite3"),
        Path.Combine(_environment.HomeDirectory, "Library", "Application Support", "kiro-cli", "data.sqlite3"),
        Path.Combine(_environment.HomeDirectory, "Library", "Application Support", "amazon-q", "data.sqlite3"),
    ];

    /// <summary>The file named by <c>Kiro:CredentialsFile</c>; null when the setting is empty.</summary>
    public KiroCredentialSource? ConfiguredFile => string.IsNullOrWhiteSpace(_options.CredentialsFile)
        ? null
        : new KiroCredentialSource(KiroCredentialSourceKind.ConfiguredFile, Path.GetFullPath(_environment.Expand(_options.CredentialsFile)));

    /// <summary>
    /// At start: a <c>Kiro:CredentialsFile</c> that is missing, unreadable or holds no login stops the gateway (it would
    /// otherwise fail every Kiro request, and no other login may stand in for it). Login files Gapura writes to that are
    /// looser than mode 600 are tightened, with a warning.
    /// </summary>
    /// <exception cref="KiroCredentialsFileException">The configured file cannot be used.</exception>
    public void CheckAtStart(ILogger log)
    {
        PrivateFile.Tighten(GapuraStorePath, log);
        if (ConfiguredFile is not { } configured) return;
        KiroCredential? found;
        try
        {
            found = Load(configured);
        }
        catch (GatewayException e)
        {
            throw new KiroCredentialsFileException($"Kiro:CredentialsFile: {e.Message.TrimEnd('.')}. {configured.FixAdvice}.");
        }
        if (found is null)
            throw new KiroCredentialsFileException($"Kiro:CredentialsFile {configured.Path} does not exist or holds no token. {configured.FixAdvice}.");
        try
        {
            PrivateFile.Tighten(configured.Path, log);
        }
        catch (UnauthorizedAccessException)
        {
            // Another account's file, readable to us: not ours to change, and it works.
        }
    }

    /// <summary>The first login found, in priority order.</summary>
    /// <exception cref="GatewayException">No login anywhere, or the configured file is missing or unreadable.</exception>
    public KiroCredential Discover()
    {
        if (!string.IsNullOrWhiteSpace(_options.CredentialsFile))
        {
            // An explicit setting never falls through to other logins: that would silently use another account.
            var configured = ConfiguredFile!;
            return Load(configured)
                ?? throw new GatewayException(ErrorKind.UpstreamLogin, $"Kiro:CredentialsFile {configured.Path} does not exist or holds no token. {configured.FixAdvice}.");
        }

        var problems = new List<string>();
        var candidates = new List<KiroCredentialSource>
        {
            new(KiroCredentialSourceKind.GapuraStore, GapuraStorePath),
            new(KiroCredentialSourceKind.KiroIde, KiroIdePath),
        };
        candidates.AddRange(KiroCliPaths.Select(p => new KiroCredentialSource(KiroCredentialSourceKind.KiroCli, p)));
        foreach (var source in candidates)
        {
            try
            {
                if (Load(source) is { } credential) return credential;
            }
            catch (GatewayException e)
            {
                // A damaged store must not hide a good login further down the list.
                problems.Add(e.Message);
            }
        }
        throw new GatewayException(ErrorKind.UpstreamLogin, problems.Count == 0 ? NoLoginMessage : NoLoginMessage + " Skipped: " + string.Join("; ", problems));
    }

    /// <summary>Reads the login at a known place again (another program may have refreshed it); null when gone.</summary>
    public KiroCredential? Load(KiroCredentialSource source)
    {
        try
        {
            if (source.Kind == KiroCredentialSourceKind.KiroCli) return KiroCliDatabase.Read(source.Path, source.Key);
            return KiroCredentialFile.Read(source.Path) is { } json ? KiroCredentialFile.Parse(json, source) : null;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or SqliteException)
        {
            throw new GatewayException(ErrorKind.UpstreamLogin, $"Cannot read the Kiro login in {source.Path}: {e.Message}", inner: e);
        }
    }

    /// <summary>Writes refreshed tokens back where the login came from, keeping every field this code does not own.</summary>
    public void Save(KiroCredential refreshed)
    {
        var source = refreshed.Source;
        if (source.Kind == KiroCredentialSourceKind.KiroCli) KiroCliDatabase.Update(source.Path, source.Key!, refreshed);
        else KiroCredentialFile.Update(source.Path, refreshed);
    }

    /// <summary>Stores a new login (from <c>gapura login kiro</c>) in Gapura's own store, readable by the owner only.</summary>
    public KiroCredential SaveNewLogin(KiroCredential login, string? startUrl, DateTimeOffset? clientSecretExpiresAt)
    {
        var path = GapuraStorePath;
        PrivateFile.EnsureFolder(Path.GetDirectoryName(path)!);
        var json = KiroCredentialFile.ToJson(login, startUrl, clientSecretExpiresAt);
        KiroCredentialFile.Write(path, json, PrivateFile.OwnerOnly);
        return login with { Source = new KiroCredentialSource(KiroCredentialSourceKind.GapuraStore, path) };
    }
}

/// <summary>The file named by <c>Kiro:CredentialsFile</c> cannot be used; the message says why and what to do.</summary>
internal sealed class KiroCredentialsFileException(string message) : Exception(message);

/// <summary>Runs <see cref="KiroCredentialStore.CheckAtStart"/> when the gateway starts.</summary>
internal sealed class KiroCredentialsStartupCheck(KiroCredentialStore store, ILogger<KiroCredentialsStartupCheck> log) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        store.CheckAtStart(log);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
