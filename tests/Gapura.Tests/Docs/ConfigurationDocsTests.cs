namespace Gapura.Tests.Docs;

/// <summary>
/// docs/configuration.md is the reference of every setting: each one the code reads must have a row there, and each
/// row must name a setting the code still reads — so the reference cannot drift from the code.
/// </summary>
public sealed class ConfigurationDocsTests
{
    private static readonly Lazy<SortedSet<string>> InCode = new(ConfigurationSettings.Find);

    private static SortedSet<string> InDocs()
        => ConfigurationSettings.Documented(File.ReadAllText(Path.Combine(ConfigurationSettings.RepositoryRoot, "docs", "configuration.md")));

    [Fact]
    public void Every_setting_the_code_reads_is_documented()
    {
        var documented = InDocs();
        var missing = InCode.Value.Where(k => !documented.Any(d => ConfigurationSettings.Matches(k, d))).ToList();
        Assert.True(missing.Count == 0,
            $"{missing.Count} setting(s) the code reads are missing from docs/configuration.md; add a row (name, default, allowed values, meaning) for each:\n  "
            + string.Join("\n  ", missing));
    }

    [Fact]
    public void Every_documented_setting_is_read_by_the_code()
    {
        var stale = InDocs().Where(d => !InCode.Value.Any(k => ConfigurationSettings.Matches(k, d))).ToList();
        Assert.True(stale.Count == 0,
            $"{stale.Count} setting(s) in docs/configuration.md are read by no code (renamed or removed?); fix or remove their rows:\n  "
            + string.Join("\n  ", stale));
    }

    [Fact]
    public void The_finder_sees_every_kind_of_setting()
    {
        // One of each way the code reads configuration, so a finder that stopped seeing one kind cannot pass quietly.
        string[] expected =
        [
            "Gateway:KeepAliveSeconds",                       // an options class with a Section constant
            "Budgets:TimeZone",                               // an options class bound by Configure<T>(GetSection("…"))
            "Providers:Anthropic:SignIn:ClientId",            // a class a static reader binds
            "Pricing:Models:<model>:Input",                   // a dictionary of nested settings
            "Kiro:ModelAliases:<name>",                       // a dictionary of values
            "Providers:Compatible:<name>:BaseUrl",            // a section read by hand
            "Routing:Profiles:<name>:fallbacks",              // a list inside a section read by hand
            "Routing:Rules:<i>:lastUserText",                 // an array of objects
            "Budgets:Gateway:daily:inputTokens",              // a budget window
            "RateLimits:Key:Default:concurrentRequests",
            "Console:Enabled",                                // configuration.GetValue("…")
            "ConnectionStrings:Redis",                        // GetConnectionString("…")
            "Providers:Compatible:AllowedBaseUrls",           // an interpolated key of constants
            "OTEL_EXPORTER_OTLP_ENDPOINT",                    // configuration[constant]
            "urls",
            "GAPURA_API_KEY",                                 // an environment variable
        ];
        var missing = expected.Where(e => !InCode.Value.Any(k => ConfigurationSettings.Matches(k, e))).ToList();
        Assert.True(missing.Count == 0, "The settings finder no longer sees: " + string.Join(", ", missing) + "\nIt found:\n  " + string.Join("\n  ", InCode.Value));
        Assert.InRange(InCode.Value.Count, 150, 1000);
    }

    [Fact]
    public void Every_options_class_and_hand_reader_is_known_to_the_finder()
    {
        var unbound = ConfigurationSettings.UnboundOptionsClasses();
        Assert.True(unbound.Count == 0,
            "Options classes whose configuration section the settings finder cannot tell (bind them with Configure<T>(configuration.GetSection(…)) "
            + "or give them a Section constant): " + string.Join(", ", unbound));
        var inSource = ConfigurationSettings.HandReadersInSource();
        var unknown = inSource.Except(ConfigurationSettings.KnownHandReaders).ToList();
        Assert.True(unknown.Count == 0,
            "Configuration read by hand in a reader the settings finder does not run; add it to ConfigurationSettings (KnownHandReaders and HandRead): "
            + string.Join(", ", unknown));
        var gone = ConfigurationSettings.KnownHandReaders.Except(inSource).ToList();
        Assert.True(gone.Count == 0, "ConfigurationSettings.KnownHandReaders names readers the source no longer has: " + string.Join(", ", gone));
    }

    [Fact]
    public void A_table_row_documents_each_name_in_its_first_cell()
    {
        const string markdown = """
            | Setting | Default | Meaning |
            |---|---|---|
            | `Gateway:ApiKey`, `Secrets:PreviousKeys:<i>` | none | `Not:ASetting` |

            | page | who |
            |---|---|
            | `Not:Either` | admins |
            """;
        Assert.Equal(["Gateway:ApiKey", "Secrets:PreviousKeys"], ConfigurationSettings.Documented(markdown));
        Assert.True(ConfigurationSettings.Matches("Routing:Tasks:<task>", "Routing:Tasks:<name>"));
        Assert.False(ConfigurationSettings.Matches("Providers:Compatible:<name>:BaseUrl", "Providers:Compatible:AllowedBaseUrls"));
    }
}
