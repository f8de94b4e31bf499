using System.Text;
using System.Text.Json;
using Gapura.Conversations;
using Gapura.Providers.EventStream;

namespace Gapura.Providers.Kiro;

/// <summary>
/// Turns decoded Kiro event-stream frames into canonical <see cref="StreamEvent"/>s (kiro.md §4–§5):
/// text and reasoning deltas as they arrive, tool calls kept contiguous, usage from the best source
/// available, the stop reason, and failures as <see cref="GatewayException"/>. One instance per response;
/// feed every frame to <see cref="Translate"/>, then call <see cref="Complete"/> once the stream ended.
/// </summary>
internal sealed class KiroStreamTranslator
{
    /// <summary>Event types worth interning in the decoder: they repeat on every frame.</summary>
    public static readonly IReadOnlyList<string> KnownEventTypes =
    [
        "assistantResponseEvent", "toolUseEvent", "reasoningContentEvent", "metadataEvent", "contextUsageEvent",
        "meteringEvent", "messageMetadataEvent", "invalidStateEvent",
    ];

    private readonly int _contextWindow;
    private readonly int _estimatedInputTokens;
    private readonly Func<string, string> _resolveToolName;
    private readonly ThinkingTagSplitter? _splitter;
    private readonly List<StreamEvent> _scratch = [];

    private readonly StringBuilder _text = new();
    private readonly StringBuilder _reasoning = new();

    private readonly Dictionary<string, ToolCallState> _calls = new(StringComparer.Ordinal);
    private ToolCallState? _current;
    // Content that arrived while a tool call was open, in arrival order: text/reasoning events, or tool
    // calls (by state) whose events must wait until the current call ends, so each call stays contiguous.
    private readonly Queue<object> _deferred = new();
    private int _nextIndex;

    private int _frames;
    private bool _sawContent;
    private bool _contentLengthExceeded;
    private bool _sawMetadata;
    private int? _inputTokens;
    private int? _outputTokens;
    private int _cacheRead;
    private int _cacheWrite;
    private double? _contextPercentage;
    private double? _credits;
    private bool _completed;

    /// <param name="contextWindowTokens">The model's context window; turns contextUsagePercentage into input tokens.</param>
    /// <param name="thinkingRequested">Thinking was injected into the prompt: split <c>&lt;thinking&gt;</c> blocks out of the text.</param>
    /// <param name="resolveToolName">Maps a tool name alias sent upstream back to the client's name.</param>
    /// <param name="estimatedInputTokens">The gateway's own estimate, used when Kiro reports no input figure at all.</param>
    public KiroStreamTranslator(int contextWindowTokens, bool thinkingRequested = false,
        Func<string, string>? resolveToolName = null, int estimatedInputTokens = 0)
    {
        _contextWindow = contextWindowTokens;
        _estimatedInputTokens = estimatedInputTokens;
        _resolveToolName = resolveToolName ?? (static name => name);
        _splitter = thinkingRequested ? new ThinkingTagSplitter() : null;
    }

    /// <summary>Appends the events one frame produces (often one, sometimes none) to <paramref name="output"/>.</summary>
    /// <exception cref="GatewayException">The frame reports an upstream failure.</exception>
    public void Translate(in EventStreamFrame frame, List<StreamEvent> output)
    {
        if (_completed) throw new InvalidOperationException("The stream was already completed.");
        _frames++;
        switch (frame.MessageType)
        {
            case "event":
                TranslateEvent(frame, output);
                break;
            case "exception":
                OnException(frame.ExceptionType, frame.Payload.Span);
                break;
            case "error":
            {
                var (message, reason) = KiroErrors.ParseBody(frame.Payload.Span);
                throw KiroErrors.Map(frame.ErrorCode, reason, frame.ErrorMessage ?? message);
            }
        }
    }

    /// <summary>Closes what is open and appends the final <see cref="MessageEnd"/>.</summary>
    /// <exception cref="GatewayException">The stream carried no frame at all.</exception>
    public void Complete(List<StreamEvent> output)
    {
        if (_completed) return;
        if (_frames == 0)
            throw new GatewayException(ErrorKind.UpstreamUnavailable, "Kiro returned an empty response stream.", status: 502);
        _completed = true;
        FlushSplitter(output);
        while (_current is not null)
        {
            EndCall(_current, output);
            Drain(output);
        }
        Drain(output);
        output.Add(new MessageEnd(DecideStopReason(), BuildUsage()));
    }

    private void TranslateEvent(in EventStreamFrame frame, List<StreamEvent> output)
    {
        var payload = frame.Payload.Span;
        try
        {
            switch (frame.EventType)
            {
                case "assistantResponseEvent": OnText(ReadContent(payload), output); break;
                case "toolUseEvent": OnToolUse(payload, output); break;
                case "reasoningContentEvent": OnReasoning(payload, output); break;
                case "metadataEvent": OnMetadata(payload); break;
                case "contextUsageEvent": OnContextUsage(payload); break;
                case "meteringEvent": OnMetering(payload); break;
                case "invalidStateEvent": OnInvalidState(payload); break;
                // messageMetadataEvent, followupPromptEvent, codeReferenceEvent, citations… carry no client text;
                // new event types appear without notice and must not break answers.
            }
        }
        catch (JsonException ex)
        {
            throw new GatewayException(ErrorKind.UpstreamUnavailable, $"Kiro sent a malformed {frame.EventType}.", status: 502, inner: ex);
        }
    }

