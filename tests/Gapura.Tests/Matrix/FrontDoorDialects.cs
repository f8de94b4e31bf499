using System.Text.Json.Nodes;
using Gapura.Tests.Integration;

namespace Gapura.Tests.Matrix;

/// <summary>
/// The answer as a client of one front door understood it, streamed or not. <see cref="Stop"/> is in the
/// door's own words (Responses: <c>completed</c> or <c>incomplete:&lt;reason&gt;</c>).
/// </summary>
/// <see cref="Signature"/>: the thinking block's signature, on the Anthropic door only (null elsewhere or when absent).
public sealed record ClientAnswer(string Reasoning, string Text, List<CallPart> Calls, string Stop, int? InputTokens, int? OutputTokens, string? Signature = null);

/// <summary>
/// One front door as a client speaks it: renders a <see cref="Conversation"/> as its request JSON and reads
/// its answer (JSON body or SSE) back into a <see cref="ClientAnswer"/>. Built by hand, not by the SDKs, so
/// the bytes checked are the bytes on the wire.
/// </summary>
public abstract class FrontDoorDialect
{
    public static readonly FrontDoorDialect OpenAiChat = new OpenAiChatDialect();
    public static readonly FrontDoorDialect Responses = new ResponsesDialect();
    public static readonly FrontDoorDialect Anthropic = new AnthropicDialect();
    public static readonly FrontDoorDialect[] All = [OpenAiChat, Responses, Anthropic];

    public abstract string Name { get; }

    public abstract string Path { get; }

    /// <summary>Whether a tool result can say it is an error (only Anthropic's <c>is_error</c>; OpenAI's doors send just content).</summary>
    public abstract bool CarriesErrorFlag { get; }

    /// <summary>Whether earlier thinking can be sent back with its signature (Anthropic blocks, Responses <c>encrypted_content</c>).</summary>
    public abstract bool CarriesThinkingSignature { get; }

    /// <summary>How the door asks for thinking: a token budget (Anthropic) or an effort word (OpenAI's doors).</summary>
    public virtual int? ThinkingBudget => null;

    public virtual string? ReasoningEffort => null;

    public abstract JsonObject Render(Conversation conversation, string model, bool stream);

    public abstract string StopName(Stop stop);

    /// <summary>Reads a whole JSON answer, or an SSE stream asserting it ended the format's proper way.</summary>
    /// <param name="chatReasoningField">Where a chat-completions answer carries reasoning: the gateway's
    /// <c>reasoning_content</c>, or on the passthrough path the upstream's own field, relayed as it came.</param>
    public abstract ClientAnswer Read(string body, bool stream, string chatReasoningField);

    public override string ToString() => Name;

    protected static JsonNode Args(string json) => JsonNode.Parse(json)!;

    protected static string DataUrl(ImagePart image) => $"data:{image.MediaType};base64,{image.Base64}";

    protected static JsonNode ToolSchema() => JsonNode.Parse(MatrixConversations.ToolSchema)!;

    protected static int? Int(JsonNode? node) => node?.GetValue<int>();
}

internal sealed class OpenAiChatDialect : FrontDoorDialect
{
    public override string? ReasoningEffort => "medium";
    public override string Name => "openai-chat";
    public override bool CarriesThinkingSignature => false;
    public override string Path => "/v1/chat/completions";
    public override bool CarriesErrorFlag => false;

