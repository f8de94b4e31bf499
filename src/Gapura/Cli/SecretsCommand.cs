using System.CommandLine;
using System.Text;
using Gapura.Hosting;
using Gapura.Secrets;
using Gapura.Storage;
using Microsoft.Extensions.Options;

namespace Gapura.Cli;

/// <summary><c>gapura secrets rotate</c>: a new secrets key, and every stored secret re-encrypted under it.</summary>
internal static class SecretsCommand
{
    public static Command Create()
    {
        var secrets = new Command("secrets", "Manage the key that encrypts stored secrets (upstream logins, TOTP seeds, secret settings).");
        secrets.Subcommands.Add(Rotate());
        return secrets;
    }

    private static Command Rotate()
    {
        var keyFile = new Option<string?>("--key-file")
        {
            Description = "With Secrets:Key set: write the new key to this file (mode 600) instead of printing it on standard output.",
        };
        var command = new Command("rotate",
            "Generate a new secrets key and re-encrypt every stored secret under it. With a key file (Secrets:Key unset) the file is " +
            "replaced and the old key kept beside it as .previous; with Secrets:Key the new key is printed once on standard output " +
            "(or written to --key-file).") { keyFile };
        CliSession.SetAction(command, async (cli, parse, ct) =>
        {
            var ring = cli.Services.GetRequiredService<KeyRing>();
            var secretsOptions = cli.Services.GetRequiredService<IOptions<SecretsOptions>>().Value;
            var storageOptions = cli.Services.GetRequiredService<IOptions<StorageOptions>>().Value;
            // Everything stored must open with today's ring, or rotating would carry unreadable values along.
            await cli.Services.GetRequiredService<SecretsStartupCheck>().RunAsync(ct);

            var next = SecretKey.Generate();
            var newRing = new KeyRing(next, [ring.Current, .. ring.Previous]);
            var fromFile = string.IsNullOrWhiteSpace(secretsOptions.Key);
            var outFile = parse.GetValue(keyFile);

            // The new key is put somewhere safe before anything is sealed under it: a crash midway then
            // leaves values under keys that all still exist.
            string where;
            if (fromFile)
            {
                if (outFile is not null) throw new CliException("--key-file is for Secrets:Key set-ups; here the key file itself is replaced.", CliExit.Usage);
                var path = StorageServiceCollectionExtensions.KeyFilePath(storageOptions, secretsOptions);
                PrivateFile.Write(path + ".previous", Encoding.ASCII.GetBytes(ring.Current.ToBase64() + "\n"));
                PrivateFile.Write(path, Encoding.ASCII.GetBytes(next.ToBase64() + "\n"));
                where = $"the key file {path} (the old key is kept in {path}.previous)";
            }
            else if (outFile is not null)
            {
                var path = Path.GetFullPath(outFile, Directory.GetCurrentDirectory());
                PrivateFile.Write(path, Encoding.ASCII.GetBytes(next.ToBase64() + "\n"));
                where = $"{path} (mode 600)";
            }
            else
            {
                await cli.Out.WriteLineAsync(next.ToBase64());
                await cli.Out.FlushAsync(ct);
                where = "standard output";
            }
            await cli.Err.WriteLineAsync($"New secrets key {next.Id} written to {where}. Re-encrypting stored secrets (old key {ring.Current.Id})…");

            var box = new SecretBox(newRing);
            var store = new GapuraStore(cli.Store.Database, box, cli.Time);
            RotationResult result;
            try
            {
                result = await new SecretRotation(store.Secrets, box).RotateAsync(ct: ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                await cli.Err.WriteLineAsync($"Re-encryption stopped: {e.Message}");
                await cli.Err.WriteLineAsync($"Values are now under key {next.Id} or {ring.Current.Id}; give the gateway both (Secrets:Key = new, " +
                    "Secrets:PreviousKeys:0 = old) and run `gapura secrets rotate` again.");
                throw new CliException("secrets rotate did not finish.", CliExit.Unavailable);
            }
            await store.InTransactionAsync(s => s.Audit.WriteAsync(new NewAuditEntry(cli.Actor, "secrets.rotate", "secrets",
                $"key {ring.Current.Id} -> {next.Id}; {result.Reencrypted} value(s) re-encrypted, {result.SkippedChanged} changed meanwhile", "local"), ct), ct);

            await cli.Err.WriteLineAsync($"Re-encrypted {result.Reencrypted} stored secret(s) under key {next.Id}" +
                (result.SkippedChanged > 0 ? $" ({result.SkippedChanged} were rewritten meanwhile by a running gateway and left as written)." : "."));
            if (fromFile)
            {
                await cli.Err.WriteLineAsync("Restart the gateway so it reads the new key file. If it wrote secrets under the old key meanwhile, start it once " +
                    "with --Secrets:PreviousKeys:0=<contents of the .previous file> and run `gapura secrets rotate` again.");
            }
            else
            {
                await cli.Err.WriteLineAsync("Now, on every instance: set Secrets:Key (env Secrets__Key) to the new key and Secrets:PreviousKeys:0 " +
                    $"(env Secrets__PreviousKeys__0) to the old one ({ring.Current.Id}), and restart. Once every instance runs the new key, " +
                    "drop Secrets:PreviousKeys.");
            }
            return CliExit.Ok;
        });
        return command;
    }
}
