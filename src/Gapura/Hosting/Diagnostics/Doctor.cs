using System.Diagnostics;
using Gapura.Api;
using Gapura.Conversations;
using Gapura.Identity;
using Gapura.Providers.Accounts;
using Gapura.Providers.Anthropic;
using Gapura.Providers.Bedrock;
using Gapura.Providers.Copilot;
using Gapura.Providers.Kiro;
using Gapura.Providers.Kiro.Auth;
using Gapura.Providers.Kiro.Logins;
using Gapura.Providers.OpenAi;
using Gapura.Secrets;
using Gapura.Storage;
using Gapura.Storage.Migrations;
using Microsoft.Extensions.Options;

namespace Gapura.Hosting.Diagnostics;

internal enum CheckStatus
{
    Ok,
    Warn,
    Fail,
}

/// <summary>One row of <c>gapura doctor</c>: what was checked, how it went, and what to do when it did not go well.</summary>
internal sealed record DoctorCheck(string Check, CheckStatus Status, string Detail, string? Fix = null);

/// <summary>
/// Checks what <c>serve</c> would use, without a running gateway: the configuration (every option validated), the
/// database (reached, migrated, a write rolled back, the secrets key fits), the client key, and every upstream login
/// (its token refreshed and the model list fetched, with the time each took). Each check that fails says how to fix
/// it; one failure never hides the checks after it.
/// </summary>
internal static class Doctor
{
    public static async Task<IReadOnlyList<DoctorCheck>> RunAsync(IConfiguration configuration, TimeSpan probeTimeout, CancellationToken ct)
    {
        var checks = new List<DoctorCheck>();
        ServiceProvider services;
        try
        {
            var collection = new ServiceCollection();
            // Quiet: what the services would log (a dead login, say) is what the rows report, with its fix.
            collection.AddLogging(b => b.ClearProviders());
            collection.AddSingleton(configuration);
            Api.GatewayHost.AddGatewayServices(collection, configuration);
            services = collection.BuildServiceProvider();
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException)
        {
            checks.Add(new DoctorCheck("configuration", CheckStatus.Fail, e.Message, "correct the setting named above (docs/configuration.md lists them all)"));
            return checks;
        }

        await using (services)
        {
            checks.Add(CheckConfiguration(services, configuration));
            var databaseUp = await CheckDatabaseAsync(services, checks, ct);
            checks.Add(CheckClientKey(configuration));
            await CheckUpstreamsAsync(services, configuration, databaseUp, probeTimeout, checks, ct);
        }
        return checks;
    }

    /// <summary>Every option class the gateway binds is read, so its validation runs, as it would at start.</summary>
    private static DoctorCheck CheckConfiguration(IServiceProvider services, IConfiguration configuration)
    {
        try
        {
            services.GetService<IStartupValidator>()?.Validate();
            _ = services.GetRequiredService<IOptions<GatewayOptions>>().Value;
            _ = services.GetRequiredService<IOptions<StorageOptions>>().Value;
            _ = services.GetRequiredService<IOptions<SecretsOptions>>().Value;
            _ = services.GetRequiredService<IOptions<KiroOptions>>().Value;
            _ = services.GetRequiredService<IOptions<AnthropicOptions>>().Value;
            _ = services.GetRequiredService<IOptions<BedrockOptions>>().Value;
            var storage = services.GetRequiredService<IOptions<StorageOptions>>().Value;
            _ = StorageServiceCollectionExtensions.CreateDatabase(storage);
            var key = configuration["Gateway:ApiKey"];
            if (!string.IsNullOrEmpty(key) && key.Length < BootstrapApiKey.MinimumLength)
                return new DoctorCheck("configuration", CheckStatus.Fail, $"Gateway:ApiKey is shorter than {BootstrapApiKey.MinimumLength} characters.",
                    $"set Gateway:ApiKey to at least {BootstrapApiKey.MinimumLength} random characters, or unset it to have one generated");
            return new DoctorCheck("configuration", CheckStatus.Ok, "every setting is valid");
        }
        catch (Exception e) when (e is OptionsValidationException or InvalidOperationException or FormatException or ArgumentException)
        {
            return new DoctorCheck("configuration", CheckStatus.Fail, e.Message, "correct the setting named above (docs/configuration.md lists them all)");
        }
    }

