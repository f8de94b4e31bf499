using System.Text;
using Gapura.Conversations;
using Gapura.Formats;
using Gapura.Providers;
using Gapura.Providers.Copilot;
using Gapura.Simulators.Copilot;
using Gapura.Simulators.OpenAi;
using static Gapura.Tests.Providers.Copilot.CopilotTestKit;

namespace Gapura.Tests.Providers.Copilot;

/// <summary>The Copilot provider against the simulator over real sockets: what each call carries, and token recovery.</summary>
public class CopilotProviderTests
{
    private static ChatRequest Ask(params Message[] messages) => new() { Model = "gpt-4.1", Messages = messages, Stream = true };

    [Fact]
    public async Task Calls_carry_the_copilot_token_and_every_header_the_api_requires()
    {
        await using var sim = await CopilotSimulator.StartAsync();
        var (provider, tokens, account) = Provider(sim);
        var events = await Collect(provider.StreamAsync(Ask(Message.Text(Role.User, "hi")), Model(), new ChatContext(), default));
        Assert.Equal(OpenAiDefaultResponder.Greeting + "hi", string.Concat(events.OfType<TextDelta>().Select(t => t.Text)));
        var call = Assert.Single(sim.ChatRequests);
        Assert.Equal("Bearer " + (await tokens.GetAsync(account, default)).Token, call.Header("Authorization"));
        Assert.Equal("vscode/1.99.3", call.Header("Editor-Version"));
        Assert.Equal("copilot-chat/0.26.7", call.Header("Editor-Plugin-Version"));
        Assert.Equal("vscode-chat", call.Header("Copilot-Integration-Id"));
        Assert.Equal("GitHubCopilotChat/0.26.7", call.Header("User-Agent"));
        Assert.Equal("conversation-panel", call.Header("Openai-Intent"));
        Assert.True(Guid.TryParse(call.Header("X-Request-Id"), out _));
        Assert.Equal("user", call.Header("X-Initiator"));
        Assert.Null(call.Header("Copilot-Vision-Request"));
        Assert.Equal("gpt-4.1", (string?)call.Json!["model"]);
    }

    [Fact]
    public async Task Tool_results_are_agent_turns_and_images_ask_for_vision()
    {
        await using var sim = await CopilotSimulator.StartAsync();
        var (provider, _, _) = Provider(sim);
        var input = System.Text.Json.JsonDocument.Parse("""{"city":"Oslo"}""").RootElement.Clone();
        var followUp = Ask(
            Message.Text(Role.User, "weather?"),
            new Message(Role.Assistant, [new ToolUseBlock("call_1", "weather", input)]),
            new Message(Role.User, [new ToolResultBlock("call_1", [new TextBlock("sunny")], false)]));
        var events = await Collect(provider.StreamAsync(followUp with { Tools = [new ToolDefinition("weather", "w", input)] }, Model(), new ChatContext(), default));
        Assert.Equal(OpenAiDefaultResponder.ToolEcho + "sunny", string.Concat(events.OfType<TextDelta>().Select(t => t.Text)));
        Assert.Equal("agent", sim.ChatRequests[^1].Header("X-Initiator"));

        // Passthrough: the client's own body is read the same way.
        var body = """{"model":"copilot/gpt-4o","stream":false,"messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}""";
        await using var response = await provider.SendAsync(new PassthroughRequest(FrontDoors.OpenAiChat, Encoding.UTF8.GetBytes(body),
            new Dictionary<string, string>(), Model("gpt-4o"), new ChatContext(), Stream: false), default);
        Assert.Equal(200, response.Status);
        var image = sim.ChatRequests[^1];
        Assert.Equal("true", image.Header("Copilot-Vision-Request"));
        Assert.Equal("user", image.Header("X-Initiator"));
        Assert.Equal("gpt-4o", (string?)image.Json!["model"]);
    }