    public override JsonObject Render(Conversation c, string model, bool stream)
    {
        var messages = new JsonArray();
        if (c.System is not null) messages.Add(new JsonObject { ["role"] = "system", ["content"] = c.System });
        foreach (var turn in c.Turns)
        {
            if (turn.User)
            {
                foreach (var r in turn.Parts.OfType<ResultPart>())
                    messages.Add(new JsonObject { ["role"] = "tool", ["tool_call_id"] = r.CallId, ["content"] = r.Text });
                var parts = turn.Parts.Where(p => p is not ResultPart).ToList();
                if (parts.Count == 0) continue;
                messages.Add(new JsonObject
                {
                    ["role"] = "user",
                    ["content"] = parts is [TextPart only] ? only.Text : new JsonArray([.. parts.Select(p => (JsonNode)(p switch
                    {
                        TextPart t => new JsonObject { ["type"] = "text", ["text"] = t.Text },
                        ImagePart i => new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = DataUrl(i) } },
                        _ => throw new InvalidOperationException(p.ToString()),
                    }))]),
                });
            }
            else
            {
                var text = string.Concat(turn.Parts.OfType<TextPart>().Select(t => t.Text));
                var message = new JsonObject { ["role"] = "assistant", ["content"] = text.Length > 0 ? text : null };
                if (turn.Parts.OfType<ThinkingPart>().FirstOrDefault() is { } thought) message["reasoning_content"] = thought.Text;
                var calls = turn.Parts.OfType<CallPart>().ToList();
                if (calls.Count > 0)
                    message["tool_calls"] = new JsonArray([.. calls.Select(k => (JsonNode)new JsonObject
                    {
                        ["id"] = k.Id, ["type"] = "function",
                        ["function"] = new JsonObject { ["name"] = k.Name, ["arguments"] = k.Arguments },
                    })]);
                messages.Add(message);
            }
        }
        var body = new JsonObject { ["model"] = model, ["messages"] = messages, ["max_tokens"] = c.MaxTokens, ["stream"] = stream };
        if (stream) body["stream_options"] = new JsonObject { ["include_usage"] = true };
        if (c.Tools)
            body["tools"] = new JsonArray([.. MatrixConversations.ToolDefinitions.Select(t => (JsonNode)new JsonObject
            {
                ["type"] = "function",
                ["function"] = new JsonObject { ["name"] = t.Name, ["description"] = t.Description, ["parameters"] = ToolSchema() },
            })]);
        if (c.Thinking) body["reasoning_effort"] = ReasoningEffort;
        return body;
    }

    public override string StopName(Stop stop) => stop switch { Stop.EndTurn => "stop", Stop.ToolUse => "tool_calls", _ => "length" };

    public override ClientAnswer Read(string body, bool stream, string chatReasoningField)
    {
        if (!stream)
        {
            var root = JsonNode.Parse(body)!;
            Assert.Equal("chat.completion", (string?)root["object"]);
            var choice = root["choices"]![0]!;
            var message = choice["message"]!;
            var calls = (message["tool_calls"] as JsonArray ?? []).Select(k => new CallPart(
                (string)k!["id"]!, (string)k["function"]!["name"]!, (string)k["function"]!["arguments"]!)).ToList();
            return new ClientAnswer((string?)message[chatReasoningField] ?? "", (string?)message["content"] ?? "", calls,
                (string)choice["finish_reason"]!, Int(root["usage"]?["prompt_tokens"]), Int(root["usage"]?["completion_tokens"]));
        }
        var items = Wire.ParseSse(body).Where(i => i.Data is not null).ToList();
        Assert.Equal("[DONE]", items[^1].Data);
        string reasoning = "", text = "";
        string? finish = null;
        JsonNode? usage = null;
        var builders = new SortedDictionary<int, (string Id, string Name, string Args)>();
        foreach (var item in items.SkipLast(1))
        {
            var chunk = item.Json!;
            Assert.Null(chunk["error"]);
            Assert.Equal("chat.completion.chunk", (string?)chunk["object"]);
            if (chunk["usage"] is JsonObject u) usage = u;
            if (chunk["choices"] is not JsonArray { Count: > 0 } choices) continue;
            var delta = choices[0]!["delta"]!;
            reasoning += (string?)delta[chatReasoningField];
            text += (string?)delta["content"];
            foreach (var k in delta["tool_calls"] as JsonArray ?? [])
            {
                var index = (int)k!["index"]!;
                var b = builders.TryGetValue(index, out var open) ? open : (Id: "", Name: "", Args: "");
                builders[index] = (b.Id + (string?)k["id"], b.Name + (string?)k["function"]?["name"], b.Args + (string?)k["function"]?["arguments"]);
            }
            finish = (string?)choices[0]!["finish_reason"] ?? finish;
        }
        return new ClientAnswer(reasoning, text, [.. builders.Values.Select(b => new CallPart(b.Id, b.Name, b.Args))], finish!,
            Int(usage?["prompt_tokens"]), Int(usage?["completion_tokens"]));
    }
}

