using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Gapura.Conversations;
using N = Gapura.Formats.Anthropic.AnthropicWire.Names;

namespace Gapura.Formats.Anthropic;

/// <summary>
/// Canonical events → Anthropic's named SSE events. Anthropic streams content as numbered blocks,
/// so this writer keeps one block open at a time: a change of kind (thinking → text → tool_use)
/// closes the open block and starts the next, a signature or <see cref="ToolCallEnd"/> closes its
/// block at once. <c>message_start</c> goes out with the first event so that a failure before any
/// output can still become a plain HTTP error.
/// </summary>
internal sealed class AnthropicSseWriter : SseWriter
{
    private enum Block { None, Thinking, Text, Tool }

    private readonly Utf8JsonWriter _json;
    private readonly ResponseContext _context;
    private bool _started;
    private Block _open;
    private int _openToolIndex;
    private int _nextBlockIndex;

    public AnthropicSseWriter(PipeWriter output, ResponseContext context) : base(output)
    {
        _json = new Utf8JsonWriter(output, JsonResponses.WriterOptions);
        _context = context;
    }

    public override void Write(StreamEvent streamEvent)
    {
        if (Finished) return;
        if (!_started)
        {
            _started = true;
            WriteMessageStart();
        }

        switch (streamEvent)
        {
            case TextDelta { Text.Length: > 0 } t:
                Open(Block.Text);
                Delta(N.TextDelta, N.Text, t.Text);
                break;
            case ReasoningDelta { Text.Length: > 0 } r:
                Open(Block.Thinking);
                Delta(N.ThinkingDelta, N.Thinking, r.Text);
                break;
            case ReasoningSignature s:
                Open(Block.Thinking);
                Delta(N.SignatureDelta, N.Signature, s.Signature);
                // The signature seals the block: reasoning after it is a new thinking block.
                Close();
                break;
            case ToolCallStart s:
                Close();
                BeginEvent("event: content_block_start\ndata: "u8, N.ContentBlockStart);
                _json.WriteNumber(N.Index, _nextBlockIndex);
                _json.WriteStartObject(N.ContentBlock);
                _json.WriteString(N.Type, N.ToolUse);
                _json.WriteString("id", s.Id);
                _json.WriteString("name", s.Name);
                _json.WriteStartObject("input");
                _json.WriteEndObject();
                AnthropicWire.WriteDirectCaller(_json);
                _json.WriteEndObject();
                EndEvent();
                _open = Block.Tool;
                _openToolIndex = s.Index;
                break;
            case ToolCallDelta { ArgumentsFragment.Length: > 0 } d when _open == Block.Tool && d.Index == _openToolIndex:
                Delta(N.InputJsonDelta, N.PartialJson, d.ArgumentsFragment);
                break;
            case ToolCallEnd e when _open == Block.Tool && e.Index == _openToolIndex:
                Close();
                break;
            case MessageEnd end:
                Close();
                BeginEvent("event: message_delta\ndata: "u8, "message_delta");
                _json.WriteStartObject(N.Delta);
                _json.WriteString("stop_reason", AnthropicWire.StopReason(end.StopReason));
                if (end.StopSequence is null) _json.WriteNull("stop_sequence");
                else _json.WriteString("stop_sequence", end.StopSequence);
                _json.WriteEndObject();
                AnthropicWire.WriteUsage(_json, end.Usage);
                EndEvent();
                BeginEvent("event: message_stop\ndata: "u8, "message_stop");
                EndEvent();
                Finished = true;
                break;
        }
    }

    public override ValueTask WriteKeepAliveAsync(CancellationToken ct)
    {
        if (Finished) return ValueTask.CompletedTask;
        // Anthropic's own streams open with message_start before any ping; clients may expect that order.
        if (!_started)
        {
            _started = true;
            WriteMessageStart();
        }
        Output.Write("event: ping\ndata: {\"type\":\"ping\"}\n\n"u8);
        MarkPending();
        return FlushAsync(ct);
    }

    /// <summary>Anthropic's own <c>event: error</c>; no <c>message_stop</c> follows, so it never reads as a clean end.</summary>
    public override ValueTask WriteErrorAsync(GatewayException error, CancellationToken ct)
    {
        if (Finished) return ValueTask.CompletedTask;
        Finished = true;
        Output.Write("event: error\ndata: "u8);
        _json.Reset();
        AnthropicWire.WriteError(_json, error);
        _json.Flush();
        Output.Write("\n\n"u8);
        MarkPending();
        return FlushAsync(ct);
    }

    private void WriteMessageStart()
    {
        BeginEvent("event: message_start\ndata: "u8, "message_start");
        _json.WriteStartObject("message");
        _json.WriteString("id", _context.ResponseId);
        _json.WriteString(N.Type, "message");
        _json.WriteString("role", "assistant");
        _json.WriteString("model", _context.Model);
        _json.WriteStartArray("content");
        _json.WriteEndArray();
        _json.WriteNull("stop_reason");
        _json.WriteNull("stop_sequence");
        // The real count is known only at the end; clients show this estimate until message_delta.
        AnthropicWire.WriteUsage(_json, new Usage(_context.EstimatedInputTokens, 0));
        _json.WriteEndObject();
        EndEvent();
    }

    private void Open(Block kind)
    {
        if (_open == kind) return;
        Close();
        BeginEvent("event: content_block_start\ndata: "u8, N.ContentBlockStart);
        _json.WriteNumber(N.Index, _nextBlockIndex);
        _json.WriteStartObject(N.ContentBlock);
        if (kind == Block.Text)
        {
            _json.WriteString(N.Type, N.Text);
            _json.WriteString(N.Text, "");
        }
        else
        {
            _json.WriteString(N.Type, N.Thinking);
            _json.WriteString(N.Thinking, "");
            _json.WriteString(N.Signature, "");
        }
        _json.WriteEndObject();
        EndEvent();
        _open = kind;
    }

    private void Close()
    {
        if (_open == Block.None) return;
        BeginEvent("event: content_block_stop\ndata: "u8, N.ContentBlockStop);
        _json.WriteNumber(N.Index, _nextBlockIndex);
        EndEvent();
        _open = Block.None;
        _nextBlockIndex++;
    }

    private void Delta(JsonEncodedText deltaType, JsonEncodedText field, string value)
    {
        BeginEvent("event: content_block_delta\ndata: "u8, N.ContentBlockDelta);
        _json.WriteNumber(N.Index, _nextBlockIndex);
        _json.WriteStartObject(N.Delta);
        _json.WriteString(N.Type, deltaType);
        _json.WriteString(field, value);
        _json.WriteEndObject();
        EndEvent();
    }

    private void BeginEvent(ReadOnlySpan<byte> prefix, JsonEncodedText type)
    {
        Output.Write(prefix);
        _json.Reset();
        _json.WriteStartObject();
        _json.WriteString(N.Type, type);
    }

    private void BeginEvent(ReadOnlySpan<byte> prefix, string type)
    {
        Output.Write(prefix);
        _json.Reset();
        _json.WriteStartObject();
        _json.WriteString(N.Type, type);
    }

    private void EndEvent()
    {
        _json.WriteEndObject();
        _json.Flush();
        Output.Write("\n\n"u8);
        MarkPending();
    }
}