    [Fact]
    public async Task A_401_drops_the_cached_token_and_exchanges_again_once()
    {
        await using var sim = await CopilotSimulator.StartAsync();
        var (provider, _, _) = Provider(sim);
        await Collect(provider.StreamAsync(Ask(Message.Text(Role.User, "one")), Model(), new ChatContext(), default));
        Assert.Equal(1, sim.Exchanges);

        sim.RevokeCopilotTokens();
        var events = await Collect(provider.StreamAsync(Ask(Message.Text(Role.User, "two")), Model(), new ChatContext(), default));
        Assert.Equal(OpenAiDefaultResponder.Greeting + "two", string.Concat(events.OfType<TextDelta>().Select(t => t.Text)));
        Assert.Equal(2, sim.Exchanges);
        Assert.Equal(3, sim.ChatCalls);
    }

    [Fact]
    public async Task A_401_again_after_the_new_exchange_is_an_upstream_login_error_not_a_loop()
    {
        await using var sim = await CopilotSimulator.StartAsync();
        var options = Options(sim);
        // An API address whose tokens never work: the exchange goes to the simulator, chat to a second one that issued none.
        await using var other = await CopilotSimulator.StartAsync();
        options.ApiBaseUrl = other.BaseUrl;
        var account = new CopilotAccount("process", sim.IssueGitHubToken());
        var tokens = new CopilotTokenService(new HttpClient(), options, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var client = new Gapura.Providers.OpenAi.ChatCompletionsClient(new HttpClient(), CopilotServiceCollectionExtensions.Account(options),
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var provider = new CopilotProvider(client, tokens, options, CopilotTestKit.Accounts(account), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var e = await Assert.ThrowsAsync<GatewayException>(() => Collect(provider.StreamAsync(Ask(Message.Text(Role.User, "x")), Model(), new ChatContext(), default)));
        Assert.Equal(ErrorKind.UpstreamLogin, e.Kind);
        Assert.Equal(503, e.Status);
        Assert.Equal(2, other.ChatCalls);
        Assert.Equal(2, sim.Exchanges);
    }

    [Fact]
    public async Task Model_list_keeps_chat_models_with_their_limits()
    {
        await using var sim = await CopilotSimulator.StartAsync();
        var (provider, _, account) = Provider(sim);
        using var doc = await provider.GetModelsAsync(account, default);
        var models = CopilotModels.Parse(doc.RootElement);
        Assert.Equal(["gpt-4.1", "gpt-4o", "claude-sonnet-4", "gpt-5-mini"], models.Select(m => m.Id).ToArray());
        var sonnet = models.Single(m => m.Id == "claude-sonnet-4");
        Assert.Equal((216_000, 16_000, "Claude Sonnet 4", "copilot"), (sonnet.ContextWindow, sonnet.MaxOutputTokens, sonnet.DisplayName, sonnet.Provider));
        var listing = sim.Requests.Single(r => r.Path == "/models");
        Assert.Equal("vscode-chat", listing.Header("Copilot-Integration-Id"));
    }

    [Fact]
    public void Initiator_and_vision_are_read_from_the_body()
    {
        Assert.Equal(("user", false), CopilotProvider.Inspect("""{"messages":[{"role":"system","content":"s"},{"role":"user","content":"hi"}]}"""u8));
        Assert.Equal(("agent", false), CopilotProvider.Inspect("""{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"x"}]}"""u8));
        Assert.Equal(("agent", true), CopilotProvider.Inspect("""{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"u"}}]},{"role":"tool","tool_call_id":"c","content":"r"}]}"""u8));
        Assert.Equal(("user", false), CopilotProvider.Inspect("not json"u8));
    }

    private static async Task<List<StreamEvent>> Collect(IAsyncEnumerable<StreamEvent> events)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var list = new List<StreamEvent>();
        await foreach (var e in events.WithCancellation(cts.Token)) list.Add(e);
        return list;
    }
}