internal sealed class ResponsesDialect : FrontDoorDialect
{
    public override string? ReasoningEffort => "medium";
    public override string Name => "responses";
    public override bool CarriesThinkingSignature => true;
    public override string Path => "/v1/responses";
    public override bool CarriesErrorFlag => false;

    public override JsonObject Render(Conversation c, string model, bool stream)
    {
        var input = new JsonArray();
        foreach (var turn in c.Turns)
        {
            var content = new JsonArray();
            foreach (var p in turn.Parts)
            {
                switch (p)
                {
                    case TextPart t:
                        content.Add(new JsonObject { ["type"] = turn.User ? "input_text" : "output_text", ["text"] = t.Text });
                        break;
                    case ImagePart i:
                        content.Add(new JsonObject { ["type"] = "input_image", ["image_url"] = DataUrl(i) });
                        break;
                    case ThinkingPart th:
                        var reasoning = new JsonObject
                        {
                            ["type"] = "reasoning", ["id"] = "rs_matrix",
                            ["summary"] = new JsonArray(new JsonObject { ["type"] = "summary_text", ["text"] = th.Text }),
                        };
                        if (th.Signature is not null) reasoning["encrypted_content"] = th.Signature;
                        input.Add(reasoning);
                        break;
                    case CallPart k:
                        input.Add(new JsonObject { ["type"] = "function_call", ["call_id"] = k.Id, ["name"] = k.Name, ["arguments"] = k.Arguments });
                        break;
                    case ResultPart r:
                        input.Add(new JsonObject { ["type"] = "function_call_output", ["call_id"] = r.CallId, ["output"] = r.Text });
                        break;
                }
            }
            if (content.Count > 0)
                input.Add(new JsonObject { ["type"] = "message", ["role"] = turn.User ? "user" : "assistant", ["content"] = content });
        }
        var body = new JsonObject { ["model"] = model, ["input"] = input, ["max_output_tokens"] = c.MaxTokens, ["stream"] = stream, ["store"] = false };
        if (c.System is not null) body["instructions"] = c.System;
        if (c.Tools)
            body["tools"] = new JsonArray([.. MatrixConversations.ToolDefinitions.Select(t => (JsonNode)new JsonObject
            {
                ["type"] = "function", ["name"] = t.Name, ["description"] = t.Description, ["parameters"] = ToolSchema(),
            })]);
        if (c.Thinking) body["reasoning"] = new JsonObject { ["effort"] = ReasoningEffort, ["summary"] = "auto" };
        return body;
    }

    public override string StopName(Stop stop) => stop == Stop.MaxTokens ? "incomplete:max_output_tokens" : "completed";

