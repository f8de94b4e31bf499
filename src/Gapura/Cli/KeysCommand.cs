using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using Gapura.Identity;
using Gapura.Storage;

namespace Gapura.Cli;

/// <summary><c>gapura keys create|list|revoke</c>: client API keys, straight on the database.</summary>
internal static partial class KeysCommand
{
    public static Command Create()
    {
        var keys = new Command("keys", "Manage client API keys (works on the database named by Storage:* / ConnectionStrings:Postgres, like serve).");
        keys.Subcommands.Add(CreateKey());
        keys.Subcommands.Add(List());
        keys.Subcommands.Add(Revoke());
        return keys;
    }

    private static Command CreateKey()
    {
        var user = new Option<string>("--user") { Description = "Email of the key's owner.", Required = true };
        var name = new Option<string?>("--name") { Description = "A name to tell the key apart (e.g. laptop, ci)." };
        var expires = new Option<string?>("--expires") { Description = "When the key stops working: a date (2026-12-31, UTC midnight), a time (ISO 8601) or a span (30d, 12h)." };
        var command = new Command("create", "Create a key. The key alone is printed on standard output, once; nothing else is.") { user, name, expires };
        CliSession.SetAction(command, async (cli, parse, ct) =>
        {
            var now = cli.Time.GetUtcNow();
            var expiresAt = parse.GetValue(expires) is { } text ? ParseExpiry(text, now) : (DateTimeOffset?)null;
            var keyName = (parse.GetValue(name) ?? "").Trim();
            var owner = await cli.UserByEmailAsync(parse.GetValue(user)!, ct);
            if (owner.Disabled) throw new CliException($"{owner.Email} is disabled; `gapura users enable {owner.Email}` first.");
            var generated = ApiKeys.Generate();
            var stored = await cli.Store.InTransactionAsync(async s =>
            {
                var key = await s.ApiKeys.CreateAsync(new NewApiKey(owner.Id, keyName, generated.Prefix, generated.Hash, expiresAt), ct);
                await cli.AuditAsync(s, "key.create", "key:" + key.Prefix,
                    $"for {owner.Email}{(keyName.Length > 0 ? $", name '{keyName}'" : "")}{(expiresAt is null ? "" : $", expires {expiresAt:u}")}", ct);
                return key;
            }, ct);
            // The one line scripts capture: `KEY=$(gapura keys create --user …)`.
            await cli.Out.WriteLineAsync(generated.Key);
            await cli.Out.FlushAsync(ct);
            await cli.Err.WriteLineAsync($"Created key {stored.Prefix}… for {owner.Email}{(keyName.Length > 0 ? $" ('{keyName}')" : "")}, " +
                $"{(expiresAt is null ? "without expiry" : $"expiring {CliTable.Time(expiresAt)}")}. It is shown only this once; store it now.");
            return CliExit.Ok;
        });
        return command;
    }

    private static Command List()
    {
        var user = new Option<string?>("--user") { Description = "Only this user's keys." };
        var command = new Command("list", "List keys (prefix, owner, name, dates, status) — never the keys themselves.") { user };
        CliSession.SetAction(command, async (cli, parse, ct) =>
        {
            long? userId = parse.GetValue(user) is { } email ? (await cli.UserByEmailAsync(email, ct)).Id : null;
            var emails = (await cli.Store.Users.ListAsync(ct)).ToDictionary(u => u.Id, u => u.Email);
            var now = cli.Time.GetUtcNow();
            var keys = await cli.Store.ApiKeys.ListAsync(userId, ct: ct);
            CliTable.Write(cli.Out, ["ID", "PREFIX", "USER", "STATUS", "CREATED", "EXPIRES", "LAST USED", "NAME"], keys.Select(k => (IReadOnlyList<string>)
            [
                k.Id.ToString(CultureInfo.InvariantCulture), k.Prefix, emails.GetValueOrDefault(k.UserId, "?"), Status(k, now),
                CliTable.Time(k.CreatedAt), CliTable.Time(k.ExpiresAt), CliTable.Time(k.LastUsedAt), k.Name,
            ]));
            return CliExit.Ok;
        });
        return command;
    }

