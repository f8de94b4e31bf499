using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Gapura.Providers.Bedrock;
using Gapura.Simulators.Bedrock;

namespace Gapura.Tests.Providers.Bedrock;

/// <summary>The simulator's own contract: Converse's JSON shape, Bedrock's validation messages, the control-plane list.</summary>
public sealed class BedrockSimulatorTests : IAsyncLifetime
{
    private BedrockSimulator _sim = null!;
    private readonly HttpClient _http = new();

    public async Task InitializeAsync() => _sim = await BedrockSimulator.StartAsync();

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _sim.DisposeAsync();
    }

    private async Task<(HttpStatusCode Status, JsonNode Body, string? ErrorType)> Send(HttpMethod method, string path, string? json = null)
    {
        var body = json is null ? [] : Encoding.UTF8.GetBytes(json);
        using var request = new HttpRequestMessage(method, _sim.BaseUrl + path);
        if (json is not null)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = new("application/json");
        }
        SigV4Signer.Sign(request, body, new AwsCredentials(BedrockSimulatorOptions.TestAccessKeyId, BedrockSimulatorOptions.TestSecretAccessKey), "us-east-1", "bedrock", DateTimeOffset.UtcNow);
        using var response = await _http.SendAsync(request);
        var type = response.Headers.TryGetValues("x-amzn-ErrorType", out var v) ? v.Single() : null;
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!, type);
    }

    private const string Converse = "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse";

    [Fact]
    public async Task Converse_answers_in_bedrocks_json_shape()
    {
        var (status, body, _) = await Send(HttpMethod.Post, Converse, """{"messages":[{"role":"user","content":[{"text":"hello"}]}]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("assistant", body["output"]!["message"]!["role"]!.GetValue<string>());
        Assert.Equal("hello", body["output"]!["message"]!["content"]![0]!["text"]!.GetValue<string>());
        Assert.Equal("end_turn", body["stopReason"]!.GetValue<string>());
        Assert.True(body["usage"]!["totalTokens"]!.GetValue<int>() > 0);
        Assert.NotNull(body["metrics"]!["latencyMs"]);
    }

    [Theory]
    [InlineData("""{"messages":[{"role":"assistant","content":[{"text":"x"}]}]}""", "must start with a user message")]
    [InlineData("""{"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"user","content":[{"text":"b"}]}]}""", "must alternate")]
    [InlineData("""{"messages":[{"role":"user","content":[{"text":" "}]}]}""", "is blank")]
    [InlineData("""{"messages":[{"role":"user","content":[{"toolResult":{"toolUseId":"a","content":[{"text":"x"}]}}]}]}""", "toolConfig field must be defined")]
    [InlineData("""{"messages":[{"role":5,"content":[]}]}""", "Malformed input request")]
    public async Task Invalid_requests_get_a_validation_exception(string json, string message)
    {
        var (status, body, type) = await Send(HttpMethod.Post, Converse, json);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.StartsWith("ValidationException", type);
        Assert.Contains(message, body["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Unknown_models_are_refused()
    {
        var (status, body, _) = await Send(HttpMethod.Post, "/model/anthropic.claude-nope-v1%3A0/converse", """{"messages":[{"role":"user","content":[{"text":"a"}]}]}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("The provided model identifier is invalid.", body["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Lists_foundation_models()
    {
        var (status, body, _) = await Send(HttpMethod.Get, "/foundation-models");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains(body["modelSummaries"]!.AsArray(), m => m!["modelId"]!.GetValue<string>() == "anthropic.claude-sonnet-4-5-20250929-v1:0");
    }
}