    public override ClientAnswer Read(string body, bool stream, string chatReasoningField)
    {
        if (!stream) return FromResponse(JsonNode.Parse(body)!);

        // The deltas are what a streaming client shows; the final event's response object must say the same.
        var events = Wire.ParseSse(body).Where(i => i.Data is not null).ToList();
        Assert.Equal("response.created", events[0].Event);
        var last = events[^1];
        Assert.Contains(last.Event, (string[])["response.completed", "response.incomplete"]);
        string reasoning = "", text = "";
        var calls = new SortedDictionary<int, (string Id, string Name, string Args)>();
        foreach (var e in events)
        {
            var json = e.Json!;
            Assert.Equal(e.Event, (string?)json["type"]);
            switch (e.Event)
            {
                case "response.output_text.delta": text += (string)json["delta"]!; break;
                case "response.reasoning_summary_text.delta": reasoning += (string)json["delta"]!; break;
                case "response.output_item.added" when (string?)json["item"]!["type"] == "function_call":
                    calls[(int)json["output_index"]!] = ((string)json["item"]!["call_id"]!, (string)json["item"]!["name"]!, "");
                    break;
                case "response.function_call_arguments.delta":
                    var index = (int)json["output_index"]!;
                    calls[index] = calls[index] with { Args = calls[index].Args + (string)json["delta"]! };
                    break;
                case "response.failed" or "error": Assert.Fail(e.Data); break;
            }
        }
        var final = FromResponse(last.Json!["response"]!);
        var streamed = final with { Reasoning = reasoning, Text = text, Calls = [.. calls.Values.Select(k => new CallPart(k.Id, k.Name, k.Args))] };
        Assert.Equal(final.Text, streamed.Text);
        Assert.Equal(final.Reasoning, streamed.Reasoning);
        Assert.Equal(final.Calls, streamed.Calls);
        return streamed;
    }

    private static ClientAnswer FromResponse(JsonNode response)
    {
        Assert.Equal("response", (string?)response["object"]);
        string reasoning = "", text = "";
        var calls = new List<CallPart>();
        foreach (var item in response["output"]!.AsArray())
        {
            switch ((string?)item!["type"])
            {
                case "reasoning":
                    reasoning += string.Concat((item["summary"] as JsonArray ?? []).Select(s => (string?)s!["text"]));
                    break;
                case "message":
                    text += string.Concat(item["content"]!.AsArray().Select(p => (string?)p!["text"]));
                    break;
                case "function_call":
                    calls.Add(new CallPart((string)item["call_id"]!, (string)item["name"]!, (string)item["arguments"]!));
                    break;
            }
        }
        var status = (string)response["status"]!;
        if (status == "incomplete") status += ":" + (string?)response["incomplete_details"]?["reason"];
        return new ClientAnswer(reasoning, text, calls, status, Int(response["usage"]?["input_tokens"]), Int(response["usage"]?["output_tokens"]));
    }
}

internal sealed class AnthropicDialect : FrontDoorDialect
{
    public override int? ThinkingBudget => 2048;
    public override string Name => "anthropic";
    public override bool CarriesThinkingSignature => true;
    public override string Path => "/v1/messages";
    public override bool CarriesErrorFlag => true;

    public override JsonObject Render(Conversation c, string model, bool stream)
    {
        var messages = new JsonArray();
        foreach (var turn in c.Turns)
        {
            messages.Add(new JsonObject
            {
                ["role"] = turn.User ? "user" : "assistant",
                ["content"] = new JsonArray([.. turn.Parts.Select(p => (JsonNode)(p switch
                {
                    TextPart t => new JsonObject { ["type"] = "text", ["text"] = t.Text },
                    ThinkingPart th => new JsonObject { ["type"] = "thinking", ["thinking"] = th.Text, ["signature"] = th.Signature ?? "" },
                    ImagePart i => new JsonObject
                    {
                        ["type"] = "image",
                        ["source"] = new JsonObject { ["type"] = "base64", ["media_type"] = i.MediaType, ["data"] = i.Base64 },
                    },
                    CallPart k => new JsonObject { ["type"] = "tool_use", ["id"] = k.Id, ["name"] = k.Name, ["input"] = Args(k.Arguments) },
                    ResultPart r => new JsonObject { ["type"] = "tool_result", ["tool_use_id"] = r.CallId, ["content"] = r.Text, ["is_error"] = r.IsError == true },
                    _ => throw new InvalidOperationException(p.ToString()),
                }))]),
            });
        }
        var body = new JsonObject { ["model"] = model, ["max_tokens"] = c.MaxTokens, ["messages"] = messages, ["stream"] = stream };
        if (c.System is not null) body["system"] = c.System;
        if (c.Tools)
            body["tools"] = new JsonArray([.. MatrixConversations.ToolDefinitions.Select(t => (JsonNode)new JsonObject
            {
                ["name"] = t.Name, ["description"] = t.Description, ["input_schema"] = ToolSchema(),
            })]);
        if (c.Thinking) body["thinking"] = new JsonObject { ["type"] = "enabled", ["budget_tokens"] = ThinkingBudget };
        return body;
    }

