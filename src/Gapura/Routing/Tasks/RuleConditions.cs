using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Gapura.Routing.Tasks;

/// <summary>
/// One condition of a <see cref="TaskRule"/>: <see cref="Test"/> is the hot path (no allocation), <see cref="Why"/>
/// explains the outcome for <c>POST /v1/route</c>, <see cref="Write"/> writes the condition back as the field it was
/// read from (built-in shape conditions write nothing: they are not configurable).
/// </summary>
internal abstract class RuleCondition
{
    public abstract bool Test(RequestFacts facts);
    public abstract string Why(RequestFacts facts, bool matched);
    public virtual void Write(Utf8JsonWriter writer) { }
}

/// <summary><c>client</c>: the recognised client application is one of these names.</summary>
internal sealed class ClientCondition(IReadOnlyList<string> names) : RuleCondition
{
    public IReadOnlyList<string> Names { get; } = names;

    public override bool Test(RequestFacts facts)
    {
        foreach (var name in Names) if (string.Equals(name, facts.Client.Name, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    public override string Why(RequestFacts facts, bool matched)
        => $"client is {facts.Client.Name}" + (matched ? "" : $", not {string.Join(" or ", Names)}");

    public override void Write(Utf8JsonWriter writer)
    {
        if (Names.Count == 1) { writer.WriteString("client", Names[0]); return; }
        writer.WriteStartArray("client");
        foreach (var n in Names) writer.WriteStringValue(n);
        writer.WriteEndArray();
    }
}

internal enum FlagFact { Tools, LastTurnToolResult, Thinking, Images }

/// <summary><c>tools</c>, <c>lastTurnToolResult</c>, <c>thinking</c>, <c>images</c>: the fact is (or is not) there.</summary>
internal sealed class FlagCondition(FlagFact fact, bool expected) : RuleCondition
{
    public FlagFact Fact { get; } = fact;
    public bool Expected { get; } = expected;

    private bool Value(RequestFacts facts) => Fact switch
    {
        FlagFact.Tools => facts.HasTools,
        FlagFact.LastTurnToolResult => facts.LastTurnToolResult,
        FlagFact.Thinking => facts.Thinking,
        _ => facts.Images,
    };

    public override bool Test(RequestFacts facts) => Value(facts) == Expected;

    public override string Why(RequestFacts facts, bool matched) => (Fact, Value(facts)) switch
    {
        (FlagFact.Tools, var v) => v ? $"{facts.Request.Tools.Count} tools" : "no tools",
        (FlagFact.LastTurnToolResult, var v) => v ? "the last turn is a tool result" : "the last turn is not a tool result",
        (FlagFact.Thinking, var v) => v ? "thinking requested" : "no thinking",
        (_, var v) => v ? "an image in the latest user turn" : "no image in the latest user turn",
    };

    public override void Write(Utf8JsonWriter writer) => writer.WriteBoolean(FieldName(Fact), Expected);

    public static string FieldName(FlagFact fact) => fact switch
    {
        FlagFact.Tools => "tools",
        FlagFact.LastTurnToolResult => "last_turn_tool_result",
        FlagFact.Thinking => "thinking",
        _ => "images",
    };
}

/// <summary><c>minInputTokens</c> / <c>maxInputTokens</c> over the estimated input size.</summary>
internal sealed class TokensCondition(int limit, bool isMinimum) : RuleCondition
{
    public int Limit { get; } = limit;
    public bool IsMinimum { get; } = isMinimum;

    public override bool Test(RequestFacts facts) => IsMinimum ? facts.EstimatedInputTokens >= Limit : facts.EstimatedInputTokens <= Limit;

    public override string Why(RequestFacts facts, bool matched)
        => string.Create(CultureInfo.InvariantCulture, $"~{facts.EstimatedInputTokens} input tokens {(matched ? "" : "not ")}{(IsMinimum ? "≥" : "≤")} {Limit}");

    public override void Write(Utf8JsonWriter writer) => writer.WriteNumber(IsMinimum ? "min_input_tokens" : "max_input_tokens", Limit);
}

internal enum TextSource { Model, System, LastUserText }

/// <summary>
/// <c>model</c>, <c>system</c>, <c>lastUserText</c>: a regular expression over the requested model, the system prompt or
/// the last user text. Compiled NonBacktracking (linear time) with a match timeout as a second guard; a timeout is no
/// match, never an exception (<see cref="RegexTimeouts"/>). <paramref name="headChars"/> &gt; 0 limits the search to
/// the text's beginning (the built-in rules: an instruction says what it is at its start).
/// </summary>
internal sealed class RegexCondition(TextSource source, string pattern, Regex regex, int headChars = 0) : RuleCondition
{
    public TextSource Source { get; } = source;
    public string Pattern { get; } = pattern;

    private ReadOnlySpan<char> Text(RequestFacts facts)
    {
        var text = Source switch { TextSource.Model => facts.Request.Model, TextSource.System => facts.System, _ => facts.LastUserText };
        return headChars > 0 ? RequestFacts.Head(text, headChars) : text;
    }

    public override bool Test(RequestFacts facts)
    {
        try { return regex.IsMatch(Text(facts)); }
        catch (RegexMatchTimeoutException) { RegexTimeouts.Report(Pattern); return false; }
    }

    public override string Why(RequestFacts facts, bool matched)
    {
        var what = Source switch { TextSource.Model => $"model '{facts.Request.Model}'", TextSource.System => "system prompt", _ => "last user text" };
        if (Source != TextSource.Model && Text(facts).IsEmpty) return $"no {what}";
        return $"{what} {(matched ? "matches" : "does not match")} /{Pattern}/";
    }

    public override void Write(Utf8JsonWriter writer) => writer.WriteString(FieldName(Source), Pattern);

    public static string FieldName(TextSource source) => source switch { TextSource.Model => "model", TextSource.System => "system", _ => "last_user_text" };

    public const RegexOptions Options = RegexOptions.NonBacktracking | RegexOptions.CultureInvariant;
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(100);

    /// <summary>Compiles a configured pattern; the message says why one is refused.</summary>
    public static Regex Compile(string pattern, Func<string, Exception> fail)
    {
        try { return new Regex(pattern, Options, MatchTimeout); }
        catch (NotSupportedException e)
        {
            throw fail("the regular expression uses a construct the linear-time (NonBacktracking) engine refuses — backreferences, "
                + $"lookahead/lookbehind, atomic groups, possessive quantifiers or conditionals; rewrite it without them ({e.Message})");
        }
        catch (ArgumentException e) { throw fail($"the regular expression does not compile: {e.Message}"); }
    }
}

/// <summary>A built-in rule's condition on what a client is known to send (literals found with an ordinal search, or a test of the facts).</summary>
internal sealed class ShapeCondition(string description, Func<RequestFacts, bool> test) : RuleCondition
{
    public override bool Test(RequestFacts facts) => test(facts);
    public override string Why(RequestFacts facts, bool matched) => (matched ? "" : "not: ") + description;
}

/// <summary>Logs a regex match timeout at most once a minute, so a slow pattern is visible without flooding the log.</summary>
internal static class RegexTimeouts
{
    private static long _lastLogged = long.MinValue;

    /// <summary>Set once at start-up (<see cref="TaskRules.Create(IReadOnlyList{TaskRule}, bool, int, ILogger)"/>).</summary>
    public static ILogger? Logger { get; set; }

    public static int Count => _count;
    private static int _count;

    public static void Report(string pattern)
    {
        Interlocked.Increment(ref _count);
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastLogged);
        if (last != long.MinValue && now - last < 60_000) return;
        if (Interlocked.CompareExchange(ref _lastLogged, now, last) != last) return;
        Logger?.LogWarning("A routing rule's regular expression /{Pattern}/ timed out ({Total} timeouts so far); it counted as no match", pattern, _count);
    }
}
