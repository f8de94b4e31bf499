using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Routing;
using Tomlyn;
using Tomlyn.Model;
using Tomlyn.Parsing;
using Tomlyn.Syntax;

namespace Gapura.Hosting;

/// <summary>The coding agents <c>gapura setup</c> knows how to point at the gateway.</summary>
internal enum ClientApp
{
    ClaudeCode,
    Codex,
    OpenCode,
}

/// <summary>
/// The exact settings that point a client at the gateway — its own config file's content, merged into what the
/// user already has — shared by <c>gapura setup</c> and (later) the console. Other settings in the file are kept:
/// files are parsed and only the keys named here change.
/// </summary>
/// <param name="BaseUrl">The gateway's address without a path, e.g. <c>http://127.0.0.1:8000</c>.</param>
/// <param name="Key">The client key the settings carry.</param>
/// <param name="Models">Models the key's upstreams offer, with their limits.</param>
/// <param name="Model">The model to select by default; null where the client needs none (Claude Code picks by family).</param>
internal sealed record ClientSettings(ClientApp Client, string BaseUrl, string Key, IReadOnlyList<ModelInfo> Models, string? Model)
{
    public const string ProviderId = "gapura";

    public static readonly IReadOnlyDictionary<string, ClientApp> Names = new Dictionary<string, ClientApp>(StringComparer.OrdinalIgnoreCase)
    {
        ["claude-code"] = ClientApp.ClaudeCode,
        ["codex"] = ClientApp.Codex,
        ["opencode"] = ClientApp.OpenCode,
    };

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly JsonDocumentOptions Lenient = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>The client's own config file under <paramref name="home"/> (Codex honours <c>CODEX_HOME</c>, opencode <c>XDG_CONFIG_HOME</c>).</summary>
    public static string ConfigPath(ClientApp client, string home, Func<string, string?> environment) => client switch
    {
        ClientApp.ClaudeCode => Path.Combine(home, ".claude", "settings.json"),
        ClientApp.Codex => Path.Combine(environment("CODEX_HOME") is { Length: > 0 } codexHome ? codexHome : Path.Combine(home, ".codex"), "config.toml"),
        _ => Path.Combine(environment("XDG_CONFIG_HOME") is { Length: > 0 } xdg ? xdg : Path.Combine(home, ".config"), "opencode", "opencode.json"),
    };

