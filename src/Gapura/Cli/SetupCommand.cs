using System.CommandLine;
using Gapura.Api;
using Gapura.Hosting;
using Gapura.Hosting.Diagnostics;
using Gapura.Identity;
using Gapura.Routing;

namespace Gapura.Cli;

/// <summary>
/// <c>gapura setup claude-code|codex|opencode [--user EMAIL] [--write]</c>: the exact settings that point a client at the
/// gateway — a key, the base URL and model names the key's upstreams offer. Printed by default (standard output, the
/// client's own file format); <c>--write</c> merges them into the client's config file, keeping everything else in it,
/// after a backup.
/// </summary>
internal static class SetupCommand
{
    public static Command Create()
    {
        var client = new Argument<string>("client") { Description = "claude-code, codex or opencode." };
        var user = new Option<string?>("--user") { Description = "Create a new API key for this user (email), named 'setup <client>', and use it." };
        var write = new Option<bool>("--write") { Description = "Write the settings into the client's own config file (kept: everything else in it; backed up first) instead of printing them." };
        var model = new Option<string?>("--model") { Description = "The model the client starts with (default: one the upstreams offer; Claude Code needs none)." };
        var baseUrl = new Option<string?>("--base-url") { Description = "The address clients reach the gateway at (default: the first of --urls / Urls, else http://127.0.0.1:8000)." };
        var home = new Option<string?>("--home") { Description = "The home folder whose client config is written (default: yours)." };
        var command = new Command("setup", "Print (or --write) the settings that point Claude Code, Codex CLI or opencode at this gateway: key, base URL and models. Takes --Section:Key=value settings like serve.")
        {
            client, user, write, model, baseUrl, home,
        };
        CliSession.SetAction(command, async (cli, parse, ct) =>
        {
            // Checked here rather than by the parser, whose errors exit 1: a wrong command line exits 2 (CliExit.Usage).
            if (!ClientSettings.Names.TryGetValue(parse.GetValue(client) ?? "", out var app))
                throw new CliException($"setup: unknown client '{parse.GetValue(client)}'; use {string.Join(", ", ClientSettings.Names.Keys)}.", CliExit.Usage);
            var configuration = cli.Services.GetRequiredService<IConfiguration>();
            Caller? caller = null;
            string key;
            if (parse.GetValue(user) is { } email)
            {
                var owner = await cli.UserByEmailAsync(email, ct);
                if (owner.Disabled) throw new CliException($"{owner.Email} is disabled; `gapura users enable {owner.Email}` first.");
                caller = new Caller(owner.Id, owner.Email, owner.Role, null);
                key = await CreateKeyAsync(cli, owner, $"setup {parse.GetValue(client)}", ct);
            }
            else key = GatewayKey(configuration);

            var models = await ModelsForAsync(cli.Services, caller, ct);
            var settings = new ClientSettings(app, BaseUrlOf(parse.GetValue(baseUrl), configuration), key, models,
                ClientSettings.PickDefault(models, parse.GetValue(model), app));
            if (!parse.GetValue(write))
            {
                await cli.Out.WriteAsync(settings.Render());
                await cli.Err.WriteLineAsync(Describe(settings, caller, null));
                return CliExit.Ok;
            }
            var homeDir = parse.GetValue(home) ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            var path = ClientSettings.ConfigPath(app, homeDir, parse.GetValue(home) is null ? Environment.GetEnvironmentVariable : _ => null);
            var backup = WriteMerged(settings, path, cli.Time.GetUtcNow());
            await cli.Err.WriteLineAsync($"Wrote the Gapura settings into {path}{(backup is null ? "" : $" (the previous file is {backup})")}.");
            await cli.Err.WriteLineAsync(Describe(settings, caller, path));
            return CliExit.Ok;
        }, upstreams: true);
        return command;
    }

    /// <summary>The key of the gateway itself (the bootstrap key): the setting, else the file serve generated.</summary>
    private static string GatewayKey(IConfiguration configuration)
    {
        if (configuration["Gateway:ApiKey"] is { Length: > 0 } configured) return configured;
        var path = Identity.BootstrapApiKey.FileFor(configuration);
        if (File.Exists(path) && File.ReadAllText(path).Trim() is { Length: > 0 } generated) return generated;
        throw new CliException($"There is no gateway key yet (no Gateway:ApiKey, no {path}): pass --user EMAIL to create a key for that user, or start `gapura serve` once so it generates one.");
    }

