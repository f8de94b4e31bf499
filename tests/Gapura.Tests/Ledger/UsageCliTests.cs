using System.Text.Json.Nodes;
using Gapura.Cli;
using Gapura.Identity;
using Gapura.Secrets;
using Gapura.Storage;
using Microsoft.Data.Sqlite;

namespace Gapura.Tests.Ledger;

/// <summary><c>gapura usage</c> end to end: <see cref="GapuraCli.RunAsync"/> against a temporary SQLite file seeded through the ledger's repository.</summary>
public sealed class UsageCliTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gapura-usage-cli-").FullName;
    private readonly List<Database> _opened = [];
    private readonly DateTimeOffset _now = DateTimeOffset.UtcNow;

    private string Db => Path.Combine(_dir, "gapura.db");

    public async Task InitializeAsync()
    {
        Assert.Equal(0, (await RunAsync("users", "add", "alice@example.com")).Code);
        Assert.Equal(0, (await RunAsync("users", "add", "bob@example.com")).Code);
        var db = new SqliteDatabase(Db);
        _opened.Add(db);
        var store = new GapuraStore(db, new SecretBox(new KeyRing(SecretKey.Generate())));
        var alice = (await store.Users.FindByEmailAsync("alice@example.com"))!.Id;
        var bob = (await store.Users.FindByEmailAsync("bob@example.com"))!.Id;
        await store.Usage.AppendAsync(
        [
            UsageReportsTests.Record(_now.AddMinutes(-30), alice, "claude-sonnet-4.5", 1200, 300, 0.0081),
            UsageReportsTests.Record(_now.AddMinutes(-20), alice, "claude-sonnet-4.5", 800, 200, 0.0054, client: "codex-cli"),
            UsageReportsTests.Record(_now.AddMinutes(-10), bob, "gpt-5", 5000, 1000, 0.02, provider: "openai"),
            UsageReportsTests.Record(_now.AddDays(-3), bob, "local-llama", 7777, 111, null, provider: "compatible"),
        ]);
    }

    public async Task DisposeAsync()
    {
        foreach (var d in _opened) await d.DisposeAsync();
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await GapuraCli.RunAsync([.. args, $"--Storage:Path={Db}"], output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task The_default_report_is_a_table_per_model_over_the_last_7_days()
    {
        var (code, output, error) = await RunAsync("usage");

        Assert.True(code == 0, error);
        Assert.Contains("Model", output);
        Assert.Contains("Requests", output);
        Assert.Contains("Cost (USD)", output);
        var sonnet = Assert.Single(output.Split('\n'), l => l.Contains("claude-sonnet-4.5"));
        Assert.Contains("2,000", sonnet); // input tokens, grouped in thousands
        Assert.Contains("0.01", sonnet);  // $0.0135
        Assert.Contains(output.Split('\n'), l => l.Contains("local-llama") && l.Contains("7,777") && l.Contains(" - "));
        var total = Assert.Single(output.Split('\n'), l => l.Contains("Total"));
        Assert.Contains("14,777", total);
        Assert.Contains("no price", output); // the footnote for the unpriced request
    }

    [Fact]
    public async Task By_user_and_model_with_a_user_filter_and_since()
    {
        var (code, output, error) = await RunAsync("usage", "--by", "user", "--by", "model", "--user", "Bob@Example.com", "--since", "2d");
        Assert.True(code == 0, error);
        Assert.Contains("User", output);
        Assert.Contains("bob@example.com", output);
        Assert.DoesNotContain("alice@example.com", output);
        Assert.Contains("gpt-5", output);
        Assert.DoesNotContain("local-llama", output); // three days old

        (code, output, _) = await RunAsync("usage", "--by", "client,model", "--since", "12h");
        Assert.Equal(0, code);
        Assert.Contains("codex-cli", output);
        Assert.Contains("Client", output);
    }

    [Fact]
    public async Task Json_prints_the_report_rows()
    {
        var (code, output, error) = await RunAsync("usage", "--by", "day,model", "--json", "--from", _now.AddDays(-5).ToString("yyyy-MM-dd"), "--to", _now.ToString("yyyy-MM-dd"));

        Assert.True(code == 0, error);
        var json = JsonNode.Parse(output)!;
        Assert.Equal(["day", "model"], json["group_by"]!.AsArray().Select(g => g!.GetValue<string>()));
        Assert.Equal("daily", json["source"]!.GetValue<string>());
        var rows = json["data"]!.AsArray();
        Assert.Equal(4, rows.Sum(r => r!["requests"]!.GetValue<long>()));
        Assert.Null(rows.Single(r => r!["model"]!.GetValue<string>() == "local-llama")!["cost_usd"]);
        Assert.Equal(4, json["totals"]!["requests"]!.GetValue<long>());
        Assert.Equal(0.0335, json["totals"]!["cost_usd"]!.GetValue<double>(), 9);
    }

    [Theory]
    [InlineData(CliExit.Usage, "usage", "--by", "weekday")]
    [InlineData(CliExit.Usage, "usage", "--since", "7x")]
    [InlineData(CliExit.Usage, "usage", "--since", "7d", "--from", "2026-01-01")]
    [InlineData(CliExit.Usage, "usage", "--from", "2026-02-01", "--to", "2026-01-01")]
    [InlineData(CliExit.Usage, "usage", "--from", "not-a-date")]
    [InlineData(CliExit.Usage, "usage", "--since", "5000d")]
    [InlineData(CliExit.Usage, "usage", "--bogus")]
    [InlineData(CliExit.Refused, "usage", "--user", "nobody@example.com")]
    public async Task A_bad_command_line_is_refused_with_its_exit_code(int exit, params string[] args)
    {
        var (code, output, error) = await RunAsync(args);
        Assert.Equal(exit, code);
        Assert.Equal("", output);
        Assert.StartsWith("error: ", error.Split('\n').Last(l => l.Length > 0));
    }
}
