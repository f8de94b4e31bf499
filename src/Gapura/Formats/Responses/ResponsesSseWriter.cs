using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Formats.Responses;

/// <summary>
/// Canonical events → the Responses API's semantic SSE events (<c>event: response.output_text.delta</c>
/// …), each with a rising <c>sequence_number</c>. Output is a list of items: reasoning becomes a
/// <c>reasoning</c> item streamed as summary text (Codex and the SDKs show the summary; there is no
/// separate summary upstream, so the thinking text is the summary), text a <c>message</c> item with one
/// <c>output_text</c> part, and each tool call a <c>function_call</c> item. One text or reasoning item is
/// open at a time; a change of kind closes it. The writer keeps each item's text because the
/// <c>.done</c> events and <c>response.completed</c> repeat it whole, as OpenAI does.
/// A stream ends with <c>response.completed</c>, <c>response.incomplete</c> (output cap) or
/// <c>response.failed</c> — never a clean completion after an error.
/// </summary>
internal sealed class ResponsesSseWriter : SseWriter
{
    private readonly Utf8JsonWriter _json;
    private readonly ResponseContext _context;
    private readonly List<OutputItem> _items = [];
    private readonly Dictionary<int, int> _toolItems = [];
    private int _sequence;
    private bool _started;
    /// <summary>Output index of the open message or reasoning item, or -1.</summary>
    private int _open = -1;

    public ResponsesSseWriter(PipeWriter output, ResponseContext context) : base(output)
    {
        _json = new Utf8JsonWriter(output, JsonResponses.WriterOptions);
        _context = context;
    }

    public override void Write(StreamEvent streamEvent)
    {
        if (Finished) return;
        EnsureStarted();
        switch (streamEvent)
        {
            case TextDelta { Text.Length: > 0 } t:
            {
                var (index, item) = Open(OutputKind.Message);
                item.Text.Append(t.Text);
                Begin(Names.OutputTextDelta);
                ItemRef(item, index);
                _json.WriteNumber(Names.ContentIndex, 0);
                _json.WriteString(Names.Delta, t.Text);
                _json.WriteStartArray(Names.Logprobs);
                _json.WriteEndArray();
                End();
                break;
            }
            case ReasoningDelta { Text.Length: > 0 } r:
            {
                var (index, item) = Open(OutputKind.Reasoning);
                item.Text.Append(r.Text);
                Begin(Names.ReasoningSummaryTextDelta);
                ItemRef(item, index);
                _json.WriteNumber(Names.SummaryIndex, 0);
                _json.WriteString(Names.Delta, r.Text);
                End();
                break;
            }
            case ReasoningSignature s:
                if (_open >= 0 && _items[_open].Kind == OutputKind.Reasoning)
                {
                    _items[_open].Signature = s.Signature;
                    // The signature seals the block: reasoning after it is a new item.
                    CloseOpen("completed");
                }
                break;
            case ToolCallStart s:
            {
                CloseOpen("completed");
                var item = new OutputItem(OutputKind.FunctionCall, ResponsesWire.NewItemId(OutputKind.FunctionCall, _context.ResponseId)) { CallId = s.Id, Name = s.Name };
                _toolItems[s.Index] = _items.Count;
                AddItem(item);
                break;
            }
            case ToolCallDelta { ArgumentsFragment.Length: > 0 } d when _toolItems.TryGetValue(d.Index, out var index):
            {
                var item = _items[index];
                if (item.Status != "in_progress") break;
                item.Text.Append(d.ArgumentsFragment);
                Begin(Names.FunctionCallArgumentsDelta);
                ItemRef(item, index);
                _json.WriteString(Names.Delta, d.ArgumentsFragment);
                End();
                break;
            }
            case ToolCallEnd e when _toolItems.TryGetValue(e.Index, out var index):
                CloseToolCall(index, "completed");
                break;
            case MessageEnd end:
            {
                var reason = ResponsesWire.IncompleteReason(end.StopReason);
                var status = reason is null ? "completed" : "incomplete";
                CloseOpen(status);
                foreach (var index in _toolItems.Values) CloseToolCall(index, status);
                Begin(reason is null ? Names.Completed : Names.Incomplete);
                _json.WritePropertyName(Names.Response);
                ResponsesWire.WriteResponse(_json, _context, status, _items, end.Usage, reason);
                End();
                Finished = true;
                (_context.Turn as ResponsesTurn)?.Completed(_context, _items, status, end.Usage, reason);
                break;
            }
        }
    }