    private static Command Revoke()
    {
        var key = new Argument<string>("key-or-prefix") { Description = "The whole key, or enough of its start (as `keys list` shows it) to name one key." };
        var command = new Command("revoke", "Revoke a key: every instance refuses it within seconds.") { key };
        CliSession.SetAction(command, async (cli, parse, ct) =>
        {
            var text = (parse.GetValue(key) ?? "").Trim();
            if (text.Length == 0) throw new CliException("Name the key to revoke: the whole key or its prefix.", CliExit.Usage);
            var now = cli.Time.GetUtcNow();
            ApiKey target;
            if (ApiKeys.LooksLikeKey(text))
            {
                target = await cli.Store.ApiKeys.FindByHashAsync(ApiKeys.Hash(text), ct) ?? throw new CliException("No stored key matches that key.");
            }
            else
            {
                var matches = (await cli.Store.ApiKeys.FindByPrefixAsync(text, ct))
                    .Where(k => k.Prefix.StartsWith(text, StringComparison.Ordinal) || text.StartsWith(k.Prefix, StringComparison.Ordinal)).ToList();
                // A revoked key cannot be revoked again, so it does not make a prefix ambiguous.
                var live = matches.Where(k => k.RevokedAt is null).ToList();
                var candidates = live.Count > 0 ? live : matches;
                if (candidates.Count == 0) throw new CliException($"No key starts with '{text}' (see `gapura keys list`).");
                if (candidates.Count > 1)
                {
                    var emails = (await cli.Store.Users.ListAsync(ct)).ToDictionary(u => u.Id, u => u.Email);
                    throw new CliException($"'{text}' matches {candidates.Count} keys; give more of it:" + Environment.NewLine + string.Join(Environment.NewLine,
                        candidates.Select(k => $"  {k.Prefix}  id {k.Id}  {emails.GetValueOrDefault(k.UserId, "?")}  {Status(k, now)}  {k.Name}")));
                }
                target = candidates[0];
            }
            var owner = await cli.Store.Users.FindAsync(target.UserId, ct);
            var revoked = await cli.Store.InTransactionAsync(async s =>
            {
                var changed = await s.ApiKeys.RevokeAsync(target.Id, ct);
                if (changed) await cli.AuditAsync(s, "key.revoke", "key:" + target.Prefix, $"of {owner?.Email}", ct);
                return changed;
            }, ct);
            await cli.Err.WriteLineAsync(revoked
                ? $"Revoked key {target.Prefix}… of {owner?.Email}{(target.Name.Length > 0 ? $" ('{target.Name}')" : "")}."
                : $"Key {target.Prefix}… was already revoked.");
            return CliExit.Ok;
        });
        return command;
    }

    private static string Status(ApiKey k, DateTimeOffset now)
        => k.RevokedAt is not null ? "revoked" : k.ExpiresAt is { } e && e <= now ? "expired" : "active";

    /// <summary><c>30d</c>, <c>12h</c>, <c>2w</c>, a date (UTC midnight at its start) or an ISO 8601 time; always in the future.</summary>
    internal static DateTimeOffset ParseExpiry(string text, DateTimeOffset now)
    {
        text = text.Trim();
        DateTimeOffset at;
        if (Span().Match(text) is { Success: true } m)
        {
            var n = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            var span = m.Groups[2].Value.ToLowerInvariant() switch
            {
                "h" => TimeSpan.FromHours(n),
                "w" => TimeSpan.FromDays(7.0 * n),
                _ => TimeSpan.FromDays(n),
            };
            if (n < 1 || span > TimeSpan.FromDays(3650)) throw new CliException($"--expires '{text}' must be from 1 hour to 10 years.", CliExit.Usage);
            at = now + span;
        }
        else if (DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
        {
            at = new DateTimeOffset(date.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        }
        else if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out at))
        {
            throw new CliException($"--expires '{text}' is neither a span (30d, 12h, 2w), a date (2026-12-31) nor an ISO 8601 time.", CliExit.Usage);
        }
        if (at <= now) throw new CliException($"--expires '{text}' is in the past.", CliExit.Usage);
        return at;
    }

    [GeneratedRegex("^([0-9]{1,5})([dDhHwW])$")]
    private static partial Regex Span();
}
