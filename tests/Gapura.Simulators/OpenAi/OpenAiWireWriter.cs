using System.Text.Json.Nodes;

namespace Gapura.Simulators.OpenAi;

/// <summary>One server-sent event: an optional <c>event:</c> name and its <c>data:</c> payload.</summary>
public sealed record SseEvent(string? Event, string Data)
{
    public string Encode() => (Event is null ? "" : $"event: {Event}\n") + $"data: {Data}\n\n";
}

/// <summary>
/// Renders an <see cref="OpenAiAnswer"/> in OpenAI's wire shapes: chat-completion chunks and objects, and
/// Responses API events and objects, field for field as OpenAI sends them (nulls included, since clients
/// parse them).
/// </summary>
public static class OpenAiWireWriter
{
    // ---- chat completions ------------------------------------------------------------------------

    /// <param name="reasoningField">The delta field reasoning goes in: <c>reasoning_content</c> as the compatible servers
    /// send it, or another server's own (Copilot's <c>reasoning_text</c>).</param>
    public static List<SseEvent> ChatChunks(OpenAiAnswer answer, string model, string id, long created, bool includeUsage, Func<string> newCallId,
        string reasoningField = "reasoning_content")
    {
        var events = new List<SseEvent>();
        JsonObject Chunk(JsonObject? delta, string? finish)
        {
            var chunk = new JsonObject
            {
                ["id"] = id, ["object"] = "chat.completion.chunk", ["created"] = created, ["model"] = model,
                ["service_tier"] = "default", ["system_fingerprint"] = "fp_simulator",
                ["choices"] = delta is null ? new JsonArray() : new JsonArray(new JsonObject
                {
                    ["index"] = 0, ["delta"] = delta, ["logprobs"] = null, ["finish_reason"] = finish,
                }),
            };
            // With include_usage every chunk carries "usage": null until the last one.
            if (includeUsage) chunk["usage"] = null;
            return chunk;
        }
        void Add(JsonObject chunk) => events.Add(new SseEvent(null, chunk.ToJsonString()));

        Add(Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "", ["refusal"] = null }, null));
        foreach (var r in answer.Reasoning) Add(Chunk(new JsonObject { [reasoningField] = r }, null));
        foreach (var t in answer.Text) Add(Chunk(new JsonObject { ["content"] = t }, null));
        for (var i = 0; i < answer.ToolCalls.Count; i++)
        {
            var call = answer.ToolCalls[i];
            Add(Chunk(new JsonObject
            {
                ["tool_calls"] = new JsonArray(new JsonObject
                {
                    ["index"] = i, ["id"] = call.Id ?? newCallId(), ["type"] = "function",
                    ["function"] = new JsonObject { ["name"] = call.Name, ["arguments"] = "" },
                }),
            }, null));
            foreach (var piece in Pieces(call.Arguments, answer.ArgumentFragments))
                Add(Chunk(new JsonObject { ["tool_calls"] = new JsonArray(new JsonObject { ["index"] = i, ["function"] = new JsonObject { ["arguments"] = piece } }) }, null));
        }
        Add(Chunk(new JsonObject(), answer.EffectiveFinishReason));
        if (includeUsage)
        {
            var last = Chunk(null, null);
            last["usage"] = ChatUsage(answer);
            Add(last);
        }
        return events;
    }

    public static JsonObject ChatCompletion(OpenAiAnswer answer, string model, string id, long created, Func<string> newCallId,
        string reasoningField = "reasoning_content")
    {
        var message = new JsonObject
        {
            ["role"] = "assistant",
            ["content"] = answer.Text.Count == 0 && answer.ToolCalls.Count > 0 ? null : string.Concat(answer.Text),
            ["refusal"] = null,
            ["annotations"] = new JsonArray(),
        };
        if (answer.Reasoning.Count > 0) message[reasoningField] = string.Concat(answer.Reasoning);
        if (answer.ToolCalls.Count > 0)
        {
            var calls = new JsonArray();
            foreach (var call in answer.ToolCalls)
                calls.Add(new JsonObject
                {
                    ["id"] = call.Id ?? newCallId(), ["type"] = "function",
                    ["function"] = new JsonObject { ["name"] = call.Name, ["arguments"] = call.Arguments },
                });
            message["tool_calls"] = calls;
        }
        return new JsonObject
        {
            ["id"] = id, ["object"] = "chat.completion", ["created"] = created, ["model"] = model,
            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["message"] = message, ["logprobs"] = null, ["finish_reason"] = answer.EffectiveFinishReason }),
            ["usage"] = ChatUsage(answer),
            ["service_tier"] = "default",
            ["system_fingerprint"] = "fp_simulator",
        };
    }

    public static JsonObject ChatUsage(OpenAiAnswer a) => new()
    {
        ["prompt_tokens"] = a.PromptTokens,
        ["completion_tokens"] = a.CompletionTokens,
        ["total_tokens"] = a.PromptTokens + a.CompletionTokens,
        ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = a.CachedTokens, ["audio_tokens"] = 0 },
        ["completion_tokens_details"] = new JsonObject
        {
            ["reasoning_tokens"] = a.ReasoningTokens, ["audio_tokens"] = 0, ["accepted_prediction_tokens"] = 0, ["rejected_prediction_tokens"] = 0,
        },
    };

    // ---- Responses API ---------------------------------------------------------------------------

    /// <summary>The full streamed sequence, <c>response.created</c> … <c>response.completed</c> (or <c>.incomplete</c>).</summary>
    public static List<SseEvent> ResponseEvents(OpenAiAnswer answer, JsonObject request, string id, long created, Func<string, string> newId)
    {
        var events = new List<SseEvent>();
        var sequence = 0;
        void Add(string type, JsonObject payload)
        {
            var data = new JsonObject { ["type"] = type, ["sequence_number"] = sequence++ };
            foreach (var (k, v) in payload) data[k] = v?.DeepClone();
            events.Add(new SseEvent(type, data.ToJsonString()));
        }

        Add("response.created", new JsonObject { ["response"] = ResponseObject(answer, request, id, created, "in_progress", new JsonArray(), withUsage: false) });
        Add("response.in_progress", new JsonObject { ["response"] = ResponseObject(answer, request, id, created, "in_progress", new JsonArray(), withUsage: false) });

        var output = new JsonArray();
        var index = 0;
        if (answer.Reasoning.Count > 0)
        {
            var itemId = newId("rs");
            var text = string.Concat(answer.Reasoning);
            Add("response.output_item.added", new JsonObject { ["output_index"] = index, ["item"] = new JsonObject { ["id"] = itemId, ["type"] = "reasoning", ["summary"] = new JsonArray() } });
            Add("response.reasoning_summary_part.added", new JsonObject { ["item_id"] = itemId, ["output_index"] = index, ["summary_index"] = 0, ["part"] = new JsonObject { ["type"] = "summary_text", ["text"] = "" } });
            foreach (var r in answer.Reasoning)
                Add("response.reasoning_summary_text.delta", new JsonObject { ["item_id"] = itemId, ["output_index"] = index, ["summary_index"] = 0, ["delta"] = r });
            Add("response.reasoning_summary_text.done", new JsonObject { ["item_id"] = itemId, ["output_index"] = index, ["summary_index"] = 0, ["text"] = text });
            Add("response.reasoning_summary_part.done", new JsonObject { ["item_id"] = itemId, ["output_index"] = index, ["summary_index"] = 0, ["part"] = new JsonObject { ["type"] = "summary_text", ["text"] = text } });
            var item = ReasoningItem(itemId, text);
            Add("response.output_item.done", new JsonObject { ["output_index"] = index, ["item"] = item });
            output.Add(item.DeepClone());
            index++;
        }
        if (answer.Text.Count > 0)
        {
            var itemId = newId("msg");
            var text = string.Concat(answer.Text);
            Add("response.output_item.added", new JsonObject
            {
                ["output_index"] = index,
                ["item"] = new JsonObject { ["id"] = itemId, ["type"] = "message", ["status"] = "in_progress", ["content"] = new JsonArray(), ["role"] = "assistant" },
            });
            Add("response.content_part.added", new JsonObject { ["item_id"] = itemId, ["output_index"] = index, ["content_index"] = 0, ["part"] = OutputText("") });
            foreach (var t in answer.Text)
                Add("response.output_text.delta", new JsonObject { ["item_id"] = itemId, ["output_index"] = index, ["content_index"] = 0, ["delta"] = t, ["logprobs"] = new JsonArray() });
            Add("response.output_text.done", new JsonObject { ["item_id"] = itemId, ["output_index"] = index, ["content_index"] = 0, ["text"] = text, ["logprobs"] = new JsonArray() });
            Add("response.content_part.done", new JsonObject { ["item_id"] = itemId, ["output_index"] = index, ["content_index"] = 0, ["part"] = OutputText(text) });
            var item = MessageItem(itemId, text);
            Add("response.output_item.done", new JsonObject { ["output_index"] = index, ["item"] = item });
            output.Add(item.DeepClone());
            index++;
        }
        foreach (var call in answer.ToolCalls)
        {
            var itemId = newId("fc");
            var callId = call.Id ?? newId("call");
            Add("response.output_item.added", new JsonObject
            {
                ["output_index"] = index,
                ["item"] = new JsonObject { ["id"] = itemId, ["type"] = "function_call", ["status"] = "in_progress", ["arguments"] = "", ["call_id"] = callId, ["name"] = call.Name },
            });
            foreach (var piece in Pieces(call.Arguments, answer.ArgumentFragments))
                Add("response.function_call_arguments.delta", new JsonObject { ["item_id"] = itemId, ["output_index"] = index, ["delta"] = piece });
            Add("response.function_call_arguments.done", new JsonObject { ["item_id"] = itemId, ["output_index"] = index, ["arguments"] = call.Arguments });
            var item = FunctionCallItem(itemId, callId, call);
            Add("response.output_item.done", new JsonObject { ["output_index"] = index, ["item"] = item });
            output.Add(item.DeepClone());
            index++;
        }
        var status = Status(answer);
        Add("response." + status, new JsonObject
        {
            ["response"] = ResponseObject(answer, request, id, created, status, output, withUsage: status != "failed"),
        });
        return events;
    }

    /// <summary>The non-streamed answer: the same object <c>response.completed</c> carries.</summary>
    public static JsonObject Response(OpenAiAnswer answer, JsonObject request, string id, long created, Func<string, string> newId)
    {
        var output = new JsonArray();
        if (answer.Reasoning.Count > 0) output.Add(ReasoningItem(newId("rs"), string.Concat(answer.Reasoning)));
        if (answer.Text.Count > 0) output.Add(MessageItem(newId("msg"), string.Concat(answer.Text)));
        foreach (var call in answer.ToolCalls) output.Add(FunctionCallItem(newId("fc"), call.Id ?? newId("call"), call));
        var status = Status(answer);
        return ResponseObject(answer, request, id, created, status, output, withUsage: status != "failed");
    }

    private static string Status(OpenAiAnswer answer)
        => answer.Failure is not null ? "failed" : answer.EffectiveFinishReason == "length" ? "incomplete" : "completed";

    private static JsonObject ResponseObject(OpenAiAnswer answer, JsonObject request, string id, long created, string status, JsonArray output, bool withUsage)
    {
        var text = string.Concat(answer.Text);
        return new JsonObject
        {
            ["id"] = id, ["object"] = "response", ["created_at"] = created, ["status"] = status,
            ["background"] = false,
            ["error"] = status == "failed" && answer.Failure is { } failure ? new JsonObject { ["code"] = failure.Code, ["message"] = failure.Message } : null,
            ["incomplete_details"] = status == "incomplete" ? new JsonObject { ["reason"] = "max_output_tokens" } : null,
            ["instructions"] = request["instructions"]?.DeepClone(),
            ["max_output_tokens"] = request["max_output_tokens"]?.DeepClone(),
            ["model"] = request["model"]?.DeepClone(),
            ["output"] = output,
            ["output_text"] = status == "in_progress" ? null : text,
            ["parallel_tool_calls"] = request["parallel_tool_calls"]?.DeepClone() ?? true,
            ["previous_response_id"] = null,
            ["reasoning"] = new JsonObject { ["effort"] = request["reasoning"]?["effort"]?.DeepClone(), ["summary"] = null },
            ["store"] = request["store"]?.DeepClone() ?? true,
            ["temperature"] = request["temperature"]?.DeepClone() ?? 1.0,
            ["text"] = new JsonObject { ["format"] = new JsonObject { ["type"] = "text" } },
            ["tool_choice"] = request["tool_choice"]?.DeepClone() ?? "auto",
            ["tools"] = request["tools"]?.DeepClone() ?? new JsonArray(),
            ["top_p"] = request["top_p"]?.DeepClone() ?? 1.0,
            ["truncation"] = "disabled",
            ["usage"] = withUsage ? new JsonObject
            {
                ["input_tokens"] = answer.PromptTokens,
                ["input_tokens_details"] = new JsonObject { ["cached_tokens"] = answer.CachedTokens },
                ["output_tokens"] = answer.CompletionTokens,
                ["output_tokens_details"] = new JsonObject { ["reasoning_tokens"] = answer.ReasoningTokens },
                ["total_tokens"] = answer.PromptTokens + answer.CompletionTokens,
            } : null,
            ["user"] = null,
            ["metadata"] = new JsonObject(),
        };
    }

    private static JsonObject OutputText(string text) => new() { ["type"] = "output_text", ["annotations"] = new JsonArray(), ["logprobs"] = new JsonArray(), ["text"] = text };

    private static JsonObject MessageItem(string id, string text) => new()
    {
        ["id"] = id, ["type"] = "message", ["status"] = "completed", ["content"] = new JsonArray(OutputText(text)), ["role"] = "assistant",
    };

    private static JsonObject ReasoningItem(string id, string text) => new()
    {
        ["id"] = id, ["type"] = "reasoning", ["summary"] = new JsonArray(new JsonObject { ["type"] = "summary_text", ["text"] = text }),
    };

    private static JsonObject FunctionCallItem(string id, string callId, OpenAiToolCall call) => new()
    {
        ["id"] = id, ["type"] = "function_call", ["status"] = "completed", ["arguments"] = call.Arguments, ["call_id"] = callId, ["name"] = call.Name,
    };

    /// <summary>Cuts text into about <paramref name="count"/> pieces, never inside a surrogate pair.</summary>
    public static IEnumerable<string> Pieces(string text, int count)
    {
        if (text.Length == 0) yield break;
        var size = Math.Max(1, (int)Math.Ceiling(text.Length / (double)Math.Max(1, count)));
        for (var i = 0; i < text.Length;)
        {
            var end = Math.Min(text.Length, i + size);
            if (end < text.Length && char.IsHighSurrogate(text[end - 1])) end++;
            yield return text[i..end];
            i = end;
        }
    }
}
