#pragma warning disable OPENAI001 // the Responses client is marked experimental in the SDK
using System.ClientModel;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Conversations.Stored;
using Gapura.Identity;
using Gapura.Simulators.Kiro;
using Gapura.Storage;
using Gapura.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;
using OpenAI.Responses;

namespace Gapura.Tests.Integration;

/// <summary>
/// Kept answers of <c>/v1/responses</c> through the real gateway over HTTP (SQLite), with the official OpenAI .NET SDK and
/// the Kiro simulator: the upstream must receive the whole conversation a <c>previous_response_id</c> or an
/// <c>item_reference</c> stands for, and one user's answers are never another's.
/// </summary>
public class ResponsesStateTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    private ResponsesClient Client(string key = GatewayFixture.ApiKey) =>
        new(new ApiKeyCredential(key), new ResponsesClientOptions { Endpoint = new Uri(gateway.BaseUrl + "/v1") });

    private static readonly ResponseTool Weather = ResponseTool.CreateFunctionTool("get_weather",
        BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"""),
        strictModeEnabled: false, functionDescription: "Current weather for a city");

    [Fact]
    public async Task Previous_response_id_sends_the_whole_history_upstream_and_instructions_are_not_carried()
    {
        gateway.Kiro.Enqueue(KiroScenario.Text("The capital is Jakarta."));
        var first = (await Client().CreateResponseAsync(new CreateResponseOptions
        {
            Model = "claude-sonnet-4-5", Instructions = "FIRST-INSTRUCTIONS", InputItems = { ResponseItem.CreateUserMessageItem("Capital of Indonesia?") },
        })).Value;
        Assert.Equal("The capital is Jakarta.", first.GetOutputText());

        gateway.Kiro.Enqueue(KiroScenario.Text("About 11 million."));
        var second = (await Client().CreateResponseAsync(new CreateResponseOptions
        {
            Model = "claude-sonnet-4-5", PreviousResponseId = first.Id, StreamingEnabled = false,
            InputItems = { ResponseItem.CreateUserMessageItem("And its population?") },
        })).Value;
        Assert.Equal("About 11 million.", second.GetOutputText());
        Assert.Equal(first.Id, second.PreviousResponseId);

        var upstream = gateway.Kiro.ChatRequests[^1].Body;
        Assert.Contains("Capital of Indonesia?", upstream);
        Assert.Contains("The capital is Jakarta.", upstream);
        Assert.Contains("And its population?", upstream);
        Assert.DoesNotContain("FIRST-INSTRUCTIONS", upstream);
    }

    [Fact]
    public async Task A_streamed_answer_is_kept_and_continued_by_the_sdk()
    {
        gateway.Kiro.Enqueue(KiroScenario.Text("streamed ", "answer"));
        ResponseResult? first = null;
        await foreach (var u in await Client().CreateResponseStreamingAsync(new CreateResponseOptions
        {
            Model = "claude-sonnet-4-5", InputItems = { ResponseItem.CreateUserMessageItem("stream please") }, StreamingEnabled = true,
        }))
            if (u is StreamingResponseCompletedUpdate done) first = done.Response;
        Assert.NotNull(first);

        gateway.Kiro.Enqueue(KiroScenario.Text("ok"));
        await Client().CreateResponseAsync(new CreateResponseOptions
        {
            Model = "claude-sonnet-4-5", PreviousResponseId = first!.Id, InputItems = { ResponseItem.CreateUserMessageItem("again") },
        });
        var upstream = gateway.Kiro.ChatRequests[^1].Body;
        Assert.Contains("stream please", upstream);
        Assert.Contains("streamed answer", upstream);
    }

    /// <summary>What the AI SDK's default Responses model sends in its tool loop: earlier output items by reference.</summary>
    [Fact]
    public async Task Item_references_to_a_kept_function_call_are_resolved()
    {
        gateway.Kiro.Enqueue(KiroScenario.ToolCall("tooluse_ref1", "get_weather", """{"city":"Bandung"}"""));
        using var http = gateway.Http();
        var first = await PostAsync(http, """
            {"model":"claude-sonnet-4-5","input":[{"role":"user","content":"Weather in Bandung?"}],
             "tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}]}
            """);
        var call = first["output"]!.AsArray().Single(i => (string?)i!["type"] == "function_call")!;
        Assert.StartsWith("fc_", (string?)call["id"]);
        Assert.True((bool)first["store"]!);

        gateway.Kiro.Enqueue(KiroScenario.Text("It is 24 C in Bandung."));
        var second = await PostAsync(http, """
            {"model":"claude-sonnet-4-5","input":[{"role":"user","content":"Weather in Bandung?"},
              {"type":"item_reference","id":"CALL_ID"},
              {"type":"function_call_output","call_id":"tooluse_ref1","output":"24 C"}],
             "tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}]}
            """.Replace("CALL_ID", (string)call["id"]!));
        Assert.Equal("completed", (string?)second["status"]);
        var upstream = gateway.Kiro.ChatRequests[^1].Body;
        Assert.Contains("tooluse_ref1", upstream);
        Assert.Contains("Bandung", upstream);
        Assert.Contains("24 C", upstream);

        // The kept input of the second answer has the referenced call in place of the reference.
        using var items = await http.GetAsync($"/v1/responses/{second["id"]}/input_items?order=asc");
        Assert.Equal(HttpStatusCode.OK, items.StatusCode);
        var list = JsonNode.Parse(await items.Content.ReadAsStringAsync())!;
        Assert.Equal("list", (string?)list["object"]);
        Assert.Equal(["message", "function_call", "function_call_output"], list["data"]!.AsArray().Select(i => (string?)i!["type"]));
        Assert.Equal((string?)call["id"], (string?)list["data"]![1]!["id"]);
    }

    [Fact]
    public async Task Get_and_delete_follow_openai_and_another_users_answer_is_a_404()
    {
        gateway.Kiro.Enqueue(KiroScenario.Text("secret answer"));
        var first = (await Client().CreateResponseAsync(new CreateResponseOptions
        {
            Model = "claude-sonnet-4-5", InputItems = { ResponseItem.CreateUserMessageItem("my secret question") },
        })).Value;

        var fetched = (await Client().GetResponseAsync(first.Id)).Value;
        Assert.Equal(first.Id, fetched.Id);
        Assert.Equal("secret answer", fetched.GetOutputText());

        // Another user, with a key of their own: the answer does not exist for them, and they cannot continue from it.
        var store = gateway.Services.GetRequiredService<IGapuraStore>();
        var other = await store.Users.CreateAsync(new NewUser($"other-{Guid.NewGuid():N}@gapura.test", "Other"));
        var key = ApiKeys.Generate();
        await store.ApiKeys.CreateAsync(new NewApiKey(other.Id, "laptop", key.Prefix, key.Hash));
        using var otherHttp = gateway.Http(key.Key);
        // A key made straight in the store (not through the admin API) is picked up on the change feed's next poll.
        for (var i = 0; i < 100 && (await otherHttp.GetAsync("/v1/models")).StatusCode != HttpStatusCode.OK; i++) await Task.Delay(100);
        using (var get = await otherHttp.GetAsync($"/v1/responses/{first.Id}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
            Assert.Contains($"Response with id '{first.Id}' not found.", await get.Content.ReadAsStringAsync());
        }
        using (var delete = await otherHttp.DeleteAsync($"/v1/responses/{first.Id}"))
            Assert.Equal(HttpStatusCode.NotFound, delete.StatusCode);
        var continued = await otherHttp.PostAsync("/v1/responses", Json($$"""{"model":"claude-sonnet-4-5","input":"go on","previous_response_id":"{{first.Id}}"}"""));
        Assert.Equal(HttpStatusCode.BadRequest, continued.StatusCode);
        var error = JsonNode.Parse(await continued.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal("previous_response_not_found", (string?)error["code"]);
        Assert.DoesNotContain("secret", await continued.Content.ReadAsStringAsync());

        // The owner deletes it: OpenAI's answer, then a 404.
        using var http = gateway.Http();
        using (var delete = await http.DeleteAsync($"/v1/responses/{first.Id}"))
        {
            Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
            var body = JsonNode.Parse(await delete.Content.ReadAsStringAsync())!;
            Assert.Equal(first.Id, (string?)body["id"]);
            Assert.Equal("response", (string?)body["object"]);
            Assert.True((bool)body["deleted"]!);
        }
        using (var get = await http.GetAsync($"/v1/responses/{first.Id}"))
            Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
    }

    [Fact]
    public async Task Store_false_keeps_nothing()
    {
        gateway.Kiro.Enqueue(KiroScenario.Text("not kept"));
        using var http = gateway.Http();
        var first = await PostAsync(http, """{"model":"claude-sonnet-4-5","input":"hi","store":false}""");
        Assert.False((bool)first["store"]!);
        using var get = await http.GetAsync($"/v1/responses/{first["id"]}");
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
    }

    [Fact]
    public async Task Kept_answers_are_sealed_in_the_database_and_expired_ones_are_swept()
    {
        gateway.Kiro.Enqueue(KiroScenario.Text("sealed words"));
        using var http = gateway.Http();
        var first = await PostAsync(http, """{"model":"claude-sonnet-4-5","input":"plain question words"}""");
        var id = (string)first["id"]!;
        var database = gateway.Services.GetRequiredService<Database>();
        var payload = await WaitForRowAsync(database, id);
        Assert.StartsWith("gp1", payload);
        Assert.DoesNotContain("plain question words", payload);

        // An answer past its time is absent and swept.
        var repository = gateway.Services.GetRequiredService<StoredResponseRepository>();
        var userId = (await gateway.Services.GetRequiredService<IGapuraStore>().Users.ListAsync())[0].Id;
        var expiredId = "resp_" + RandomNumberGenerator.GetHexString(32, lowercase: true);
        await repository.InsertAsync([new LoadedTurn(expiredId, userId, DateTimeOffset.UtcNow.AddHours(-2), DateTimeOffset.UtcNow.AddMinutes(-1), """{"input":[],"response":{}}"""u8.ToArray())], CancellationToken.None);
        Assert.Null(await repository.FindAsync(expiredId, userId, DateTimeOffset.UtcNow, CancellationToken.None));
        Assert.True(await gateway.Services.GetRequiredService<StoredResponseSweep>().PurgeAsync(CancellationToken.None) >= 1);
        Assert.Null(await ReadPayloadAsync(database, expiredId));
        Assert.NotNull(await ReadPayloadAsync(database, id));
    }

    [Fact]
    public async Task Unknown_references_are_clear_errors()
    {
        using var http = gateway.Http();
        using var previous = await http.PostAsync("/v1/responses", Json("""{"model":"claude-sonnet-4-5","input":"x","previous_response_id":"resp_nope"}"""));
        Assert.Equal(HttpStatusCode.BadRequest, previous.StatusCode);
        Assert.Contains("Previous response with id 'resp_nope' not found.", await previous.Content.ReadAsStringAsync());
        using var item = await http.PostAsync("/v1/responses", Json("""{"model":"claude-sonnet-4-5","input":[{"type":"item_reference","id":"msg_unknown"}]}"""));
        Assert.Equal(HttpStatusCode.NotFound, item.StatusCode);
        Assert.Contains("Item with id 'msg_unknown' not found.", await item.Content.ReadAsStringAsync());
    }

    internal static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    internal static async Task<JsonNode> PostAsync(HttpClient http, string body)
    {
        using var response = await http.PostAsync("/v1/responses", Json(body));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonNode.Parse(text)!;
    }

    private static async Task<string> WaitForRowAsync(Database database, string id)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            if (await ReadPayloadAsync(database, id) is { } payload) return payload;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{id} was not written within 10 s");
            await Task.Delay(50);
        }
    }

    private static async Task<string?> ReadPayloadAsync(Database database, string id)
    {
        await using var connection = await database.OpenAsync(CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT payload_enc FROM stored_responses WHERE id = @id";
        var p = command.CreateParameter();
        p.ParameterName = "id";
        p.Value = id;
        command.Parameters.Add(p);
        return await command.ExecuteScalarAsync() as string;
    }
}

/// <summary>Two instances behind one PostgreSQL: an answer made on one is continued on the other at once.</summary>
[Collection(PostgresCollection.Name)]
public class ResponsesStateTwoInstanceTests(PostgresCluster postgres)
{
    [Fact]
    public async Task A_response_created_on_one_instance_is_continued_on_the_other()
    {
        var connection = await postgres.CreateIsolatedAsync(nameof(ResponsesStateTwoInstanceTests));
        var secretsKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        string[] shared = ["--Storage:Provider=postgres", $"--ConnectionStrings:Postgres={connection}", $"--Secrets:Key={secretsKey}"];
        var a = new GatewayFixture();
        var b = new GatewayFixture();
        a.Settings.AddRange(shared);
        b.Settings.AddRange(shared);
        try
        {
            await a.InitializeAsync();
            await b.InitializeAsync();
            a.Kiro.Enqueue(KiroScenario.Text("Answer made on A."));
            using var viaA = a.Http();
            var first = await ResponsesStateTests.PostAsync(viaA, """{"model":"claude-sonnet-4-5","input":"Question asked on A"}""");

            b.Kiro.Enqueue(KiroScenario.Text("Continued on B."));
            using var viaB = b.Http();
            var second = await ResponsesStateTests.PostAsync(viaB, $$"""{"model":"claude-sonnet-4-5","input":"Follow-up on B","previous_response_id":"{{first["id"]}}"}""");
            Assert.Equal("Continued on B.", (string?)second["output"]![0]!["content"]![0]!["text"]);
            var upstream = b.Kiro.ChatRequests[^1].Body;
            Assert.Contains("Question asked on A", upstream);
            Assert.Contains("Answer made on A.", upstream);
            Assert.Contains("Follow-up on B", upstream);

            // B's answer is kept too, and readable on A.
            var status = HttpStatusCode.NotFound;
            for (var i = 0; i < 50 && status != HttpStatusCode.OK; i++)
            {
                if (i > 0) await Task.Delay(100);
                using var get = await viaA.GetAsync($"/v1/responses/{second["id"]}");
                status = get.StatusCode;
            }
            Assert.Equal(HttpStatusCode.OK, status);
        }
        finally
        {
            await b.DisposeAsync();
            await a.DisposeAsync();
        }
    }
}
