using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Gapura.Conversations;
using N = Gapura.Formats.OpenAi.OpenAiWire.Names;

namespace Gapura.Formats.OpenAi;

/// <summary>
/// Canonical events → <c>data: {chat.completion.chunk}</c> lines. One <see cref="Utf8JsonWriter"/>
/// writes every chunk straight into the response pipe; the id and model are escaped once per stream.
/// </summary>
internal sealed class OpenAiChatSseWriter : SseWriter
{
    private readonly Utf8JsonWriter _json;
    private readonly JsonEncodedText _id;
    private readonly JsonEncodedText _model;
    private readonly long _created;
    private readonly bool _includeUsage;
    private bool _started;

    public OpenAiChatSseWriter(PipeWriter output, ResponseContext context) : base(output)
    {
        _json = new Utf8JsonWriter(output, JsonResponses.WriterOptions);
        _id = JsonEncodedText.Encode(context.ResponseId, JsonResponses.WriterOptions.Encoder);
        _model = JsonEncodedText.Encode(context.Model, JsonResponses.WriterOptions.Encoder);
        _created = context.Created.ToUnixTimeSeconds();
        _includeUsage = context.Request.IncludeUsage;
    }

    public override void Write(StreamEvent streamEvent)
    {
        if (Finished) return;
        if (!_started)
        {
            // OpenAI opens every stream with a role-only chunk; some clients key message creation off it.
            _started = true;
            BeginChunk();
            BeginDelta();
            _json.WriteString("role", "assistant");
            _json.WriteString(N.Content, "");
            EndDelta(null);
            EndChunk();
        }

        switch (streamEvent)
        {
            case TextDelta { Text.Length: > 0 } t:
                TextChunk(N.Content, t.Text);
                break;
            case ReasoningDelta { Text.Length: > 0 } r:
                TextChunk(N.ReasoningContent, r.Text);
                break;
            case ToolCallStart s:
                BeginChunk();
                BeginDelta();
                BeginToolCall(s.Index);
                _json.WriteString(N.Id, s.Id);
                _json.WriteString(N.Type, N.Function);
                _json.WriteStartObject(N.Function);
                _json.WriteString(N.Name, s.Name);
                _json.WriteString(N.Arguments, "");
                _json.WriteEndObject();
                EndToolCall();
                EndDelta(null);
                EndChunk();
                break;
            case ToolCallDelta { ArgumentsFragment.Length: > 0 } d:
                BeginChunk();
                BeginDelta();
                BeginToolCall(d.Index);
                _json.WriteStartObject(N.Function);
                _json.WriteString(N.Arguments, d.ArgumentsFragment);
                _json.WriteEndObject();
                EndToolCall();
                EndDelta(null);
                EndChunk();
                break;
            case MessageEnd end:
                BeginChunk();
                BeginDelta();
                EndDelta(OpenAiWire.FinishReason(end.StopReason));
                EndChunk();
                if (_includeUsage)
                {
                    // The usage chunk has no choices, exactly as OpenAI sends it with include_usage.
                    BeginChunk(openChoices: false);
                    _json.WriteStartArray(N.Choices);
                    _json.WriteEndArray();
                    OpenAiWire.WriteUsage(_json, end.Usage);
                    EndChunk();
                }
                Output.Write("data: [DONE]\n\n"u8);
                // Stryker disable once Statement : EndChunk just above has already marked the output pending
                MarkPending();
                Finished = true;
                break;
            // ReasoningSignature and ToolCallEnd have no chat-completions counterpart.
        }
    }

    public override ValueTask WriteKeepAliveAsync(CancellationToken ct) => WriteCommentKeepAliveAsync(ct);

    /// <summary>
    /// OpenAI's own mid-stream failure shape: a data line holding <c>{"error":{…}}</c>. The OpenAI SDKs
    /// throw on it; no <c>[DONE]</c> follows, so no client can mistake the stream for a complete answer.
    /// </summary>
    public override ValueTask WriteErrorAsync(GatewayException error, CancellationToken ct)
    {
        if (Finished) return ValueTask.CompletedTask;
        Finished = true;
        Output.Write("data: "u8);
        _json.Reset();
        OpenAiWire.WriteError(_json, error);
        _json.Flush();
        Output.Write("\n\n"u8);
        MarkPending();
        return FlushAsync(ct);
    }

    private void TextChunk(JsonEncodedText field, string text)
    {
        BeginChunk();
        BeginDelta();
        _json.WriteString(field, text);
        EndDelta(null);
        EndChunk();
    }

    private void BeginChunk(bool openChoices = true)
    {
        Output.Write("data: "u8);
        _json.Reset();
        _json.WriteStartObject();
        _json.WriteString(N.Id, _id);
        _json.WriteString(N.Object, N.ChunkObject);
        _json.WriteNumber(N.Created, _created);
        _json.WriteString(N.Model, _model);
        if (openChoices) _json.WriteStartArray(N.Choices);
    }

    private void BeginDelta()
    {
        _json.WriteStartObject();
        _json.WriteNumber(N.Index, 0);
        _json.WriteStartObject(N.Delta);
    }

    private void EndDelta(string? finishReason)
    {
        _json.WriteEndObject();
        if (finishReason is null) _json.WriteNull(N.FinishReason);
        else _json.WriteString(N.FinishReason, finishReason);
        _json.WriteEndObject();
        _json.WriteEndArray();
    }

    private void BeginToolCall(int index)
    {
        _json.WriteStartArray(N.ToolCalls);
        _json.WriteStartObject();
        _json.WriteNumber(N.Index, index);
    }

    private void EndToolCall()
    {
        _json.WriteEndObject();
        _json.WriteEndArray();
    }

    private void EndChunk()
    {
        _json.WriteEndObject();
        _json.Flush();
        Output.Write("\n\n"u8);
        MarkPending();
    }
}