    /// <summary>An SSE comment: every SSE client skips it, and no Responses client expects a ping event.</summary>
    public override ValueTask WriteKeepAliveAsync(CancellationToken ct) => WriteCommentKeepAliveAsync(ct);

    /// <summary>
    /// <c>response.failed</c> with the error in <c>response.error</c> and the output so far (items left
    /// <c>in_progress</c>), so neither the SDKs nor Codex can take a cut answer for a finished one.
    /// </summary>
    public override ValueTask WriteErrorAsync(GatewayException error, CancellationToken ct)
    {
        if (Finished) return ValueTask.CompletedTask;
        EnsureStarted();
        Finished = true;
        Begin(Names.Failed);
        _json.WritePropertyName(Names.Response);
        ResponsesWire.WriteResponse(_json, _context, "failed", _items, usage: null, error: error);
        End();
        return FlushAsync(ct);
    }

    private void EnsureStarted()
    {
        if (_started) return;
        _started = true;
        Begin(Names.Created);
        _json.WritePropertyName(Names.Response);
        ResponsesWire.WriteResponse(_json, _context, "in_progress", _items, usage: null);
        End();
        Begin(Names.InProgress);
        _json.WritePropertyName(Names.Response);
        ResponsesWire.WriteResponse(_json, _context, "in_progress", _items, usage: null);
        End();
    }

    private (int Index, OutputItem Item) Open(OutputKind kind)
    {
        if (_open >= 0 && _items[_open].Kind == kind) return (_open, _items[_open]);
        CloseOpen("completed");
        var item = new OutputItem(kind, ResponsesWire.NewItemId(kind, _context.ResponseId));
        _open = _items.Count;
        AddItem(item);
        // The item's one part opens with it; its text arrives in deltas.
        Begin(kind == OutputKind.Message ? Names.ContentPartAdded : Names.ReasoningSummaryPartAdded);
        ItemRef(item, _open);
        PartIndexAndPart(item);
        End();
        return (_open, item);
    }

    private void AddItem(OutputItem item)
    {
        Begin(Names.OutputItemAdded);
        _json.WriteNumber(Names.OutputIndex, _items.Count);
        _json.WritePropertyName(Names.Item);
        ResponsesWire.WriteItem(_json, item);
        End();
        _items.Add(item);
    }

    private void CloseOpen(string status)
    {
        if (_open < 0) return;
        var index = _open;
        var item = _items[index];
        _open = -1;
        var message = item.Kind == OutputKind.Message;
        Begin(message ? Names.OutputTextDone : Names.ReasoningSummaryTextDone);
        ItemRef(item, index);
        _json.WriteNumber(message ? Names.ContentIndex : Names.SummaryIndex, 0);
        ResponsesWire.WriteText(_json, "text", item.Text);
        if (message)
        {
            _json.WriteStartArray(Names.Logprobs);
            _json.WriteEndArray();
        }
        End();
        Begin(message ? Names.ContentPartDone : Names.ReasoningSummaryPartDone);
        ItemRef(item, index);
        PartIndexAndPart(item);
        End();
        // Reasoning items carry no status on the wire; a cut message is "incomplete".
        item.Status = message ? status : "completed";
        ItemDone(item, index);
    }

    private void CloseToolCall(int index, string status)
    {
        var item = _items[index];
        if (item.Status != "in_progress") return;
        Begin(Names.FunctionCallArgumentsDone);
        ItemRef(item, index);
        _json.WriteString(Names.Name, item.Name);
        _json.WriteString(Names.Arguments, ResponsesWire.ArgumentsText(item));
        End();
        item.Status = status;
        ItemDone(item, index);
    }

    private void ItemDone(OutputItem item, int index)
    {
        Begin(Names.OutputItemDone);
        _json.WriteNumber(Names.OutputIndex, index);
        _json.WritePropertyName(Names.Item);
        ResponsesWire.WriteItem(_json, item);
        End();
    }

