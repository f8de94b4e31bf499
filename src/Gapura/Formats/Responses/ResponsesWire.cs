using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Gapura.Conversations;
using Gapura.Formats.OpenAi;

namespace Gapura.Formats.Responses;

internal enum OutputKind { Message, Reasoning, FunctionCall }

/// <summary>
/// One item of a response's <c>output</c> as it is built up. The stream writer keeps these to answer the
/// <c>.done</c> events and the final <c>response.completed</c> (which repeats the whole output); the
/// non-streaming path builds them from a <see cref="ChatResult"/>, so both write items the same way.
/// </summary>
internal sealed class OutputItem(OutputKind kind, string id)
{
    public OutputKind Kind { get; } = kind;
    public string Id { get; } = id;

    /// <summary>Message text, reasoning text, or function-call arguments.</summary>
    public StringBuilder Text { get; } = new();

    public string? CallId { get; init; }
    public string? Name { get; init; }

    /// <summary>The upstream's thinking signature, sent as <c>encrypted_content</c> so it survives a round trip.</summary>
    public string? Signature { get; set; }

    /// <summary><c>in_progress</c>, <c>completed</c> or <c>incomplete</c>.</summary>
    public string Status { get; set; } = "in_progress";
}

/// <summary>The Responses API's JSON shapes, shared by the streamed and the whole answer.</summary>
internal static class ResponsesWire
{
    private const string ResponsePrefix = "resp_";
    private const int ResponseHexLength = 32;
    private const int ItemHexLength = 16;
    private static readonly System.Buffers.SearchValues<char> LowerHex = System.Buffers.SearchValues.Create("0123456789abcdef");

    /// <summary>
    /// An item id that names its response: the prefix of its kind, the response id's hex, then hex of its own. A later
    /// <c>item_reference</c> to it is served by reading that one response (see <see cref="ResponseIdOf"/>).
    /// </summary>
    public static string NewItemId(OutputKind kind, string responseId) => NewItemId(kind switch
    {
        OutputKind.Message => "msg_",
        OutputKind.Reasoning => "rs_",
        _ => "fc_",
    }, responseId);

    public static string NewItemId(string prefix, string responseId)
    {
        var hex = responseId.StartsWith(ResponsePrefix, StringComparison.Ordinal) && responseId.Length == ResponsePrefix.Length + ResponseHexLength
            ? responseId.AsSpan(ResponsePrefix.Length)
            : RandomNumberGenerator.GetHexString(ResponseHexLength, lowercase: true).AsSpan();
        return string.Concat(prefix, hex, RandomNumberGenerator.GetHexString(ItemHexLength, lowercase: true));
    }

    /// <summary>The response an item id of this gateway belongs to, or null for an id it did not make.</summary>
    public static string? ResponseIdOf(string itemId)
    {
        var underscore = itemId.IndexOf('_');
        if (underscore <= 0) return null;
        var hex = itemId.AsSpan(underscore + 1);
        if (hex.Length != ResponseHexLength + ItemHexLength || hex.ContainsAnyExcept(LowerHex)) return null;
        return string.Concat(ResponsePrefix, hex[..ResponseHexLength]);
    }