    private static async Task<string> CreateKeyAsync(CliSession cli, Storage.User owner, string name, CancellationToken ct)
    {
        var generated = ApiKeys.Generate();
        var stored = await cli.Store.InTransactionAsync(async s =>
        {
            var created = await s.ApiKeys.CreateAsync(new Storage.NewApiKey(owner.Id, name, generated.Prefix, generated.Hash, null), ct);
            await cli.AuditAsync(s, "key.create", "key:" + created.Prefix, $"for {owner.Email}, name '{name}'", ct);
            return created;
        }, ct);
        await cli.Err.WriteLineAsync($"Created key {stored.Prefix}… ('{name}') for {owner.Email}; revoke it with `gapura keys revoke {stored.Prefix}`.");
        return generated.Key;
    }

    /// <summary>What the caller's upstreams offer (the gateway's own upstreams without --user), as /v1/models would list it.</summary>
    private static async Task<IReadOnlyList<ModelInfo>> ModelsForAsync(IServiceProvider services, Caller? caller, CancellationToken ct)
    {
        var enabled = UpstreamLoginReport.Enabled(new UpstreamLoginReport(services, services.GetRequiredService<IConfiguration>()).Find());
        var models = new List<ModelInfo>();
        foreach (var catalog in services.GetServices<IModelCatalog>())
        {
            if (!catalog.Serves(caller)) continue;
            try
            {
                models.AddRange((await catalog.ListAsync(ct)).Where(m => enabled.Contains(m.Provider)));
            }
            catch (Conversations.GatewayException)
            {
                // An upstream that cannot be asked right now offers nothing here; `gapura doctor` says why.
            }
        }
        return [.. models.DistinctBy(m => m.Id, StringComparer.Ordinal)];
    }

    /// <summary>The address clients use: the one given, else the first listening URL with a wildcard host made loopback.</summary>
    internal static string BaseUrlOf(string? given, IConfiguration configuration)
    {
        var url = given ?? (configuration["urls"] ?? configuration["ASPNETCORE_URLS"] ?? GatewayHost.DefaultUrl)
            .Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? GatewayHost.DefaultUrl;
        foreach (var wildcard in new[] { "://0.0.0.0", "://*", "://+", "://[::]" })
            url = url.Replace(wildcard, "://127.0.0.1", StringComparison.Ordinal);
        return url.TrimEnd('/');
    }

    /// <summary>Backs the old file up beside itself, then writes the merged settings (mode 600: they hold a key).</summary>
    /// <returns>The backup's path; null when there was no file.</returns>
    internal static string? WriteMerged(ClientSettings settings, string path, DateTimeOffset now)
    {
        // A dotfile manager's symlink stays a symlink: the file it points at is the one rewritten.
        var target = File.Exists(path) ? File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? path : path;
        string? existing = File.Exists(target) ? File.ReadAllText(target) : null;
        string merged;
        try
        {
            merged = settings.MergeInto(existing);
        }
        catch (InvalidDataException e)
        {
            throw new CliException($"{target} was left unchanged: {e.Message}. Fix or move it, then run `gapura setup` again.");
        }
        string? backup = null;
        if (existing is not null)
        {
            backup = $"{target}.bak-{now.UtcDateTime:yyyyMMdd-HHmmss}";
            File.Copy(target, backup, overwrite: true);
        }
        PrivateFile.Write(target, System.Text.Encoding.UTF8.GetBytes(merged));
        return backup;
    }

    private static string Describe(ClientSettings s, Caller? caller, string? writtenTo)
    {
        var models = s.Models.Count == 0
            ? "no upstream offers models yet (`gapura doctor` says why)"
            : string.Join(", ", s.Models.Select(m => m.Id).Take(12)) + (s.Models.Count > 12 ? $" and {s.Models.Count - 12} more" : "");
        var whose = caller is null ? "the gateway's own key" : $"a new key of {caller.Email}";
        var next = s.Client switch
        {
            ClientApp.ClaudeCode => writtenTo is null ? $"put this in ~/.claude/settings.json (or run with --write), then run `claude`." : "run `claude`.",
            ClientApp.Codex => writtenTo is null ? "put this in ~/.codex/config.toml (or run with --write), then run `codex`." : "run `codex`.",
            _ => writtenTo is null ? "put this in ~/.config/opencode/opencode.json (or run with --write), then run `opencode`." : "run `opencode`.",
        };
        return $"Base URL {s.BaseUrl}, {whose}{(s.Model is null ? "" : $", model {s.Model}")}. Models: {models}. Next: {next}";
    }
}
