using System.Net;
using System.Text.Json.Nodes;
using Gapura.Simulators.Bedrock;
using Gapura.Tests.Admin;
using Gapura.Tests.Providers.Kiro.Logins;

namespace Gapura.Tests.Providers.Bedrock;

/// <summary>
/// Users' own AWS keys for Bedrock, end to end through a real gateway and the Bedrock simulator. The simulator
/// knows the gateway's keys and two users' keys, in two regions, and records which key and region signed each
/// call — so each test sees whose account served a request, and where.
/// </summary>
public sealed class BedrockUserAccountsTests : IAsyncLifetime
{
    private const string Model = "bedrock/claude-sonnet-4-5";
    private static readonly (string Id, string Secret) Own = (BedrockSimulatorOptions.TestAccessKeyId, BedrockSimulatorOptions.TestSecretAccessKey);
    private static readonly (string Id, string Secret) Alice = ("AKIDALICEEXAMPLE0001", "alice/Secret+Access+Key+0123456789abcdef");
    private static readonly (string Id, string Secret) Dana = ("AKIDDANAEXAMPLE00002", "dana/Secret+Access+Key+0123456789abcdefg");

    private BedrockSimulator _sim = null!;
    private LoginsGateway? _gateway;

    private LoginsGateway Gateway => _gateway ?? throw new InvalidOperationException("No gateway started.");

    public async Task InitializeAsync() => _sim = await BedrockSimulator.StartAsync(new BedrockSimulatorOptions
    {
        Regions = { "eu-west-1" },
        Accounts = { [Alice.Id] = Alice.Secret, [Dana.Id] = Dana.Secret },
    });

    public async Task DisposeAsync()
    {
        if (_gateway is not null) await _gateway.DisposeAsync();
        await _sim.DisposeAsync();
    }

    /// <summary>A gateway in front of the simulator, with the gateway's own keys in us-east-1 unless <paramref name="ownKeys"/> is false.</summary>
    private async Task StartAsync(bool ownKeys = true, params string[] settings)
    {
        _gateway = await LoginsGateway.StartAsync(null,
        [
            $"--Providers:Bedrock:Endpoint={_sim.BaseUrl}",
            "--Providers:Bedrock:RetryBaseDelayMilliseconds=10",
            .. ownKeys
                ? (string[])["--Providers:Bedrock:Region=us-east-1", $"--Providers:Bedrock:AccessKeyId={Own.Id}", $"--Providers:Bedrock:SecretAccessKey={Own.Secret}"]
                : [],
            .. settings,
        ]);
    }

    private async Task<(long Id, string Key)> UserAsync(string email)
    {
        var (user, key) = await Gateway.AddUserAsync(email);
        return (user.Id, key);
    }

    /// <summary>Connects AWS keys for a user through the admin API, as an admin.</summary>
    private async Task<AdminResponse> ConnectAsync(long userId, string label, (string Id, string Secret) keys, string? region = null)
    {
        using var admin = new AdminClient(Gateway.BaseUrl, LoginsGateway.BootstrapKey);
        var body = new JsonObject { ["label"] = label, ["access_key_id"] = keys.Id, ["secret_access_key"] = keys.Secret };
        if (region is not null) body["region"] = region;
        return await admin.PostAsync($"/admin/api/users/{userId}/logins/bedrock", body);
    }

    private async Task<(HttpResponseMessage Response, string Body)> AskAsync(string key, string model = Model)
    {
        using var http = Gateway.Http(key);
        var response = await LoginsGateway.ChatAsync(http, model);
        return (response, await response.Content.ReadAsStringAsync());
    }

    private static string ErrorMessage(string body) => (string)JsonNode.Parse(body)!["error"]!["message"]!;

    private async Task<bool> OffersBedrockAsync(string key)
    {
        using var http = Gateway.Http(key);
        var list = JsonNode.Parse(await http.GetStringAsync("/v1/models"))!["data"]!.AsArray();
        return list.Any(m => (string?)m!["owned_by"] == "bedrock");
    }

    /// <summary>The key id and region the last chat call reaching the simulator was signed with.</summary>
    private (string AccessKeyId, string Region)? LastSigned => BedrockSimulator.SignedWith(_sim.ChatRequests[^1]);

    private static void AssertServedBy(HttpResponseMessage response, string body, string login)
    {
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        Assert.Equal(login, response.Headers.GetValues("x-gapura-login").Single());
        Assert.Equal("bedrock/" + login, response.Headers.GetValues("x-gapura-provider").Single());
    }

    [Fact]
    public async Task A_users_own_keys_sign_their_requests_in_their_region_and_others_use_the_gateways_keys()
    {
        await StartAsync();
        var alice = await UserAsync("alice@example.com");
        var bob = await UserAsync("bob@example.com");
        var carol = await UserAsync("carol@example.com");
        var connected = await ConnectAsync(alice.Id, "work", Alice, region: "eu-west-1");
        Assert.Equal(HttpStatusCode.Created, connected.Status);
        Assert.Equal("bedrock", (string?)connected.Json!["login"]!["provider"]);
        Assert.DoesNotContain(Alice.Secret, connected.Json.ToJsonString());

        var (response, body) = await AskAsync(alice.Key);
        AssertServedBy(response, body, "work");
        Assert.Equal((Alice.Id, "eu-west-1"), LastSigned);

        // Bob has no keys: the gateway's own serve him (sharing is on by default), in the gateway's region.
        (response, body) = await AskAsync(bob.Key);
        AssertServedBy(response, body, "process");
        Assert.Equal((Own.Id, "us-east-1"), LastSigned);

        // Keys connected without a region go to the gateway's.
        Assert.Equal(HttpStatusCode.Created, (await ConnectAsync(carol.Id, "default", Dana)).Status);
        (response, body) = await AskAsync(carol.Key);
        AssertServedBy(response, body, "default");
        Assert.Equal((Dana.Id, "us-east-1"), LastSigned);
        Assert.Equal(0, _sim.SignatureFailures);
    }

