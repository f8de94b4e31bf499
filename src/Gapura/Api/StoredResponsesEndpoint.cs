using System.Text.Json;
using Gapura.Conversations;
using Gapura.Conversations.Stored;
using Gapura.Formats;
using Gapura.Formats.Responses;
using Gapura.Identity;

namespace Gapura.Api;

/// <summary>
/// <c>GET</c> and <c>DELETE /v1/responses/{id}</c> and <c>GET /v1/responses/{id}/input_items</c>, as OpenAI has them, over
/// the caller's kept answers. Another user's answer is a 404 like one that never was.
/// </summary>
internal static class StoredResponsesEndpoint
{
    public static async Task GetAsync(HttpContext http, string id, IFrontDoor door, ResponseStore store, CancellationToken ct)
    {
        if (await FindAsync(http, id, door, store, ct) is not { } payload) return;
        await JsonResponses.WriteAsync(http.Response, 200, payload, static (w, p) => p.GetProperty("response").WriteTo(w), ct);
    }

    public static async Task DeleteAsync(HttpContext http, string id, IFrontDoor door, ResponseStore store, CancellationToken ct)
    {
        if (!await store.DeleteAsync(id, http.FindCaller()!.UserId, ct))
        {
            await door.WriteErrorAsync(http.Response, NotFound(id));
            return;
        }
        await JsonResponses.WriteAsync(http.Response, 200, id, static (w, id) =>
        {
            w.WriteStartObject();
            w.WriteString("id", id);
            w.WriteString("object", "response");
            w.WriteBoolean("deleted", true);
            w.WriteEndObject();
        }, ct);
    }

    /// <summary>OpenAI's list: <c>limit</c> 1–100 (20), <c>order</c> asc or desc (desc), <c>after</c> an item id.</summary>
    public static async Task ListInputItemsAsync(HttpContext http, string id, IFrontDoor door, ResponseStore store, CancellationToken ct)
    {
        var query = http.Request.Query;
        var limit = 20;
        if (query.TryGetValue("limit", out var l) && (!int.TryParse(l, out limit) || limit is < 1 or > 100))
        {
            await door.WriteErrorAsync(http.Response, GatewayException.BadRequest("limit: expected a whole number from 1 to 100."));
            return;
        }
        var order = query.TryGetValue("order", out var o) ? o.ToString() : "desc";
        if (order is not ("asc" or "desc"))
        {
            await door.WriteErrorAsync(http.Response, GatewayException.BadRequest("order: expected 'asc' or 'desc'."));
            return;
        }
        if (await FindAsync(http, id, door, store, ct) is not { } payload) return;
        var items = ResponsesState.InputItems(payload).ToList();
        if (order == "desc") items.Reverse();
        if (query.TryGetValue("after", out var after))
        {
            var at = items.FindIndex(i => i.TryGetProperty("id", out var itemId) && itemId.ValueEquals(after.ToString()));
            items = at < 0 ? [] : items[(at + 1)..];
        }
        var page = items.Take(limit).ToList();
        await JsonResponses.WriteAsync(http.Response, 200, (page, more: items.Count > limit), static (w, s) =>
        {
            w.WriteStartObject();
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            foreach (var item in s.page) item.WriteTo(w);
            w.WriteEndArray();
            WriteId(w, "first_id", s.page.Count > 0 ? s.page[0] : null);
            WriteId(w, "last_id", s.page.Count > 0 ? s.page[^1] : null);
            w.WriteBoolean("has_more", s.more);
            w.WriteEndObject();
        }, ct);
    }

    private static void WriteId(Utf8JsonWriter w, string name, JsonElement? item)
    {
        if (item is { } i && i.TryGetProperty("id", out var id)) { w.WritePropertyName(name); id.WriteTo(w); }
        else w.WriteNull(name);
    }

    private static async Task<JsonElement?> FindAsync(HttpContext http, string id, IFrontDoor door, ResponseStore store, CancellationToken ct)
    {
        var turn = await store.FindAsync(id, http.FindCaller()!.UserId, waitForInFlight: false, ct);
        if (turn is not null) return JsonElement.Parse(turn.Payload);
        await door.WriteErrorAsync(http.Response, NotFound(id));
        return null;
    }

    private static GatewayException NotFound(string id) => new(ErrorKind.NotFound, $"Response with id '{id}' not found.");
}
