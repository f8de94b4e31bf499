using System.Net;
using CsCheck;
using Gapura.Tests.Integration;
using Xunit.Abstractions;

namespace Gapura.Tests.Fuzz;

/// <summary>
/// Generated bad and borderline requests to every front door under <c>/v1</c> of one real gateway (Kiro simulator
/// upstream): mutations of valid requests one field at a time, garbage bodies, wrong content types, odd headers and
/// credentials. Every answer is below 500 (a 502/503/504 only when an upstream really took part), every error is in the
/// door's own shape, every 200 stream ends as its protocol ends, and the gateway still serves valid requests afterwards.
/// </summary>
public sealed class FrontDoorFuzzTests(FuzzGateway fuzzGateway, ITestOutputHelper output) : IClassFixture<FuzzGateway>
{
    private readonly GatewayFixture gateway = fuzzGateway.Gateway;

    private const uint SuiteId = 1;
    public const int CiCases = 7_000;

    private static readonly Gen<int> BodyKind = Gen.Frequency<int>((84, Gen.Const(0)), (10, Gen.Const(1)), (6, Gen.Const(2)));

    [Fact]
    public async Task Every_front_door_answers_bad_input_in_its_own_error_shape_and_never_fails()
    {
        var routes = FuzzRoute.Of(gateway.Services, "/v1");
        Assert.Contains(routes, r => r.ToString() == "POST /v1/chat/completions");
        Assert.Contains(routes, r => r.ToString() == "POST /v1/messages/count_tokens");
        output.WriteLine($"{routes.Count} routes: {string.Join(", ", routes)}");

        var runner = new FuzzRunner(gateway.BaseUrl, output) { UpstreamInvolved = (_, response) => ReachedUpstream(response) };
        var report = await runner.RunAsync("front doors", SuiteId, FuzzSettings.Cases(CiCases), (pcg, index) => Generate(pcg, index, routes));

        await AssertStillServesAsync();
        report.AssertClean();
    }

    private FuzzCase Generate(PCG pcg, int index, IReadOnlyList<FuzzRoute> routes)
    {
        var route = pcg.Draw(Gen.Frequency([.. routes.Select(r => (Weight(r), (IGen<FuzzRoute>)Gen.Const(r)))]));
        var (credential, authHeaders) = pcg.Draw(FuzzInputs.Credential(GatewayFixture.ApiKey, "gateway key"));
        var headers = new List<KeyValuePair<string, string>>(authHeaders);
        headers.AddRange(pcg.Draw(FuzzInputs.OddHeaders));
        var template = route.Template;
        var method = new HttpMethod(route.Method);
        string[] seeds;
        var query = "";
        switch (template)
        {
            case "/v1/chat/completions": seeds = FuzzInputs.OpenAiChat; break;
            case "/v1/responses": seeds = FuzzInputs.Responses; break;
            case "/v1/messages" or "/v1/messages/count_tokens":
                seeds = FuzzInputs.AnthropicMessages;
                if (pcg.Next(4) != 0) headers.Add(KeyValuePair.Create("anthropic-version", "2023-06-01"));
                break;
            case "/v1/route" or "/v1/route/{**door}":
                seeds = [.. FuzzInputs.OpenAiChat, .. FuzzInputs.Responses, .. FuzzInputs.AnthropicMessages];
                break;
            default:
                seeds = [];
                if (route.Method == "GET" || pcg.Next(2) == 0) method = HttpMethod.Get;
                query = pcg.Draw(FuzzInputs.Query);
                if (pcg.Next(2) == 0 && !headers.Any(h => h.Key == "anthropic-version")) headers.Add(KeyValuePair.Create("anthropic-version", "2023-06-01"));
                break;
        }
        var doorSuffix = "";
        var path = route.Fill(p => p.Name switch
        {
            "door" => doorSuffix = pcg.Draw(Gen.OneOf(Gen.OneOf("v1/messages", "chat/completions", "responses", "messages", "anthropic", "openai", "chat", "v1/chat/completions"),
                FuzzInputs.PathValue([]))),
            "id" => pcg.Draw(FuzzInputs.PathValue(["claude-sonnet-4-5", "claude-sonnet-4.5", "kiro/claude-sonnet-4.5", "kiro%2Fclaude-sonnet-4.5", "claude-haiku-4-5", "auto"])),
            _ => pcg.Draw(Gen.OneOf(FuzzInputs.PathValue(["chat/completions", "messages", "messages/count_tokens", "responses", "models", "embeddings", "completions", "files"]),
                FuzzInputs.PathValue([]).Select(v => v + "/" + v))),
        });
        string? door = null;
        if (template.StartsWith("/v1/route", StringComparison.Ordinal) && pcg.Next(3) == 0)
        {
            door = pcg.Draw(Gen.OneOf("anthropic", "openai", "responses", "chat", "anthropic-messages", "banana", ""));
            query = "?door=" + door;
        }
        var anthropicHeader = headers.Any(h => h.Key == "anthropic-version");
        FuzzBody? body = null;
        string? contentType = null;
        if (seeds.Length > 0)
        {
            var seed = seeds[(int)pcg.Next((uint)seeds.Length)];
            body = pcg.Draw(BodyKind) switch
            {
                0 => JsonMutator.Mutate(pcg, seed),
                1 => new FuzzBody(pcg.Draw(Garbage.Body), "garbage body"),
                _ => new FuzzBody(System.Text.Encoding.UTF8.GetBytes(seed), "valid body"),
            };
            contentType = pcg.Draw(FuzzInputs.JsonContentType);
        }
        else if (pcg.Next(10) == 0)
        {
            body = new FuzzBody(pcg.Draw(Garbage.Body), "garbage body on a bodiless route");
            contentType = pcg.Draw(FuzzInputs.JsonContentType);
        }
        var (expected, refused) = ExpectedShapes(method.Method, path, door, doorSuffix, anthropicHeader);
        return new FuzzCase(index, method, path + query, body, contentType, headers, expected, credential, route.ToString()) { RefusedShape = refused };
    }

