using System.Text.Json;

namespace Gapura.Simulators.Kiro;

/// <summary>Why the simulated service refuses a chat body; rendered as <c>{"message":…,"reason":…}</c>.</summary>
public sealed record KiroRejection(int Status, string Message, string? Reason, string Detail)
{
    /// <summary>The service's catch-all. <see cref="Detail"/> says what the simulator found (the real service never says).</summary>
    public static KiroRejection Improper(string detail) => new(400, "Improperly formed request.", null, detail);
}

/// <summary>
/// Checks a <c>generateAssistantResponse</c> body against the rules the real service enforces
/// (kiro.md §3). The service answers nearly every violation with the same catch-all, so the detail of
/// each refusal is kept in <see cref="KiroRejection.Detail"/> for test failure messages.
/// </summary>
public static class KiroRequestValidator
{
    private static readonly HashSet<string> TriggerTypes = ["MANUAL", "DIAGNOSTIC", "INLINE_CHAT"];
    private static readonly HashSet<string> ImageFormats = ["gif", "jpeg", "png", "webp"];
    private static readonly HashSet<string> ResultStatuses = ["success", "error"];
    private const int MaxToolNameLength = 64;
    private const int MaxToolDescriptionLength = 10_240;
    private const int MaxImages = 10;
    private const int MaxImageBytes = 10 * 1024 * 1024;