    [Fact]
    public async Task Without_sharing_a_user_without_keys_is_told_how_to_connect_them_and_is_not_offered_bedrock()
    {
        await StartAsync(ownKeys: true, "--Providers:Bedrock:ShareProcessLogin=false");
        var alice = await UserAsync("alice@example.com");
        var bob = await UserAsync("bob@example.com");
        Assert.Equal(HttpStatusCode.Created, (await ConnectAsync(alice.Id, "work", Alice)).Status);

        var (response, body) = await AskAsync(bob.Key);
        Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, body);
        Assert.Contains("does not share its own bedrock login (setting bedrock:ShareProcessLogin)", ErrorMessage(body));
        Assert.Contains("gapura login bedrock --user", ErrorMessage(body));
        Assert.Empty(_sim.ChatRequests);
        Assert.False(await OffersBedrockAsync(bob.Key));

        Assert.True(await OffersBedrockAsync(alice.Key));
        (response, body) = await AskAsync(alice.Key);
        AssertServedBy(response, body, "work");
        Assert.Equal((Alice.Id, "us-east-1"), LastSigned);

        using var admin = new AdminClient(Gateway.BaseUrl, LoginsGateway.BootstrapKey);
        var providers = (await admin.GetAsync("/admin/api/providers")).Json!["providers"]!.AsArray();
        Assert.False((bool)providers.Single(p => (string?)p!["name"] == "bedrock")!["share_process_login"]!);

        // The settings table wins over the configuration, at run time.
        await Gateway.Store.Settings.SetAsync("bedrock:ShareProcessLogin", "true");
        await Gateway.SyncAsync();
        (response, body) = await AskAsync(bob.Key);
        AssertServedBy(response, body, "process");
        Assert.Equal((Own.Id, "us-east-1"), LastSigned);
    }

    [Fact]
    public async Task Refused_keys_hand_the_request_to_the_users_next_account_or_fail_naming_the_login()
    {
        await StartAsync();
        var dana = await UserAsync("dana@example.com");
        Assert.Equal(HttpStatusCode.Created, (await ConnectAsync(dana.Id, "old", (Dana.Id, "a-secret-rotated-since"))).Status);
        Assert.Equal(HttpStatusCode.Created, (await ConnectAsync(dana.Id, "new", Dana)).Status);
        var (response, body) = await AskAsync(dana.Key);
        AssertServedBy(response, body, "new");
        Assert.Equal(1, _sim.SignatureFailures);
        Assert.Contains(Gateway.Logs.Lines, l => l.Contains("bedrock login 'old' could not serve the request"));

        // A user whose only keys are refused is told which login to fix; the gateway's keys are no spill-over.
        var erin = await UserAsync("erin@example.com");
        Assert.Equal(HttpStatusCode.Created, (await ConnectAsync(erin.Id, "stale", ("AKIDUNKNOWNEXAMPLE03", "whatever"))).Status);
        (response, body) = await AskAsync(erin.Key);
        Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, body);
        Assert.Contains("Your bedrock login 'stale' was refused", ErrorMessage(body));
        Assert.Contains("gapura login bedrock --user", ErrorMessage(body));
        Assert.Equal("AKIDUNKNOWNEXAMPLE03", LastSigned?.AccessKeyId);
        Assert.DoesNotContain("whatever", body);
    }

    [Fact]
    public async Task A_gateway_without_aws_credentials_offers_bedrock_only_to_users_who_connected_keys()
    {
        await StartAsync(ownKeys: false);
        var alice = await UserAsync("alice@example.com");
        var bob = await UserAsync("bob@example.com");
        var frank = await UserAsync("frank@example.com");

        // Nobody has an account: Bedrock is not there, and Claude names go to Kiro as on a Kiro-only install.
        Assert.False(await OffersBedrockAsync(bob.Key));
        var (response, body) = await AskAsync(bob.Key);
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, body);
        (response, body) = await AskAsync(bob.Key, "claude-sonnet-4.5");
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        Assert.StartsWith("kiro", response.Headers.GetValues("x-gapura-provider").Single());

        // The region becomes part of the endpoint's host name, so it must look like one.
        var bad = await ConnectAsync(alice.Id, "work", Alice, region: "evil.example/");
        Assert.Equal(HttpStatusCode.BadRequest, bad.Status);
        Assert.Contains("region", bad.ErrorMessage);

        Assert.Equal(HttpStatusCode.Created, (await ConnectAsync(alice.Id, "work", Alice, region: "eu-west-1")).Status);
        Assert.True(await OffersBedrockAsync(alice.Key));
        (response, body) = await AskAsync(alice.Key);
        AssertServedBy(response, body, "work");
        Assert.Equal((Alice.Id, "eu-west-1"), LastSigned);

        // Bob still has nothing to be served with, and is told so rather than offered the models.
        Assert.False(await OffersBedrockAsync(bob.Key));
        (response, body) = await AskAsync(bob.Key);
        Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, body);
        Assert.Contains("the gateway has no bedrock login of its own", ErrorMessage(body));

        // Keys without a region, on a gateway without one, cannot be used anywhere: said so, nothing sent.
        Assert.Equal(HttpStatusCode.Created, (await ConnectAsync(frank.Id, "default", Dana)).Status);
        var calls = _sim.Requests.Count;
        (response, body) = await AskAsync(frank.Key);
        Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, body);
        Assert.Contains("no region", ErrorMessage(body));
        Assert.Equal(calls, _sim.Requests.Count);
    }
}
