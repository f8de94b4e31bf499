using System.Text.Json.Nodes;

namespace Gapura.Simulators.Anthropic;

/// <summary>An answer the real API would give instead of a message: status, error type, message.</summary>
public sealed record AnthropicRejection(int Status, string Type, string Message);

/// <summary>
/// The checks the Messages API makes before answering, with its error types and wording, so a gateway that
/// builds a body Anthropic would refuse fails here too rather than only in production.
/// </summary>
internal static class AnthropicRequestValidator
{
    public static AnthropicRejection? Validate(JsonNode? body, Func<string, AnthropicSimModel?> findModel, Func<string, string, bool> signatureValid, bool countTokens)
    {
        if (body is not JsonObject root) return Invalid("Request body must be a JSON object.");
        if (root["model"] is not JsonValue modelValue || !modelValue.TryGetValue<string>(out var modelId) || modelId.Length == 0)
            return Invalid("model: Field required");
        var model = findModel(modelId);
        if (model is null) return new AnthropicRejection(404, "not_found_error", $"model: {modelId}");

        int maxTokens = 0;
        if (!countTokens)
        {
            if (root["max_tokens"] is not JsonValue mt || !mt.TryGetValue<int>(out maxTokens)) return Invalid("max_tokens: Field required");
            if (maxTokens < 1) return Invalid("max_tokens: Input should be greater than or equal to 1");
            if (maxTokens > model.MaxOutputTokens)
                return Invalid($"max_tokens: {maxTokens} > {model.MaxOutputTokens}, which is the maximum allowed number of output tokens for {modelId}");
        }

        if (root["system"] is { } system && system is not JsonArray && !(system is JsonValue sv && sv.TryGetValue<string>(out _)))
            return Invalid("system: Input should be a valid string or list of text blocks");

        if (root["messages"] is not JsonArray messages) return Invalid("messages: Field required");
        if (messages.Count == 0) return Invalid("messages: at least one message is required");
        var toolUseIds = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < messages.Count; i++)
        {
            if (messages[i] is not JsonObject message) return Invalid($"messages.{i}: Input should be an object");
            var role = (string?)message["role"];
            if (role is not ("user" or "assistant"))
                return Invalid($"messages.{i}.role: Input should be 'user' or 'assistant'");
            var content = message["content"];
            if (content is JsonValue cv && cv.TryGetValue<string>(out var text))
            {
                if (text.Length == 0 && !(role == "assistant" && i == messages.Count - 1)) return Invalid($"messages.{i}: all messages must have non-empty content except for the optional final assistant message");
                continue;
            }
            if (content is not JsonArray blocks) return Invalid($"messages.{i}.content: Field required");
            if (blocks.Count == 0 && !(role == "assistant" && i == messages.Count - 1)) return Invalid($"messages.{i}: all messages must have non-empty content except for the optional final assistant message");
            for (var j = 0; j < blocks.Count; j++)
            {
                var path = $"messages.{i}.content.{j}";
                if (blocks[j] is not JsonObject block) return Invalid($"{path}: Input should be an object");
                var type = (string?)block["type"];
                switch (type)
                {
                    case "text":
                        if ((string?)block["text"] is not { Length: > 0 }) return Invalid($"{path}.text: text content blocks must be non-empty");
                        break;
                    case "image":
                        if (block["source"] is not JsonObject source || (string?)source["type"] is not ("base64" or "url"))
                            return Invalid($"{path}.source: Input tag does not match any of the expected tags: 'base64', 'url'");
                        if ((string?)source["type"] == "base64" && ((string?)source["media_type"] is not ("image/png" or "image/jpeg" or "image/gif" or "image/webp") || (string?)source["data"] is not { Length: > 0 }))
                            return Invalid($"{path}.source.base64: image media_type must be one of image/jpeg, image/png, image/gif, image/webp");
                        break;
                    case "tool_use":
                        if (role != "assistant") return Invalid($"{path}: tool_use blocks may only appear in assistant messages");
                        if ((string?)block["id"] is not { Length: > 0 } id || (string?)block["name"] is not { Length: > 0 } || block["input"] is not JsonObject)
                            return Invalid($"{path}: tool_use requires id, name and an input object");
                        toolUseIds.Add(id);
                        break;
                    case "tool_result":
                        if (role != "user") return Invalid($"{path}: tool_result blocks may only appear in user messages");
                        var useId = (string?)block["tool_use_id"];
                        if (useId is null || !toolUseIds.Contains(useId))
                            return Invalid($"{path}: unexpected `tool_use_id` found in `tool_result` blocks: {useId}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.");
                        break;
                    case "thinking":
                        if (role != "assistant") return Invalid($"{path}: thinking blocks may only appear in assistant messages");
                        var thinking = (string?)block["thinking"] ?? "";
                        if ((string?)block["signature"] is not { Length: > 0 } signature) return Invalid($"{path}.signature: Field required");
                        if (!signatureValid(thinking, signature)) return Invalid($"{path}: Invalid `signature` in `thinking` block");
                        break;
                    case "redacted_thinking":
                        if ((string?)block["data"] is not { Length: > 0 }) return Invalid($"{path}.data: Field required");
                        break;
                    case "document" or "search_result" or "server_tool_use" or "web_search_tool_result" or "container_upload":
                        break;
                    default:
                        return Invalid($"{path}.type: Input tag '{type}' found using 'type' does not match any of the expected tags");
                }
            }
        }

        if (root["tools"] is JsonArray tools)
            for (var i = 0; i < tools.Count; i++)
            {
                if (tools[i] is not JsonObject tool || (string?)tool["name"] is not { Length: > 0 }) return Invalid($"tools.{i}.name: Field required");
                var toolType = (string?)tool["type"];
                if (toolType is null or "custom" && tool["input_schema"] is not JsonObject) return Invalid($"tools.{i}.custom.input_schema: Field required");
            }

        if (root["thinking"] is JsonObject thinkingConfig && (string?)thinkingConfig["type"] == "enabled" && !countTokens)
        {
            if (thinkingConfig["budget_tokens"] is not JsonValue b || !b.TryGetValue<int>(out var budget)) return Invalid("thinking.enabled.budget_tokens: Field required");
            if (budget < 1024) return Invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024");
            if (budget >= maxTokens) return Invalid("`max_tokens` must be greater than `thinking.budget_tokens`");
            if (root["temperature"] is JsonValue t && t.TryGetValue<double>(out var temperature) && temperature != 1)
                return Invalid("`temperature` may only be set to 1 when thinking is enabled or in adaptive mode.");
        }
        return null;
    }

    private static AnthropicRejection Invalid(string message) => new(400, "invalid_request_error", message);
}