    private static async Task<bool> CheckDatabaseAsync(IServiceProvider services, List<DoctorCheck> checks, CancellationToken ct)
    {
        Database database;
        try
        {
            database = services.GetRequiredService<Database>();
        }
        catch (InvalidOperationException e)
        {
            checks.Add(new DoctorCheck("database", CheckStatus.Fail, e.Message, "set Storage:Provider to sqlite or postgres (with ConnectionStrings:Postgres)"));
            return false;
        }
        var target = database.Describe();
        var clock = Stopwatch.StartNew();
        try
        {
            await using (await database.OpenAsync(ct)) { }
            var opened = clock.ElapsedMilliseconds;
            var migrator = services.GetRequiredService<Migrator>();
            var migrated = await migrator.MigrateAsync(ct);
            await WriteTestAsync(services.GetRequiredService<IGapuraStore>(), ct);
            checks.Add(new DoctorCheck("database", CheckStatus.Ok,
                $"{target}: opened in {opened} ms, schema version {migrated.Version}{(migrated.Applied > 0 ? $" ({migrated.Applied} migration(s) applied now)" : "")}, write test rolled back"));
        }
        catch (Exception e) when (e is SecretKeyException or System.Security.Cryptography.CryptographicException)
        {
            // The key ring is read when the store is first used (the write test): a malformed Secrets:Key fails there.
            checks.Add(new DoctorCheck("secrets key", CheckStatus.Fail, e.Message, "set Secrets:Key (env Secrets__Key) or Secrets:KeyFile to a valid key (see `gapura secrets`)"));
            return false;
        }
        catch (Exception e) when (e is StorageException or System.Data.Common.DbException or IOException or UnauthorizedAccessException or TimeoutException)
        {
            checks.Add(new DoctorCheck("database", CheckStatus.Fail, e.Message, database.Backend == StorageBackend.Sqlite
                ? "check Storage:Path: its folder must exist or be creatable and be writable by this user"
                : "check ConnectionStrings:Postgres (host, port, user, password) and that the server is running and reachable"));
            return false;
        }

        try
        {
            var counts = await services.GetRequiredService<SecretsStartupCheck>().RunAsync(ct);
            checks.Add(new DoctorCheck("secrets key", CheckStatus.Ok, $"key ring {services.GetRequiredService<KeyRing>()} opens all {counts.Values.Sum()} stored secret(s)"));
        }
        catch (Exception e) when (e is SecretKeyException or SecretDecryptionException or System.Security.Cryptography.CryptographicException)
        {
            checks.Add(new DoctorCheck("secrets key", CheckStatus.Fail, e.Message, "set Secrets:Key (env Secrets__Key) to the key the database was written with"));
            return false;
        }

        try
        {
            // The users' logins, as serve loads them at start.
            foreach (var listener in services.GetServices<Routing.IStoreChangeListener>()) await listener.ReloadAllAsync(ct);
        }
        catch (Exception e) when (e is StorageException or System.Data.Common.DbException or SecretDecryptionException or InvalidDataException)
        {
            checks.Add(new DoctorCheck("stored logins", CheckStatus.Fail, e.Message, "see the message; `gapura secrets rotate` or connecting the login anew may be needed"));
        }
        return true;
    }

    /// <summary>Proves the database takes writes (a read-only file, a replica, a full disk fail here), then undoes the write.</summary>
    private static async Task WriteTestAsync(IGapuraStore store, CancellationToken ct)
    {
        try
        {
            await store.InTransactionAsync(async tx =>
            {
                await tx.Settings.SetAsync("doctor.write_test", DateTimeOffset.UtcNow.ToString("O"), ct);
                throw new RolledBack();
            }, ct);
        }
        catch (RolledBack) { }
    }

    private sealed class RolledBack : Exception;

