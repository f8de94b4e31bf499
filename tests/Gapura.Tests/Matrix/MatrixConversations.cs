namespace Gapura.Tests.Matrix;

/// <summary>A piece of a turn, in no API's shape; each front door renders it, each upstream reader reads it back.</summary>
public abstract record Part;

public sealed record TextPart(string Text) : Part;

/// <summary>An inline image; <paramref name="Base64"/> without a data-URL prefix.</summary>
public sealed record ImagePart(string MediaType, string Base64) : Part;

/// <summary>A tool call; <paramref name="Arguments"/> is a JSON object as text.</summary>
public sealed record CallPart(string Id, string Name, string Arguments) : Part;

/// <summary>A tool result. <paramref name="IsError"/> null: the format read back has no error flag.</summary>
public sealed record ResultPart(string CallId, string Text, bool? IsError) : Part;

/// <summary>Reasoning from an earlier assistant turn, with the signature its upstream gave it (null: unsigned).</summary>
public sealed record ThinkingPart(string Text, string? Signature) : Part;

public sealed record Turn(bool User, params Part[] Parts);

public enum Stop { EndTurn, ToolUse, MaxTokens }

/// <summary>
/// What the upstream answers (the simulator is told this), in no API's shape. Tool call ids are given per
/// provider by <see cref="MatrixProvider"/>, in that upstream's own id style. <paramref name="InputTokens"/> excludes
/// the prompt-cache buckets, as Anthropic counts; upstreams that report cache writes carry <paramref name="CacheWrite"/>.
/// </summary>
public sealed record Reply(string? Thinking, string Text, (string Name, string Arguments)[] Calls, Stop Stop, int InputTokens, int OutputTokens,
    int CacheRead = 0, int CacheWrite = 0);

/// <summary>One conversation of the matrix: what the client sends and what the upstream answers.</summary>
public sealed record Conversation(string Name, string? System, Turn[] Turns, bool Tools, int MaxTokens, bool Thinking, Reply Reply)
{
    /// <summary>
    /// The conversation as a client of <paramref name="provider"/> holds it: earlier thinking carries the signature
    /// that provider gave it (none for upstreams whose reasoning is unsigned).
    /// </summary>
    public Conversation SignedBy(MatrixProvider provider) => this with
    {
        Turns = [.. Turns.Select(t => t with { Parts = [.. t.Parts.Select(p => p is ThinkingPart th ? th with { Signature = provider.ThinkingSignature(th.Text) } : p)] })],
    };

    public override string ToString() => Name;
}

/// <summary>The one shared set of conversations every (front door × provider × stream) case runs.</summary>
public static class MatrixConversations
{
    /// <summary>A 1×1 red PNG.</summary>
    public const string Png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

    public const string ToolError = "ERROR: the weather service is unavailable";

    /// <summary>Declared in the tool conversations: two functions with one string argument each.</summary>
    public static readonly (string Name, string Description)[] ToolDefinitions =
        [("get_weather", "Current weather in a city"), ("get_time", "Local time in a city")];

    public const string ToolSchema = """{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""";

    /// <summary>
    /// An answer far longer than 16 tokens by any count. Upstreams that enforce max_tokens answer with its
    /// first words and a max_tokens stop; Kiro, which has no such field, streams all of it and the gateway cuts.
    /// </summary>
    public static readonly string LongText = string.Join(" ", Enumerable.Range(1, 120).Select(i => $"word{i}"));

    public static readonly Conversation[] All =
    [
        new("plain", null, [new(true, new TextPart("Say hello."))], false, 1024, false,
            new(null, "Hello there, friend.", [], Stop.EndTurn, 21, 6)),
        new("system", "You are a terse pirate. Answer in one word.", [new(true, new TextPart("Greet me."))], false, 1024, false,
            new(null, "Arr!", [], Stop.EndTurn, 33, 3)),
        new("multi-turn", null,
            [
                new(true, new TextPart("My name is Ada.")),
                new(false, new TextPart("Nice to meet you, Ada.")),
                new(true, new TextPart("What is my name?")),
            ], false, 1024, false,
            new(null, "Your name is Ada.", [], Stop.EndTurn, 45, 7)),
        new("parallel-tools", null, [new(true, new TextPart("What are the weather and the time in Paris?"))], true, 1024, false,
            new(null, "Let me check both.", [("get_weather", """{"city":"Paris"}"""), ("get_time", """{"city":"Paris"}""")], Stop.ToolUse, 310, 42)),
        new("tool-error", null,
            [
                new(true, new TextPart("What is the weather in Paris?")),
                new(false, new CallPart("call_weather_1", "get_weather", """{"city":"Paris"}""")),
                new(true, new ResultPart("call_weather_1", ToolError, true)),
            ], true, 1024, false,
            new(null, "Sorry, the weather service is down.", [], Stop.EndTurn, 330, 9)),
        new("image", null, [new(true, new TextPart("What colour is this image?"), new ImagePart("image/png", Png))], false, 1024, false,
            new(null, "It is red.", [], Stop.EndTurn, 1620, 4)),
        new("thinking", null, [new(true, new TextPart("What is 17 times 3?"))], false, 4096, true,
            new("17 times 3: 10 times 3 is 30, 7 times 3 is 21, so 51.", "51", [], Stop.EndTurn, 27, 30)),
        new("thinking-history", null,
            [
                new(true, new TextPart("What is the weather in Paris?")),
                new(false, new ThinkingPart("The user wants the weather; I should call the tool.", null), new CallPart("call_weather_2", "get_weather", """{"city":"Paris"}""")),
                new(true, new ResultPart("call_weather_2", "Sunny, 21 degrees", false)),
            ], true, 4096, true,
            new("The tool says sunny.", "It is sunny and 21 degrees in Paris.", [], Stop.EndTurn, 352, 25)),
        new("max-tokens", null, [new(true, new TextPart("Count as far as you can."))], false, 16, false,
            new(null, string.Join(" ", LongText.Split(' ')[..12]), [], Stop.MaxTokens, 24, 16)),
    ];
}