    private void OnText(string? content, List<StreamEvent> output)
    {
        if (string.IsNullOrEmpty(content)) return;
        _sawContent = true;
        if (_splitter is null)
        {
            Emit(new TextDelta(content), output);
            return;
        }
        _splitter.Push(content, _scratch);
        EmitScratch(output);
    }

    private void OnReasoning(ReadOnlySpan<byte> payload, List<StreamEvent> output)
    {
        using var doc = Parse(payload);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) return;
        if (root.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String && text.GetString() is { Length: > 0 } t)
        {
            _sawContent = true;
            Emit(new ReasoningDelta(t), output);
        }
        if (root.TryGetProperty("signature", out var sig) && sig.ValueKind == JsonValueKind.String && sig.GetString() is { Length: > 0 } s)
            Emit(new ReasoningSignature(s), output);
        // redactedContent has no canonical event yet: encrypted reasoning cannot be shown and is not replayed.
    }

    private void OnToolUse(ReadOnlySpan<byte> payload, List<StreamEvent> output)
    {
        var (id, name, input, stop) = ReadToolUse(payload);
        if (string.IsNullOrEmpty(id)) return;

        bool isNew = !_calls.TryGetValue(id, out var call);
        if (call is null)
        {
            call = new ToolCallState(id);
            _calls[id] = call;
        }
        else if (call.Finished)
        {
            return;   // Kiro repeats events of a finished call; the call was already complete
        }
        if (call.Name is null && !string.IsNullOrEmpty(name)) call.Name = name;
        if (!string.IsNullOrEmpty(input)) call.Arguments.Append(input);

        if (_current is null && call.Index < 0)
        {
            // Held text (a partial tag) belongs before the call, not after it.
            FlushSplitter(output);
            StartCall(call, output);
        }

        if (ReferenceEquals(_current, call))
        {
            if (!string.IsNullOrEmpty(input)) output.Add(new ToolCallDelta(call.Index, input));
            if (stop)
            {
                EndCall(call, output);
                Drain(output);
            }
            return;
        }

        if (isNew) _deferred.Enqueue(call);
        if (!string.IsNullOrEmpty(input)) (call.Pending ??= []).Add(input);
        if (stop) call.Stopped = true;
    }

    private void OnMetadata(ReadOnlySpan<byte> payload)
    {
        using var doc = Parse(payload);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) return;
        var usage = root.TryGetProperty("tokenUsage", out var tu) && tu.ValueKind == JsonValueKind.Object ? tu : root;
        _sawMetadata = true;
        if (Number(usage, "uncachedInputTokens") is double input) _inputTokens = (int)Math.Round(input);
        else if (Number(usage, "inputTokens") is double input2) _inputTokens = (int)Math.Round(input2);
        if (Number(usage, "outputTokens") is double outputTokens) _outputTokens = (int)Math.Round(outputTokens);
        if (Number(usage, "cacheReadInputTokens") is double read) _cacheRead = (int)Math.Round(read);
        if (Number(usage, "cacheWriteInputTokens") is double write) _cacheWrite = (int)Math.Round(write);
        if (Number(usage, "contextUsagePercentage") is double pct) _contextPercentage = pct;
    }

    private void OnContextUsage(ReadOnlySpan<byte> payload)
    {
        using var doc = Parse(payload);
        if (doc.RootElement.ValueKind == JsonValueKind.Object && Number(doc.RootElement, "contextUsagePercentage") is double pct)
            _contextPercentage = pct;
    }

    private void OnMetering(ReadOnlySpan<byte> payload)
    {
        using var doc = Parse(payload);
        if (doc.RootElement.ValueKind == JsonValueKind.Object && Number(doc.RootElement, "usage") is double credits)
            _credits = (_credits ?? 0) + credits;
    }

    private static void OnInvalidState(ReadOnlySpan<byte> payload)
    {
        var (message, reason) = KiroErrors.ParseBody(payload);
        throw KiroErrors.Map("InvalidStateEvent", reason, message ?? "the conversation is in an invalid state");
    }

    private void OnException(string? type, ReadOnlySpan<byte> payload)
    {
        var (message, reason) = KiroErrors.ParseBody(payload);
        // The answer hit Kiro's output limit: a truncated answer, reported as max_tokens, not a failure.
        if (type is not null && type.EndsWith(KiroErrors.ContentLengthExceeded, StringComparison.Ordinal))
        {
            _contentLengthExceeded = true;
            return;
        }
        throw KiroErrors.Map(type, reason, message);
    }

    private StopReason DecideStopReason()
    {
        if (_contentLengthExceeded) return StopReason.MaxTokens;
        if (_contextPercentage >= 100) return StopReason.ContextWindowExceeded;
        if (_calls.Count > 0) return StopReason.ToolUse;
        // Kiro ends a normal answer with metering/context/metadata events; text without any of them is
        // a stream that was cut short, and the client must not take it for a finished answer.
        if (_sawContent && !_sawMetadata && _contextPercentage is null && _credits is null) return StopReason.MaxTokens;
        return StopReason.EndTurn;
    }

    private Usage BuildUsage()
    {
        bool estimated = false;
        int input;
        if (_inputTokens is int reported) input = reported;
        else if (_contextPercentage is double pct && _contextWindow > 0)
        {
            input = (int)Math.Round(pct / 100.0 * _contextWindow);
            estimated = true;
        }
        else
        {
            input = _estimatedInputTokens;
            estimated = true;
        }

        int outputTokens;
        if (_outputTokens is int reportedOutput) outputTokens = reportedOutput;
        else
        {
            outputTokens = TokenEstimator.Count(_text.ToString()) + TokenEstimator.Count(_reasoning.ToString());
            foreach (var call in _calls.Values) outputTokens += TokenEstimator.Count(call.Arguments.ToString());
            estimated = true;
        }
        return new Usage(input, outputTokens, _cacheRead, _cacheWrite, _credits, estimated, ContextUsagePercent: _contextPercentage);
    }

    private void StartCall(ToolCallState call, List<StreamEvent> output)
    {
        call.Index = _nextIndex++;
        _current = call;
        output.Add(new ToolCallStart(call.Index, call.Id, _resolveToolName(call.Name ?? "")));
        if (call.Pending is { } pending)
        {
            foreach (var fragment in pending) output.Add(new ToolCallDelta(call.Index, fragment));
            call.Pending = null;
        }
        if (call.Stopped) EndCall(call, output);
    }

    private void EndCall(ToolCallState call, List<StreamEvent> output)
    {
        output.Add(new ToolCallEnd(call.Index));
        call.Finished = true;
        if (ReferenceEquals(_current, call)) _current = null;
    }

    private void Drain(List<StreamEvent> output)
    {
        while (_current is null && _deferred.TryDequeue(out var item))
        {
            if (item is ToolCallState call) StartCall(call, output);
            else output.Add((StreamEvent)item);
        }
    }

    private void Emit(StreamEvent e, List<StreamEvent> output)
    {
        switch (e)
        {
            case TextDelta t: _text.Append(t.Text); break;
            case ReasoningDelta r: _reasoning.Append(r.Text); break;
        }
        if (_current is null) output.Add(e);
        else _deferred.Enqueue(e);
    }

    private void FlushSplitter(List<StreamEvent> output)
    {
        if (_splitter is null) return;
        _splitter.Flush(_scratch);
        EmitScratch(output);
    }

    private void EmitScratch(List<StreamEvent> output)
    {
        foreach (var e in _scratch) Emit(e, output);
        _scratch.Clear();
    }

    private static JsonDocument Parse(ReadOnlySpan<byte> payload)
    {
        var reader = new Utf8JsonReader(payload);
        return JsonDocument.ParseValue(ref reader);
    }

    private static double? Number(JsonElement obj, string name)
        => obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) ? d : null;

    // The hot path: one assistantResponseEvent per text delta, read without building a document.
    private static string? ReadContent(ReadOnlySpan<byte> payload)
    {
        var reader = new Utf8JsonReader(payload);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
        string? content = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            bool isContent = reader.ValueTextEquals("content"u8);
            reader.Read();
            if (isContent && reader.TokenType == JsonTokenType.String) content = reader.GetString();
            else reader.Skip();
        }
        return content;
    }

    private static (string? Id, string? Name, string? Input, bool Stop) ReadToolUse(ReadOnlySpan<byte> payload)
    {
        var reader = new Utf8JsonReader(payload);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return default;
        string? id = null, name = null, input = null;
        bool stop = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("toolUseId"u8))
            {
                reader.Read();
                id = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            }
            else if (reader.ValueTextEquals("name"u8))
            {
                reader.Read();
                name = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            }
            else if (reader.ValueTextEquals("input"u8))
            {
                reader.Read();
                input = reader.TokenType switch
                {
                    JsonTokenType.String => reader.GetString(),
                    JsonTokenType.Null => null,
                    // Rarely the whole input arrives as a JSON value: forward it as its JSON text.
                    _ => JsonElement.ParseValue(ref reader).GetRawText(),
                };
            }
            else if (reader.ValueTextEquals("stop"u8))
            {
                reader.Read();
                stop = reader.TokenType == JsonTokenType.True;
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        return (id, name, input, stop);
    }

    private sealed class ToolCallState(string id)
    {
        public string Id { get; } = id;
        public string? Name { get; set; }
        public int Index { get; set; } = -1;
        public StringBuilder Arguments { get; } = new();
        public List<string>? Pending { get; set; }
        public bool Stopped { get; set; }
        public bool Finished { get; set; }
    }
}
