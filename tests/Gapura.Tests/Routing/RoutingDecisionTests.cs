using Gapura.Conversations;
using Gapura.Identity;
using Gapura.Storage;
using Gapura.Routing;
using Gapura.Routing.Profiles;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gapura.Tests.Routing;

/// <summary>The pieces of a routing decision that need no gateway: model families, profile parameters, canary cohorts, configuration.</summary>
public sealed class RoutingDecisionTests
{
    [Theory]
    [InlineData("claude-sonnet-4.5", "sonnet", 4, 5)]
    [InlineData("claude-sonnet-4-5-20250929", "sonnet", 4, 5)]
    [InlineData("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "sonnet", 4, 5)]
    [InlineData("kiro/claude-haiku-4.5", "haiku", 4, 5)]
    [InlineData("claude-3-7-sonnet-latest", "sonnet", 3, 7)]
    [InlineData("claude-3.7-sonnet", "sonnet", 3, 7)]
    [InlineData("claude-sonnet-3-7", "sonnet", 3, 7)]
    [InlineData("claude-sonnet-4-0", "sonnet", 4, 0)]
    [InlineData("claude-sonnet-4", "sonnet", 4, 0)]
    [InlineData("claude-sonnet-4-20250514", "sonnet", 4, 0)]
    [InlineData("claude-opus-4-6[1m]", "opus", 4, 6)]
    [InlineData("claude-opus-5-5", "opus", 5, 5)]
    public void Every_spelling_of_a_claude_model_reads_as_its_family_and_version(string id, string family, int major, int minor)
        => Assert.Equal(new ModelVersion(family, major, minor), ModelFamilies.Parse(id));

    [Theory]
    [InlineData("gpt-5")]
    [InlineData("auto")]
    [InlineData("qwen3-coder-next")]
    public void Other_models_have_no_family(string id) => Assert.Null(ModelFamilies.Parse(id));

    [Fact]
    public void The_newest_of_a_family_wins_and_the_same_version_is_found_in_another_spelling()
    {
        ModelInfo M(string id) => new(id, id, 200_000, 64_000, "kiro");
        var models = new[] { M("claude-sonnet-4"), M("claude-sonnet-4.5"), M("claude-3.7-sonnet"), M("claude-haiku-4.5"), M("claude-opus-4.6") };
        Assert.Equal("claude-sonnet-4.5", ModelFamilies.Newest("sonnet", models)!.Id);
        Assert.Equal("claude-haiku-4.5", ModelFamilies.Newest("haiku", models)!.Id);
        Assert.Null(ModelFamilies.Newest("sonnet", [M("gpt-5")]));
        Assert.Equal("claude-3.7-sonnet", ModelFamilies.SameVersion("claude-sonnet-3-7", models)!.Id);
        Assert.Equal("claude-sonnet-4", ModelFamilies.SameVersion("claude-sonnet-4-0", models)!.Id);
        Assert.Null(ModelFamilies.SameVersion("claude-sonnet-4-7", models));
        Assert.Equal("sonnet", ModelFamilies.BareFamily("claude-sonnet"));
        Assert.Null(ModelFamilies.BareFamily("claude-sonnet-4"));
    }

    private static ChatRequest Request(int? maxTokens = null, double? temperature = null, ThinkingRequest? thinking = null) => new()
    {
        Model = "auto",
        Messages = [Message.Text(Role.User, "hi")],
        MaxTokens = maxTokens,
        Temperature = temperature,
        Thinking = thinking,
    };

    private static readonly RoutingProfile Capped = new("fast", null, "claude-haiku", 4096, 0.2, []);

    [Fact]
    public void A_profile_fills_in_and_caps_max_tokens_and_sets_temperature_only_when_the_client_did_not()
    {
        Assert.Equal((4096, 0.2), Pair(TaskRouter.Apply(Capped, Request())));
        Assert.Equal((1000, 0.2), Pair(TaskRouter.Apply(Capped, Request(maxTokens: 1000))));
        Assert.Equal((4096, 0.7), Pair(TaskRouter.Apply(Capped, Request(maxTokens: 32000, temperature: 0.7))));
        // Nothing to change: the very same request (no copy on the hot path).
        var untouched = Request(maxTokens: 100, temperature: 0.5);
        Assert.Same(untouched, TaskRouter.Apply(Capped, untouched));
        Assert.Same(untouched, TaskRouter.Apply(new RoutingProfile("p", null, "m", null, null, []), untouched));
    }

    [Fact]
    public void A_profile_never_caps_below_a_thinking_budget_nor_sets_a_temperature_with_thinking()
    {
        var thinking = TaskRouter.Apply(Capped, Request(maxTokens: 32000, thinking: new ThinkingRequest(ThinkingMode.Enabled, 31999)));
        Assert.Equal((32000, null), (thinking.MaxTokens, thinking.Temperature));
        var small = TaskRouter.Apply(Capped, Request(maxTokens: 8000, thinking: new ThinkingRequest(ThinkingMode.Enabled, 2000)));
        Assert.Equal((4096, null), (small.MaxTokens, small.Temperature));
    }

    private static (int?, double?) Pair(ChatRequest r) => (r.MaxTokens, r.Temperature);

    [Fact]
    public void A_canary_cohort_is_sticky_per_session_and_takes_its_share()
    {
        var canary = new CanaryDefinition("primary", "claude-opus-4.6", null, 30, DateTimeOffset.Parse("2026-12-06T00:00:00Z"), "admin");
        var caller = new Caller(7, "dev@x.test", UserRole.User, 3);
        var inCohort = Enumerable.Range(0, 2000).Count(i => TaskRouter.InCandidateCohort(canary, caller, $"session-{i}"));
        Assert.InRange(inCohort, 520, 680); // 30 % of 2000, within about 4 standard deviations
        for (var i = 0; i < 50; i++)
            Assert.Equal(TaskRouter.InCandidateCohort(canary, caller, $"s{i}"), TaskRouter.InCandidateCohort(canary, caller, $"s{i}"));
        Assert.False(TaskRouter.InCandidateCohort(canary with { Percent = 0 }, caller, "s"));
        Assert.True(TaskRouter.InCandidateCohort(canary with { Percent = 100 }, caller, "s"));
        // A new canary draws a new cohort.
        var later = canary with { StartedAt = canary.StartedAt.AddHours(1) };
        Assert.NotEqual(
            Enumerable.Range(0, 200).Select(i => TaskRouter.InCandidateCohort(canary, caller, $"s{i}")),
            Enumerable.Range(0, 200).Select(i => TaskRouter.InCandidateCohort(later, caller, $"s{i}")));
    }

    private static RoutingConfigSource.FileLayer Layer(params (string Key, string Value)[] settings)
        => RoutingConfigSource.FileLayer.Read(new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build().GetSection("Routing"));

    [Fact]
    public void The_configuration_file_layer_is_validated_with_the_setting_named()
    {
        var layer = Layer(("Routing:Profiles:cheap:model", "claude-haiku-4.5"), ("Routing:Profiles:cheap:maxTokens", "2048"),
            ("Routing:Profiles:cheap:fallbacks:0", "claude-sonnet-4"), ("Routing:Tasks:codeExplanation", "cheap"), ("Routing:Mode", "override"));
        var config = RoutingConfigSource.Build(layer, [], NullLogger.Instance);
        Assert.Equal("cheap", config.Tasks["codeExplanation"]);
        Assert.Equal(("config", "builtin"), (config.ProfileSources["cheap"], config.TaskSources["background"]));
        Assert.Equal(new[] { "claude-sonnet-4" }, config.Profiles["cheap"].Fallbacks);
        Assert.Equal(2048, config.Profiles["cheap"].MaxTokens);
        Assert.Equal("override", config.Mode);

        Assert.Equal("Routing:Tasks:gossip", Assert.Throws<RoutingConfigException>(() => Layer(("Routing:Tasks:gossip", "fast"))).Field);
        Assert.Equal("Routing:Tasks:codeReview", Assert.Throws<RoutingConfigException>(() => Layer(("Routing:Tasks:codeReview", "nowhere"))).Field);
        Assert.Equal("Routing:Profiles:x:modle", Assert.Throws<RoutingConfigException>(() => Layer(("Routing:Profiles:x:modle", "m"))).Field);
        Assert.Equal("Routing:Profiles:x:temperature", Assert.Throws<RoutingConfigException>(() => Layer(("Routing:Profiles:x:model", "m"), ("Routing:Profiles:x:temperature", "hot"))).Field);
        Assert.Equal("Routing:Mode", Assert.Throws<RoutingConfigException>(() => Layer(("Routing:Mode", "sometimes"))).Field);
    }

    [Fact]
    public void Database_settings_win_over_the_file_and_a_task_pointing_at_a_deleted_profile_falls_back_to_the_seed_table()
    {
        var layer = Layer(("Routing:Mode", "override"));
        var now = DateTimeOffset.UtcNow;
        var config = RoutingConfigSource.Build(layer,
        [
            new Gapura.Storage.Setting(RoutingKeys.Mode, "off", false, now),
            new Gapura.Storage.Setting(RoutingKeys.UserMode(5), "override", false, now),
            new Gapura.Storage.Setting(RoutingKeys.KeyMode(9), "virtual", false, now),
            new Gapura.Storage.Setting(RoutingKeys.Profile("fast"), """{"model":"claude-sonnet-4"}""", false, now),
            new Gapura.Storage.Setting(RoutingKeys.Task("hookActions"), "gone", false, now),
            new Gapura.Storage.Setting(RoutingKeys.Canary("primary"), new CanaryDefinition("primary", "claude-opus-4.6", null, 10, now, "a").ToJson(), false, now),
        ], NullLogger.Instance);
        Assert.Equal("off", config.Mode);
        Assert.Equal("override", config.ModeFor(new Caller(5, "u@x.test", UserRole.User, 1)));
        Assert.Equal("virtual", config.ModeFor(new Caller(5, "u@x.test", UserRole.User, 9)));
        Assert.Equal("off", config.ModeFor(new Caller(6, "v@x.test", UserRole.User, 2)));
        Assert.Equal(("claude-sonnet-4", "admin"), (config.Profiles["fast"].Model, config.ProfileSources["fast"]));
        Assert.Equal("fast", config.Tasks["hookActions"]);
        Assert.Equal(10, config.CanaryOf("primary")!.Percent);
    }
}
