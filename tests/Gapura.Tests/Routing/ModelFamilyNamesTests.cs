using System.Net;
using System.Text;
using Gapura.Simulators.Kiro;
using Gapura.Tests.Integration;

namespace Gapura.Tests.Routing;

/// <summary>
/// Model names that survive client upgrades: a Claude name no upstream offers (a newer version, an older one, a dated
/// id) is served by the newest model of its family, else by its tier's profile; anything else is still a 400.
/// </summary>
public sealed class ModelFamilyNamesTests
{
    private static async Task<HttpResponseMessage> AskAsync(GatewayFixture gateway, string model)
    {
        using var http = gateway.Http();
        var response = await http.PostAsync("/v1/messages", new StringContent(
            $$"""{"model":"{{model}}","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"));
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    private static string ServedModel(HttpResponseMessage r) => r.Headers.GetValues("x-gapura-model").Single();

    [Fact]
    public async Task A_claude_name_no_upstream_offers_is_served_by_the_newest_of_its_family()
    {
        var gateway = new GatewayFixture();
        await gateway.InitializeAsync();
        try
        {
        foreach (var (asked, served) in new[]
                 {
                     ("claude-opus-4-8", "claude-opus-4.6"),        // Claude Code 2.1.197's default
                     ("claude-opus-5-5", "claude-opus-4.6"),        // 2.1.330's: newer than anything offered
                     ("claude-sonnet-4-7-20270101", "claude-sonnet-4.5"),
                     ("claude-3-5-haiku-20241022", "claude-haiku-4.5"),
                     ("kiro/claude-haiku-9", "claude-haiku-4.5"),
                 })
        {
            using var response = await AskAsync(gateway, asked);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{asked}: {await response.Content.ReadAsStringAsync()}");
            Assert.Equal(served, ServedModel(response));
            // The answer names the model the client asked for; the ledger both.
            Assert.Contains($"\"model\":\"{asked}\"", await response.Content.ReadAsStringAsync());
            var record = await gateway.UsageRecordOfAsync(response);
            Assert.Equal((asked, served), (record.RequestedModel, record.UpstreamModel));
        }
        // Logged once per name, however often it is asked for.
        using (await AskAsync(gateway, "claude-opus-4-8")) { }
        Assert.Single(gateway.Logs.Lines, l => l.Contains("claude-opus-4-8 is not offered"));

        using var unknown = await AskAsync(gateway, "gpt-9-ultra");
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        }
        finally { await gateway.DisposeAsync(); }
    }

    [Fact]
    public async Task A_name_nothing_serves_is_refused_with_names_a_client_would_type_and_each_of_them_works()
    {
        var gateway = new GatewayFixture();
        await gateway.InitializeAsync();
        try
        {
            using var unknown = await AskAsync(gateway, "gpt-9-ultra");
            Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
            var message = System.Text.Json.JsonDocument.Parse(await unknown.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("message").GetString()!;
            var listed = System.Text.RegularExpressions.Regex.Match(message, @"Models you can use: (?<names>.*?)\. Any claude-opus-\*");
            Assert.True(listed.Success, message);
            var names = listed.Groups["names"].Value.Split(", ");
            // Kiro's dotted ids are listed as Claude Code and the Anthropic SDK spell them; routing's auto is there too.
            Assert.Contains("claude-sonnet-4-5", names);
            Assert.Contains("auto", names);
            Assert.DoesNotContain(names, n => n.StartsWith("claude-", StringComparison.Ordinal) && n.Contains('.'));
            foreach (var name in names)
            {
                using var answer = await AskAsync(gateway, name);
                Assert.True(answer.StatusCode == HttpStatusCode.OK, $"{name} (listed) answered {(int)answer.StatusCode}: {await answer.Content.ReadAsStringAsync()}");
                if (name.StartsWith("claude-", StringComparison.Ordinal))
                    Assert.Equal(Gapura.Routing.ModelFamilies.Parse(name), Gapura.Routing.ModelFamilies.Parse(ServedModel(answer))); // that very model, not a newer one
            }
        }
        finally { await gateway.DisposeAsync(); }
    }

    [Fact]
    public async Task With_no_model_of_the_family_the_tiers_profile_serves_it()
    {
        var gateway = new GatewayFixture
        {
            SimulatorOptions = new KiroSimulatorOptions { Models = [.. KiroModelCatalog.Default.Where(m => !m.ModelId.Contains("opus") && !m.ModelId.Contains("haiku"))] },
        };
        await gateway.InitializeAsync();
        try
        {
        using var opus = await AskAsync(gateway, "claude-opus-5-5");
        Assert.Equal(HttpStatusCode.OK, opus.StatusCode);
        Assert.Equal("claude-sonnet-4.5", ServedModel(opus)); // primary: the newest Sonnet
        using var haiku = await AskAsync(gateway, "claude-haiku-4-5");
        // fast is the newest Haiku, and there is none: the tier cannot serve it either, and the answer says what was asked.
        Assert.Equal(HttpStatusCode.BadRequest, haiku.StatusCode);
        Assert.Contains("claude-haiku-4-5", await haiku.Content.ReadAsStringAsync());
        }
        finally { await gateway.DisposeAsync(); }
    }

    [Fact]
    public async Task The_real_claude_code_with_no_model_setting_at_all_gets_an_answer()
    {
        var gateway = new GatewayFixture();
        await gateway.InitializeAsync();
        var home = Directory.CreateTempSubdirectory("gapura-claude-home-").FullName;
        var work = Directory.CreateTempSubdirectory("gapura-claude-work-").FullName;
        try
        {
            var run = await ClaudeCodeCli.RunAsync(gateway.BaseUrl, GatewayFixture.ApiKey, home, work, "Say hello");
            Assert.True(run.ExitCode == 0, $"claude exited {run.ExitCode}\nstdout: {run.Stdout}\nstderr: {run.Stderr}");
            Assert.Contains("Hello from the Kiro simulator", run.Stdout);
            var turn = gateway.UsageRecords.Values.Single(r => r.Client == Gapura.Ledger.ClientApps.ClaudeCode && r.Status == "ok");
            // Whatever Claude Code's default is today, it is served by the newest model of the same family.
            var asked = Gapura.Routing.ModelFamilies.Parse(turn.RequestedModel);
            Assert.NotNull(asked);
            Assert.Equal(asked!.Value.Family, Gapura.Routing.ModelFamilies.Parse(turn.UpstreamModel!)!.Value.Family);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
            Directory.Delete(work, recursive: true);
            await gateway.DisposeAsync();
        }
    }
}
