using Gapura.Cli;

namespace Gapura.Tests.Budgets;

/// <summary>A budget setting that cannot be used stops <c>gapura serve</c> at start with one line naming it, exit code 2.</summary>
public sealed class BudgetStartupTests
{
    [Theory]
    [InlineData("Budgets:TimeZone: 'Mars/Base' is not a time zone", "--Budgets:TimeZone=Mars/Base")]
    [InlineData("Budgets:Gateway:daily:inputTokens: a whole number of tokens, 0 or more (got '-5')", "--Budgets:Gateway:daily:inputTokens=-5")]
    [InlineData("Budgets:User:Default:monthly.alertThreshold: a share between 0 and 1", "--Budgets:User:Default:monthly:inputTokens=5", "--Budgets:User:Default:monthly:alertThreshold=1.5")]
    [InlineData("Budgets:User:Default:daily.action: 'panic' is not an action; use notify, restrict or pause", "--Budgets:User:Default:daily:inputTokens=5", "--Budgets:User:Default:daily:action=panic")]
    [InlineData("Budgets:User:Default:daily: set at least one of inputTokens, outputTokens and costUsd", "--Budgets:User:Default:daily:action=pause")]
    [InlineData("RateLimits:Key:Default:requestsPerMinute: a whole number, 1 or more", "--RateLimits:Key:Default:requestsPerMinute=0")]
    public async Task A_bad_budget_setting_stops_serve_with_one_line_naming_it(string expected, params string[] settings)
    {
        var dir = Directory.CreateTempSubdirectory("gapura-budget-start-").FullName;
        try
        {
            var output = new StringWriter();
            var error = new StringWriter();
            var exit = await GapuraCli.RunAsync(["serve", "--urls=http://127.0.0.1:0", $"--Storage:Path={Path.Combine(dir, "gapura.db")}",
                "--Logging:LogLevel:Default=None", .. settings], output, error);
            Assert.Equal(2, exit);
            Assert.Contains(expected, error.ToString());
            Assert.DoesNotContain("   at ", error.ToString());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
