using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Gapura.Api.Admin;
using Gapura.Budgets;
using Gapura.Storage;

namespace Gapura.Cli;

/// <summary>
/// <c>gapura budgets show|set|clear|reset</c>: budgets and rate limits from the command line, on the database every
/// instance follows, through the same <see cref="BudgetChanges"/> and <see cref="BudgetReports"/> as the admin API.
/// </summary>
internal static class BudgetsCommand
{
    public static Command Create()
    {
        var command = new Command("budgets", "Token and cost budgets (gateway, users, keys) and rate limits: show where they stand, set, clear, reset (works on the database, like serve).");
        command.Subcommands.Add(Show());
        command.Subcommands.Add(Set());
        command.Subcommands.Add(Clear());
        command.Subcommands.Add(Reset());
        return command;
    }

    /// <summary>The scope options every verb takes; exactly one of them names the target.</summary>
    private sealed class ScopeOptions
    {
        public readonly Option<bool> Gateway = new("--gateway") { Description = "The whole gateway's budget." };
        public readonly Option<bool> DefaultUser = new("--default-user") { Description = "The default for every user without a budget (or rate limits) of their own." };
        public readonly Option<bool> DefaultKey = new("--default-key") { Description = "The default rate limits of every key without its own (keys have no default budget)." };
        public readonly Option<string?> User = new("--user") { Description = "One user (email).", HelpName = "EMAIL" };
        public readonly Option<string?> Key = new("--key") { Description = "One API key (its prefix, as `gapura keys list` shows it).", HelpName = "PREFIX" };

        public void AddTo(Command command)
        {
            command.Options.Add(Gateway);
            command.Options.Add(DefaultUser);
            command.Options.Add(DefaultKey);
            command.Options.Add(User);
            command.Options.Add(Key);
        }

        /// <summary>The target named, with the words to call it by; null when none is named and <paramref name="required"/> is false.</summary>
        public async Task<(BudgetTarget Target, string Label)?> ResolveAsync(CliSession cli, ParseResult parse, bool required, CancellationToken ct)
        {
            var named = new List<string>();
            if (parse.GetValue(Gateway)) named.Add("--gateway");
            if (parse.GetValue(DefaultUser)) named.Add("--default-user");
            if (parse.GetValue(DefaultKey)) named.Add("--default-key");
            var email = parse.GetValue(User);
            var prefix = parse.GetValue(Key);
            if (email is not null) named.Add("--user");
            if (prefix is not null) named.Add("--key");
            if (named.Count > 1) throw new CliException($"{named[1]}: give one of --gateway, --default-user, --default-key, --user and --key, not {string.Join(" and ", named)}.", CliExit.Usage);
            if (named.Count == 0)
                return required ? throw new CliException("Name the scope: --gateway, --default-user, --default-key, --user EMAIL or --key PREFIX.", CliExit.Usage) : null;
            if (email is not null)
            {
                var user = string.IsNullOrWhiteSpace(email) ? null : await cli.Store.Users.FindByEmailAsync(email, ct);
                return user is null
                    ? throw new CliException($"--user: there is no user with the email '{email.Trim()}' (see `gapura users list`).", CliExit.Refused)
                    : (BudgetTarget.User(user.Id), user.Email);
            }
            if (prefix is not null)
            {
                var text = prefix.Trim();
                var found = text.Length == 0 ? [] : await cli.Store.ApiKeys.FindByPrefixAsync(text, ct);
                var key = found.FirstOrDefault(k => k.Prefix == text) ?? (found.Count == 1 && found[0].Prefix.StartsWith(text, StringComparison.Ordinal) ? found[0] : null);
                if (key is null && found.Count > 1)
                    throw new CliException($"--key: '{text}' names {found.Count} keys ({string.Join(", ", found.Select(k => k.Prefix))}); give more of it.", CliExit.Usage);
                return key is null
                    ? throw new CliException($"--key: there is no API key with the prefix '{text}' (see `gapura keys list`).", CliExit.Refused)
                    : (BudgetTarget.Key(key.Id), key.Prefix);
            }
            return named[0] switch
            {
                "--gateway" => (BudgetTarget.Gateway, "the gateway"),
                "--default-user" => (BudgetTarget.DefaultUser, "the default for all users"),
                _ => (BudgetTarget.DefaultKey, "the default for all keys"),
            };
        }
    }