    /// <summary>
    /// The <c>response</c> object. Request settings the canonical request keeps are echoed; the rest get
    /// the values this gateway actually applied (<c>store</c> says whether the answer is kept).
    /// </summary>
    public static void WriteResponse(Utf8JsonWriter w, ResponseContext context, string status, IReadOnlyList<OutputItem> output,
        Usage? usage, string? incompleteReason = null, GatewayException? error = null)
    {
        var request = context.Request;
        w.WriteStartObject();
        w.WriteString("id", context.ResponseId);
        w.WriteString("object", "response");
        w.WriteNumber("created_at", context.Created.ToUnixTimeSeconds());
        w.WriteString("status", status);
        w.WriteBoolean("background", false);
        if (error is null) w.WriteNull("error");
        else
        {
            var (type, code) = OpenAiWire.ErrorType(error);
            w.WriteStartObject("error");
            w.WriteString("code", code ?? type);
            w.WriteString("message", error.Message);
            w.WriteEndObject();
        }
        if (incompleteReason is null) w.WriteNull("incomplete_details");
        else
        {
            w.WriteStartObject("incomplete_details");
            w.WriteString("reason", incompleteReason);
            w.WriteEndObject();
        }
        w.WriteNull("instructions");
        if (request.MaxTokens is { } max) w.WriteNumber("max_output_tokens", max); else w.WriteNull("max_output_tokens");
        w.WriteString("model", context.Model);
        w.WriteStartArray("output");
        foreach (var item in output) WriteItem(w, item);
        w.WriteEndArray();
        w.WriteBoolean("parallel_tool_calls", true);
        if ((context.Turn as ResponsesTurn)?.PreviousResponseId is { } previous) w.WriteString("previous_response_id", previous);
        else w.WriteNull("previous_response_id");
        w.WriteStartObject("reasoning");
        if (request.Thinking?.Effort is { } effort) w.WriteString("effort", effort); else w.WriteNull("effort");
        w.WriteNull("summary");
        w.WriteEndObject();
        w.WriteBoolean("store", context.Turn is ResponsesTurn { Keeps: true });
        if (request.Temperature is { } t) w.WriteNumber("temperature", t); else w.WriteNull("temperature");
        w.WriteStartObject("text");
        w.WriteStartObject("format");
        w.WriteString("type", "text");
        w.WriteEndObject();
        w.WriteEndObject();
        WriteToolChoice(w, request.ToolChoice);
        w.WriteStartArray("tools");
        foreach (var tool in request.Tools)
        {
            w.WriteStartObject();
            w.WriteString("type", "function");
            w.WriteString("name", tool.Name);
            if (tool.Description is null) w.WriteNull("description"); else w.WriteString("description", tool.Description);
            w.WritePropertyName("parameters");
            tool.InputSchema.WriteTo(w);
            w.WriteBoolean("strict", false);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (request.TopP is { } p) w.WriteNumber("top_p", p); else w.WriteNull("top_p");
        w.WriteString("truncation", "disabled");
        if (usage is null) w.WriteNull("usage");
        else WriteUsage(w, usage, ReasoningTokens(output));
        w.WriteNull("user");
        w.WriteStartObject("metadata");
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteToolChoice(Utf8JsonWriter w, ToolChoice? choice)
    {
        switch (choice?.Kind)
        {
            case ToolChoiceKind.None: w.WriteString("tool_choice", "none"); break;
            case ToolChoiceKind.Any: w.WriteString("tool_choice", "required"); break;
            case ToolChoiceKind.Tool:
                w.WriteStartObject("tool_choice");
                w.WriteString("type", "function");
                w.WriteString("name", choice.Name);
                w.WriteEndObject();
                break;
            default: w.WriteString("tool_choice", "auto"); break;
        }
    }

    public static void WriteItem(Utf8JsonWriter w, OutputItem item)
    {
        w.WriteStartObject();
        w.WriteString("id", item.Id);
        switch (item.Kind)
        {
            case OutputKind.Message:
                w.WriteString("type", "message");
                w.WriteString("status", item.Status);
                w.WriteString("role", "assistant");
                w.WriteStartArray("content");
                // An item just added has no part yet; the part arrives with content_part.added.
                if (item.Status != "in_progress" || item.Text.Length > 0) WriteTextPart(w, item.Text);
                w.WriteEndArray();
                break;
            case OutputKind.Reasoning:
                w.WriteString("type", "reasoning");
                w.WriteStartArray("summary");
                if (item.Status != "in_progress" || item.Text.Length > 0) WriteSummaryPart(w, item.Text);
                w.WriteEndArray();
                if (item.Signature is not null) w.WriteString("encrypted_content", item.Signature);
                break;
            case OutputKind.FunctionCall:
                w.WriteString("type", "function_call");
                w.WriteString("status", item.Status);
                w.WriteString("arguments", item.Status == "in_progress" ? "" : ArgumentsText(item));
                w.WriteString("call_id", item.CallId);
                w.WriteString("name", item.Name);
                break;
        }
        w.WriteEndObject();
    }

    public static void WriteTextPart(Utf8JsonWriter w, StringBuilder text)
    {
        w.WriteStartObject();
        w.WriteString("type", "output_text");
        WriteText(w, "text", text);
        w.WriteStartArray("annotations");
        w.WriteEndArray();
        w.WriteStartArray("logprobs");
        w.WriteEndArray();
        w.WriteEndObject();
    }

    public static void WriteSummaryPart(Utf8JsonWriter w, StringBuilder text)
    {
        w.WriteStartObject();
        w.WriteString("type", "summary_text");
        WriteText(w, "text", text);
        w.WriteEndObject();
    }

    /// <summary>Writes a StringBuilder's chunks without materialising one string per event.</summary>
    public static void WriteText(Utf8JsonWriter w, string name, StringBuilder text)
    {
        if (text.Length == 0) { w.WriteString(name, ""); return; }
        w.WritePropertyName(name);
        // Segments are escaped as one string value, surrogate pairs split across chunks included.
        foreach (var chunk in text.GetChunks()) w.WriteStringValueSegment(chunk.Span, isFinalSegment: false);
        w.WriteStringValueSegment(ReadOnlySpan<char>.Empty, isFinalSegment: true);
    }

    /// <summary>Arguments as the model produced them; an empty argument string means no arguments.</summary>
    public static string ArgumentsText(OutputItem item) => item.Text.Length == 0 ? "{}" : item.Text.ToString();

    /// <summary>
    /// Responses usage: <c>input_tokens</c> includes cached tokens (repeated under <c>cached_tokens</c>).
    /// Reasoning tokens are the upstream's figure when it gives one (OpenAI Responses), else the estimator's
    /// count of the reasoning text; never more than the output.
    /// </summary>
    public static void WriteUsage(Utf8JsonWriter w, Usage usage, int reasoningTokens)
    {
        var input = usage.InputTokens + usage.CacheReadTokens + usage.CacheWriteTokens;
        w.WriteStartObject("usage");
        w.WriteNumber("input_tokens", input);
        w.WriteStartObject("input_tokens_details");
        w.WriteNumber("cached_tokens", usage.CacheReadTokens);
        w.WriteEndObject();
        w.WriteNumber("output_tokens", usage.OutputTokens);
        w.WriteStartObject("output_tokens_details");
        w.WriteNumber("reasoning_tokens", Math.Min(usage.ReasoningTokens > 0 ? usage.ReasoningTokens : reasoningTokens, usage.OutputTokens));
        w.WriteEndObject();
        w.WriteNumber("total_tokens", input + usage.OutputTokens);
        w.WriteEndObject();
    }

    private static int ReasoningTokens(IReadOnlyList<OutputItem> output)
    {
        var tokens = 0;
        foreach (var item in output)
        {
            if (item.Kind != OutputKind.Reasoning) continue;
            foreach (var chunk in item.Text.GetChunks()) tokens += TokenEstimator.Count(chunk.Span);
        }
        return tokens;
    }

    /// <summary>Why a response is incomplete, or null when it completed.</summary>
    public static string? IncompleteReason(StopReason reason)
        => reason is StopReason.MaxTokens or StopReason.ContextWindowExceeded ? "max_output_tokens" : null;

    /// <summary>The output items of a whole answer, in the order a stream would have produced them.</summary>
    public static List<OutputItem> Items(ChatResult result, string responseId)
    {
        var incomplete = IncompleteReason(result.StopReason) is not null;
        var items = new List<OutputItem>(2 + result.ToolCalls.Count);
        if (!string.IsNullOrEmpty(result.Reasoning))
        {
            var reasoning = new OutputItem(OutputKind.Reasoning, NewItemId(OutputKind.Reasoning, responseId)) { Signature = result.ReasoningSignature, Status = "completed" };
            reasoning.Text.Append(result.Reasoning);
            items.Add(reasoning);
        }
        if (result.Text.Length > 0 || result.ToolCalls.Count == 0)
        {
            var message = new OutputItem(OutputKind.Message, NewItemId(OutputKind.Message, responseId)) { Status = incomplete ? "incomplete" : "completed" };
            message.Text.Append(result.Text);
            items.Add(message);
        }
        foreach (var call in result.ToolCalls)
        {
            var item = new OutputItem(OutputKind.FunctionCall, NewItemId(OutputKind.FunctionCall, responseId)) { CallId = call.Id, Name = call.Name, Status = "completed" };
            item.Text.Append(call.Arguments);
            items.Add(item);
        }
        return items;
    }
}
