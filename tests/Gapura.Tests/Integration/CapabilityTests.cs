using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Simulators.OpenAi;

namespace Gapura.Tests.Integration;

/// <summary>
/// What a model cannot take, through the real gateway: two OpenAI-compatible servers on the OpenAI simulator.
/// <c>alpha</c> declares <c>llama3</c> and <c>shared</c> text-only, <c>tiny</c> without tools, and a 2,000-token
/// window; <c>beta</c> serves <c>shared</c> with no limits. A request a model cannot serve is a 400 in the
/// caller's format naming the limitation (never a 200 stream, never an upstream call), unless another
/// provider serving the same name can take it.
/// </summary>
public class CapabilityTests(CapabilityTests.Fixture fixture) : IClassFixture<CapabilityTests.Fixture>
{
    public sealed class Fixture : IAsyncLifetime
    {
        public OpenAiSimulator Upstream { get; private set; } = null!;
        public GatewayFixture Gateway { get; } = new();

        public async Task InitializeAsync()
        {
            Upstream = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions
            {
                RequireAuth = false,
                Models = [new("llama3"), new("tiny"), new("shared")],
            });
            Gateway.Settings.AddRange(
            [
                $"--Providers:Compatible:alpha:BaseUrl={Upstream.ApiBaseUrl}",
                "--Providers:Compatible:alpha:Models=llama3,tiny,shared",
                "--Providers:Compatible:alpha:TextOnlyModels=llama3,shared",
                "--Providers:Compatible:alpha:NoToolModels=tiny",
                "--Providers:Compatible:alpha:ContextWindow=2000",
                "--Providers:Compatible:alpha:MaxOutputTokens=500",
                $"--Providers:Compatible:beta:BaseUrl={Upstream.ApiBaseUrl}",
                "--Providers:Compatible:beta:Models=shared",
                "--Providers:Compatible:beta:ContextWindow=100000",
            ]);
            await Gateway.InitializeAsync();
        }