    private static Command Show()
    {
        var scope = new ScopeOptions();
        var json = new Option<bool>("--json") { Description = "Print JSON (the admin API's document) instead of a table." };
        var command = new Command("show", "Every budget and rate limit defined, with used / limit / share / window end / state per limited quantity; or one scope's.");
        scope.AddTo(command);
        command.Options.Add(json);
        SetAction(command, async (cli, parse, ct) =>
        {
            var reports = cli.Services.GetRequiredService<BudgetReports>();
            var target = await scope.ResolveAsync(cli, parse, required: false, ct);
            IReadOnlyList<TargetStatus> statuses = target is { } t ? [await reports.ForTargetAsync(t.Target, ct)] : await reports.AllAsync(ct);
            if (parse.GetValue(json))
            {
                await cli.Out.WriteLineAsync(target is null
                    ? AdminBudgetEndpoints.ToJson(w => AdminBudgetEndpoints.WriteAll(w, statuses, reports.Windows))
                    : AdminBudgetEndpoints.ToJson(w => AdminBudgetEndpoints.WriteTarget(w, statuses[0])));
                return CliExit.Ok;
            }
            if (target is { } one)
            {
                var s = statuses[0];
                if (one.Target.HasBudget)
                    await cli.Out.WriteLineAsync(s.Budget is null ? $"{one.Label}: no budget." : $"{one.Label}: budget ({s.BudgetSource}): {Describe(s.Budget)}");
                if (one.Target.HasRateLimit)
                    await cli.Out.WriteLineAsync(s.RateLimit is null ? $"{one.Label}: no rate limits." : $"{one.Label}: rate limits ({s.RateLimitSource}): {Describe(s.RateLimit)}");
            }
            else if (statuses.Count == 0)
            {
                await cli.Out.WriteLineAsync("No budgets or rate limits are defined.");
                return CliExit.Ok;
            }
            WriteBudgetTable(cli.Out, statuses, reports.Windows);
            if (target is null) WriteRateTable(cli.Out, statuses);
            return CliExit.Ok;
        });
        return command;
    }

