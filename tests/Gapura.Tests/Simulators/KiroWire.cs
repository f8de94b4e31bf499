using System.Buffers.Binary;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Amazon.Runtime.EventStreams;
using Gapura.Simulators.Kiro;

namespace Gapura.Tests.Simulators;

/// <summary>Test helpers: request bodies in the Kiro shape and a reference decoder built on the AWS SDK.</summary>
internal static class KiroWire
{
    public static JsonObject User(string content, JsonArray? tools = null, JsonArray? toolResults = null, string modelId = "claude-sonnet-4.5")
    {
        var message = new JsonObject { ["content"] = content, ["modelId"] = modelId, ["origin"] = "AI_EDITOR" };
        if (tools is not null || toolResults is not null)
        {
            var context = new JsonObject();
            if (tools is not null) context["tools"] = tools;
            if (toolResults is not null) context["toolResults"] = toolResults;
            message["userInputMessageContext"] = context;
        }
        return new JsonObject { ["userInputMessage"] = message };
    }

    public static JsonObject Assistant(string content, JsonArray? toolUses = null)
    {
        var message = new JsonObject { ["content"] = content };
        if (toolUses is not null) message["toolUses"] = toolUses;
        return new JsonObject { ["assistantResponseMessage"] = message };
    }

    public static JsonArray Tools(params string[] names)
    {
        var array = new JsonArray();
        foreach (var name in names)
        {
            array.Add(new JsonObject
            {
                ["toolSpecification"] = new JsonObject
                {
                    ["name"] = name,
                    ["description"] = "Tool " + name,
                    ["inputSchema"] = new JsonObject { ["json"] = new JsonObject { ["type"] = "object" } },
                },
            });
        }
        return array;
    }

    public static string Body(JsonObject current, params JsonObject[] history)
    {
        var state = new JsonObject
        {
            ["chatTriggerType"] = "MANUAL",
            ["conversationId"] = Guid.NewGuid().ToString(),
            ["currentMessage"] = current,
        };
        if (history.Length > 0) state["history"] = new JsonArray([.. history]);
        return new JsonObject { ["conversationState"] = state, ["profileArn"] = "arn:aws:codewhisperer:us-east-1:000000000000:profile/SIMULATOR" }.ToJsonString();
    }

    public static HttpRequestMessage Chat(KiroSimulator simulator, string accessToken, string body) => new(HttpMethod.Post, simulator.BaseUrl + "/generateAssistantResponse")
    {
        Headers = { Authorization = new AuthenticationHeaderValue("Bearer", accessToken) },
        Content = new StringContent(body, Encoding.UTF8, "application/json"),
    };

    /// <summary>Splits a byte stream into messages with the AWS SDK's own parser (it checks both CRCs).</summary>
    public static List<EventStreamMessage> Decode(byte[] stream)
    {
        var messages = new List<EventStreamMessage>();
        var offset = 0;
        while (offset < stream.Length)
        {
            var total = (int)BinaryPrimitives.ReadUInt32BigEndian(stream.AsSpan(offset));
            // FromBuffer mis-checks the message CRC when offset is not 0, so each frame gets its own array.
            messages.Add(EventStreamMessage.FromBuffer(stream.AsSpan(offset, total).ToArray(), 0, total));
            offset += total;
        }
        return messages;
    }

    public static string Header(this EventStreamMessage message, string name) => message.Headers[name].AsString();

    public static string Text(IEnumerable<EventStreamMessage> messages)
        => string.Concat(messages.Where(m => m.Headers.ContainsKey(":event-type") && m.Header(":event-type") == "assistantResponseEvent")
            .Select(m => JsonNode.Parse(m.Payload)!["content"]!.GetValue<string>()));
}