    private static DoctorCheck CheckClientKey(IConfiguration configuration)
    {
        if (!string.IsNullOrEmpty(configuration["Gateway:ApiKey"])) return new DoctorCheck("client key", CheckStatus.Ok, "setting Gateway:ApiKey");
        var path = Identity.BootstrapApiKey.FileFor(configuration);
        return File.Exists(path)
            ? new DoctorCheck("client key", CheckStatus.Ok, "file " + path)
            : new DoctorCheck("client key", CheckStatus.Warn, $"no key yet: `gapura serve` generates one into {path} on first start",
                "start `gapura serve` once, or set Gateway:ApiKey; users' own keys come from `gapura keys create --user EMAIL`");
    }

    private static async Task CheckUpstreamsAsync(IServiceProvider services, IConfiguration configuration, bool databaseUp, TimeSpan timeout,
        List<DoctorCheck> checks, CancellationToken ct)
    {
        IReadOnlyList<UpstreamLoginFinding> findings;
        try
        {
            findings = new UpstreamLoginReport(services, configuration).Find(userLogins: databaseUp);
        }
        catch (InvalidOperationException e)
        {
            checks.Add(new DoctorCheck("upstream logins", CheckStatus.Fail, e.Message, "correct or remove the login file named above"));
            return;
        }
        var emails = databaseUp ? await EmailsAsync(services.GetRequiredService<IGapuraStore>(), findings, ct) : new Dictionary<long, string>();
        var anyServes = false;
        foreach (var finding in findings)
        {
            var name = $"{finding.Provider} login: " + (finding.IsUserLogin ? $"{emails.GetValueOrDefault(finding.UserId!.Value, $"user {finding.UserId}")} '{finding.Label}'" : "gateway");
            if (!finding.Found)
            {
                var fix = finding.IsUserLogin
                    ? UpstreamLoginReport.UserLoginHint(finding.Provider, emails.GetValueOrDefault(finding.UserId!.Value, "EMAIL"), finding.Label ?? "default")
                    : finding.Fix;
                // A missing gateway login is only a warning while users' own logins serve; a configured file that fails is a mistake.
                var status = finding.Source == "none" ? CheckStatus.Warn : CheckStatus.Fail;
                checks.Add(new DoctorCheck(name, status, finding.Problem!, fix));
                continue;
            }
            var check = await ProbeAsync(services, finding, name, emails, timeout, ct);
            anyServes |= check.Status != CheckStatus.Fail;
            checks.Add(check);
        }
        if (!anyServes)
        {
            checks.Add(new DoctorCheck("upstreams", CheckStatus.Fail, "no upstream login works: every request would fail",
                UpstreamLoginReport.LoginHint(KiroLoginPool.Provider) + ", or connect another provider (docs/providers.md)"));
        }
    }

    private static async Task<Dictionary<long, string>> EmailsAsync(IGapuraStore store, IReadOnlyList<UpstreamLoginFinding> findings, CancellationToken ct)
    {
        var emails = new Dictionary<long, string>();
        foreach (var id in findings.Where(f => f.UserId is not null).Select(f => f.UserId!.Value).Distinct())
            if (await store.Users.FindAsync(id, ct) is { } user) emails[id] = user.Email;
        return emails;
    }