    private static Command Set()
    {
        var scope = new ScopeOptions();
        var dailyInput = new Option<string?>("--daily-input") { Description = "Daily input tokens: 500000, 500k, 10M, 1.5M; none removes this limit.", HelpName = "TOKENS" };
        var dailyOutput = new Option<string?>("--daily-output") { Description = "Daily output tokens (as --daily-input).", HelpName = "TOKENS" };
        var dailyCost = new Option<string?>("--daily-cost") { Description = "Daily cost in USD: 20, 12.50; none removes this limit.", HelpName = "USD" };
        var monthlyInput = new Option<string?>("--monthly-input") { Description = "Monthly input tokens (as --daily-input).", HelpName = "TOKENS" };
        var monthlyOutput = new Option<string?>("--monthly-output") { Description = "Monthly output tokens (as --daily-input).", HelpName = "TOKENS" };
        var monthlyCost = new Option<string?>("--monthly-cost") { Description = "Monthly cost in USD (as --daily-cost).", HelpName = "USD" };
        var threshold = new Option<string?>("--threshold") { Description = "Alert threshold, a share of the limit from 0 to 1 (0.8, or 80%); for the windows given here, else for every window of the budget.", HelpName = "SHARE" };
        var action = new Option<string?>("--action") { Description = "At the threshold: notify (alert only), restrict (the fast profile serves), pause (refuse at the limit); for the windows given here, else for every window.", HelpName = "ACTION" };
        var resume = new Option<bool?>("--resume-at-period-end") { Description = "A pause lifts by itself when its window ends (true or false; alone means true)." };
        resume.Arity = ArgumentArity.ZeroOrOne;
        var import = new Option<string?>("--import") { Description = "A seed-shaped JSON file, {\"budget\": {\"daily\": {…}, \"monthly\": {…}}} (the .kiro/settings.json block, comments allowed): replaces the budget.", HelpName = "FILE" };
        var rpm = new Option<string?>("--requests-per-minute") { Description = "Rate limit: requests per minute (users and keys).", HelpName = "N" };
        var tpm = new Option<string?>("--tokens-per-minute") { Description = "Rate limit: tokens per minute (200000, 200k).", HelpName = "TOKENS" };
        var concurrent = new Option<string?>("--concurrent") { Description = "Rate limit: requests at the same time.", HelpName = "N" };
        var command = new Command("set", "Set a budget (merged into the one there: windows and limits not named are kept) and/or rate limits.");
        scope.AddTo(command);
        foreach (var o in new Option[] { dailyInput, dailyOutput, dailyCost, monthlyInput, monthlyOutput, monthlyCost, threshold, action, resume, import, rpm, tpm, concurrent })
            command.Options.Add(o);
        SetAction(command, async (cli, parse, ct) =>
        {
            // Every flag is checked before anything is looked up or written.
            var windows = new List<WindowChange>();
            var daily = Window(BudgetPeriod.Daily, parse.GetValue(dailyInput), parse.GetValue(dailyOutput), parse.GetValue(dailyCost), "--daily");
            var monthly = Window(BudgetPeriod.Monthly, parse.GetValue(monthlyInput), parse.GetValue(monthlyOutput), parse.GetValue(monthlyCost), "--monthly");
            if (daily is not null) windows.Add(daily);
            if (monthly is not null) windows.Add(monthly);
            var change = new BudgetChange(windows,
                parse.GetValue(threshold) is { } th ? Threshold(th, "--threshold") : null,
                parse.GetValue(action) is { } a ? BudgetActions.Valid(a, "--action") : null,
                parse.GetResult(resume) is null ? null : parse.GetValue(resume) ?? true);
            var rate = new RateLimit(
                parse.GetValue(rpm) is { } r ? (int)Whole(r, "--requests-per-minute", int.MaxValue, suffixes: false) : null,
                parse.GetValue(tpm) is { } t ? Whole(t, "--tokens-per-minute", long.MaxValue, suffixes: true) : null,
                parse.GetValue(concurrent) is { } c ? (int)Whole(c, "--concurrent", int.MaxValue, suffixes: false) : null);
            var file = parse.GetValue(import);
            if (file is not null && !change.IsEmpty)
                throw new CliException($"--import: the file replaces the budget; give the window flags ({FirstBudgetFlag(parse, dailyInput, dailyOutput, dailyCost, monthlyInput, monthlyOutput, monthlyCost, threshold, action, resume)}) in a separate command.", CliExit.Usage);
            if (file is null && change.IsEmpty && rate.IsEmpty)
                throw new CliException("Nothing to set: give window limits (--daily-input 500k, --monthly-cost 100…), --threshold/--action, --import FILE or rate limits (--requests-per-minute…).", CliExit.Usage);
            string? text = null;
            if (file is not null)
            {
                if (!File.Exists(file)) throw new CliException($"--import: there is no file '{file}'.", CliExit.Usage);
                text = await File.ReadAllTextAsync(file, ct);
            }

            var (target, label) = (await scope.ResolveAsync(cli, parse, required: true, ct))!.Value;
            if ((!change.IsEmpty || text is not null) && !target.HasBudget)
                throw new CliException($"--default-key: keys have no default budget (only default rate limits); set the budget on --default-user, --key PREFIX or --gateway.", CliExit.Usage);
            if (!rate.IsEmpty && !target.HasRateLimit)
                throw new CliException($"--{(rate.RequestsPerMinute is not null ? "requests-per-minute" : rate.TokensPerMinute is not null ? "tokens-per-minute" : "concurrent")}: the gateway has no rate limits; set them on users or keys (--default-user, --default-key, --user, --key).", CliExit.Usage);
            var changes = CliBudgets.Changes(cli);
            if (change.Windows.Count == 0 && !change.IsEmpty && BudgetChanges.DefinedBudget(changes.Current, target) is null)
            {
                var flag = parse.GetResult(threshold) is not null ? "--threshold" : parse.GetResult(action) is not null ? "--action" : "--resume-at-period-end";
                throw new CliException($"{flag}: {label} has no budget yet to apply it to; give a window's limit too (such as --daily-input 500k).", CliExit.Usage);
            }
            var fellBack = target.Kind == BudgetTargetKind.User && BudgetChanges.DefinedBudget(changes.Current, target) is null ? changes.Current.DefaultUser : null;

            if (text is not null)
            {
                var (budget, skipped) = await changes.ImportAsync(target, text, ct);
                foreach (var section in skipped) await cli.Err.WriteLineAsync($"note: '{section}' is not a budget and was not imported.");
                await cli.Err.WriteLineAsync($"Budget of {label}: {Describe(budget)}.");
            }
            else if (!change.IsEmpty)
            {
                var budget = await changes.ChangeBudgetAsync(target, change, ct);
                await cli.Err.WriteLineAsync(budget is null ? $"{label} has no budget any more." : $"Budget of {label}: {Describe(budget)}.");
            }
            if (fellBack is not null && (text is not null || !change.IsEmpty))
                await cli.Err.WriteLineAsync($"note: this budget replaces the default for all users ({Describe(fellBack)}) for {label}.");
            if (!rate.IsEmpty)
            {
                var limit = await changes.ChangeRateLimitAsync(target, rate, ct);
                await cli.Err.WriteLineAsync($"Rate limits of {label}: {Describe(limit)}.");
            }
            await cli.Err.WriteLineAsync("Every instance applies it within seconds.");
            return CliExit.Ok;
        });
        return command;
    }

