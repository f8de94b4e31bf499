using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Formats;

/// <summary>
/// One client-facing API dialect (OpenAI chat completions, Anthropic messages, …): how its requests
/// parse into the canonical <see cref="ChatRequest"/>, and how canonical results and errors go back.
/// Implementations are stateless singletons; per-response state lives in the <see cref="SseWriter"/>.
/// </summary>
public interface IFrontDoor
{
    /// <summary>Parses a request body. Throws a 400 <see cref="GatewayException"/> naming the problem.</summary>
    ChatRequest ParseRequest(JsonElement body);

    /// <summary>A fresh response id in the dialect's style (<c>chatcmpl-…</c>, <c>msg_…</c>).</summary>
    string NewResponseId();

    SseWriter CreateStreamWriter(PipeWriter output, ResponseContext context);

    /// <summary>Writes a whole non-streamed answer as the JSON body (status 200).</summary>
    Task WriteResultAsync(HttpResponse response, ChatResult result, ResponseContext context, CancellationToken ct);

    /// <summary>Writes an error as this dialect's error JSON with the error's HTTP status.</summary>
    Task WriteErrorAsync(HttpResponse response, GatewayException error);
}

/// <summary>Facts every response needs: an id, the model name to echo, the creation time.</summary>
public sealed record ResponseContext(string ResponseId, string Model, DateTimeOffset Created, ChatRequest Request, int EstimatedInputTokens)
{
    /// <summary>How the answer is kept for later requests, when its front door keeps answers (see <see cref="ConversationTurn"/>).</summary>
    public ConversationTurn? Turn { get; init; }
}

/// <summary>
/// Turns canonical stream events into one dialect's SSE events on the response body.
/// <see cref="Write"/> puts an event's bytes in the pipe; <see cref="FlushAsync"/> sends them. The caller
/// flushes whenever it is about to wait for the upstream, so events that were decoded together leave in
/// one write and nothing already decoded is ever held back. <see cref="MessageEnd"/> makes the writer
/// emit the dialect's closing events (<c>message_stop</c>, <c>data: [DONE]</c>…). Keep-alives and errors
/// flush at once. After <see cref="WriteErrorAsync"/> the stream is over.
/// </summary>
public abstract class SseWriter(PipeWriter output)
{
    private bool _pending;

    protected PipeWriter Output { get; } = output;

    /// <summary>The stream is over: closed, ended by an error event, or the client went away.</summary>
    protected bool Finished { get; set; }

    /// <summary>The keep-alive of dialects without a ping event: an SSE comment, which every SSE client skips.</summary>
    protected ValueTask WriteCommentKeepAliveAsync(CancellationToken ct)
    {
        if (Finished) return ValueTask.CompletedTask;
        Output.Write(": keep-alive\n\n"u8);
        MarkPending();
        return FlushAsync(ct);
    }

    /// <summary>Records that bytes were written and wait for <see cref="FlushAsync"/>.</summary>
    protected void MarkPending() => _pending = true;

    /// <summary>Sends what was written; synchronous when the pipe has room, which is the common case.</summary>
    public ValueTask FlushAsync(CancellationToken ct)
    {
        if (!_pending) return ValueTask.CompletedTask;
        _pending = false;
        var flush = Output.FlushAsync(ct);
        return flush.IsCompletedSuccessfully ? Flushed(flush.Result) : AwaitFlush(flush);
    }

    private ValueTask Flushed(FlushResult result)
    {
        // The client went away: later writes would only fill a pipe nobody reads.
        if (result.IsCompleted) Finished = true;
        return ValueTask.CompletedTask;
    }

    private async ValueTask AwaitFlush(ValueTask<FlushResult> flush) => await Flushed(await flush);

    public abstract void Write(StreamEvent streamEvent);

    /// <summary>Writes one event and sends it at once.</summary>
    public ValueTask WriteEventAsync(StreamEvent streamEvent, CancellationToken ct)
    {
        Write(streamEvent);
        return FlushAsync(ct);
    }

    /// <summary>Keeps idle connections open while the upstream is silent (comment or ping event).</summary>
    public abstract ValueTask WriteKeepAliveAsync(CancellationToken ct);

    /// <summary>Ends the stream with the dialect's error event, so a failure never looks like a clean stop.</summary>
    public abstract ValueTask WriteErrorAsync(GatewayException error, CancellationToken ct);
}
