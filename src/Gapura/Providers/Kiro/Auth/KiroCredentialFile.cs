using Gapura.Hosting;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Gapura.Providers.Kiro.Auth;

/// <summary>
/// Kiro IDE-format credential files (also Gapura's own store): reading, and read-merge-write of refreshed
/// tokens so that fields this code does not know about survive.
/// </summary>
internal static class KiroCredentialFile
{

    /// <summary>The file as a JSON object; null when it does not exist.</summary>
    /// <exception cref="InvalidDataException">The file is not a JSON object.</exception>
    public static JsonObject? Read(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            return JsonNode.Parse(File.ReadAllBytes(path)) as JsonObject ?? throw new InvalidDataException($"{path} is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>Builds a credential from the Kiro IDE fields; IdC client credentials may sit in <c>&lt;clientIdHash&gt;.json</c> beside the file.</summary>
    public static KiroCredential? Parse(JsonObject json, KiroCredentialSource source)
    {
        var refresh = Str(json, "refreshToken");
        var access = Str(json, "accessToken") ?? "";
        if (string.IsNullOrEmpty(refresh) && string.IsNullOrEmpty(access)) return null;
        // A token of unknown age is treated as expired: one refresh is cheaper than a failed call.
        var expires = KiroTime.TryParse(json["expiresAt"], out var at) ? at : DateTimeOffset.MinValue;

        string? clientId = Str(json, "clientId"), clientSecret = Str(json, "clientSecret");
        if ((clientId is null || clientSecret is null) && Str(json, "clientIdHash") is { } hash && IsSafeFileName(hash))
        {
            var registrationPath = Path.Combine(Path.GetDirectoryName(source.Path) ?? ".", hash + ".json");
            try
            {
                if (Read(registrationPath) is { } registration)
                {
                    clientId ??= Str(registration, "clientId");
                    clientSecret ??= Str(registration, "clientSecret");
                }
            }
            catch (InvalidDataException)
            {
                // An unreadable registration leaves the login on the desktop refresh path; the refresh error says the rest.
            }
        }
        return new KiroCredential(access, refresh ?? "", expires, Str(json, "profileArn"), Str(json, "region"), Str(json, "authMethod"), clientId, clientSecret, source);
    }

    /// <summary>Writes refreshed tokens into the file, re-reading it first and keeping every other field.</summary>
    public static void Update(string path, KiroCredential refreshed)
    {
        var json = Read(path) ?? new JsonObject();
        ApplyRefresh(json, refreshed);
        // Always 600: the file holds a refresh token, whatever mode the program that first wrote it chose.
        Write(path, json, PrivateFile.OwnerOnly);
    }

    /// <summary>A new login (from a device sign-in) in the Kiro IDE format: the home-folder store and the database keep the same JSON.</summary>
    public static JsonObject ToJson(KiroCredential login, string? startUrl, DateTimeOffset? clientSecretExpiresAt)
    {
        var json = new JsonObject
        {
            ["accessToken"] = login.AccessToken,
            ["refreshToken"] = login.RefreshToken,
            ["expiresAt"] = KiroTime.Format(login.ExpiresAt),
            ["region"] = login.Region,
            ["authMethod"] = login.AuthMethod,
            ["provider"] = startUrl is null || startUrl.Contains("view.awsapps.com", StringComparison.OrdinalIgnoreCase) ? "BuilderId" : "Enterprise",
            ["clientId"] = login.ClientId,
            ["clientSecret"] = login.ClientSecret,
        };
        if (clientSecretExpiresAt is { } expires) json["clientSecretExpiresAt"] = KiroTime.Format(expires);
        if (startUrl is not null) json["startUrl"] = startUrl;
        if (login.ProfileArn is not null) json["profileArn"] = login.ProfileArn;
        return json;
    }

    /// <summary>Puts refreshed tokens into a login's JSON, keeping every other field.</summary>
    public static void ApplyRefresh(JsonObject json, KiroCredential refreshed)
    {
        json["accessToken"] = refreshed.AccessToken;
        json["refreshToken"] = refreshed.RefreshToken;
        json["expiresAt"] = KiroTime.Format(refreshed.ExpiresAt);
        if (refreshed.ProfileArn is not null) json["profileArn"] = refreshed.ProfileArn;
    }

    public static void Write(string path, JsonObject json, UnixFileMode mode)
        => PrivateFile.Write(path, Encoding.UTF8.GetBytes(json.ToJsonString(new JsonSerializerOptions { WriteIndented = true })), mode);

    private static bool IsSafeFileName(string name)
        => name.Length > 0 && name.IndexOfAny(Path.GetInvalidFileNameChars()) < 0 && !name.Contains("..", StringComparison.Ordinal);

    internal static string? Str(JsonObject json, string name)
        => json[name] is JsonValue value && value.TryGetValue<string>(out var text) && text.Length > 0 ? text : null;
}