    private static Command Clear()
    {
        var scope = new ScopeOptions();
        var daily = new Option<bool>("--daily") { Description = "Remove only the daily window." };
        var monthly = new Option<bool>("--monthly") { Description = "Remove only the monthly window." };
        var rates = new Option<bool>("--rate-limits") { Description = "Remove the rate limits instead of the budget." };
        var command = new Command("clear", "Remove a budget set by an admin (or one of its windows), or its rate limits; a user or key falls back to the default, the gateway to the configuration file's.");
        scope.AddTo(command);
        command.Options.Add(daily);
        command.Options.Add(monthly);
        command.Options.Add(rates);
        SetAction(command, async (cli, parse, ct) =>
        {
            var (d, m, r) = (parse.GetValue(daily), parse.GetValue(monthly), parse.GetValue(rates));
            if ((d ? 1 : 0) + (m ? 1 : 0) + (r ? 1 : 0) > 1)
                throw new CliException($"{(r ? "--rate-limits" : "--monthly")}: give one of --daily, --monthly and --rate-limits (none removes the whole budget).", CliExit.Usage);
            var (target, label) = (await scope.ResolveAsync(cli, parse, required: true, ct))!.Value;
            var changes = CliBudgets.Changes(cli);
            if (r)
            {
                if (!target.HasRateLimit) throw new CliException("--rate-limits: the gateway has no rate limits.", CliExit.Usage);
                var gone = await changes.ClearRateLimitAsync(target, ct);
                await cli.Err.WriteLineAsync(gone ? $"Removed the rate limits of {label}." : $"{label} has no rate limits set by an admin (configured ones are changed in the configuration file).");
                return gone ? CliExit.Ok : CliExit.Refused;
            }
            if (!target.HasBudget) throw new CliException("--default-key: keys have no default budget.", CliExit.Usage);
            BudgetPeriod? window = d ? BudgetPeriod.Daily : m ? BudgetPeriod.Monthly : null;
            var removed = await changes.ClearBudgetAsync(target, window, ct);
            var what = window is null ? "budget" : d ? "daily budget window" : "monthly budget window";
            await cli.Err.WriteLineAsync(removed ? $"Removed the {what} of {label}." : $"{label} has no {what} set by an admin (configured ones are changed in the configuration file).");
            return removed ? CliExit.Ok : CliExit.Refused;
        });
        return command;
    }

