using System.Text.Json.Nodes;
using Gapura.Providers.Kiro;
using Gapura.Providers.Kiro.Auth;
using Gapura.Simulators.Kiro;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Gapura.Tests.Providers.Kiro.Auth;

/// <summary>A throw-away HOME with helpers that lay logins out the way each tool does.</summary>
internal sealed class TempHome : IDisposable
{
    public TempHome() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "gapura-home-" + Guid.NewGuid().ToString("N"));

    public KiroAuthEnvironment Environment => new(Path);

    public string File(string relative) => System.IO.Path.Combine(Path, relative);

    public string WriteJson(string relative, JsonObject json)
    {
        var path = File(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllText(path, json.ToJsonString());
        return path;
    }

    public JsonObject ReadJson(string relative) => JsonNode.Parse(System.IO.File.ReadAllText(File(relative)))!.AsObject();

    public string CreateKiroCliDatabase(string relative, IReadOnlyDictionary<string, JsonObject> authKv, JsonObject? profile = null)
    {
        var path = File(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        Execute(connection, "CREATE TABLE auth_kv (key TEXT PRIMARY KEY, value TEXT)");
        Execute(connection, "CREATE TABLE state (key TEXT PRIMARY KEY, value BLOB)");
        foreach (var (key, value) in authKv) Execute(connection, "INSERT INTO auth_kv VALUES ($k, $v)", ("$k", key), ("$v", value.ToJsonString()));
        if (profile is not null) Execute(connection, "INSERT INTO state VALUES ($k, $v)", ("$k", "api.codewhisperer.profile"), ("$v", System.Text.Encoding.UTF8.GetBytes(profile.ToJsonString())));
        return path;
    }

    public static JsonObject ReadAuthKv(string database, string key)
    {
        using var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT value FROM auth_kv WHERE key = $k";
        command.Parameters.AddWithValue("$k", key);
        return JsonNode.Parse((string)command.ExecuteScalar()!)!.AsObject();
    }

    private static void Execute(SqliteConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        command.ExecuteNonQuery();
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>Collects formatted log lines, to prove no secret reaches them.</summary>
internal sealed class ListLogger<T> : ILogger<T>
{
    public List<string> Lines { get; } = [];

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Lines) Lines.Add($"{logLevel}: {formatter(state, exception)} {exception}");
    }
}

internal static class KiroAuthKit
{
    public static KiroOptions OptionsFor(KiroSimulator simulator) => new()
    {
        Endpoint = simulator.BaseUrl,
        AuthEndpoint = simulator.BaseUrl,
        OidcEndpoint = simulator.BaseUrl,
    };

    public static readonly HttpClient Http = new();

    public static (KiroTokenProvider Provider, ListLogger<KiroTokenProvider> Log) Provider(KiroOptions options, TempHome home)
    {
        var wrapped = Options.Create(options);
        var log = new ListLogger<KiroTokenProvider>();
        return (new KiroTokenProvider(wrapped, new KiroCredentialStore(wrapped, home.Environment), new KiroAuthClient(Http, wrapped), log), log);
    }

    /// <summary>A login in the Kiro IDE file format.</summary>
    public static JsonObject IdeJson(KiroIssuedCredentials login, DateTimeOffset? expiresAt = null) => new()
    {
        ["accessToken"] = login.AccessToken,
        ["refreshToken"] = login.RefreshToken,
        ["expiresAt"] = (expiresAt ?? login.ExpiresAt).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'"),
        ["profileArn"] = login.ProfileArn,
        ["region"] = "us-east-1",
        ["authMethod"] = login.Kind == KiroLoginKind.Social ? "social" : "IdC",
        ["provider"] = login.Kind == KiroLoginKind.Social ? "Github" : "Enterprise",
    };

    /// <summary>A login in kiro-cli's snake_case value format.</summary>
    public static JsonObject CliJson(KiroIssuedCredentials login, DateTimeOffset? expiresAt = null) => new()
    {
        ["access_token"] = login.AccessToken,
        ["refresh_token"] = login.RefreshToken,
        ["expires_at"] = (expiresAt ?? login.ExpiresAt).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'00Z'"),
        ["region"] = "us-east-1",
        ["start_url"] = "https://view.awsapps.com/start",
        ["oauth_flow"] = "DeviceCode",
        ["scopes"] = new JsonArray("codewhisperer:completions"),
    };
}
