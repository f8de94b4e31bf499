using System.Text.Json;
using Gapura.Conversations;
using Gapura.Formats;
using Gapura.Formats.Anthropic;
using Gapura.Formats.OpenAi;
using Gapura.Formats.Responses;
using Gapura.Ledger;
using Gapura.Routing.Tasks;
using Gapura.Tests.Integration;
using Microsoft.AspNetCore.Http;

namespace Gapura.Tests.Routing.Tasks;

/// <summary>One recorded client request (tests/Gapura.Tests/Routing/Recordings), read as the gateway reads a request.</summary>
internal sealed record RecordedRequest(string File, string Client, string Situation, string ExpectedTask, string Door, HeaderDictionary Headers, JsonDocument Body)
{
    public static string Folder => Path.Combine(ClaudeCodeEndToEndTests.RepositoryRoot(), "tests", "Gapura.Tests", "Routing", "Recordings");

    public static IReadOnlyList<string> Files() => [.. Directory.GetFiles(Folder, "*.json").Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    public static RecordedRequest Load(string file)
    {
        using var doc = JsonDocument.Parse(System.IO.File.ReadAllBytes(Path.Combine(Folder, file)));
        var root = doc.RootElement;
        var headers = new HeaderDictionary();
        foreach (var h in root.GetProperty("headers").EnumerateObject()) headers[h.Name] = h.Value.GetString();
        return new(file, root.GetProperty("client").GetString()!, root.GetProperty("situation").GetString()!,
            root.GetProperty("expected_task").GetString()!, root.GetProperty("door").GetString()!, headers,
            JsonDocument.Parse(root.GetProperty("body").GetRawText()));
    }

    /// <summary>The door the gateway would parse this request with.</summary>
    public IFrontDoor FrontDoor => Door switch
    {
        FrontDoors.AnthropicMessages => AnthropicMessagesFrontDoor.Instance,
        FrontDoors.OpenAiChat => OpenAiChatFrontDoor.Instance,
        FrontDoors.OpenAiResponses => ResponsesFrontDoor.Instance,
        _ => throw new InvalidOperationException($"{File}: unknown door {Door}"),
    };

    /// <summary>What the classifier sees: the door's parse, the recognised client, the token estimate.</summary>
    public RequestFacts Facts()
    {
        var request = FrontDoor.ParseRequest(Body.RootElement);
        return RequestFacts.From(request, Headers, ClientApps.Recognize(Headers), RequestTokenCounter.Count(request));
    }
}
