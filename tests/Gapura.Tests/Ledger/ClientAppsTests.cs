using Gapura.Ledger;
using Microsoft.AspNetCore.Http;

namespace Gapura.Tests.Ledger;

/// <summary>Which program sent a request, from the headers the programs really send (shared/protocols/clients.md).</summary>
public sealed class ClientAppsTests
{
    [Theory]
    [InlineData("claude-cli/2.1.197 (external, sdk-cli)", "", "", "", "claude-code", "2.1.197")]
    [InlineData("codex_cli_rs/0.169.0 (Debian 12; x86_64) xterm", "codex_cli_rs", "", "", "codex-cli", "0.169.0")]
    [InlineData("codex_exec/0.171.0 (Debian 12; x86_64)", "codex_exec", "", "", "codex-cli", "0.171.0")]
    [InlineData("opencode/1.18.33 ai-sdk/provider-utils/3.0.9 runtime/bun/1.2.21", "", "", "", "opencode", "1.18.33")]
    [InlineData("ai-sdk/openai/2.0.53 ai-sdk/provider-utils/3.0.12 runtime/node.js/20", "", "js", "6.1.0", "vercel-ai-sdk", "2.0.53")]
    [InlineData("langchainjs-openai/0.6.3", "", "js", "5.0.0", "langchain", "0.6.3")]
    [InlineData("Anthropic/JS 1.12.0", "", "js", "1.12.0", "anthropic-sdk-js", "1.12.0")]
    [InlineData("Anthropic/Python 0.69.0", "", "python", "0.69.0", "anthropic-sdk-python", "0.69.0")]
    [InlineData("OpenAI/JS 6.49.0", "", "js", "6.49.0", "openai-sdk-js", "6.49.0")]
    [InlineData("OpenAI/Python 2.3.0", "", "python", "2.3.0", "openai-sdk-python", "2.3.0")]
    [InlineData("OpenAI/2.15.0 (.NET 10.0.0; Linux 6.1)", "", "", "", "openai-sdk-dotnet", "2.15.0")]
    [InlineData("curl/8.5.0", "", "", "", "curl", "8.5.0")]
    public void Known_clients_are_named_with_their_version(string ua, string originator, string lang, string packageVersion, string name, string version)
    {
        var headers = new HeaderDictionary { ["User-Agent"] = ua };
        if (originator.Length > 0) headers["originator"] = originator;
        if (lang.Length > 0) { headers["x-stainless-lang"] = lang; headers["x-stainless-package-version"] = packageVersion; }

        var app = ClientApps.Recognize(headers);

        Assert.Equal((name, version, (string?)null), (app.Name, app.Version, app.UserAgent));
    }

    [Fact]
    public void An_unknown_client_is_other_with_its_user_agent_kept_and_bounded()
    {
        var app = ClientApps.Recognize(new HeaderDictionary { ["User-Agent"] = "MyTool/1.0 " + new string('x', 1000) });
        Assert.Equal("other", app.Name);
        Assert.StartsWith("MyTool/1.0", app.UserAgent);
        Assert.Equal(256, app.UserAgent!.Length);
        Assert.Equal(("other", null), (ClientApps.Recognize(new HeaderDictionary()).Name, ClientApps.Recognize(new HeaderDictionary()).UserAgent));
    }

    [Theory]
    [InlineData("""{"metadata":{"user_id":"{\"device_id\":\"d1\",\"session_id\":\"s-new\"}"}}""", "s-new")]
    [InlineData("""{"metadata":{"user_id":"user_abc123_account_9f_session_0b1c-22"}}""", "0b1c-22")]
    [InlineData("""{"metadata":{"user_id":"someone"}}""", null)]
    [InlineData("""{"model":"x"}""", null)]
    public void Claude_codes_session_is_read_from_its_metadata(string body, string? session)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(body);
        Assert.Equal(session, ClientApps.SessionId(new HeaderDictionary(), doc.RootElement));
    }

    [Fact]
    public void A_session_header_wins_over_the_body()
    {
        using var doc = System.Text.Json.JsonDocument.Parse("""{"metadata":{"user_id":"user_a_session_from-body"}}""");
        Assert.Equal("codex-1", ClientApps.SessionId(new HeaderDictionary { ["session-id"] = "codex-1" }, doc.RootElement));
        Assert.Equal("cc-2", ClientApps.SessionId(new HeaderDictionary { ["x-claude-code-session-id"] = "cc-2" }, doc.RootElement));
    }
}