    public static KiroRejection? Validate(ReadOnlySpan<byte> body, int maxBodyBytes, Func<string, bool> isKnownModel)
    {
        if (body.Length > maxBodyBytes)
            return new KiroRejection(400, "Input is too long.", "CONTENT_LENGTH_EXCEEDS_THRESHOLD", $"body is {body.Length} bytes, limit {maxBodyBytes}");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(body.ToArray());
        }
        catch (JsonException e)
        {
            return KiroRejection.Improper("body is not JSON: " + e.Message);
        }
        using (doc)
        {
            try
            {
                return Check(doc.RootElement, isKnownModel);
            }
            catch (Invalid e)
            {
                return e.Rejection;
            }
        }
    }

    private sealed class Invalid(KiroRejection rejection) : Exception(rejection.Detail)
    {
        public KiroRejection Rejection { get; } = rejection;
    }

    private static Invalid Fail(string detail) => new(KiroRejection.Improper(detail));

    private static KiroRejection? Check(JsonElement root, Func<string, bool> isKnownModel)
    {
        if (root.ValueKind != JsonValueKind.Object) throw Fail("root is not an object");
        if (root.TryGetProperty("profileArn", out var arn) && arn.ValueKind != JsonValueKind.String) throw Fail("profileArn is not a string");
        var state = Object(root, "conversationState", "root");

        var trigger = String(state, "chatTriggerType", "conversationState");
        if (!TriggerTypes.Contains(trigger)) throw Fail($"chatTriggerType '{trigger}' is not one of MANUAL, DIAGNOSTIC, INLINE_CHAT");
        if (state.TryGetProperty("conversationId", out var conversationId)
            && (conversationId.ValueKind != JsonValueKind.String || conversationId.GetString()!.Length == 0))
            throw Fail("conversationId is not a non-empty string");

        var current = Object(Object(state, "currentMessage", "conversationState"), "userInputMessage", "currentMessage");

        // History: user, assistant, user, assistant …, ending with assistant because the current message is the user's turn.
        JsonElement? previousAssistant = null;
        var historyToolNames = new HashSet<string>(StringComparer.Ordinal);
        if (state.TryGetProperty("history", out var history))
        {
            if (history.ValueKind != JsonValueKind.Array) throw Fail("history is not an array");
            var index = 0;
            foreach (var entry in history.EnumerateArray())
            {
                var where = $"history[{index}]";
                if (entry.ValueKind != JsonValueKind.Object) throw Fail($"{where} is not an object");
                var hasUser = entry.TryGetProperty("userInputMessage", out var user);
                var hasAssistant = entry.TryGetProperty("assistantResponseMessage", out var assistant);
                if (hasUser == hasAssistant) throw Fail($"{where} must hold exactly one of userInputMessage, assistantResponseMessage");
                var expectUser = index % 2 == 0;
                if (hasUser != expectUser)
                    throw Fail($"{where} is {(hasUser ? "user" : "assistant")} but history must alternate user/assistant starting with user");
                if (hasUser)
                {
                    CheckUserMessage(user, where + ".userInputMessage", previousAssistant, tools: false, isKnownModel);
                }
                else
                {
                    CheckAssistantMessage(assistant, where + ".assistantResponseMessage", historyToolNames);
                    previousAssistant = assistant;
                }
                index++;
            }
            if (index % 2 != 0) throw Fail("history ends with a user message; it must end with an assistant message");
        }

        var declared = CheckUserMessage(current, "currentMessage.userInputMessage", previousAssistant, tools: true, isKnownModel);
        foreach (var name in historyToolNames)
        {
            if (!declared.Contains(name)) throw Fail($"history uses tool '{name}' which is not declared in currentMessage tools");
        }

        if (current.TryGetProperty("modelId", out var model) && model.ValueKind == JsonValueKind.String && !isKnownModel(model.GetString()!))
            return new KiroRejection(400, "Invalid model. Please select a different model to continue.", "INVALID_MODEL_ID", $"unknown modelId '{model.GetString()}'");
        return null;
    }

    /// <returns>The names of tools declared on this message.</returns>
    private static HashSet<string> CheckUserMessage(JsonElement message, string where, JsonElement? previousAssistant, bool tools, Func<string, bool> isKnownModel)
    {
        if (message.ValueKind != JsonValueKind.Object) throw Fail($"{where} is not an object");
        NonEmptyString(message, "content", where);
        if (message.TryGetProperty("modelId", out var model) && model.ValueKind != JsonValueKind.String) throw Fail($"{where}.modelId is not a string");
        if (message.TryGetProperty("origin", out var origin) && origin.ValueKind != JsonValueKind.String) throw Fail($"{where}.origin is not a string");

        if (message.TryGetProperty("images", out var images))
        {
            if (images.ValueKind != JsonValueKind.Array) throw Fail($"{where}.images is not an array");
            if (images.GetArrayLength() > MaxImages) throw Fail($"{where}.images has more than {MaxImages} images");
            var i = 0;
            foreach (var image in images.EnumerateArray())
            {
                var at = $"{where}.images[{i++}]";
                var format = String(image, "format", at);
                if (!ImageFormats.Contains(format)) throw Fail($"{at}.format '{format}' is not gif, jpeg, png or webp");
                var data = String(Object(image, "source", at), "bytes", at + ".source");
                byte[] decoded;
                try { decoded = Convert.FromBase64String(data); }
                catch (FormatException) { throw Fail($"{at}.source.bytes is not base64 (URLs are not accepted)"); }
                if (decoded.Length == 0) throw Fail($"{at} is empty");
                if (decoded.Length > MaxImageBytes) throw Fail($"{at} is larger than 10 MB");
            }
        }

        var declared = new HashSet<string>(StringComparer.Ordinal);
        if (!message.TryGetProperty("userInputMessageContext", out var context)) return declared;
        if (context.ValueKind != JsonValueKind.Object) throw Fail($"{where}.userInputMessageContext is not an object");
        var ctxWhere = where + ".userInputMessageContext";

        if (context.TryGetProperty("tools", out var toolList))
        {
            if (!tools) throw Fail($"{ctxWhere}.tools: tools may only be declared on currentMessage");
            if (toolList.ValueKind != JsonValueKind.Array) throw Fail($"{ctxWhere}.tools is not an array");
            var i = 0;
            foreach (var tool in toolList.EnumerateArray())
            {
                var at = $"{ctxWhere}.tools[{i++}]";
                var spec = Object(tool, "toolSpecification", at);
                var name = NonEmptyString(spec, "name", at + ".toolSpecification");
                if (name.Length > MaxToolNameLength) throw Fail($"{at}: tool name '{name}' is longer than {MaxToolNameLength} characters");
                if (!declared.Add(name)) throw Fail($"{at}: tool '{name}' is declared twice");
                var description = NonEmptyString(spec, "description", at + ".toolSpecification");
                if (description.Length > MaxToolDescriptionLength) throw Fail($"{at}: description of '{name}' is longer than {MaxToolDescriptionLength} characters");
                var schema = Object(spec, "inputSchema", at + ".toolSpecification");
                Object(schema, "json", at + ".toolSpecification.inputSchema");
            }
        }

        if (context.TryGetProperty("toolResults", out var results))
        {
            if (results.ValueKind != JsonValueKind.Array) throw Fail($"{ctxWhere}.toolResults is not an array");
            var asked = new HashSet<string>(StringComparer.Ordinal);
            if (previousAssistant is { } assistant && assistant.TryGetProperty("toolUses", out var uses))
            {
                foreach (var use in uses.EnumerateArray()) asked.Add(use.GetProperty("toolUseId").GetString()!);
            }
            var answered = new HashSet<string>(StringComparer.Ordinal);
            var i = 0;
            foreach (var result in results.EnumerateArray())
            {
                var at = $"{ctxWhere}.toolResults[{i++}]";
                var id = NonEmptyString(result, "toolUseId", at);
                if (!asked.Contains(id)) throw Fail($"{at}: toolUseId '{id}' answers no tool use of the previous assistant message");
                if (!answered.Add(id)) throw Fail($"{at}: toolUseId '{id}' is answered twice");
                if (result.TryGetProperty("status", out var status) && (status.ValueKind != JsonValueKind.String || !ResultStatuses.Contains(status.GetString()!)))
                    throw Fail($"{at}.status must be success or error");
                if (!result.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.Array || content.GetArrayLength() == 0)
                    throw Fail($"{at}.content must be a non-empty array");
                foreach (var item in content.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.Object) throw Fail($"{at}.content item is not an object");
                    if (item.TryGetProperty("text", out var text))
                    {
                        if (text.ValueKind != JsonValueKind.String) throw Fail($"{at}.content text is not a string");
                    }
                    else if (!item.TryGetProperty("json", out _))
                    {
                        throw Fail($"{at}.content item has neither text nor json");
                    }
                }
            }
        }
        return declared;
    }

    private static void CheckAssistantMessage(JsonElement message, string where, HashSet<string> toolNames)
    {
        if (message.ValueKind != JsonValueKind.Object) throw Fail($"{where} is not an object");
        NonEmptyString(message, "content", where);
        if (!message.TryGetProperty("toolUses", out var uses)) return;
        if (uses.ValueKind != JsonValueKind.Array) throw Fail($"{where}.toolUses is not an array");
        var i = 0;
        foreach (var use in uses.EnumerateArray())
        {
            var at = $"{where}.toolUses[{i++}]";
            if (use.ValueKind != JsonValueKind.Object) throw Fail($"{at} is not an object");
            NonEmptyString(use, "toolUseId", at);
            var name = NonEmptyString(use, "name", at);
            if (name.Length > MaxToolNameLength) throw Fail($"{at}: tool name '{name}' is longer than {MaxToolNameLength} characters");
            toolNames.Add(name);
            Object(use, "input", at);
        }
    }

    private static JsonElement Object(JsonElement parent, string name, string where)
    {
        if (!parent.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.Object)
            throw Fail($"{where}.{name} is missing or not an object");
        return value;
    }

    private static string String(JsonElement parent, string name, string where)
    {
        if (parent.ValueKind != JsonValueKind.Object || !parent.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.String)
            throw Fail($"{where}.{name} is missing or not a string");
        return value.GetString()!;
    }

    private static string NonEmptyString(JsonElement parent, string name, string where)
    {
        var value = String(parent, name, where);
        if (string.IsNullOrWhiteSpace(value)) throw Fail($"{where}.{name} is empty");
        return value;
    }
}