    private static Command Reset()
    {
        var scope = new ScopeOptions();
        var command = new Command("reset", "Lift a scope's pauses and start its current daily and monthly counts again from zero (the usage ledger keeps the history).");
        scope.AddTo(command);
        SetAction(command, async (cli, parse, ct) =>
        {
            var (target, label) = (await scope.ResolveAsync(cli, parse, required: true, ct))!.Value;
            if (target.IsDefault)
                throw new CliException(target.Kind == BudgetTargetKind.DefaultUser
                    ? "--default-user: the default budget is counted per user; reset one user (--user EMAIL)."
                    : "--default-key: keys have no default budget; reset one key (--key PREFIX).", CliExit.Usage);
            var meters = await CliBudgets.Changes(cli).ResetAsync(target, ct);
            await cli.Err.WriteLineAsync($"Reset {label}: {string.Join(" and ", meters.Select(k => $"{k.PeriodName} {k.Window}"))} start again from zero, and any pause is lifted.");
            return CliExit.Ok;
        });
        return command;
    }

    /// <summary>
    /// The session with the gateway's services (the counters: the database's, or Redis when <c>ConnectionStrings:Redis</c>
    /// is set, as serve uses), with budget errors turned into the CLI's: bad input exits 2, unreachable counters 3.
    /// </summary>
    private static void SetAction(Command command, Func<CliSession, ParseResult, CancellationToken, Task<int>> run)
        => CliSession.SetAction(command, async (cli, parse, ct) =>
        {
            try
            {
                return await run(cli, parse, ct);
            }
            catch (BudgetConfigException e)
            {
                throw new CliException(e.Message, CliExit.Usage);
            }
            catch (BudgetCountersUnavailableException e)
            {
                throw new CliException(e.Message, CliExit.Unavailable);
            }
        }, upstreams: true);

    private static string FirstBudgetFlag(ParseResult parse, params Option[] options)
        => options.FirstOrDefault(o => parse.GetResult(o) is not null)?.Name ?? "--daily-input";

    private static WindowChange? Window(BudgetPeriod period, string? input, string? output, string? cost, string prefix)
    {
        if (input is null && output is null && cost is null) return null;
        return new WindowChange(period,
            input is null ? null : TokenLimit(input, prefix + "-input"),
            output is null ? null : TokenLimit(output, prefix + "-output"),
            cost is null ? null : CostLimit(cost, prefix + "-cost"));
    }

    private static bool IsNone(string text) => text.Trim() is "none" or "off" or "-";

    private static LimitChange<long> TokenLimit(string text, string flag)
        => IsNone(text) ? LimitChange<long>.Remove : new LimitChange<long>(Whole(text, flag, long.MaxValue, suffixes: true, min: 0));

    private static LimitChange<double> CostLimit(string text, string flag)
    {
        if (IsNone(text)) return LimitChange<double>.Remove;
        var t = text.Trim().TrimStart('$');
        if (t.StartsWith('-')) throw new CliException($"{flag}: '{text}' is negative; a cost limit is 0 or more US dollars.", CliExit.Usage);
        return double.TryParse(t, NumberStyles.AllowDecimalPoint | NumberStyles.AllowThousands, CultureInfo.InvariantCulture, out var usd) && double.IsFinite(usd)
            ? new LimitChange<double>(usd)
            : throw new CliException($"{flag}: '{text}' is not an amount in US dollars (such as 20 or 12.50).", CliExit.Usage);
    }

