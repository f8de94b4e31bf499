using System.Text.Json;
using Gapura.Conversations;
using Gapura.Providers.Anthropic;
using Gapura.Providers.Bedrock;
using Gapura.Providers.Compatible;
using Gapura.Providers.Kiro;
using Gapura.Providers.OpenAi;
using Gapura.Routing;
using Microsoft.Extensions.Configuration;

namespace Gapura.Tests.Routing;

/// <summary>
/// The capability rule: a model is sent only what it can take; unfit candidates are skipped in order, and a
/// 400 names the limitation when none is left. Plus the facts each catalog fills in.
/// </summary>
public class CapabilityCheckTests
{
    private static readonly JsonElement Schema = JsonDocument.Parse("""{"type":"object"}""").RootElement;

    private static ResolvedModel Model(string provider, string id, bool? images = null, bool? tools = null, int window = 8_000, bool trims = false)
        => new(id, new ModelInfo(id, id, window, 1_000, provider) { SupportsImages = images, SupportsTools = tools, TrimsHistoryToFit = trims });

    private static ChatRequest Request(int images = 0, int tools = 0, int toolResultImages = 0)
    {
        var content = new List<ContentBlock> { new TextBlock("look") };
        for (var i = 0; i < images; i++) content.Add(new ImageBlock("image/png", "iVBORw0KGgo="));
        var messages = new List<Message> { new(Role.User, content) };
        if (toolResultImages > 0)
        {
            messages.Add(new Message(Role.Assistant, [new ToolUseBlock("t1", "screenshot", Schema)]));
            messages.Add(new Message(Role.User, [new ToolResultBlock("t1", [.. Enumerable.Repeat<ContentBlock>(new ImageBlock("image/png", "AA=="), toolResultImages)], false)]));
        }
        return new ChatRequest
        {
            Model = "m",
            Messages = messages,
            Tools = [.. Enumerable.Range(0, tools).Select(i => new ToolDefinition($"tool{i}", null, Schema))],
        };
    }

    private static GatewayException Refused(ChatRequest request, int tokens, params ResolvedModel[] candidates)
        => Assert.Throws<GatewayException>(() => CapabilityCheck.Filter(request, tokens, longContext: false, candidates));

    [Fact]
    public void A_request_every_candidate_can_serve_keeps_the_same_list()
    {
        IReadOnlyList<ResolvedModel> candidates = [Model("a", "x", images: true, tools: true), Model("b", "y")];
        Assert.Same(candidates, CapabilityCheck.Filter(Request(images: 2, tools: 1), 100, false, candidates));
    }

    [Fact]
    public void Images_to_a_text_only_model_are_a_400_naming_the_model_and_the_count()
    {
        var e = Refused(Request(images: 2), 100, Model("ollama", "llama3", images: false));
        Assert.Equal(400, e.Status);
        Assert.Equal(ErrorKind.InvalidRequest, e.Kind);
        Assert.Equal("Model 'ollama/llama3' does not accept images (the request holds 2 images).", e.Message);
    }

    [Fact]
    public void Images_returned_by_a_tool_count_too()
    {
        var e = Refused(Request(toolResultImages: 1), 100, Model("ollama", "llama3", images: false));
        Assert.Contains("(the request holds 1 image)", e.Message);
    }

    [Fact]
    public void Tools_to_a_model_without_tools_are_a_400()
    {
        var e = Refused(Request(tools: 3), 100, Model("ollama", "tiny", tools: false));
        Assert.Equal(400, e.Status);
        Assert.Equal("Model 'ollama/tiny' does not support tools (the request offers 3 tools).", e.Message);
    }

    [Fact]
    public void Unknown_capabilities_are_allowed()
    {
        var candidates = new[] { Model("ollama", "mystery") };
        Assert.Same(candidates, CapabilityCheck.Filter(Request(images: 1, tools: 1), 100, false, candidates));
    }

    [Fact]
    public void A_conversation_clearly_over_the_window_is_a_400_with_both_figures()
    {
        var e = Refused(Request(), 9_000, Model("ollama", "small", window: 8_000));
        Assert.Equal(400, e.Status);
        // Anthropic's own wording, which Claude Code parses (the counts) and compacts on.
        Assert.Equal("prompt is too long: 9000 tokens > 8000 maximum", e.Message);
        Assert.True(e.IsContextOverflow);
    }

    [Theory]
    [InlineData(8_000)]
    [InlineData(8_800)] // within the estimate's margin: the upstream decides
    public void A_conversation_near_the_window_is_left_to_the_upstream(int tokens)
    {
        var candidates = new[] { Model("ollama", "small", window: 8_000) };
        Assert.Same(candidates, CapabilityCheck.Filter(Request(), tokens, false, candidates));
    }