    public override string StopName(Stop stop) => stop switch { Stop.EndTurn => "end_turn", Stop.ToolUse => "tool_use", _ => "max_tokens" };

    public override ClientAnswer Read(string body, bool stream, string chatReasoningField)
    {
        if (!stream)
        {
            var root = JsonNode.Parse(body)!;
            Assert.Equal("message", (string?)root["type"]);
            string reasoning = "", text = "";
            string? signature = null;
            var calls = new List<CallPart>();
            foreach (var block in root["content"]!.AsArray())
            {
                switch ((string?)block!["type"])
                {
                    case "thinking":
                        reasoning += (string?)block["thinking"];
                        signature = (string?)block["signature"] is { Length: > 0 } sig ? sig : null;
                        break;
                    case "text": text += (string?)block["text"]; break;
                    case "tool_use": calls.Add(new CallPart((string)block["id"]!, (string)block["name"]!, block["input"]!.ToJsonString())); break;
                }
            }
            return new ClientAnswer(reasoning, text, calls, (string)root["stop_reason"]!, Int(root["usage"]?["input_tokens"]), Int(root["usage"]?["output_tokens"]), signature);
        }
        var events = Wire.ParseSse(body).Where(i => i.Data is not null).ToList();
        Assert.Equal("message_start", events[0].Event);
        Assert.Equal("message_stop", events[^1].Event);
        string thinking = "", answer = "";
        string? streamedSignature = null;
        var blocks = new SortedDictionary<int, (string Id, string Name, string Args)>();
        string? stop = null;
        var input = Int(events[0].Json!["message"]!["usage"]?["input_tokens"]);
        int? output = null;
        foreach (var e in events)
        {
            var json = e.Json!;
            Assert.Equal(e.Event, (string?)json["type"]);
            switch (e.Event)
            {
                case "content_block_start" when (string?)json["content_block"]!["type"] == "tool_use":
                    blocks[(int)json["index"]!] = ((string)json["content_block"]!["id"]!, (string)json["content_block"]!["name"]!, "");
                    break;
                case "content_block_delta":
                    var delta = json["delta"]!;
                    switch ((string?)delta["type"])
                    {
                        case "text_delta": answer += (string)delta["text"]!; break;
                        case "thinking_delta": thinking += (string)delta["thinking"]!; break;
                        case "signature_delta": streamedSignature += (string)delta["signature"]!; break;
                        case "input_json_delta":
                            var index = (int)json["index"]!;
                            blocks[index] = blocks[index] with { Args = blocks[index].Args + (string)delta["partial_json"]! };
                            break;
                    }
                    break;
                case "message_delta":
                    stop = (string?)json["delta"]!["stop_reason"];
                    output = Int(json["usage"]?["output_tokens"]);
                    // The final count wins when the delta repeats it (the real API does on some paths).
                    input = Int(json["usage"]?["input_tokens"]) ?? input;
                    break;
                case "error": Assert.Fail(e.Data); break;
            }
        }
        // A tool call with no argument fragments streams as {} once parsed; the stream carries nothing for it.
        var calls2 = blocks.Values.Select(b => new CallPart(b.Id, b.Name, b.Args.Length == 0 ? "{}" : b.Args)).ToList();
        return new ClientAnswer(thinking, answer, calls2, stop!, input, output, streamedSignature is { Length: > 0 } ? streamedSignature : null);
    }
}
