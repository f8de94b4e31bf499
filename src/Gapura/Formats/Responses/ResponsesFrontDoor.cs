using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text.Json;
using Gapura.Api;
using Gapura.Conversations;
using Gapura.Conversations.Stored;
using Gapura.Formats.OpenAi;
using Gapura.Identity;

namespace Gapura.Formats.Responses;

/// <summary>
/// The OpenAI Responses dialect (<c>POST /v1/responses</c>), the only one Codex CLI speaks. Answers are kept for the caller
/// unless the request says <c>store: false</c> (see <see cref="ResponsesState"/>), so a later request may continue from
/// them with <c>previous_response_id</c> or <c>item_reference</c>. Errors before the first byte use OpenAI's
/// <c>{"error":{…}}</c> body, as the chat completions door does.
/// </summary>
internal sealed class ResponsesFrontDoor : IStatefulFrontDoor
{
    /// <summary>The door without kept answers (references are refused): for tests and benchmarks of the format alone.</summary>
    public static readonly ResponsesFrontDoor Instance = new(null);

    private readonly ResponseStore? _store;

    public ResponsesFrontDoor(ResponseStore? store) => _store = store;

    public string NewResponseId() => "resp_" + RandomNumberGenerator.GetHexString(32, lowercase: true);

    public ChatRequest ParseRequest(JsonElement body) => ResponsesRequestParser.Parse(body);

    public async Task<(ChatRequest Request, ConversationTurn? Turn)> ParseAsync(RequestBody body, Caller? caller, CancellationToken ct)
    {
        if (_store is null || caller is null) return (body.Parse(this), null);
        var root = body.Json.RootElement;
        var resolved = await ResponsesState.ResolveAsync(_store, root, caller.UserId, ct);
        var request = body.Parse(json => ResponsesRequestParser.Parse(json, resolved));
        var keep = _store.Enabled && !(root.TryGetProperty("store", out var store) && store.ValueKind == JsonValueKind.False);
        return (request, keep || resolved is not null ? new ResponsesTurn(_store, caller.UserId, body.Raw, resolved, keep) : null);
    }

    public SseWriter CreateStreamWriter(PipeWriter output, ResponseContext context) => new ResponsesSseWriter(output, context);

    public Task WriteResultAsync(HttpResponse response, ChatResult result, ResponseContext context, CancellationToken ct)
    {
        var reason = ResponsesWire.IncompleteReason(result.StopReason);
        var status = reason is null ? "completed" : "incomplete";
        var items = ResponsesWire.Items(result, context.ResponseId);
        (context.Turn as ResponsesTurn)?.Completed(context, items, status, result.Usage, reason);
        return JsonResponses.WriteAsync(response, 200, (context, status, items, result.Usage, reason),
            static (w, s) => ResponsesWire.WriteResponse(w, s.context, s.status, s.items, s.Usage, s.reason), ct);
    }

    public Task WriteErrorAsync(HttpResponse response, GatewayException error)
    {
        JsonResponses.SetRetryAfter(response, error);
        return JsonResponses.WriteAsync(response, error.Status, error, OpenAiWire.WriteError, CancellationToken.None);
    }
}