    [Fact]
    public void A_provider_that_trims_history_itself_is_not_refused_for_length()
    {
        var candidates = new[] { Model("kiro", "claude-sonnet-4.5", window: 200_000, trims: true) };
        Assert.Same(candidates, CapabilityCheck.Filter(Request(), 900_000, false, candidates));
    }

    [Fact]
    public void The_1m_context_beta_raises_claude_windows_only()
    {
        var claude = Model("anthropic", "claude-sonnet-4-5", window: 200_000);
        Assert.Single(CapabilityCheck.Filter(Request(), 600_000, longContext: true, [claude]));
        Assert.Throws<GatewayException>(() => CapabilityCheck.Filter(Request(), 600_000, longContext: false, [claude]));
        Assert.Throws<GatewayException>(() => CapabilityCheck.Filter(Request(), 600_000, longContext: true, [Model("ollama", "llama3", window: 200_000)]));
        Assert.True(CapabilityCheck.AsksLongContext(new Microsoft.Extensions.Primitives.StringValues(["prompt-caching-2024-07-31", "x,context-1m-2025-08-07"])));
        Assert.False(CapabilityCheck.AsksLongContext(default));
    }

    [Fact]
    public void Unfit_candidates_are_skipped_and_the_rest_keep_their_order()
    {
        var textOnly = Model("ollama", "llama3", images: false);
        var first = Model("vllm", "llava", images: true);
        var second = Model("openai", "gpt-4o");
        var capable = CapabilityCheck.Filter(Request(images: 1), 100, false, [textOnly, first, second]);
        Assert.Equal([first, second], capable);
    }

    [Fact]
    public void When_no_candidate_can_serve_each_reason_is_named()
    {
        var e = Refused(Request(images: 1, tools: 1), 100, Model("ollama", "llama3", images: false), Model("lmstudio", "phi", tools: false));
        Assert.Contains("'ollama/llama3' does not accept images", e.Message);
        Assert.Contains("'lmstudio/phi' does not support tools", e.Message);
    }

