using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gapura.Tests.Providers.Kiro.Logins;

namespace Gapura.Tests.Routing;

/// <summary>Provider controls end to end: the admin endpoints, then requests in both formats through the real gateway.</summary>
public sealed class ProviderControlsEndpointTests : IAsyncLifetime
{
    private LoginsGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await LoginsGateway.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    private static async Task AssertRefusedAsync(HttpResponseMessage response, int status, string errorType, string text, bool anthropic)
    {
        Assert.Equal(status, (int)response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        if (anthropic) Assert.Equal("error", doc.RootElement.GetProperty("type").GetString());
        var error = doc.RootElement.GetProperty("error");
        Assert.Equal(errorType, error.GetProperty("type").GetString());
        Assert.Contains(text, error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task A_disabled_provider_or_model_is_a_403_in_both_formats_and_nothing_reaches_kiro()
    {
        using var admin = _gateway.Http();
        using (var disabled = await admin.PutAsJsonAsync("/admin/api/providers", new { providers = new[] { new { name = "kiro", enabled = false } } }))
        {
            Assert.Equal(HttpStatusCode.OK, disabled.StatusCode);
            Assert.Contains("\"enabled\":false", await disabled.Content.ReadAsStringAsync());
        }
        var calls = _gateway.Kiro.ChatCalls;
        await AssertRefusedAsync(await LoginsGateway.ChatAsync(admin), 403, "permission_error", "provider 'kiro' is disabled", anthropic: false);
        await AssertRefusedAsync(await LoginsGateway.MessagesAsync(admin), 403, "permission_error", "provider 'kiro' is disabled", anthropic: true);
        await admin.PutAsJsonAsync("/admin/api/providers", new { providers = new[] { new { name = "kiro", enabled = true } } });

        using (var model = await admin.PutAsJsonAsync("/admin/api/models/claude-haiku-4.5", new { enabled = false }))
        {
            Assert.Equal(HttpStatusCode.OK, model.StatusCode);
            var view = System.Text.Json.Nodes.JsonNode.Parse(await model.Content.ReadAsStringAsync())!;
            Assert.False((bool)view["enabled"]!);
            // What the model can do travels with it (Kiro's Claude models: 200k context, images, tools, thinking).
            Assert.True((int)view["context_window"]! >= 200_000, view.ToJsonString());
            Assert.True((int)view["max_output_tokens"]! > 0);
            Assert.True((bool)view["supports_images"]!);
            Assert.True((bool)view["supports_tools"]!);
        }
        // Any name that resolves to the disabled id is refused, Claude Code's dated names included.
        await AssertRefusedAsync(await LoginsGateway.ChatAsync(admin, "claude-haiku-4-5-20251001"), 403, "permission_error", "'claude-haiku-4.5' is disabled", anthropic: false);
        await AssertRefusedAsync(await LoginsGateway.MessagesAsync(admin, "claude-haiku-4.5"), 403, "permission_error", "'claude-haiku-4.5' is disabled", anthropic: true);
        Assert.Equal(calls, _gateway.Kiro.ChatCalls);
        Assert.DoesNotContain("claude-haiku-4.5", await admin.GetStringAsync("/v1/models"));
        using (var other = await LoginsGateway.ChatAsync(admin, "claude-sonnet-4.5"))
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        using (var unknown = await admin.PutAsJsonAsync("/admin/api/models/claude-nonsense-9", new { enabled = false }))
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

        var audit = await _gateway.Store.Audit.ListAsync(new Gapura.Storage.AuditQuery(Actor: LoginsGateway.AdminEmail));
        Assert.Equal(["routing.model_disable", "routing.provider_enable", "routing.provider_disable"], audit.Select(a => a.Action));
    }

    [Fact]
    public async Task Removed_provider_names_are_a_400_but_qwen3_coder_next_is_served_because_kiros_catalog_has_it()
    {
        using var http = _gateway.Http();
        await AssertRefusedAsync(await LoginsGateway.ChatAsync(http, "gemini-2.5-pro"), 400, "invalid_request_error", "names Gemini", anthropic: false);
        await AssertRefusedAsync(await LoginsGateway.MessagesAsync(http, "qwen/qwen-2.5-coder"), 400, "invalid_request_error", "names Qwen", anthropic: true);
        await AssertRefusedAsync(await LoginsGateway.ChatAsync(http, "qwen3-max"), 400, "invalid_request_error", "names Qwen", anthropic: false);

        using var served = await LoginsGateway.ChatAsync(http, "qwen3-coder-next");
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Equal("qwen3-coder-next", served.Headers.GetValues("x-gapura-model").Single());
        Assert.Contains("\"modelId\":\"qwen3-coder-next\"", _gateway.Kiro.ChatRequests.Last().Body);
    }

    [Fact]
    public async Task A_user_sets_their_own_priority_which_is_persisted_and_checked()
    {
        var (alice, aliceKey) = await _gateway.AddUserAsync("alice@example.com");
        using var http = _gateway.Http(aliceKey);

        using (var put = await http.PutAsJsonAsync($"/admin/api/users/{alice.Id}/providers", new { providers = new[] { "Kiro" } }))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
            Assert.Contains("\"providers\":[\"kiro\"]", await put.Content.ReadAsStringAsync());
        }
        Assert.Contains("\"providers\":[\"kiro\"]", await http.GetStringAsync($"/admin/api/users/{alice.Id}/providers"));
        Assert.Equal("kiro", await _gateway.Store.Settings.GetAsync($"Routing:Priority:{alice.Id}"));
        using (var bad = await http.PutAsJsonAsync($"/admin/api/users/{alice.Id}/providers", new { providers = new[] { "gemini" } }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Contains("Known: anthropic, bedrock, copilot, kiro, openai", await bad.Content.ReadAsStringAsync());
        }
        using (var providers = await http.GetAsync("/admin/api/providers"))
            Assert.Equal(HttpStatusCode.Forbidden, providers.StatusCode);
        Assert.Contains("\"share_process_login\":true", await _gateway.Http().GetStringAsync("/admin/api/providers"));
        var audit = await _gateway.Store.Audit.ListAsync(new Gapura.Storage.AuditQuery(Actor: "alice@example.com"));
        Assert.Equal("routing.priority", Assert.Single(audit).Action);
    }
}
