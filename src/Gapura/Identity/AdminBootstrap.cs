using Gapura.Api;
using Gapura.Storage;
using Microsoft.Extensions.Options;

namespace Gapura.Identity;

/// <summary>
/// On an empty database, makes the first admin: from <c>Gateway:AdminEmail</c> / <c>Gateway:AdminPassword</c> when set,
/// otherwise the <see cref="OwnerAccount"/>, which owns the bootstrap key so it works at once. While the owner has no
/// e-mail, every start prints a one-time set-up code (to the console, not the log: it is a secret) for giving it one.
/// Runs after the storage start-up (migrations) and before identity sync loads the keys.
/// </summary>
internal sealed class AdminBootstrap(
    IGapuraStore store,
    SetupCode setupCode,
    PasswordHasher passwords,
    IOptions<GatewayOptions> options,
    IHostApplicationLifetime lifetime,
    ILogger<AdminBootstrap> log) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (await store.Users.CountAsync(cancellationToken) == 0)
        {
            var o = options.Value;
            if (!string.IsNullOrWhiteSpace(o.AdminEmail))
            {
                await CreateConfiguredAdminAsync(o, cancellationToken);
                return;
            }
            if (await OwnerAccount.TryCreateAsync(store, cancellationToken))
                log.LogInformation("Created the owner account: the client key belongs to it and works now");
        }
        if (await OwnerAccount.FindUnclaimedAsync(store, cancellationToken) is null) return;
        var code = await setupCode.IssueAsync(cancellationToken);
        log.LogInformation("The owner account has no e-mail or password yet: a one-time set-up code was printed on the console (valid {Hours} h)", SetupCode.Lifetime.TotalHours);
        var key = options.Value.GeneratedKeyFile is { } file ? $"the key in {file}" : "the key set in Gateway:ApiKey";
        // Said once the gateway listens: "ready" before a failed start (an address in use, say) would not be true.
        lifetime.ApplicationStarted.Register(() => Console.WriteLine($$"""

            Gapura is ready: {{key}} works now, for /v1/* and the admin API (it belongs to the owner account).
            To sign in to the web console, give the owner an e-mail and password with any of:
              gapura users claim <email> --password-stdin
              the web console: open http://<gateway>/ui/setup and enter the set-up code {{code}}
              curl -X POST http://<gateway>/admin/api/setup -H 'content-type: application/json' \
                   -d '{"code":"{{code}}","email":"<email>","password":"<password>"}'
            The set-up code works once, for {{SetupCode.Lifetime.TotalHours:0}} hours; each start prints a new one until the owner is claimed.

            """));
    }

    private async Task CreateConfiguredAdminAsync(GatewayOptions o, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(o.AdminPassword))
            throw new InvalidOperationException("Gateway:AdminEmail is set but Gateway:AdminPassword is not; set both to create the first admin.");
        var email = EmailAddress.Validate(o.AdminEmail);
        PasswordPolicy.Enforce(o.AdminPassword, email);
        try
        {
            await store.Users.CreateAsync(new NewUser(email, "Administrator", UserRole.Admin, passwords.Hash(o.AdminPassword)), ct);
            log.LogInformation("Created the first admin {Email} from Gateway:AdminEmail", email);
        }
        catch (DuplicateEmailException)
        {
            // Another instance starting at the same moment created it first: same outcome.
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
