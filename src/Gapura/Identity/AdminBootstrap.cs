using Gapura.Api;
using Gapura.Storage;
using Microsoft.Extensions.Options;

namespace Gapura.Identity;

/// <summary>
/// On an empty database, makes the first admin: from <c>Gateway:AdminEmail</c> / <c>Gateway:AdminPassword</c>
/// when set, otherwise by printing a one-time set-up code (to the console, not the log: it is a secret).
/// Runs after the storage start-up (migrations) and before identity sync loads the keys.
/// </summary>
internal sealed class AdminBootstrap(
    IGapuraStore store,
    SetupCode setupCode,
    PasswordHasher passwords,
    IOptions<GatewayOptions> options,
    ILogger<AdminBootstrap> log) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (await store.Users.CountAsync(cancellationToken) > 0) return;
        var o = options.Value;
        if (!string.IsNullOrWhiteSpace(o.AdminEmail))
        {
            if (string.IsNullOrEmpty(o.AdminPassword))
                throw new InvalidOperationException("Gateway:AdminEmail is set but Gateway:AdminPassword is not; set both to create the first admin.");
            var email = EmailAddress.Validate(o.AdminEmail);
            PasswordPolicy.Enforce(o.AdminPassword, email);
            try
            {
                await store.Users.CreateAsync(new NewUser(email, "Administrator", UserRole.Admin, passwords.Hash(o.AdminPassword)), cancellationToken);
                log.LogInformation("Created the first admin {Email} from Gateway:AdminEmail", email);
            }
            catch (DuplicateEmailException)
            {
                // Another instance starting at the same moment created it first: same outcome.
            }
            return;
        }
        var code = await setupCode.IssueAsync(cancellationToken);
        log.LogWarning("The database has no users yet: a one-time set-up code was printed on the console (valid {Hours} h)", SetupCode.Lifetime.TotalHours);
        Console.WriteLine($$"""

            Gapura has no admin yet. Create one with any of:
              the web console: open http://<gateway>/ui/setup in a browser and enter the code below
              gapura users add <email> --admin
              curl -X POST http://<gateway>/admin/api/setup -H 'content-type: application/json' \
                   -d '{"code":"{{code}}","email":"<email>","password":"<password>"}'
            The set-up code {{code}} works once, for {{SetupCode.Lifetime.TotalHours:0}} hours.

            """);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