    private void PartIndexAndPart(OutputItem item)
    {
        if (item.Kind == OutputKind.Message)
        {
            _json.WriteNumber(Names.ContentIndex, 0);
            _json.WritePropertyName(Names.Part);
            ResponsesWire.WriteTextPart(_json, item.Text);
        }
        else
        {
            _json.WriteNumber(Names.SummaryIndex, 0);
            _json.WritePropertyName(Names.Part);
            ResponsesWire.WriteSummaryPart(_json, item.Text);
        }
    }

    private void ItemRef(OutputItem item, int index)
    {
        _json.WriteString(Names.ItemId, item.Id);
        _json.WriteNumber(Names.OutputIndex, index);
    }

    /// <summary>Starts <c>event: TYPE\ndata: {"type":TYPE,"sequence_number":N</c>.</summary>
    private void Begin(JsonEncodedText type)
    {
        Output.Write("event: "u8);
        Output.Write(type.EncodedUtf8Bytes);
        Output.Write("\ndata: "u8);
        _json.Reset();
        _json.WriteStartObject();
        _json.WriteString(Names.Type, type);
        _json.WriteNumber(Names.SequenceNumber, _sequence++);
    }

    private void End()
    {
        _json.WriteEndObject();
        _json.Flush();
        Output.Write("\n\n"u8);
        MarkPending();
    }

    private static class Names
    {
        public static readonly JsonEncodedText Type = JsonEncodedText.Encode("type");
        public static readonly JsonEncodedText SequenceNumber = JsonEncodedText.Encode("sequence_number");
        public static readonly JsonEncodedText Response = JsonEncodedText.Encode("response");
        public static readonly JsonEncodedText Item = JsonEncodedText.Encode("item");
        public static readonly JsonEncodedText ItemId = JsonEncodedText.Encode("item_id");
        public static readonly JsonEncodedText OutputIndex = JsonEncodedText.Encode("output_index");
        public static readonly JsonEncodedText ContentIndex = JsonEncodedText.Encode("content_index");
        public static readonly JsonEncodedText SummaryIndex = JsonEncodedText.Encode("summary_index");
        public static readonly JsonEncodedText Part = JsonEncodedText.Encode("part");
        public static readonly JsonEncodedText Delta = JsonEncodedText.Encode("delta");
        public static readonly JsonEncodedText Logprobs = JsonEncodedText.Encode("logprobs");
        public static readonly JsonEncodedText Name = JsonEncodedText.Encode("name");
        public static readonly JsonEncodedText Arguments = JsonEncodedText.Encode("arguments");

        public static readonly JsonEncodedText Created = JsonEncodedText.Encode("response.created");
        public static readonly JsonEncodedText InProgress = JsonEncodedText.Encode("response.in_progress");
        public static readonly JsonEncodedText Completed = JsonEncodedText.Encode("response.completed");
        public static readonly JsonEncodedText Incomplete = JsonEncodedText.Encode("response.incomplete");
        public static readonly JsonEncodedText Failed = JsonEncodedText.Encode("response.failed");
        public static readonly JsonEncodedText OutputItemAdded = JsonEncodedText.Encode("response.output_item.added");
        public static readonly JsonEncodedText OutputItemDone = JsonEncodedText.Encode("response.output_item.done");
        public static readonly JsonEncodedText ContentPartAdded = JsonEncodedText.Encode("response.content_part.added");
        public static readonly JsonEncodedText ContentPartDone = JsonEncodedText.Encode("response.content_part.done");
        public static readonly JsonEncodedText OutputTextDelta = JsonEncodedText.Encode("response.output_text.delta");
        public static readonly JsonEncodedText OutputTextDone = JsonEncodedText.Encode("response.output_text.done");
        public static readonly JsonEncodedText ReasoningSummaryPartAdded = JsonEncodedText.Encode("response.reasoning_summary_part.added");
        public static readonly JsonEncodedText ReasoningSummaryPartDone = JsonEncodedText.Encode("response.reasoning_summary_part.done");
        public static readonly JsonEncodedText ReasoningSummaryTextDelta = JsonEncodedText.Encode("response.reasoning_summary_text.delta");
        public static readonly JsonEncodedText ReasoningSummaryTextDone = JsonEncodedText.Encode("response.reasoning_summary_text.done");
        public static readonly JsonEncodedText FunctionCallArgumentsDelta = JsonEncodedText.Encode("response.function_call_arguments.delta");
        public static readonly JsonEncodedText FunctionCallArgumentsDone = JsonEncodedText.Encode("response.function_call_arguments.done");
    }
}