    /// <summary>
    /// The error shape of a request as the app routes it: the chat doors answer in their own dialect; everything else
    /// under /v1 (models, usage, unknown paths, a refused key on /v1/route) in the one the anthropic-version header names;
    /// /v1/route, once the key is accepted, in its door's dialect (by ?door=, else the path's suffix).
    /// </summary>
    private static (ErrorShape Shape, ErrorShape Refused) ExpectedShapes(string method, string path, string? queryDoor, string suffix, bool anthropicHeader)
    {
        var dialect = anthropicHeader ? ErrorShape.Anthropic : ErrorShape.OpenAi;
        if (IsKeptResponseRoute(method, path)) return (ErrorShape.OpenAi, ErrorShape.OpenAi);
        if (method != "POST") return (dialect, dialect);
        switch (path.ToLowerInvariant())
        {
            case "/v1/messages" or "/v1/messages/count_tokens": return (ErrorShape.Anthropic, ErrorShape.Anthropic);
            case "/v1/chat/completions" or "/v1/responses": return (ErrorShape.OpenAi, ErrorShape.OpenAi);
        }
        if (!path.StartsWith("/v1/route", StringComparison.OrdinalIgnoreCase) || (path.Length > 9 && path[9] != '/')) return (dialect, dialect);
        var asked = (queryDoor is { Length: > 0 } ? queryDoor : suffix).Trim('/').ToLowerInvariant();
        if (asked.StartsWith("v1/", StringComparison.Ordinal)) asked = asked[3..];
        var shape = asked switch
        {
            "messages" or "anthropic" or "anthropic-messages" => ErrorShape.Anthropic,
            "chat/completions" or "openai" or "chat" or "openai-chat" or "responses" or "openai-responses" => ErrorShape.OpenAi,
            _ => dialect,
        };
        return (shape, dialect);
    }

    /// <summary>
    /// <c>GET|DELETE /v1/responses/{id}</c> and <c>GET /v1/responses/{id}/input_items</c> belong to the Responses door and
    /// answer in OpenAI's shape whatever the headers; a path with more segments falls to the catch-all.
    /// </summary>
    private static bool IsKeptResponseRoute(string method, string path)
    {
        const string prefix = "/v1/responses/";
        if (!path.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)) return false;
        var segments = path[prefix.Length..].Split('/');
        if (segments[0].Length == 0) return false;
        return segments.Length switch
        {
            1 => method is "GET" or "DELETE",
            2 => method == "GET" && segments[1].Equals("input_items", StringComparison.OrdinalIgnoreCase),
            _ => false,
        };
    }

    /// <summary>The chat doors get most cases; the catch-all's five methods share the weight of one route.</summary>
    private static int Weight(FuzzRoute route) => route.Template switch
    {
        "/v1/chat/completions" or "/v1/responses" or "/v1/messages" => 20,
        "/v1/messages/count_tokens" or "/v1/route" or "/v1/route/{**door}" => 8,
        "/v1/{**rest}" => 1,
        _ => 4,
    };

    /// <summary>A 5xx is allowed only for a request the ledger says reached a provider.</summary>
    private bool ReachedUpstream(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("x-gapura-request-id", out var ids)) return false;
        var id = ids.First();
        for (var until = DateTime.UtcNow.AddSeconds(3); DateTime.UtcNow < until; Thread.Sleep(20))
            if (gateway.UsageRecords.TryGetValue(id, out var record)) return record.Provider is not null;
        return false;
    }

    private async Task AssertStillServesAsync()
    {
        using var http = gateway.Http();
        using (var health = await http.GetAsync("/health")) Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        foreach (var (path, body, anthropic) in new[]
        {
            ("/v1/chat/completions", FuzzInputs.OpenAiChat[0], false),
            ("/v1/responses", FuzzInputs.Responses[0], false),
            ("/v1/messages", FuzzInputs.AnthropicMessages[0], true),
            ("/v1/messages/count_tokens", FuzzInputs.AnthropicMessages[0], true),
        })
        {
            var (response, text) = await Wire.SendAsync(http, Wire.Post(path, body, anthropic));
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"after the fuzz run, a valid request to {path} got {(int)response.StatusCode}: {text}");
        }
    }
}