    /// <summary>Refreshes the login's token and fetches the model list with it, each timed.</summary>
    private static async Task<DoctorCheck> ProbeAsync(IServiceProvider services, UpstreamLoginFinding finding, string name,
        Dictionary<long, string> emails, TimeSpan timeout, CancellationToken ct)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        var clock = Stopwatch.StartNew();
        var step = "refresh";
        try
        {
            string refreshed;
            string listed;
            if (finding.Provider == KiroLoginPool.Provider)
            {
                IKiroTokenSource tokens = finding.LoginId is { } id
                    ? services.GetRequiredService<KiroLoginPool>().Find(id) ?? throw new GatewayException(ErrorKind.UpstreamLogin, "the login was deleted meanwhile")
                    : services.GetRequiredService<KiroTokenProvider>();
                var token = await tokens.GetAsync(forceRefresh: true, limit.Token);
                refreshed = $"token refreshed in {clock.ElapsedMilliseconds} ms (valid until {token.ExpiresAt.UtcDateTime:yyyy-MM-dd HH:mm}Z)";
                step = "model list";
                clock.Restart();
                var models = await services.GetRequiredService<KiroClient>().FetchModelsAsync(tokens, limit.Token);
                listed = $"{models.Count} models listed in {clock.ElapsedMilliseconds} ms";
            }
            else
            {
                var accounts = services.GetRequiredKeyedService<ProviderAccounts>(finding.Provider);
                IUpstreamAccount account = finding.LoginId is { } id
                    ? services.GetRequiredService<AccountPool>().Find(id) ?? throw new GatewayException(ErrorKind.UpstreamLogin, "the login was deleted meanwhile")
                    : accounts.Process!;
                var secret = await account.GetSecretAsync(forceRefresh: true, limit.Token);
                refreshed = secret.Kind == AccountSecret.OAuthKind
                    ? $"sign-in renewed in {clock.ElapsedMilliseconds} ms"
                    : "key (nothing to renew)";
                step = "model list";
                clock.Restart();
                var count = await ListModelsAsync(services, finding.Provider, account, secret, limit.Token);
                listed = count is { } n ? $"{n} models listed in {clock.ElapsedMilliseconds} ms" : "no model-list call for this upstream (models come from the settings)";
            }
            return new DoctorCheck(name, CheckStatus.Ok, $"{finding.Source}: {refreshed}; {listed}");
        }
        catch (Exception e) when (e is GatewayException or HttpRequestException or OperationCanceledException or InvalidDataException or IOException
                                      && !ct.IsCancellationRequested)
        {
            var what = e is OperationCanceledException ? $"no answer within {timeout.TotalSeconds:0} s" : e.Message;
            return new DoctorCheck(name, CheckStatus.Fail, $"{finding.Source}: {step} failed after {clock.ElapsedMilliseconds} ms: {what}", FixFor(finding, e, emails));
        }
    }

    private static string FixFor(UpstreamLoginFinding finding, Exception e, Dictionary<long, string> emails)
    {
        if (e is GatewayException { Kind: ErrorKind.UpstreamLogin or ErrorKind.Authentication })
        {
            if (finding.IsUserLogin)
                return UpstreamLoginReport.UserLoginHint(finding.Provider, emails.GetValueOrDefault(finding.UserId!.Value, "EMAIL"), finding.Label ?? "default");
            if (finding.Source.Contains("Kiro:CredentialsFile", StringComparison.Ordinal))
                return "the file named by Kiro:CredentialsFile is used alone: sign in again with the program that writes it, or remove the setting and run `gapura login kiro`";
            return finding.Provider == KiroLoginPool.Provider || finding.Provider == AccountKinds.Copilot
                ? UpstreamLoginReport.LoginHint(finding.Provider) + " to sign in again"
                : "replace the key or sign-in: " + UpstreamLoginReport.LoginHint(finding.Provider);
        }
        return $"check the network and the {AccountKinds.DisplayName(finding.Provider)} endpoint settings (docs/providers.md); run `gapura doctor` again";
    }

    /// <summary>The number of models the upstream lists for this account; null where the upstream has no list to ask.</summary>
    private static async Task<int?> ListModelsAsync(IServiceProvider services, string provider, IUpstreamAccount account, AccountSecret secret, CancellationToken ct)
    {
        switch (provider)
        {
            case "anthropic":
                // The client reads the list with the gateway's own account, else a user's: the list is the provider's.
                return (await services.GetRequiredService<AnthropicClient>().FetchModelsAsync(ct)).Count;
            case AccountKinds.Bedrock:
                return null;
            case AccountKinds.Copilot:
                var copilot = services.GetRequiredService<CopilotProvider>();
                using (var doc = await copilot.GetModelsAsync(CopilotProvider.AccountOf(account, secret), ct))
                    return CopilotModels.Parse(doc.RootElement).Count;
            default:
                var chat = services.GetRequiredKeyedService<ChatCompletionsProvider>("chat-completions:" + provider);
                var endpoint = chat.EndpointFor(secret);
                return endpoint.StreamOnly ? null : (await chat.Client.ListModelsAsync(endpoint, ct)).Count;
        }
    }
}
