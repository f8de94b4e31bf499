using System.Net;
using Gapura.Conversations;
using Gapura.Providers;
using Gapura.Providers.Compatible;
using Gapura.Providers.Accounts;
using Gapura.Providers.OpenAi;
using Gapura.Routing;
using Gapura.Storage;
using Gapura.Simulators.OpenAi;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using static Gapura.Tests.Providers.OpenAi.OpenAiTestKit;

namespace Gapura.Tests.Providers.Compatible;

/// <summary>Compatible servers: settings, the SSRF guard and allow-list, registration, and the wire against the simulator.</summary>
public class CompatibleProviderTests
{
    private static IConfiguration Config(params (string Key, string? Value)[] values)
        => new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    private static ServiceProvider Services(IConfiguration configuration)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(TimeProvider.System);
        var storage = new ConfigurationBuilder().AddConfiguration(configuration).AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Storage:Path"] = Path.Combine(Directory.CreateTempSubdirectory("gapura-compat-").FullName, "gapura.db"),
        }).Build();
        services.AddGapuraStorage(storage);
        services.AddGapuraRouting(storage);
        services.AddUpstreamAccounts();
        services.AddOpenAiProviders(configuration);
        return services.BuildServiceProvider();
    }

    [Fact]
    public void Settings_read_names_models_as_list_or_array_and_skip_the_allow_list_key()
    {
        var servers = CompatibleServerOptions.ReadAll(Config(
            ("Providers:Compatible:Ollama:BaseUrl", "http://localhost:11434/v1/"),
            ("Providers:Compatible:Ollama:Models", "llama3.2, qwen2.5-coder:7b"),
            ("Providers:Compatible:vllm:BaseUrl", "http://10.0.0.5:8000/v1"),
            ("Providers:Compatible:vllm:ApiKey", "token-abc"),
            ("Providers:Compatible:vllm:Models:0", "meta-llama/Llama-3.1-8B-Instruct"),
            ("Providers:Compatible:vllm:Models:1", "mistral"),
            ("Providers:Compatible:vllm:MaxOutputTokens", "2048"),
            ("Providers:Compatible:AllowedBaseUrls", "http://localhost:11434,http://10.0.0.5:8000")));
        Assert.Equal(["ollama", "vllm"], servers.Select(s => s.Name).ToArray());
        Assert.Equal("http://localhost:11434/v1", servers[0].BaseUrl);
        Assert.Equal(["llama3.2", "qwen2.5-coder:7b"], servers[0].Models);
        Assert.Null(servers[0].ApiKey);
        Assert.Equal(["meta-llama/Llama-3.1-8B-Instruct", "mistral"], servers[1].Models);
        Assert.Equal("token-abc", servers[1].ApiKey);
        Assert.Equal(2048, servers[1].MaxOutputTokens);
    }

    [Theory]
    [InlineData("openai")]
    [InlineData("kiro")]
    [InlineData("bad name")]
    public void Reserved_or_malformed_names_are_refused(string name)
    {
        var e = Assert.Throws<InvalidOperationException>(() => CompatibleServerOptions.ReadAll(Config(($"Providers:Compatible:{name}:BaseUrl", "http://localhost:1/v1"))));
        Assert.Contains("Providers:Compatible:", e.Message);
    }

    [Fact]
    public void A_server_without_base_url_names_the_setting()
    {
        var e = Assert.Throws<InvalidOperationException>(() => CompatibleServerOptions.ReadAll(Config(("Providers:Compatible:x:ApiKey", "k"))));
        Assert.Contains("Providers:Compatible:x:BaseUrl", e.Message);
    }

    [Theory]
    [InlineData("http://169.254.169.254/latest/meta-data", false)]
    [InlineData("http://169.254.10.1:8080/v1", false)]
    [InlineData("http://[fe80::1]:11434/v1", false)]
    [InlineData("http://[fd00:ec2::254]/v1", false)]
    [InlineData("http://[::ffff:169.254.169.254]/v1", false)]
    [InlineData("http://metadata.google.internal/computeMetadata/v1", false)]
    [InlineData("http://METADATA.google.internal./v1", false)]
    [InlineData("ftp://localhost/v1", false)]
    [InlineData("http://user:pass@localhost/v1", false)]
    [InlineData("http://localhost:11434/v1", true)]
    [InlineData("http://10.1.2.3:8000/v1", true)]
    [InlineData("http://192.168.1.20:1234/v1", true)]
    [InlineData("https://llm.corp.example/v1", true)]
    public void Base_url_guard(string url, bool allowed)
        => Assert.Equal(allowed, UpstreamAddressGuard.CheckBaseUrl("x", url, allowLinkLocal: false, []) is null);

    [Fact]
    public void Link_local_is_allowed_only_when_explicitly_set()
    {
        Assert.Null(UpstreamAddressGuard.CheckBaseUrl("x", "http://169.254.1.1/v1", allowLinkLocal: true, []));
        var refusal = UpstreamAddressGuard.CheckBaseUrl("x", "http://169.254.1.1/v1", allowLinkLocal: false, []);
        Assert.Contains("Providers:Compatible:x:AllowLinkLocal=true", refusal);
    }

    [Theory]
    [InlineData("http://10.0.0.5:8000/v1", true)]
    [InlineData("http://10.0.0.5:8000", true)]
    [InlineData("http://10.0.0.5:80001/v1", false)]
    [InlineData("http://10.0.0.5:8000v1", false)]
    [InlineData("https://10.0.0.5:8000/v1", false)]
    [InlineData("http://llm.corp.example/openai/v1", true)]
    [InlineData("http://llm.corp.example/other/v1", false)]
    [InlineData("http://llm.corp.example.evil.com/openai/v1", false)]
    public void Allow_list_matches_whole_prefixes(string url, bool allowed)
    {
        string[] prefixes = ["http://10.0.0.5:8000", "http://llm.corp.example/openai/"];
        Assert.Equal(allowed, UpstreamAddressGuard.CheckBaseUrl("x", url, allowLinkLocal: false, prefixes) is null);
    }

    [Theory]
    [InlineData("169.254.169.254", true)]
    [InlineData("169.254.0.1", true)]
    [InlineData("100.100.100.200", true)]
    [InlineData("fe80::abcd", true)]
    [InlineData("fd00:ec2::254", true)]
    [InlineData("::ffff:169.254.169.254", true)]
    [InlineData("127.0.0.1", false)]
    [InlineData("10.0.0.1", false)]
    [InlineData("::1", false)]
    [InlineData("fd00::1", false)]
    public void Forbidden_addresses(string address, bool forbidden)
        => Assert.Equal(forbidden, UpstreamAddressGuard.IsForbidden(IPAddress.Parse(address)));

    [Fact]
    public async Task Guarded_connections_to_link_local_addresses_are_refused_at_connect_time()
    {
        // As if DNS had answered with the metadata address: the start-up check saw only a name.
        using var http = OpenAiServiceCollectionExtensions.CreateHttpClient(guarded: true);
        var client = new ChatCompletionsClient(http, Account("http://169.254.169.254/v1", provider: "box", dialect: ChatCompletionsDialect.Compatible), NullLogger.Instance);
        var e = await Assert.ThrowsAsync<GatewayException>(() => client.PostAsync("/chat/completions", "{}"u8.ToArray(), default));
        Assert.Contains("link-local or cloud-metadata", e.Message);
        Assert.Contains("compatible server 'box'", e.Message);
    }

    [Fact]
    public void Registration_refuses_a_metadata_base_url_and_one_off_the_allow_list()
    {
        var metadata = Assert.Throws<InvalidOperationException>(() => Services(Config(("Providers:Compatible:evil:BaseUrl", "http://169.254.169.254/v1"))));
        Assert.Contains("Providers:Compatible:evil:BaseUrl", metadata.Message);
        var offList = Assert.Throws<InvalidOperationException>(() => Services(Config(
            ("Providers:Compatible:ollama:BaseUrl", "http://localhost:11434/v1"),
            ("Providers:Compatible:AllowedBaseUrls:0", "http://10.0.0.5:8000"))));
        Assert.Contains("allow-list", offList.Message);
    }

    [Fact]
    public async Task Without_settings_only_openai_is_registered_and_it_offers_nothing_until_someone_connects_an_account()
    {
        await using var sp = Services(Config());
        Assert.Equal("openai", Assert.Single(sp.GetServices<IChatProvider>()).Name);
        var catalog = Assert.Single(sp.GetServices<IModelCatalog>());
        Assert.Empty(await catalog.ListAsync(default));
        var e = await Assert.ThrowsAsync<GatewayException>(() => catalog.ResolveAsync("gpt-5", default).AsTask());
        Assert.Contains("nobody has connected OpenAI", e.Message);
    }

    [Fact]
    public async Task Registration_makes_one_provider_per_server_plus_openai()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        await using var sp = Services(Config(
            ("Providers:OpenAI:ApiKey", OpenAiSimulatorOptions.DefaultApiKey),
            ("Providers:OpenAI:BaseUrl", sim.ApiBaseUrl),
            ("Providers:Compatible:ollama:BaseUrl", sim.ApiBaseUrl),
            ("Providers:Compatible:ollama:Models", "llama3.2,qwen3:8b"),
            ("Providers:Compatible:lab:BaseUrl", sim.ApiBaseUrl),
            ("Providers:Compatible:lab:ApiKey", OpenAiSimulatorOptions.DefaultApiKey)));
        var providers = sp.GetServices<IChatProvider>().ToList();
        Assert.Equal(["openai", "lab", "ollama"], providers.Select(p => p.Name).ToArray()); // compatible servers in name order
        Assert.All(providers, p => Assert.IsAssignableFrom<IPassthroughProvider>(p));
        Assert.Equal(3, sp.GetServices<IPassthroughProvider>().Count());

        var catalogs = sp.GetServices<IModelCatalog>().ToList();
        var ollamaCatalog = catalogs[2];
        var ollama = await ollamaCatalog.ListAsync(default);
        Assert.Equal(["llama3.2", "qwen3:8b"], ollama.Select(m => m.Id).ToArray());
        Assert.All(ollama, m => Assert.Equal("ollama", m.Provider));
        Assert.Equal("qwen3:8b", (await ollamaCatalog.ResolveAsync("ollama/qwen3:8b", default)).Model.Id);
        Assert.DoesNotContain(sim.Requests, r => r.Path == "/v1/models" && r.Header("Authorization") is null); // configured list: never asked

        var lab = await catalogs[1].ListAsync(default);
        Assert.Contains(lab, m => m.Id == "gpt-4o" && m.Provider == "lab");
    }

    [Fact]
    public async Task The_api_setting_picks_the_front_door_that_passes_through_and_a_wrong_value_stops_the_start()
    {
        await using var sp = Services(Config(
            ("Providers:OpenAI:ApiKey", "sk-x"),
            ("Providers:OpenAI:Api", "Responses"),
            ("Providers:Compatible:ollama:BaseUrl", "http://127.0.0.1:11434/v1"),
            ("Providers:Compatible:lab:BaseUrl", "http://127.0.0.1:8000/v1"),
            ("Providers:Compatible:lab:Api", "responses")));
        var doors = sp.GetServices<IChatProvider>().Cast<IPassthroughProvider>().Select(p =>
            (((IChatProvider)p).Name, p.CanPassThrough(Gapura.Formats.FrontDoors.OpenAiChat), p.CanPassThrough(Gapura.Formats.FrontDoors.OpenAiResponses))).ToArray();
        // Compatible servers keep chat completions (most lack /responses) unless configured otherwise.
        Assert.Equal([("openai", false, true), ("lab", false, true), ("ollama", true, false)], doors);

        var e = Assert.Throws<InvalidOperationException>(() => Services(Config(("Providers:Compatible:x:BaseUrl", "http://127.0.0.1:1/v1"), ("Providers:Compatible:x:Api", "completions"))));
        Assert.Contains("Providers:Compatible:x:Api", e.Message);
        var openAi = Assert.Throws<InvalidOperationException>(() => Services(Config(("Providers:OpenAI:ApiKey", "sk-x"), ("Providers:OpenAI:Api", "legacy"))).GetServices<IChatProvider>().ToList());
        Assert.Contains("Providers:OpenAI:Api", openAi.Message);
    }

    [Fact]
    public async Task Models_from_the_servers_list_use_its_context_length()
    {
        await using var sim = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions
        {
            RequireAuth = false,
            Models = [new("meta-llama/Llama-3.1-8B-Instruct", "vllm", MaxModelLen: 8192), new("mistral", "vllm")],
        });
        await using var sp = Services(Config(("Providers:Compatible:vllm:BaseUrl", sim.ApiBaseUrl), ("Providers:Compatible:vllm:MaxOutputTokens", "16384")));
        var catalog = sp.GetServices<IModelCatalog>().Last(); // after OpenAI's, which is always there
        var models = await catalog.ListAsync(default);
        var llama = Assert.Single(models, m => m.Id == "meta-llama/Llama-3.1-8B-Instruct");
        Assert.Equal(8192, llama.ContextWindow);
        Assert.Equal(8192, llama.MaxOutputTokens); // never above the context
        var mistral = Assert.Single(models, m => m.Id == "mistral");
        Assert.Equal(32_768, mistral.ContextWindow);
        // An id with a slash resolves exactly, and with the provider's prefix.
        Assert.Equal("meta-llama/Llama-3.1-8B-Instruct", (await catalog.ResolveAsync("vllm/meta-llama/Llama-3.1-8B-Instruct", default)).Model.Id);
    }

    [Fact]
    public async Task A_keyless_server_gets_no_authorization_and_max_tokens_in_its_dialect()
    {
        await using var sim = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions { RequireAuth = false, AcceptAnyModel = true, Split = OpenAiSplit.OneByte });
        await using var sp = Services(Config(("Providers:Compatible:ollama:BaseUrl", sim.ApiBaseUrl), ("Providers:Compatible:ollama:Models", "llama3.2")));
        var provider = sp.GetServices<IChatProvider>().Single(p => p.Name == "ollama");
        var model = await sp.GetServices<IModelCatalog>().Last().ResolveAsync("llama3.2", default);
        var events = await Collect(provider.StreamAsync(Ask("hello ollama", maxTokens: 64), model, new ChatContext(), default));
        Assert.Equal(OpenAiDefaultResponder.Greeting + "hello ollama", Text(events));
        var recorded = Assert.Single(sim.ChatRequests);
        Assert.Null(recorded.Header("Authorization"));
        Assert.Equal(64, (int)recorded.Json!["max_tokens"]!);
        Assert.Equal("llama3.2", (string?)recorded.Json!["model"]);
    }

    [Fact]
    public async Task A_server_that_ignores_stream_true_and_answers_json_is_read_as_its_stream()
    {
        await using var sim = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions { RequireAuth = false });
        var provider = CompatibleProvider(Client(Account(sim.ApiBaseUrl, key: null, provider: "tiny", dialect: ChatCompletionsDialect.Compatible)));
        sim.Enqueue(new OpenAiScenario
        {
            IgnoreStream = true,
            Answer = new OpenAiAnswer
            {
                Text = ["Checking the ", "weather."],
                ToolCalls = [new OpenAiToolCall("get_weather", """{"city":"Jakarta"}"""), new OpenAiToolCall("get_time", """{"zone":"WIB"}""")],
                PromptTokens = 31, CompletionTokens = 17,
            },
        });
        var events = await Collect(provider.StreamAsync(Ask("weather?", tools: [Tool("get_weather"), Tool("get_time")]), Model("gpt-4o", "tiny"), new ChatContext(), default));

        Assert.True(Assert.Single(sim.ChatRequests).Json!["stream"]!.GetValue<bool>()); // asked for a stream, got JSON
        Assert.Equal("Checking the weather.", Text(events));
        Assert.Equal(["get_weather", "get_time"], events.OfType<ToolCallStart>().Select(c => c.Name).ToArray());
        Assert.Equal("""{"city":"Jakarta"}""", string.Concat(events.OfType<ToolCallDelta>().Where(d => d.Index == 0).Select(d => d.ArgumentsFragment)));
        Assert.Equal("""{"zone":"WIB"}""", string.Concat(events.OfType<ToolCallDelta>().Where(d => d.Index == 1).Select(d => d.ArgumentsFragment)));
        var end = Assert.IsType<MessageEnd>(events[^1]);
        Assert.Equal((StopReason.ToolUse, 31, 17, false), (end.StopReason, end.Usage.InputTokens, end.Usage.OutputTokens, end.Usage.Estimated));
    }

    [Fact]
    public async Task A_json_answer_that_is_not_a_completion_is_a_502_naming_the_server()
    {
        await using var sim = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions { RequireAuth = false });
        sim.Enqueue(OpenAiScenario.Http(200, """{"status":"ok","note":"streaming is not supported"}""", ("Content-Type", "application/json")));
        var provider = CompatibleProvider(Client(Account(sim.ApiBaseUrl, key: null, provider: "tiny", dialect: ChatCompletionsDialect.Compatible)));
        var e = await Assert.ThrowsAsync<GatewayException>(() => Collect(provider.StreamAsync(Ask("x"), Model("gpt-4o", "tiny"), new ChatContext(), default)));
        Assert.Equal((502, ErrorKind.UpstreamUnavailable), (e.Status, e.Kind));
        Assert.Contains("tiny", e.Message);
        Assert.Contains("no choices", e.Message);
    }

    [Fact]
    public async Task Compatible_errors_name_the_server()
    {
        await using var sim = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions { RequireAuth = false });
        sim.Enqueue(OpenAiScenario.Http(404, """{"error":"model 'llama9' not found, try pulling it first"}"""));
        var provider = CompatibleProvider(Client(Account(sim.ApiBaseUrl, key: null, provider: "ollama", dialect: ChatCompletionsDialect.Compatible)));
        var e = await Assert.ThrowsAsync<GatewayException>(() => Collect(provider.StreamAsync(Ask("x"), Model("gpt-4o", "ollama"), new ChatContext(), default)));
        Assert.Equal(404, e.Status);
        Assert.Contains("compatible server 'ollama' answered 404", e.Message);
        Assert.Contains("try pulling it first", e.Message);
    }
}