    /// <summary>The model a client should start with: the one asked for, else a strong general model the upstreams offer.</summary>
    public static string? PickDefault(IReadOnlyList<ModelInfo> models, string? asked, ClientApp client)
    {
        if (!string.IsNullOrWhiteSpace(asked)) return asked.Trim();
        if (client == ClientApp.ClaudeCode) return null;
        var ids = models.Select(m => m.Id).Where(id => !string.Equals(id, "auto", StringComparison.OrdinalIgnoreCase)).ToList();
        // Codex is tuned for OpenAI's GPT-5 family; any client does well with the newest Claude Sonnet.
        string[] preferred = client == ClientApp.Codex ? ["gpt-5", "claude-sonnet"] : ["claude-sonnet", "gpt-5"];
        foreach (var prefix in preferred)
            if (ids.Where(id => id.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)).OrderByDescending(id => id, StringComparer.OrdinalIgnoreCase).FirstOrDefault() is { } best)
                return best;
        return ids.FirstOrDefault();
    }

    /// <summary><paramref name="existing"/> (the file's current text, or null) with the gateway's settings merged in.</summary>
    /// <exception cref="InvalidDataException">The existing file cannot be parsed: it is left alone rather than overwritten.</exception>
    public string MergeInto(string? existing) => Client switch
    {
        ClientApp.ClaudeCode => MergeClaudeCode(ParseJson(existing)),
        ClientApp.Codex => MergeCodex(existing),
        _ => MergeOpenCode(ParseJson(existing)),
    };

    /// <summary>The settings alone, as they would be written into an empty file.</summary>
    public string Render() => MergeInto(null);

    /// <summary>
    /// Claude Code reads <c>env</c> of <c>~/.claude/settings.json</c>. The key goes in <c>ANTHROPIC_AUTH_TOKEN</c> (sent as
    /// <c>Authorization: Bearer</c>): an <c>ANTHROPIC_API_KEY</c> there makes the interactive client ask to approve it, and
    /// a different one left beside ours would win, so it is removed.
    /// </summary>
    private string MergeClaudeCode(JsonObject root)
    {
        if (root["env"] is not JsonObject env)
        {
            env = [];
            root["env"] = env;
        }
        env["ANTHROPIC_BASE_URL"] = BaseUrl;
        env["ANTHROPIC_AUTH_TOKEN"] = Key;
        env.Remove("ANTHROPIC_API_KEY");
        if (Model is not null) env["ANTHROPIC_MODEL"] = Model;
        return root.ToJsonString(Indented) + "\n";
    }

    /// <summary>
    /// Codex CLI: a <c>[model_providers.gapura]</c> table speaking the Responses API, selected by <c>model_provider</c>.
    /// The key is carried by <c>experimental_bearer_token</c>, so the file alone is enough (no variable to export).
    /// </summary>
    private string MergeCodex(string? existing)
    {
        if (!string.IsNullOrWhiteSpace(existing) && MergeCodexKeepingComments(existing) is { } kept) return kept;
        TomlTable root;
        try
        {
            root = string.IsNullOrWhiteSpace(existing) ? new TomlTable() : TomlSerializer.Deserialize<TomlTable>(existing) ?? new TomlTable();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"it is not valid TOML ({e.Message.Split('\n')[0]})", e);
        }
        if (Model is not null) root["model"] = Model;
        root["model_provider"] = ProviderId;
        if (!root.TryGetValue("model_providers", out var providers) || providers is not TomlTable table)
        {
            table = new TomlTable();
            root["model_providers"] = table;
        }
        var provider = new TomlTable();
        foreach (var (name, value) in CodexProvider()) provider[name] = value;
        table[ProviderId] = provider;
        return TomlSerializer.Serialize(root);
    }

    /// <summary>
    /// The same change made on the file's syntax tree, so the user's comments and layout survive. Null when the file is
    /// shaped in a way this edit does not cover (our table given inline or as dotted keys): then the data-level merge
    /// above runs, which keeps every setting but not the comments.
    /// </summary>
    private string? MergeCodexKeepingComments(string existing)
    {
        DocumentSyntax document;
        try
        {
            document = SyntaxParser.Parse(existing, "config.toml", validate: true);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return null;
        }
        if (document.HasErrors) return null;
        if (Model is not null) SetTopLevel(document, "model", Model);
        SetTopLevel(document, "model_provider", ProviderId);
        for (var i = document.Tables.ChildrenCount - 1; i >= 0; i--)
            if (document.Tables.GetChild(i) is TableSyntax old && KeyText(old.Name) == "model_providers." + ProviderId) document.Tables.RemoveChildAt(i);
        var table = new TableSyntax(new KeySyntax("model_providers", ProviderId));
        foreach (var (name, value) in CodexProvider())
            table.Items.Add(new KeyValueSyntax(name, new StringValueSyntax(value)));
        document.Tables.Add(table);
        var text = document.ToString();
        try
        {
            // Only a result that parses and says what was meant is kept.
            var check = TomlSerializer.Deserialize<TomlTable>(text)!;
            var provider = (TomlTable)((TomlTable)check["model_providers"])[ProviderId];
            return (string)check["model_provider"] == ProviderId && (string)provider["base_url"] == BaseUrl + "/v1"
                   && (Model is null || (string)check["model"] == Model) ? text : null;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return null;
        }
    }

    private static void SetTopLevel(DocumentSyntax document, string name, string value)
    {
        foreach (var pair in document.KeyValues)
        {
            if (KeyText(pair.Key) != name) continue;
            pair.Value = new StringValueSyntax(value);
            return;
        }
        document.KeyValues.Add(new KeyValueSyntax(name, new StringValueSyntax(value)));
    }

    private static string KeyText(KeySyntax? key) => new([.. (key?.ToString() ?? "").Where(c => !char.IsWhiteSpace(c) && c != '"' && c != '\'')]);

    private IEnumerable<(string Name, string Value)> CodexProvider() =>
    [
        ("name", "Gapura"),
        ("base_url", BaseUrl + "/v1"),
        ("wire_api", "responses"),
        ("experimental_bearer_token", Key),
    ];

    /// <summary>opencode: a provider <c>gapura</c> on the OpenAI-compatible SDK with every model and its limits, selected by <c>model</c>.</summary>
    private string MergeOpenCode(JsonObject root)
    {
        root["$schema"] ??= "https://opencode.ai/config.json";
        if (root["provider"] is not JsonObject providers)
        {
            providers = [];
            root["provider"] = providers;
        }
        var models = new JsonObject();
        foreach (var m in Models.DistinctBy(m => m.Id, StringComparer.Ordinal))
        {
            models[m.Id] = new JsonObject
            {
                ["name"] = m.DisplayName,
                ["limit"] = new JsonObject { ["context"] = m.ContextWindow, ["output"] = m.MaxOutputTokens },
            };
        }
        providers[ProviderId] = new JsonObject
        {
            ["npm"] = "@ai-sdk/openai-compatible",
            ["name"] = "Gapura",
            ["options"] = new JsonObject { ["baseURL"] = BaseUrl + "/v1", ["apiKey"] = Key },
            ["models"] = models,
        };
        if (Model is not null) root["model"] = $"{ProviderId}/{Model}";
        return root.ToJsonString(Indented) + "\n";
    }

    private static JsonObject ParseJson(string? existing)
    {
        if (string.IsNullOrWhiteSpace(existing)) return [];
        try
        {
            return JsonNode.Parse(existing, documentOptions: Lenient) as JsonObject ?? throw new InvalidDataException("it does not hold a JSON object");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"it is not valid JSON ({e.Message})", e);
        }
    }
}