    [Fact]
    public void Counting_needs_allocates_nothing()
    {
        var request = Request(images: 3, tools: 2, toolResultImages: 2);
        IReadOnlyList<ResolvedModel> candidates = [Model("a", "x", images: true, tools: true)];
        CapabilityCheck.Filter(request, 100, false, candidates); // warm up
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++) CapabilityCheck.Filter(request, 100, false, candidates);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(new RequestNeeds(5, 2, 100), RequestNeeds.Of(request, 100));
    }

    // The facts the catalogs fill in.

    [Fact]
    public void Openai_known_models_say_what_they_take_and_unknown_ids_stay_unknown()
    {
        var o1Mini = OpenAiKnownModels.Info("o1-mini-2024-09-12", "openai");
        Assert.Equal((false, false), (o1Mini.SupportsImages, o1Mini.SupportsTools));
        var gpt4o = OpenAiKnownModels.Info("gpt-4o-2024-08-06", "openai");
        Assert.Equal((true, true, false), (gpt4o.SupportsImages, gpt4o.SupportsTools, gpt4o.SupportsThinking));
        Assert.Equal(false, OpenAiKnownModels.Info("gpt-3.5-turbo", "openai").SupportsImages);
        Assert.Equal(true, OpenAiKnownModels.Info("gpt-4.5-preview", "openai").SupportsImages);
        Assert.Equal(true, OpenAiKnownModels.Info("gpt-5", "openai").SupportsThinking);
        var unknown = OpenAiKnownModels.Info("my-finetune", "openai");
        Assert.Equal(((bool?)null, (bool?)null), (unknown.SupportsImages, unknown.SupportsTools));
    }

    [Fact]
    public async Task Bedrock_families_are_known_through_inference_profiles()
    {
        var catalog = new BedrockModelCatalog(Microsoft.Extensions.Options.Options.Create(new BedrockOptions
        {
            Models = ["amazon.titan-text-express-v1", "us.amazon.nova-micro-v1:0", "us.amazon.nova-pro-v1:0", "meta.llama3-1-70b-instruct-v1:0", "acme.unknown-v1"],
        }));
        var models = (await catalog.ListAsync(default)).ToDictionary(m => m.Id);
        Assert.Equal((false, false), (models["amazon.titan-text-express-v1"].SupportsImages, models["amazon.titan-text-express-v1"].SupportsTools));
        Assert.Equal((false, true), (models["us.amazon.nova-micro-v1:0"].SupportsImages, models["us.amazon.nova-micro-v1:0"].SupportsTools));
        Assert.Equal(true, models["us.amazon.nova-pro-v1:0"].SupportsImages);
        Assert.Equal(false, models["meta.llama3-1-70b-instruct-v1:0"].SupportsImages);
        Assert.Null(models["acme.unknown-v1"].SupportsImages);
        Assert.All(BedrockModelCatalog.BuiltIn, m => Assert.Equal((true, true), (m.SupportsImages, m.SupportsTools)));
    }

    [Fact]
    public void Kiro_reads_image_support_from_the_service_and_trims_history()
    {
        using var doc = JsonDocument.Parse("""
            {"models":[
              {"modelId":"claude-sonnet-4.5","modelName":"Sonnet","supportedInputTypes":["TEXT","IMAGE"]},
              {"modelId":"qwen3-coder","modelName":"Qwen","supportedInputTypes":["TEXT"]},
              {"modelId":"claude-haiku-4.5","modelName":"Haiku"}]}
            """);
        var models = KiroClient.ParseModels(doc.RootElement).ToDictionary(m => m.Id);
        Assert.Equal(true, models["claude-sonnet-4.5"].SupportsImages);
        Assert.Equal(false, models["qwen3-coder"].SupportsImages);
        Assert.Equal(true, models["claude-haiku-4.5"].SupportsImages);
        Assert.All(models.Values, m => Assert.True(m.TrimsHistoryToFit && m.SupportsTools == true));
        Assert.All(KiroModelCatalog.BuiltIn, m => Assert.Equal((true, true), (m.SupportsImages, m.SupportsTools)));
    }

    [Fact]
    public void Anthropic_claude_takes_images_and_tools_and_thinks_from_3_7_on()
    {
        Assert.All(AnthropicModelCatalog.BuiltIn, m => Assert.Equal((true, true), (m.SupportsImages, m.SupportsTools)));
        Assert.Equal(false, AnthropicModelCatalog.BuiltIn.Single(m => m.Id.StartsWith("claude-3-5-haiku", StringComparison.Ordinal)).SupportsThinking);
        Assert.Equal(true, AnthropicModelCatalog.BuiltIn.Single(m => m.Id.StartsWith("claude-3-7", StringComparison.Ordinal)).SupportsThinking);
    }

    [Fact]
    public void Compatible_servers_take_the_operators_lists_over_what_the_server_reports()
    {
        var server = CompatibleServerOptions.ReadAll(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Providers:Compatible:ollama:BaseUrl"] = "http://localhost:11434/v1",
            ["Providers:Compatible:ollama:TextOnlyModels"] = "llama3*, qwen2.5-coder:7b",
            ["Providers:Compatible:ollama:NoToolModels:0"] = "tinyllama",
        }).Build()).Single();
        var describe = OpenAiServiceCollectionExtensions.CompatibleDescribe(server);
        Assert.Equal(false, describe(new UpstreamModel("llama3.2:3b", null, Images: true)).SupportsImages);
        Assert.Equal(false, describe(new UpstreamModel("QWEN2.5-coder:7b", null)).SupportsImages);
        Assert.Null(describe(new UpstreamModel("qwen2.5-coder:14b", null)).SupportsImages);
        Assert.Equal(true, describe(new UpstreamModel("llava", null, Images: true)).SupportsImages);
        Assert.Equal(false, describe(new UpstreamModel("tinyllama", null, Tools: true)).SupportsTools);
        Assert.Null(describe(new UpstreamModel("mistral", null)).SupportsTools);
        Assert.True(CompatibleServerOptions.Matches(["*"], "anything"));
    }

    [Fact]
    public void Compatible_models_lists_that_describe_their_models_are_read()
    {
        using var doc = JsonDocument.Parse("""
            {"data":[
              {"id":"vision","architecture":{"input_modalities":["text","image"]},"supported_parameters":["tools","temperature"]},
              {"id":"text","architecture":{"input_modalities":["text"]},"supported_parameters":["temperature"]},
              {"id":"ollama-style","capabilities":["completion","tools"]},
              {"id":"plain","max_model_len":8192}]}
            """);
        var models = ChatCompletionsClient.ParseModels(doc.RootElement).ToDictionary(m => m.Id);
        Assert.Equal(new UpstreamModel("vision", null, true, true), models["vision"]);
        Assert.Equal(new UpstreamModel("text", null, false, false), models["text"]);
        Assert.Equal(new UpstreamModel("ollama-style", null, false, true), models["ollama-style"]);
        Assert.Equal(new UpstreamModel("plain", 8192), models["plain"]);
    }
}
