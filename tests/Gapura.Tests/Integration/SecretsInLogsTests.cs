using System.Net;
using System.Text.Json;
using Gapura.Simulators.Kiro;

namespace Gapura.Tests.Integration;

/// <summary>Nothing secret ever reaches a log line: not the client key, not Kiro's access or refresh tokens.</summary>
public class SecretsInLogsTests : IClassFixture<SecretsInLogsTests.VerboseGateway>
{
    public sealed class VerboseGateway : IAsyncLifetime
    {
        public GatewayFixture Gateway { get; } = new() { Settings = { "--Logging:LogLevel:Default=Trace" } };
        public Task InitializeAsync() => Gateway.InitializeAsync();
        public Task DisposeAsync() => Gateway.DisposeAsync();
    }

    private readonly GatewayFixture _gateway;

    public SecretsInLogsTests(VerboseGateway fixture) => _gateway = fixture.Gateway;

    [Fact]
    public async Task Keys_and_tokens_never_appear_in_logs_even_through_a_refresh()
    {
        var original = JsonDocument.Parse(await File.ReadAllTextAsync(_gateway.CredentialsFile)).RootElement;
        var secrets = new List<string> { GatewayFixture.ApiKey, original.GetProperty("accessToken").GetString()!, original.GetProperty("refreshToken").GetString()! };

        using var http = _gateway.Http();
        // A rejected bearer forces a token refresh; the refreshed tokens are new secrets.
        _gateway.Kiro.Enqueue(KiroScenario.BearerInvalid());
        var ok = await http.PostAsync("/v1/messages", new StringContent(
            """{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hello"}]}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(1, _gateway.Kiro.RefreshCalls);

        using var wrong = _gateway.Http("sk-gp-this-is-a-wrong-key-0123456789");
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("/v1/models")).StatusCode);
        secrets.Add("sk-gp-this-is-a-wrong-key-0123456789");

        var refreshed = JsonDocument.Parse(await File.ReadAllTextAsync(_gateway.CredentialsFile)).RootElement;
        secrets.Add(refreshed.GetProperty("accessToken").GetString()!);
        secrets.Add(refreshed.GetProperty("refreshToken").GetString()!);
        Assert.NotEqual(secrets[1], refreshed.GetProperty("accessToken").GetString()); // the refresh really happened

        var logs = string.Join('\n', _gateway.Logs.Lines);
        Assert.NotEmpty(_gateway.Logs.Lines);
        foreach (var secret in secrets.Distinct()) Assert.DoesNotContain(secret, logs);
    }
}
