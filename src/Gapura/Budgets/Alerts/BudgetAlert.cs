using System.Globalization;
using System.Text.Json;

namespace Gapura.Budgets.Alerts;

/// <summary>The three budget events: a threshold crossed, a budget paused at its limit, a budget reset by an admin.</summary>
internal static class BudgetAlertKinds
{
    public const string Threshold = "threshold";
    public const string Paused = "paused";
    public const string Reset = "reset";
}

/// <summary>
/// One budget event to announce: what <see cref="BudgetAlerts.Raise"/> logs, audits and POSTs to <c>Budgets:WebhookUrl</c>.
/// The window fields (<see cref="Window"/> to <see cref="WindowEnd"/>) are set for <c>threshold</c> and <c>paused</c>;
/// a <c>reset</c> concerns the whole scope (every current window), so they are null there.
/// </summary>
/// <param name="Kind">One of <see cref="BudgetAlertKinds"/>.</param>
/// <param name="UserEmail">The user's email when the caller knows it (user scopes, and the owner of a key scope).</param>
/// <param name="KeyPrefix">The API key's public prefix for key scopes, when known — never the key itself.</param>
/// <param name="Window"><c>daily</c> or <c>monthly</c>.</param>
/// <param name="Quantity"><c>input</c>, <c>output</c> or <c>cost</c>.</param>
/// <param name="Used">Settled use in the window: tokens, or US dollars for cost.</param>
/// <param name="Share">Used over the limit (0.81 is 81%); may be infinite for a limit of 0.</param>
/// <param name="Threshold">The window's alert threshold, a share such as 0.8.</param>
/// <param name="Action"><c>notify</c>, <c>restrict</c> or <c>pause</c>.</param>
/// <param name="Message">One human sentence saying all of it (logs, audit detail, the webhook's <c>message</c>).</param>
internal sealed record BudgetAlert(
    string Kind, DateTimeOffset At, BudgetScope Scope, string? UserEmail, string? KeyPrefix,
    string? Window, string? Quantity, double? Used, double? Limit, double? Share, double? Threshold, string? Action,
    DateTimeOffset? WindowEnd, string Message)
{
    /// <summary>Made once per event and sent with every attempt, so a receiver can drop a retry it already handled.</summary>
    public string Id { get; init; } = Guid.CreateVersion7(At).ToString();

    /// <summary>Who reset the budget (an admin's email, or the CLI's actor); only for <c>reset</c>.</summary>
    public string? ResetBy { get; init; }

    /// <summary>The webhook's <c>event</c> field and the audit action: <c>budget.threshold</c>, <c>budget.paused</c>, <c>budget.reset</c>.</summary>
    public string Event => "budget." + Kind;

    /// <summary>The audit entry's target, in the audit log's usual words: <c>user:alice@example.com</c>, <c>key:gk_ab12</c>, <c>gateway</c>.</summary>
    public string Target => Scope.Kind switch
    {
        ScopeKind.User when UserEmail is not null => "user:" + UserEmail,
        ScopeKind.Key when KeyPrefix is not null => "key:" + KeyPrefix,
        _ => Scope.Name,
    };

    /// <summary>A budget line's usage crossed its window's alert threshold.</summary>
    public static BudgetAlert ThresholdCrossed(BudgetLine line, DateTimeOffset at, string? userEmail = null, string? keyPrefix = null)
    {
        var w = line.Window;
        var then = w.Action switch
        {
            BudgetActions.Restrict => "requests are now served by the fast profile",
            BudgetActions.Pause => "requests will be refused at the limit",
            _ => "requests go on",
        };
        var message = $"{Subject(line.Scope, userEmail, keyPrefix)} has used {Percent(line.Share)} of the {w.PeriodName} {QuantityWords(line.Quantity)} budget "
                      + $"({Amount(line.Quantity, line.Used)} of {Amount(line.Quantity, line.Limit)}); action: {w.Action} — {then}.";
        return FromLine(BudgetAlertKinds.Threshold, line, at, userEmail, keyPrefix, message);
    }

    /// <summary>A <c>pause</c> budget line reached its limit: requests of this scope are refused.</summary>
    public static BudgetAlert Paused(BudgetLine line, DateTimeOffset at, string? userEmail = null, string? keyPrefix = null)
    {
        var w = line.Window;
        var until = w.ResumeAtPeriodEnd
            ? $"until the window ends ({line.WindowEnd.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC) or an admin resets it"
            : "until an admin resets it";
        var message = $"{Subject(line.Scope, userEmail, keyPrefix)} is paused: it has used {Percent(line.Share)} of the {w.PeriodName} {QuantityWords(line.Quantity)} budget "
                      + $"({Amount(line.Quantity, line.Used)} of {Amount(line.Quantity, line.Limit)}); requests are refused {until}.";
        return FromLine(BudgetAlertKinds.Paused, line, at, userEmail, keyPrefix, message);
    }

    /// <summary>An admin reset a scope's budget: its pauses are lifted and its current windows count from zero again.</summary>
    public static BudgetAlert Reset(BudgetScope scope, DateTimeOffset at, string? resetBy, string? userEmail = null, string? keyPrefix = null)
    {
        var message = $"{Subject(scope, userEmail, keyPrefix)} had its budget reset{(resetBy is null ? "" : " by " + resetBy)}: "
                      + "its current windows count from zero again and any pause is lifted.";
        return new BudgetAlert(BudgetAlertKinds.Reset, at, scope, userEmail, keyPrefix, null, null, null, null, null, null, null, null, message)
        {
            ResetBy = resetBy,
        };
    }

    private static BudgetAlert FromLine(string kind, BudgetLine line, DateTimeOffset at, string? userEmail, string? keyPrefix, string message)
        => new(kind, at, line.Scope, userEmail, keyPrefix, line.Window.PeriodName, line.Quantity.Name(), line.Used, line.Limit, line.Share,
            line.Window.AlertThreshold, line.Window.Action, line.WindowEnd, message);

    /// <summary>Who is meant, as a sentence starts: "The gateway", "User alice@example.com", "API key gk_ab12 of alice@example.com".</summary>
    private static string Subject(BudgetScope scope, string? email, string? prefix) => scope.Kind switch
    {
        ScopeKind.Gateway => "The gateway",
        ScopeKind.User => "User " + (email ?? "#" + scope.Id.ToString(CultureInfo.InvariantCulture)),
        _ => "API key " + (prefix ?? "#" + scope.Id.ToString(CultureInfo.InvariantCulture)) + (email is null ? "" : " of " + email),
    };

    private static string QuantityWords(BudgetQuantity q) => q switch
    {
        BudgetQuantity.Input => "input-token",
        BudgetQuantity.Output => "output-token",
        _ => "cost",
    };

    // The same rounding as BudgetLine.Percent (floored, so "80%" is never shown before the 0.8 threshold is really reached).
    private static string Percent(double share)
        => share >= 10 ? ">999%" : ((int)Math.Floor(share * 100)).ToString(CultureInfo.InvariantCulture) + "%";

    // "405k of 500k" as budgets are written; dollars with cents for cost.
    private static string Amount(BudgetQuantity q, double n)
        => q == BudgetQuantity.Cost ? "$" + n.ToString("0.00", CultureInfo.InvariantCulture) : BudgetStatus.Tokens(n);

    /// <summary>
    /// The webhook body, snake_case like the admin API. Every field is always present (null when it does not apply), so
    /// receivers can rely on one shape for all three events.
    /// </summary>
    public byte[] ToJson()
    {
        using var buffer = new MemoryStream(512);
        using (var w = new Utf8JsonWriter(buffer, Formats.JsonResponses.WriterOptions)) // "—" and "+" as themselves, not \u escapes
        {
            w.WriteStartObject();
            w.WriteString("id", Id);
            w.WriteString("event", Event);
            w.WriteString("kind", Kind);
            w.WriteString("at", At.UtcDateTime); // ISO 8601 in UTC: 2026-03-01T14:03:11Z
            w.WriteString("scope", Scope.Name);
            w.WriteString("scope_kind", Scope.KindName);
            WriteStringOrNull(w, "user_email", UserEmail);
            WriteStringOrNull(w, "key_prefix", KeyPrefix);
            WriteStringOrNull(w, "window", Window);
            WriteStringOrNull(w, "quantity", Quantity);
            var isCost = Quantity == BudgetQuantity.Cost.Name();
            WriteAmount(w, "used", Used, isCost);
            WriteAmount(w, "limit", Limit, isCost);
            WriteNumberOrNull(w, "share", Share is { } s ? Math.Round(s, 4) : null);
            WriteNumberOrNull(w, "threshold", Threshold);
            WriteStringOrNull(w, "action", Action);
            if (WindowEnd is { } end) w.WriteString("window_end", end.UtcDateTime);
            else w.WriteNull("window_end");
            WriteStringOrNull(w, "reset_by", ResetBy);
            w.WriteString("message", Message);
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private static void WriteStringOrNull(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null) w.WriteNull(name);
        else w.WriteString(name, value);
    }

    // Tokens are whole numbers; dollars keep six decimals (enough for any price, without 0.30000000000000004).
    private static void WriteAmount(Utf8JsonWriter w, string name, double? value, bool isCost)
    {
        if (value is not { } v || !double.IsFinite(v)) w.WriteNull(name);
        else if (isCost) w.WriteNumber(name, Math.Round(v, 6));
        else w.WriteNumber(name, (long)Math.Round(v));
    }

    // JSON has no infinity: a share over a limit of 0 is written as null.
    private static void WriteNumberOrNull(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v && double.IsFinite(v)) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }
}
