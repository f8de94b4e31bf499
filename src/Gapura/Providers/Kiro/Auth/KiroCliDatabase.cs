using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;

namespace Gapura.Providers.Kiro.Auth;

/// <summary>
/// kiro-cli's SQLite database (kiro.md §2): tokens as snake_case JSON values in table <c>auth_kv</c>,
/// the OIDC client registration beside them, the profile in table <c>state</c>.
/// </summary>
internal static class KiroCliDatabase
{
    /// <summary>Token keys, most preferred first.</summary>
    public static readonly string[] TokenKeys = ["kirocli:social:token", "kirocli:odic:token", "codewhisperer:odic:token"];

    private static readonly string[] RegistrationKeys = ["kirocli:odic:device-registration", "codewhisperer:odic:device-registration"];
    private const string ProfileKey = "api.codewhisperer.profile";

    public static KiroCredential? Read(string path, string? onlyKey = null)
    {
        if (!File.Exists(path)) return null;
        using var connection = Open(path);
        foreach (var key in onlyKey is null ? TokenKeys : [onlyKey])
        {
            if (ReadJson(connection, "auth_kv", key) is not { } token) continue;
            var refresh = KiroCredentialFile.Str(token, "refresh_token");
            var access = KiroCredentialFile.Str(token, "access_token") ?? "";
            if (string.IsNullOrEmpty(refresh) && access.Length == 0) continue;
            var expires = KiroTime.TryParse(token["expires_at"], out var at) ? at : DateTimeOffset.MinValue;
            var social = key.Contains(":social:", StringComparison.Ordinal);

            string? clientId = null, clientSecret = null, region = KiroCredentialFile.Str(token, "region");
            if (!social)
            {
                foreach (var registrationKey in RegistrationKeys)
                {
                    if (ReadJson(connection, "auth_kv", registrationKey) is not { } registration) continue;
                    clientId = KiroCredentialFile.Str(registration, "client_id");
                    clientSecret = KiroCredentialFile.Str(registration, "client_secret");
                    region ??= KiroCredentialFile.Str(registration, "region");
                    break;
                }
            }
            var profileArn = KiroCredentialFile.Str(token, "profile_arn");
            if (profileArn is null && ReadJson(connection, "state", ProfileKey) is { } profile) profileArn = KiroCredentialFile.Str(profile, "arn");

            return new KiroCredential(access, refresh ?? "", expires, profileArn, region, social ? "social" : "IdC", clientId, clientSecret,
                new KiroCredentialSource(KiroCredentialSourceKind.KiroCli, path, key));
        }
        return null;
    }

    /// <summary>Writes refreshed tokens into the value of <paramref name="key"/>: read, merge, write, in one transaction.</summary>
    public static void Update(string path, string key, KiroCredential refreshed)
    {
        using var connection = Open(path);
        using var transaction = connection.BeginTransaction(deferred: false);
        var json = ReadJson(connection, "auth_kv", key, transaction) ?? new JsonObject();
        json["access_token"] = refreshed.AccessToken;
        json["refresh_token"] = refreshed.RefreshToken;
        json["expires_at"] = KiroTime.Format(refreshed.ExpiresAt);
        if (refreshed.ProfileArn is not null && json.ContainsKey("profile_arn")) json["profile_arn"] = refreshed.ProfileArn;

        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "INSERT INTO auth_kv (key, value) VALUES ($key, $value) ON CONFLICT(key) DO UPDATE SET value = excluded.value";
        command.Parameters.AddWithValue("$key", key);
        command.Parameters.AddWithValue("$value", json.ToJsonString());
        command.ExecuteNonQuery();
        transaction.Commit();
    }

    private static SqliteConnection Open(string path)
    {
        // No pooling: the file belongs to kiro-cli, and an idle pooled handle would keep it open for nothing.
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
            DefaultTimeout = 5,
        }.ToString());
        connection.Open();
        return connection;
    }

    private static JsonObject? ReadJson(SqliteConnection connection, string table, string key, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        // The table name is one of two constants, never user input.
        command.CommandText = $"SELECT value FROM {table} WHERE key = $key";
        command.Parameters.AddWithValue("$key", key);
        try
        {
            var value = command.ExecuteScalar();
            var text = value switch
            {
                string s => s,
                byte[] b => Encoding.UTF8.GetString(b),
                _ => null,
            };
            return text is null ? null : JsonNode.Parse(text) as JsonObject;
        }
        catch (SqliteException)
        {
            // Missing table: an older or newer layout; the key simply is not there.
            return null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
