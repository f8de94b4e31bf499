using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Gapura.Conversations;
using Gapura.Providers.Accounts;
using Gapura.Providers.Anthropic;
using Gapura.Simulators.Anthropic;

namespace Gapura.Tests.Providers.Accounts;

/// <summary>Claude sign-in against the simulator: PKCE authorize URL, code exchange, bearer use, refresh rotation.</summary>
public class ClaudeSignInTests : IAsyncLifetime
{
    private AnthropicSimulator _sim = null!;

    public async Task InitializeAsync() => _sim = await AnthropicSimulator.StartAsync();

    public async Task DisposeAsync() => await _sim.DisposeAsync();

    private OAuthPkceClient Client()
    {
        var options = ClaudeSignIn.Defaults();
        options.AuthorizeUrl = _sim.BaseUrl + "/oauth/authorize";
        options.TokenUrl = _sim.BaseUrl + "/v1/oauth/token";
        options.ClientId = "gapura-test-client";
        return new OAuthPkceClient(new HttpClient(), options, "Claude");
    }

    private async Task<HttpStatusCode> CallWithBearerAsync(string token)
    {
        using var http = new HttpClient();
        var request = new HttpRequestMessage(HttpMethod.Post, _sim.BaseUrl + "/v1/messages")
        {
            Content = new StringContent("""{"model":"claude-haiku-4-5-20251001","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        request.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
        request.Headers.TryAddWithoutValidation("anthropic-beta", ClaudeSignIn.OAuthBeta);
        return (await http.SendAsync(request)).StatusCode;
    }

    [Fact]
    public async Task Sign_in_with_pkce_then_refresh()
    {
        var client = Client();
        var login = client.Start();
        Assert.Contains("code_challenge_method=S256", login.AuthorizeUrl);
        Assert.Contains("code_challenge=" + OAuthPkceClient.Challenge(login.CodeVerifier), login.AuthorizeUrl);
        Assert.Contains("code=true", login.AuthorizeUrl);
        Assert.DoesNotContain(login.CodeVerifier, login.AuthorizeUrl);

        var pasted = _sim.Approve(login.AuthorizeUrl);
        var (tokens, _) = await client.ExchangeAsync(login, pasted, CancellationToken.None);
        Assert.Equal(AccountSecret.OAuthKind, tokens.Kind);
        Assert.True(tokens.ExpiresAt > DateTimeOffset.UtcNow.AddHours(7));
        Assert.Equal(HttpStatusCode.OK, await CallWithBearerAsync(tokens.AccessToken!));

        var refreshed = await client.RefreshAsync(tokens, CancellationToken.None);
        Assert.NotEqual(tokens.AccessToken, refreshed.AccessToken);
        Assert.Equal(HttpStatusCode.OK, await CallWithBearerAsync(refreshed.AccessToken!));
        // Refresh tokens rotate: the old one is spent.
        var reused = await Assert.ThrowsAsync<GatewayException>(() => client.RefreshAsync(tokens, CancellationToken.None));
        Assert.Equal(ErrorKind.UpstreamLogin, reused.Kind);
        Assert.DoesNotContain(tokens.RefreshToken!, reused.Message);
    }

    [Fact]
    public async Task A_code_from_another_sign_in_or_a_wrong_verifier_is_refused()
    {
        var client = Client();
        var first = client.Start();
        var second = client.Start();
        var pasted = _sim.Approve(first.AuthorizeUrl);
        await Assert.ThrowsAsync<GatewayException>(() => client.ExchangeAsync(second, pasted, CancellationToken.None));
        // Same state but the other login's verifier: the simulator's PKCE check refuses it.
        var forged = second with { State = first.State };
        var error = await Assert.ThrowsAsync<GatewayException>(() => client.ExchangeAsync(forged, pasted, CancellationToken.None));
        Assert.Contains("PKCE", error.Message);
    }

    [Theory]
    [InlineData("abc#xyz", "abc", "xyz")]
    [InlineData("  abc  ", "abc", null)]
    [InlineData("http://localhost:1455/auth/callback?code=abc&state=xyz", "abc", "xyz")]
    public void The_code_can_be_pasted_in_every_form_a_sign_in_page_shows(string pasted, string code, string? state)
        => Assert.Equal((code, state), OAuthPkceClient.ParsePasted(pasted));

    [Fact]
    public async Task Bearer_tokens_need_the_oauth_beta_as_the_real_api_does()
    {
        var client = Client();
        var login = client.Start();
        var (tokens, _) = await client.ExchangeAsync(login, _sim.Approve(login.AuthorizeUrl), CancellationToken.None);
        using var http = new HttpClient();
        var request = new HttpRequestMessage(HttpMethod.Post, _sim.BaseUrl + "/v1/messages")
        {
            Content = new StringContent("""{"model":"claude-haiku-4-5-20251001","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", tokens.AccessToken);
        request.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(request)).StatusCode);
    }
}
