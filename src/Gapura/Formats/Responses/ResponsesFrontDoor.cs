using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text.Json;
using Gapura.Conversations;
using Gapura.Formats.OpenAi;

namespace Gapura.Formats.Responses;

/// <summary>
/// The OpenAI Responses dialect (<c>POST /v1/responses</c>), the only one Codex CLI speaks. Stateless:
/// every request carries its whole conversation (see <see cref="ResponsesRequestParser"/>). Errors before
/// the first byte use OpenAI's <c>{"error":{…}}</c> body, as the chat completions door does.
/// </summary>
internal sealed class ResponsesFrontDoor : IFrontDoor
{
    public static readonly ResponsesFrontDoor Instance = new();

    private ResponsesFrontDoor() { }

    public string NewResponseId() => "resp_" + RandomNumberGenerator.GetHexString(32, lowercase: true);

    public ChatRequest ParseRequest(JsonElement body) => ResponsesRequestParser.Parse(body);

    public SseWriter CreateStreamWriter(PipeWriter output, ResponseContext context) => new ResponsesSseWriter(output, context);

    public Task WriteResultAsync(HttpResponse response, ChatResult result, ResponseContext context, CancellationToken ct)
        => JsonResponses.WriteAsync(response, 200, (result, context), static (w, s) => WriteResponse(w, s.result, s.context), ct);

    public Task WriteErrorAsync(HttpResponse response, GatewayException error)
    {
        JsonResponses.SetRetryAfter(response, error);
        return JsonResponses.WriteAsync(response, error.Status, error, OpenAiWire.WriteError, CancellationToken.None);
    }

    internal static void WriteResponse(Utf8JsonWriter w, ChatResult result, ResponseContext context)
    {
        var reason = ResponsesWire.IncompleteReason(result.StopReason);
        ResponsesWire.WriteResponse(w, context, reason is null ? "completed" : "incomplete", ResponsesWire.Items(result), result.Usage, reason);
    }
}
