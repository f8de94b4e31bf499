using System.CommandLine;
using Gapura.Routing;
using Gapura.Routing.Profiles;

namespace Gapura.Cli;

/// <summary>
/// <c>gapura routing</c>: routing by task from the command line, on the database every instance follows —
/// <c>import</c> a seed-shaped <c>.kiro/settings.json</c>, <c>show</c> what is in force, set the <c>mode</c>, and run canaries.
/// </summary>
internal static class RoutingCommand
{
    public static Command Create()
    {
        var command = new Command("routing", "Routing by task: profiles, task types, rules, modes and canaries (works on the database, like serve).");
        command.Subcommands.Add(Import());
        command.Subcommands.Add(Show());
        command.Subcommands.Add(Mode());
        command.Subcommands.Add(RoutingCanaryCommand.Create());
        return command;
    }

    private static Command Import()
    {
        var file = new Argument<string>("FILE") { Description = "A .kiro/settings.json-style file: {\"models\": {\"primary\": {…}, \"fast\": {…}, \"routing\": {…}}}; comments allowed." };
        var command = new Command("import", "Store the profiles and task routing of a .kiro/settings.json-style file; every model is checked against what the upstreams offer.") { file };
        CliSession.SetAction(command, async (cli, parse, ct) =>
        {
            var path = parse.GetValue(file)!;
            if (!File.Exists(path)) throw new CliException($"There is no file '{path}'.", CliExit.Usage);
            var result = await CliRouting.Changes(cli).ImportAsync(await File.ReadAllTextAsync(path, ct), ct);
            foreach (var p in result.Profiles)
                await cli.Err.WriteLineAsync($"profile {p.Name}: {p.FirstChoice}{(p.MaxTokens is { } m ? $", maxTokens {m}" : "")}{(p.Temperature is { } t ? $", temperature {t}" : "")}{(p.Fallbacks.Count > 0 ? $", fallbacks {string.Join(", ", p.Fallbacks)}" : "")}");
            foreach (var (task, profile) in result.Tasks) await cli.Err.WriteLineAsync($"task {task} → {profile}");
            if (result.Rules is { } rules) await cli.Err.WriteLineAsync($"{rules.Count} rules");
            if (result.Mode is { } mode) await cli.Err.WriteLineAsync($"mode {mode}");
            foreach (var section in result.Skipped) await cli.Err.WriteLineAsync($"note: '{section}' is not routing and was not imported.");
            await cli.Err.WriteLineAsync($"Imported {result.Profiles.Count} profiles and {result.Tasks.Count} task routes; every instance uses them within seconds.");
            return CliExit.Ok;
        }, upstreams: true);
        return command;
    }

    private static Command Show()
    {
        var command = new Command("show", "What routing is in force: mode, profiles, task table, rules and canaries, and where each comes from.");
        CliSession.SetAction(command, async (cli, parse, ct) =>
        {
            var config = CliRouting.Changes(cli).Current;
            var o = cli.Out;
            await o.WriteLineAsync($"mode: {config.Mode}{(config.UserModes.Count + config.KeyModes.Count > 0 ? $" ({config.UserModes.Count} users and {config.KeyModes.Count} keys have their own)" : "")}");
            await o.WriteLineAsync("profiles:");
            foreach (var p in config.Profiles.Values.OrderBy(p => p.Name, StringComparer.Ordinal))
                await o.WriteLineAsync($"  {p.Name,-12} {p.FirstChoice}{(p.MaxTokens is { } m ? $"  maxTokens={m}" : "")}{(p.Temperature is { } t ? $"  temperature={t}" : "")}{(p.Fallbacks.Count > 0 ? $"  fallbacks={string.Join(",", p.Fallbacks)}" : "")}  [{config.ProfileSources[p.Name]}]");
            await o.WriteLineAsync("tasks:");
            foreach (var task in Gapura.Routing.Tasks.TaskTypes.All)
                await o.WriteLineAsync($"  {task,-20} → {config.Tasks[task]}  [{config.TaskSources[task]}]");
            await o.WriteLineAsync($"rules: {config.Rules.Configured.Count} configured [{config.RulesSource}]{(config.BuiltInRules ? ", then the built-in rules" : ", built-in rules off")}");
            foreach (var r in config.Rules.Configured) await o.WriteLineAsync($"  {r.Name} → {r.Task}");
            foreach (var c in config.Canaries.Values)
                await o.WriteLineAsync($"canary on {c.Profile}: {c.Choice} at {c.Percent}% since {c.StartedAt:u} (by {c.StartedBy})");
            return CliExit.Ok;
        }, upstreams: true);
        return command;
    }

    private static Command Mode()
    {
        var mode = new Argument<string>("MODE") { Description = "virtual (route only the profile names and auto), override (route everything), off, or default (a user's or key's own mode removed)." };
        var user = new Option<string?>("--user") { Description = "Set this user's own mode (email)." };
        var key = new Option<string?>("--key") { Description = "Set this API key's own mode (its prefix, as `gapura keys list` shows it)." };
        var command = new Command("mode", "Set when routing applies: for the gateway, one user, or one key.") { mode, user, key };
        CliSession.SetAction(command, async (cli, parse, ct) =>
        {
            var value = parse.GetValue(mode)!;
            var (email, prefix) = (parse.GetValue(user), parse.GetValue(key));
            if (email is not null && prefix is not null) throw new CliException("Give --user or --key, not both.", CliExit.Usage);
            var isDefault = value.Equals("default", StringComparison.OrdinalIgnoreCase);
            if (isDefault && email is null && prefix is null) throw new CliException("'default' removes a user's or key's own mode: give --user or --key.", CliExit.Usage);
            if (!isDefault && RoutingModes.Find(value) is null) throw new CliException($"'{value}' is not a routing mode; use virtual, override or off.", CliExit.Usage);
            long? userId = email is null ? null : (await cli.UserByEmailAsync(email, ct)).Id;
            long? keyId = null;
            if (prefix is not null)
                keyId = (await cli.Store.ApiKeys.FindByPrefixAsync(prefix.Trim(), ct)).FirstOrDefault(k => k.Prefix == prefix.Trim())?.Id
                        ?? throw new CliException($"There is no API key with the prefix '{prefix}' (see `gapura keys list`).");
            await CliRouting.Changes(cli).SetModeAsync(isDefault ? null : value, userId, keyId, ct);
            await cli.Err.WriteLineAsync(isDefault ? "The gateway's mode applies again." : $"Routing mode {RoutingModes.Find(value)} for {(keyId is not null ? "key " + prefix : userId is not null ? email : "the gateway")}.");
            return CliExit.Ok;
        }, upstreams: true);
        return command;
    }
}
