using System.Text.Json.Nodes;
using Gapura.Budgets;
using Gapura.Cli;
using Gapura.Storage;
using Gapura.Tests.Routing;
using Gapura.Tests.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Budgets.Management;

/// <summary>
/// <c>gapura budgets show|set|clear|reset</c> in-process against a real database — a temporary SQLite file, or a schema of
/// the private PostgreSQL cluster — with use put on the meters through the same services serve builds.
/// </summary>
public abstract class BudgetsCliTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gapura-budgets-cli-").FullName;
    private string[] _settings = [];

    private protected abstract Task<string[]> StorageSettingsAsync(string dir);

    public async Task InitializeAsync()
    {
        var key = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        _settings = [.. await StorageSettingsAsync(_dir), $"--Secrets:Key={key}"];
    }

    public Task DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
        return Task.CompletedTask;
    }

    private async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await GapuraCli.RunAsync([.. args, .. _settings], output, error);
        return (code, output.ToString(), error.ToString());
    }

    private async Task<(int Code, string Out, string Err)> OkAsync(params string[] args)
    {
        var result = await RunAsync(args);
        Assert.True(result.Code == 0, $"{string.Join(' ', args)} → {result.Code}: {result.Err}");
        return result;
    }

    /// <summary>The services serve would build on this database: the counters, the store.</summary>
    private async Task<T> WithServicesAsync<T>(Func<CliSession, Task<T>> work)
    {
        await using var session = await CliSession.OpenAsync(LoginCommand.BuildConfiguration(_settings), TextWriter.Null, TextWriter.Null, default, upstreams: true);
        return await work(session);
    }

    private async Task<long> AddUserAsync(string email)
    {
        await OkAsync("users", "add", email);
        return await WithServicesAsync(async s => (await s.Store.Users.FindByEmailAsync(email))!.Id);
    }

    private async Task<JsonNode> ShowJsonAsync(params string[] scope)
        => JsonNode.Parse((await OkAsync(["budgets", "show", .. scope, "--json"])).Out)!;

    [Fact]
    public async Task Set_show_and_reset_a_users_budget()
    {
        var alice = await AddUserAsync("alice@example.com");
        var set = await OkAsync("budgets", "set", "--user", "alice@example.com", "--daily-input", "500k", "--daily-output", "200k", "--monthly-input", "10M",
            "--threshold", "0.8", "--action", "restrict");
        Assert.Contains("Budget of alice@example.com: daily 500k input / 200k output tokens, restrict at 80%; monthly 10M input tokens, restrict at 80%.", set.Err);

        await WithServicesAsync(async s =>
        {
            await BudgetMeters.ChargeAsync(s.Services, BudgetScope.User(alice), input: 182_341, output: 48_902);
            return 0;
        });
        var shown = await OkAsync("budgets", "show");
        var midnight = BudgetMeters.TomorrowMidnight;
        Assert.Matches($@"user alice@example.com\s+admin\s+daily\s+input\s+182,341\s+0\s+500,000\s+36%\s+{midnight}\s+ok\s+restrict at 80%", shown.Out);
        Assert.Matches(@"user alice@example.com\s+admin\s+daily\s+output\s+48,902\s+0\s+200,000\s+24%", shown.Out);
        Assert.Matches(@"user alice@example.com\s+admin\s+monthly\s+input\s+182,341\s+0\s+10,000,000\s+1%\s+\d{4}-\d\d-01 00:00\s+ok", shown.Out);
        Assert.Contains("RESETS (UTC)", shown.Out);

        // Past the threshold of a restrict budget: restricted.
        await WithServicesAsync(async s =>
        {
            await BudgetMeters.ChargeAsync(s.Services, BudgetScope.User(alice), input: 250_000);
            return 0;
        });
        var one = await OkAsync("budgets", "show", "--user", "alice@example.com");
        Assert.Contains("alice@example.com: budget (admin): daily 500k input / 200k output tokens, restrict at 80%", one.Out);
        Assert.Matches(@"daily\s+input\s+432,341\s+0\s+500,000\s+86%\s+\S+ 00:00\s+restricted", one.Out);

        var reset = await OkAsync("budgets", "reset", "--user", "alice@example.com");
        Assert.Contains("Reset alice@example.com", reset.Err);
        var after = await ShowJsonAsync("--user", "alice@example.com");
        Assert.All(after["status"]!.AsArray(), l =>
        {
            Assert.Equal(0, l!["used"]!.GetValue<double>());
            Assert.Equal("ok", l["state"]!.GetValue<string>());
        });

        var audit = await WithServicesAsync(s => s.Store.Audit.ListAsync(new AuditQuery(Limit: 100)));
        Assert.Contains(audit, e => e.Action == "budget.set" && e.Target == $"user:{alice}" && e.Actor.StartsWith("cli:", StringComparison.Ordinal)
                                    && e.Detail!.Contains("\"input_tokens\":500000", StringComparison.Ordinal));
        Assert.Contains(audit, e => e.Action == "budget.reset" && e.Target == $"user:{alice}");
    }

    [Fact]
    public async Task Set_merges_into_the_budget_there()
    {
        await OkAsync("budgets", "set", "--gateway", "--monthly-input", "10M", "--action", "pause", "--resume-at-period-end");
        await OkAsync("budgets", "set", "--gateway", "--daily-input", "1.5M");
        var both = (await ShowJsonAsync("--gateway"))["budget"]!;
        Assert.Equal(1_500_000, both["daily"]!["input_tokens"]!.GetValue<long>());
        Assert.Equal("notify", both["daily"]!["action"]!.GetValue<string>());
        Assert.Equal(10_000_000, both["monthly"]!["input_tokens"]!.GetValue<long>());
        Assert.Equal("pause", both["monthly"]!["action"]!.GetValue<string>());
        Assert.True(both["monthly"]!["resume_at_period_end"]!.GetValue<bool>());

        // A limit added to a window keeps the window's others; --threshold alone applies to every window.
        await OkAsync("budgets", "set", "--gateway", "--daily-output", "200000", "--daily-cost", "20");
        await OkAsync("budgets", "set", "--gateway", "--threshold", "50%");
        var merged = (await ShowJsonAsync("--gateway"))["budget"]!;
        Assert.Equal(1_500_000, merged["daily"]!["input_tokens"]!.GetValue<long>());
        Assert.Equal(200_000, merged["daily"]!["output_tokens"]!.GetValue<long>());
        Assert.Equal(20, merged["daily"]!["cost_usd"]!.GetValue<double>());
        Assert.Equal(0.5, merged["daily"]!["alert_threshold"]!.GetValue<double>());
        Assert.Equal(0.5, merged["monthly"]!["alert_threshold"]!.GetValue<double>());
        Assert.Equal("pause", merged["monthly"]!["action"]!.GetValue<string>());

        await OkAsync("budgets", "set", "--gateway", "--daily-input", "none");
        Assert.Null((await ShowJsonAsync("--gateway"))["budget"]!["daily"]!["input_tokens"]);
    }

    [Fact]
    public async Task Clear_removes_a_window_or_the_whole_budget()
    {
        await OkAsync("budgets", "set", "--gateway", "--daily-output", "200k", "--monthly-input", "10M");
        var cleared = await OkAsync("budgets", "clear", "--gateway", "--daily");
        Assert.Contains("Removed the daily budget window of the gateway.", cleared.Err);
        var rest = (await ShowJsonAsync("--gateway"))["budget"]!.AsObject();
        Assert.Equal(["monthly"], rest.Select(p => p.Key));

        await OkAsync("budgets", "clear", "--gateway");
        Assert.Null((await ShowJsonAsync("--gateway"))["budget"]);
        var again = await RunAsync("budgets", "clear", "--gateway");
        Assert.Equal(1, again.Code);
        Assert.Contains("the gateway has no budget set by an admin", again.Err);
        Assert.Contains("No budgets or rate limits are defined.", (await OkAsync("budgets", "show")).Out);
    }

    [Theory]
    [InlineData("--daily-input", "-5")]
    [InlineData("--daily-input", "abc")]
    [InlineData("--monthly-output", "1.2345k")]
    [InlineData("--daily-cost", "-1")]
    [InlineData("--monthly-cost", "lots")]
    [InlineData("--threshold", "1.5")]
    [InlineData("--threshold", "-0.1")]
    [InlineData("--threshold", "high")]
    [InlineData("--action", "stop")]
    [InlineData("--requests-per-minute", "0")]
    [InlineData("--concurrent", "2.5")]
    [InlineData("--tokens-per-minute", "-200k")]
    public async Task Bad_input_exits_with_2_and_one_line_naming_the_flag(string flag, string value)
    {
        await AddUserAsync("alice@example.com");
        // The flag's value as its own token, and attached with '=': a leading '-' must not be taken for an option.
        foreach (var args in new[] { new[] { flag, value }, [$"{flag}={value}"] })
        {
            var extra = flag is "--threshold" or "--action" ? new[] { "--daily-input", "500k" } : [];
            var result = await RunAsync(["budgets", "set", "--user", "alice@example.com", .. extra, .. args]);
            Assert.Equal(2, result.Code);
            var line = Assert.Single(result.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"error: {flag}: ", line);
        }
        Assert.Contains("No budgets or rate limits are defined.", (await OkAsync("budgets", "show")).Out);
    }

    [Fact]
    public async Task An_unknown_user_or_key_exits_with_1_and_a_wrong_scope_with_2_naming_the_flag()
    {
        // As every verb: an unknown user or key is a refusal (1), a wrong command line a usage error (2).
        var user = await RunAsync("budgets", "set", "--user", "nobody@example.com", "--daily-input", "500k");
        Assert.Equal(1, user.Code);
        Assert.Equal("error: --user: there is no user with the email 'nobody@example.com' (see `gapura users list`).", user.Err.Trim());

        var key = await RunAsync("budgets", "show", "--key", "sk-gp-Nope12");
        Assert.Equal(1, key.Code);
        Assert.StartsWith("error: --key: there is no API key", key.Err);

        Assert.Equal(1, (await RunAsync("budgets", "reset", "--user", "nobody@example.com")).Code);
        var two = await RunAsync("budgets", "set", "--gateway", "--default-user", "--daily-input", "5");
        Assert.Equal(2, two.Code);
        Assert.StartsWith("error: --default-user: give one of", two.Err);
        Assert.StartsWith("error: --requests-per-minute: the gateway has no rate limits", (await RunAsync("budgets", "set", "--gateway", "--requests-per-minute", "60")).Err);
        Assert.StartsWith("error: --default-user: the default budget is counted per user", (await RunAsync("budgets", "reset", "--default-user")).Err);
        Assert.StartsWith("error: --threshold: the gateway has no budget yet", (await RunAsync("budgets", "set", "--gateway", "--threshold", "0.5")).Err);
        Assert.Equal(2, (await RunAsync("budgets", "set", "--gateway")).Code);
    }

    [Fact]
    public async Task The_seeds_budget_block_imports_as_it_is()
    {
        var file = Path.Combine(_dir, "settings.json");
        await File.WriteAllTextAsync(file, RoutingGatewayTests.SeedSettings);
        var imported = await OkAsync("budgets", "set", "--default-user", "--import", file);
        Assert.Contains("note: 'models' is not a budget and was not imported.", imported.Err);
        Assert.Contains("Budget of the default for all users: daily 500k input / 200k output tokens, notify at 80%.", imported.Err);
        var budget = (await ShowJsonAsync("--default-user"))["budget"]!;
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"daily":{"input_tokens":500000,"output_tokens":200000,"alert_threshold":0.8,"action":"notify"}}"""), budget),
            budget.ToJsonString());

        // The block alone, for one user: their own replaces the default, which a note says.
        await AddUserAsync("bob@example.com");
        await File.WriteAllTextAsync(file, """{"budget": {"monthly": {"costUsd": 25.5, "action": "pause", "resumeAtPeriodEnd": true}}}""");
        var own = await OkAsync("budgets", "set", "--user", "bob@example.com", "--import", file);
        Assert.Contains("note: this budget replaces the default for all users", own.Err);
        Assert.Equal(25.5, (await ShowJsonAsync("--user", "bob@example.com"))["budget"]!["monthly"]!["cost_usd"]!.GetValue<double>());

        await File.WriteAllTextAsync(file, """{"budget": {"daily": {"inputTokens": -1}}}""");
        var bad = await RunAsync("budgets", "set", "--user", "bob@example.com", "--import", file);
        Assert.Equal(2, bad.Code);
        Assert.Contains("budget.daily.inputTokens", bad.Err);
        var both = await RunAsync("budgets", "set", "--user", "bob@example.com", "--import", file, "--daily-input", "5");
        Assert.Equal(2, both.Code);
        Assert.StartsWith("error: --import:", both.Err);
        Assert.Equal(2, (await RunAsync("budgets", "set", "--gateway", "--import", Path.Combine(_dir, "missing.json"))).Code);

        var audit = await WithServicesAsync(s => s.Store.Audit.ListAsync(new AuditQuery(Limit: 100)));
        Assert.Contains(audit, e => e.Action == "budget.import" && e.Target == "user:default");
    }

    [Fact]
    public async Task Rate_limits_are_set_merged_shown_and_cleared()
    {
        await AddUserAsync("alice@example.com");
        await OkAsync("budgets", "set", "--default-key", "--requests-per-minute", "60");
        await OkAsync("budgets", "set", "--user", "alice@example.com", "--tokens-per-minute", "200k");
        var merged = await OkAsync("budgets", "set", "--user", "alice@example.com", "--concurrent", "4");
        Assert.Contains("Rate limits of alice@example.com: 200k tokens/min, 4 at a time.", merged.Err);

        var shown = await OkAsync("budgets", "show");
        Assert.Matches(@"keys \(default\)\s+admin\s+60\s+-\s+-", shown.Out);
        Assert.Matches(@"user alice@example.com\s+admin\s+-\s+200,000\s+4", shown.Out);

        Assert.Equal(2, (await RunAsync("budgets", "set", "--default-key", "--daily-input", "5")).Code);
        await OkAsync("budgets", "clear", "--user", "alice@example.com", "--rate-limits");
        Assert.Null((await ShowJsonAsync("--user", "alice@example.com"))["rate_limit"]);
    }
}

public sealed class SqliteBudgetsCliTests : BudgetsCliTests
{
    private protected override Task<string[]> StorageSettingsAsync(string dir) => Task.FromResult<string[]>([$"--Storage:Path={Path.Combine(dir, "gapura.db")}"]);
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresBudgetsCliTests(PostgresCluster cluster) : BudgetsCliTests
{
    private protected override async Task<string[]> StorageSettingsAsync(string dir)
        => ["--Storage:Provider=postgres", $"--ConnectionStrings:Postgres={await cluster.CreateIsolatedAsync(nameof(PostgresBudgetsCliTests))}"];
}