        public async Task DisposeAsync()
        {
            await Gateway.DisposeAsync();
            await Upstream.DisposeAsync();
        }
    }

    private const string Png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

    // About 4,000 tokens by the gateway's estimate: twice alpha's window.
    private static readonly string LongText = string.Concat(Enumerable.Repeat("word ", 4_000));

    public enum Door { Chat, Responses, Messages }

    public enum Limit { Images, Tools, Context }

    private static string Body(Door door, string model, bool stream, Limit? limit)
    {
        var text = limit == Limit.Context ? LongText : "what is this?";
        JsonNode content = limit == Limit.Images
            ? door switch
            {
                Door.Chat => new JsonArray(new JsonObject { ["type"] = "text", ["text"] = text },
                    new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = $"data:image/png;base64,{Png}" } }),
                Door.Responses => new JsonArray(new JsonObject { ["type"] = "input_text", ["text"] = text },
                    new JsonObject { ["type"] = "input_image", ["image_url"] = $"data:image/png;base64,{Png}" }),
                _ => new JsonArray(new JsonObject { ["type"] = "text", ["text"] = text },
                    new JsonObject { ["type"] = "image", ["source"] = new JsonObject { ["type"] = "base64", ["media_type"] = "image/png", ["data"] = Png } }),
            }
            : JsonValue.Create(text);
        var body = new JsonObject { ["model"] = model, ["stream"] = stream };
        if (door == Door.Responses) body["input"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = content });
        else body["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = content });
        if (door == Door.Messages) body["max_tokens"] = 100;
        if (limit == Limit.Tools)
            body["tools"] = new JsonArray(door switch
            {
                Door.Chat => new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "lookup", ["parameters"] = new JsonObject { ["type"] = "object" } } },
                Door.Responses => new JsonObject { ["type"] = "function", ["name"] = "lookup", ["parameters"] = new JsonObject { ["type"] = "object" } },
                _ => new JsonObject { ["name"] = "lookup", ["input_schema"] = new JsonObject { ["type"] = "object" } },
            });
        return body.ToJsonString();
    }

    private static HttpRequestMessage Post(Door door, string body) => door switch
    {
        Door.Chat => Wire.OpenAi(body),
        Door.Responses => Wire.Post("/v1/responses", body),
        _ => Wire.Anthropic(body),
    };

    public static TheoryData<Door, Limit, bool> Refusals()
    {
        var data = new TheoryData<Door, Limit, bool>();
        foreach (var door in Enum.GetValues<Door>())
            foreach (var limit in Enum.GetValues<Limit>())
                foreach (var stream in new[] { false, true })
                    data.Add(door, limit, stream);
        return data;
    }

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task A_request_the_model_cannot_take_is_a_400_in_the_callers_format_naming_the_limitation(Door door, Limit limit, bool stream)
    {
        var model = limit == Limit.Tools ? "alpha/tiny" : "alpha/llama3";
        string[] mentions = limit switch
        {
            Limit.Images => [$"'{model}' does not accept images", "1 image"],
            Limit.Tools => [$"'{model}' does not support tools", "1 tool"],
            // Anthropic's own wording, which Claude Code parses and compacts on (and Codex keys on the OpenAI doors' code).
            _ => ["prompt is too long: ", " tokens > 2000 maximum"],
        };
        var calls = fixture.Upstream.ChatCalls;
        using var http = fixture.Gateway.Http();
        var (response, text) = await Wire.SendAsync(http, Post(door, Body(door, model, stream, limit)));

        // An HTTP error, not a 200 event stream with an error inside.
        var error = door == Door.Messages
            ? Wire.AssertAnthropicError(response, text, HttpStatusCode.BadRequest, mentions)
            : Wire.AssertOpenAiError(response, text, HttpStatusCode.BadRequest, mentions);
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        // Only an overflow carries the code clients compact on.
        if (door != Door.Messages) Assert.Equal(limit == Limit.Context ? "context_length_exceeded" : null, error["code"]?.GetValue<string>());
        Assert.Equal(calls, fixture.Upstream.ChatCalls);
    }

    [Theory]
    [InlineData(Door.Chat, false)]
    [InlineData(Door.Chat, true)]
    [InlineData(Door.Responses, false)]
    [InlineData(Door.Messages, true)]
    public async Task An_image_goes_to_a_provider_that_takes_it_when_the_first_choice_cannot(Door door, bool stream)
    {
        using var http = fixture.Gateway.Http();
        var (response, text) = await Wire.SendAsync(http, Post(door, Body(door, "shared", stream, Limit.Images)));
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.StartsWith("beta/", response.Headers.GetValues("x-gapura-provider").Single() + "/");
        Assert.Contains(Png, fixture.Upstream.ChatRequests[^1].Body);
    }

    [Theory]
    [InlineData(Door.Chat, false)]
    [InlineData(Door.Responses, true)]
    [InlineData(Door.Messages, false)]
    public async Task A_request_the_first_choice_can_take_stays_with_it(Door door, bool stream)
    {
        using var http = fixture.Gateway.Http();
        var (response, text) = await Wire.SendAsync(http, Post(door, Body(door, "shared", stream, limit: null)));
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.StartsWith("alpha/", response.Headers.GetValues("x-gapura-provider").Single() + "/");
        if (stream) Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Tools_and_images_to_models_that_take_them_still_work()
    {
        using var http = fixture.Gateway.Http();
        var (response, text) = await Wire.SendAsync(http, Post(Door.Chat, Body(Door.Chat, "alpha/llama3", stream: false, Limit.Tools)));
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        (response, text) = await Wire.SendAsync(http, Post(Door.Messages, Body(Door.Messages, "claude-sonnet-4-5", stream: false, Limit.Images)));
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
    }

    [Fact]
    public async Task Kiro_trims_a_long_history_rather_than_refusing_it()
    {
        using var http = fixture.Gateway.Http();
        // Over Kiro's 200k-token window by the estimate: Kiro's own trimming serves it.
        var huge = string.Concat(Enumerable.Repeat("word ", 240_000));
        var body = new JsonObject
        {
            ["model"] = Wire.Model,
            ["messages"] = new JsonArray(
                new JsonObject { ["role"] = "user", ["content"] = huge },
                new JsonObject { ["role"] = "assistant", ["content"] = "noted" },
                new JsonObject { ["role"] = "user", ["content"] = "and now?" }),
        };
        var (response, text) = await Wire.SendAsync(http, Wire.OpenAi(body.ToJsonString()));
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.True(response.Headers.Contains("x-gapura-history-trimmed"));
    }

    [Fact]
    public async Task The_models_list_shows_what_each_model_takes()
    {
        using var http = fixture.Gateway.Http();
        foreach (var anthropic in new[] { false, true })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models?limit=1000");
            if (anthropic) request.Headers.Add("anthropic-version", "2023-06-01");
            using var response = await http.SendAsync(request);
            var json = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, json);
            using var doc = JsonDocument.Parse(json);
            var models = doc.RootElement.GetProperty("data").EnumerateArray().ToDictionary(m => m.GetProperty("id").GetString()!, m => m.Clone());
            Assert.False(models["alpha/llama3"].GetProperty("supports_images").GetBoolean());
            Assert.False(models["alpha/llama3"].TryGetProperty("supports_tools", out _)); // unknown: not listed
            Assert.False(models["alpha/tiny"].GetProperty("supports_tools").GetBoolean());
            Assert.Equal(2000, models["alpha/llama3"].GetProperty("context_window").GetInt32());
            Assert.True(models["kiro/claude-sonnet-4.5"].GetProperty("supports_images").GetBoolean());
            Assert.True(models["kiro/claude-sonnet-4.5"].GetProperty("supports_tools").GetBoolean());
        }
    }
}