    /// <summary>A whole number as people write budgets: 500000, 500k, 10M, 1.5M, 2,000,000 (suffixes only where tokens are counted).</summary>
    internal static long Whole(string text, string flag, long max, bool suffixes, long min = 1)
    {
        var t = text.Trim().Replace("_", "", StringComparison.Ordinal);
        if (t.StartsWith('-')) throw new CliException($"{flag}: '{text}' is negative; give {min} or more.", CliExit.Usage);
        decimal multiplier = 1;
        if (suffixes && t.Length > 1)
        {
            multiplier = char.ToLowerInvariant(t[^1]) switch { 'k' => 1_000m, 'm' => 1_000_000m, 'b' or 'g' => 1_000_000_000m, _ => 1m };
            if (multiplier != 1) t = t[..^1];
        }
        var example = suffixes ? "such as 500000, 500k, 10M or 1.5M" : "such as 60";
        if (!decimal.TryParse(t, NumberStyles.AllowDecimalPoint | NumberStyles.AllowThousands, CultureInfo.InvariantCulture, out var n))
            throw new CliException($"{flag}: '{text}' is not a number; give a whole number {example}.", CliExit.Usage);
        var value = n * multiplier;
        if (value != decimal.Truncate(value)) throw new CliException($"{flag}: '{text}' is not a whole number; give one {example}.", CliExit.Usage);
        if (value < min || value > max) throw new CliException($"{flag}: '{text}' is out of range; give {min} or more{(max < long.MaxValue ? $", at most {max}" : "")}.", CliExit.Usage);
        return (long)value;
    }

