using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Gapura.Simulators.Copilot;

namespace Gapura.Tests.Simulators;

/// <summary>
/// The Copilot simulator refuses what the real services refuse, so the provider tests prove something: the
/// API wants a live Copilot token and the editor headers; GitHub's OAuth endpoints speak JSON only when asked.
/// </summary>
public class CopilotSimulatorTests
{
    private static async Task<string> CopilotToken(HttpClient http, CopilotSimulator sim)
    {
        using var exchange = new HttpRequestMessage(HttpMethod.Get, sim.BaseUrl + "/copilot_internal/v2/token");
        exchange.Headers.Authorization = new AuthenticationHeaderValue("token", sim.IssueGitHubToken());
        using var response = await http.SendAsync(exchange);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.True((long)json["expires_at"]! > DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        Assert.True((long)json["refresh_in"]! > 0);
        Assert.Equal(sim.BaseUrl, (string?)json["endpoints"]!["api"]);
        return (string)json["token"]!;
    }

    private static HttpRequestMessage Chat(CopilotSimulator sim, string? token, params string[] skipHeaders)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, sim.BaseUrl + "/chat/completions")
        {
            Content = new StringContent("""{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"),
        };
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        foreach (var (name, value) in new[] { ("Editor-Version", "vscode/1.99.3"), ("Editor-Plugin-Version", "copilot-chat/0.26.7"), ("Copilot-Integration-Id", "vscode-chat") })
            if (!skipHeaders.Contains(name)) request.Headers.TryAddWithoutValidation(name, value);
        return request;
    }

    [Fact]
    public async Task Chat_requires_a_live_copilot_token_and_names_a_missing_editor_header()
    {
        await using var sim = await CopilotSimulator.StartAsync();
        using var http = new HttpClient();
        var token = await CopilotToken(http, sim);

        using (var ok = await http.SendAsync(Chat(sim, token)))
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        using (var noToken = await http.SendAsync(Chat(sim, null)))
            Assert.Equal(HttpStatusCode.Unauthorized, noToken.StatusCode);
        foreach (var header in CopilotSimulator.RequiredHeaders)
        {
            using var missing = await http.SendAsync(Chat(sim, token, header));
            Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
            Assert.Contains(header, await missing.Content.ReadAsStringAsync());
        }
        using (var image = Chat(sim, token))
        {
            image.Content = new StringContent("""{"model":"gpt-4.1","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}""", Encoding.UTF8, "application/json");
            using var refused = await http.SendAsync(image);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Contains("Copilot-Vision-Request", await refused.Content.ReadAsStringAsync());
        }
        sim.RevokeCopilotTokens();
        using (var revoked = await http.SendAsync(Chat(sim, token)))
            Assert.Equal(HttpStatusCode.Unauthorized, revoked.StatusCode);
    }

    [Fact]
    public async Task Scripted_answers_carry_reasoning_in_reasoning_text_and_clearing_forgets_them()
    {
        await using var sim = await CopilotSimulator.StartAsync();
        using var http = new HttpClient();
        var token = await CopilotToken(http, sim);
        sim.Enqueue(new Gapura.Simulators.OpenAi.OpenAiAnswer { Reasoning = ["why ", "so"], Text = ["scripted"] });
        using (var whole = await http.SendAsync(Chat(sim, token)))
        {
            var message = JsonNode.Parse(await whole.Content.ReadAsStringAsync())!["choices"]![0]!["message"]!;
            Assert.Equal("scripted", (string?)message["content"]);
            Assert.Equal("why so", (string?)message[CopilotSimulator.ReasoningField]);
            Assert.Null(message["reasoning_content"]);
        }

        sim.Enqueue(new Gapura.Simulators.OpenAi.OpenAiAnswer { Text = ["never sent"] });
        sim.ClearScenarios();
        sim.ClearRequests();
        using (var fresh = await http.SendAsync(Chat(sim, token)))
            Assert.DoesNotContain("never sent", await fresh.Content.ReadAsStringAsync());
        Assert.Single(sim.ChatRequests);
    }

    [Fact]
    public async Task Exchange_refuses_unknown_tokens_and_accounts_without_a_seat()
    {
        await using var sim = await CopilotSimulator.StartAsync();
        using var http = new HttpClient();
        foreach (var (token, status) in new[] { ("gho_nobody", HttpStatusCode.Unauthorized), (sim.IssueGitHubToken(copilotSeat: false), HttpStatusCode.Forbidden) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, sim.BaseUrl + "/copilot_internal/v2/token");
            request.Headers.Authorization = new AuthenticationHeaderValue("token", token);
            using var response = await http.SendAsync(request);
            Assert.Equal(status, response.StatusCode);
        }
        Assert.Equal(0, sim.Exchanges);
    }

    [Fact]
    public async Task Oauth_answers_are_form_encoded_unless_json_is_asked_for()
    {
        await using var sim = await CopilotSimulator.StartAsync();
        using var http = new HttpClient();
        using var form = await http.PostAsync(sim.BaseUrl + "/login/device/code",
            new FormUrlEncodedContent([new("client_id", CopilotSimulatorOptions.EditorClientId), new("scope", "read:user")]));
        Assert.StartsWith("application/x-www-form-urlencoded", form.Content.Headers.ContentType?.ToString());
        Assert.Contains("device_code=", await form.Content.ReadAsStringAsync());
    }
}