    private static double Threshold(string text, string flag)
    {
        var t = text.Trim();
        var percent = t.EndsWith('%');
        if (percent) t = t[..^1];
        if (!double.TryParse(t, NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
            throw new CliException($"{flag}: '{text}' is not a number; give a share of the limit from 0 to 1, such as 0.8 (or 80%).", CliExit.Usage);
        if (percent) v /= 100;
        return v is >= 0 and <= 1 ? v : throw new CliException($"{flag}: '{text}' is outside 0–1; give a share of the limit such as 0.8 (or 80%).", CliExit.Usage);
    }

    /// <summary><c>daily 500k input / 200k output tokens, notify at 80%; monthly 10M input tokens, restrict at 80%</c>.</summary>
    internal static string Describe(Budget budget) => string.Join("; ", budget.Windows.Select(w => $"{w.PeriodName} {Limits(w)}, {Rule(w)}"));

    internal static string Describe(RateLimit r) => string.Join(", ", new[]
    {
        r.RequestsPerMinute is { } rpm ? $"{rpm.ToString("N0", CultureInfo.InvariantCulture)} requests/min" : null,
        r.TokensPerMinute is { } tpm ? $"{BudgetStatus.Tokens(tpm)} tokens/min" : null,
        r.ConcurrentRequests is { } c ? $"{c.ToString(CultureInfo.InvariantCulture)} at a time" : null,
    }.Where(p => p is not null));

    private static string Limits(BudgetLimit w)
    {
        var tokens = new List<string>();
        if (w.InputTokens is { } i) tokens.Add($"{BudgetStatus.Tokens(i)} input");
        if (w.OutputTokens is { } o) tokens.Add($"{BudgetStatus.Tokens(o)} output");
        var parts = new List<string>();
        if (tokens.Count > 0) parts.Add(string.Join(" / ", tokens) + " tokens");
        if (w.CostUsd is { } c) parts.Add(BudgetStatus.Amount(BudgetQuantity.Cost, c));
        return string.Join(" and ", parts);
    }

    /// <summary><c>notify at 80%</c>, <c>restrict at 80%</c>, <c>alert at 80%, pause at the limit</c> (+ <c>until the window ends</c>).</summary>
    internal static string Rule(BudgetLimit w)
    {
        var at = Percent(w.AlertThreshold);
        return w.Action switch
        {
            BudgetActions.Pause => $"alert at {at}, pause at the limit{(w.ResumeAtPeriodEnd ? " until the window ends" : "")}",
            _ => $"{w.Action} at {at}",
        };
    }

    private static string Percent(double share) => (share * 100).ToString("0.##", CultureInfo.InvariantCulture) + "%";

    private static string Scope(TargetStatus s) => s.Target.Kind switch
    {
        BudgetTargetKind.Gateway => "gateway",
        BudgetTargetKind.DefaultUser => "users (default)",
        BudgetTargetKind.DefaultKey => "keys (default)",
        BudgetTargetKind.User => "user " + (s.Label ?? "#" + s.Target.Id.ToString(CultureInfo.InvariantCulture)),
        _ => "key " + (s.Label ?? "#" + s.Target.Id.ToString(CultureInfo.InvariantCulture)),
    };

    private static void WriteBudgetTable(TextWriter output, IReadOnlyList<TargetStatus> statuses, BudgetWindows windows)
    {
        var rows = new List<IReadOnlyList<string>>();
        foreach (var s in statuses)
        {
            if (s.Budget is null) continue;
            if (s.Lines.Count == 0)
            {
                // A default: a definition without counters of its own.
                foreach (var w in s.Budget.Windows)
                    foreach (var q in BudgetQuantities.All)
                        if (w.LimitOf(q) is { } limit)
                            rows.Add([Scope(s), s.BudgetSource ?? "", w.PeriodName, q.Name(), "-", "-", Amount(q, limit), "-", "-", "per user", Rule(w)]);
                continue;
            }
            foreach (var l in s.Lines)
                rows.Add([Scope(s), s.BudgetSource ?? "", l.Window.PeriodName, l.Quantity.Name(), Amount(l.Quantity, l.Used), Amount(l.Quantity, l.Reserved),
                    Amount(l.Quantity, l.Limit), l.Percent, When(l.WindowEnd, windows), State(l), Rule(l.Window)]);
        }
        if (rows.Count == 0) return;
        CliTable.Write(output, ["SCOPE", "SOURCE", "WINDOW", "QUANTITY", "USED", "RESERVED", "LIMIT", "SHARE", $"RESETS ({windows.Zone.Id})", "STATE", "ACTION"], rows);
    }

    private static void WriteRateTable(TextWriter output, IReadOnlyList<TargetStatus> statuses)
    {
        var rows = statuses.Where(s => s.RateLimit is not null && s.RateLimitSource != "default").Select(s => (IReadOnlyList<string>)
        [
            Scope(s), s.RateLimitSource ?? "",
            s.RateLimit!.RequestsPerMinute?.ToString("N0", CultureInfo.InvariantCulture) ?? "-",
            s.RateLimit.TokensPerMinute is { } t ? t.ToString("N0", CultureInfo.InvariantCulture) : "-",
            s.RateLimit.ConcurrentRequests?.ToString(CultureInfo.InvariantCulture) ?? "-",
        ]).ToList();
        if (rows.Count == 0) return;
        output.WriteLine();
        output.WriteLine("Rate limits:");
        CliTable.Write(output, ["SCOPE", "SOURCE", "REQUESTS/MIN", "TOKENS/MIN", "CONCURRENT"], rows);
    }

    private static string Amount(BudgetQuantity q, double n)
        => q == BudgetQuantity.Cost ? "$" + n.ToString("N2", CultureInfo.InvariantCulture) : n.ToString("N0", CultureInfo.InvariantCulture);

    private static string State(BudgetLine l)
        => l.State == BudgetStates.Paused && l.Pause is { } p ? p.Until is { } until ? $"paused until {until.ToUniversalTime():yyyy-MM-dd HH:mm}Z" : "paused until reset" : l.State;

    internal static string When(DateTimeOffset t, BudgetWindows windows)
        => TimeZoneInfo.ConvertTime(t, windows.Zone).ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);
}

/// <summary>The budget verbs' access to budgets: the same <see cref="BudgetChanges"/> the admin API uses, audited as the CLI's actor.</summary>
internal static class CliBudgets
{
    public static BudgetChanges Changes(CliSession session)
    {
        var services = session.Services;
        return new BudgetChanges(session.Store, services.GetRequiredService<BudgetConfigSource>(), services.GetRequiredService<Budgets.Counters.IBudgetCounters>(),
            services.GetRequiredService<BudgetWindows>(), session.Time,
            (action, target, detail) => new NewAuditEntry(session.Actor, action, target, detail, "local"));
    }
}
