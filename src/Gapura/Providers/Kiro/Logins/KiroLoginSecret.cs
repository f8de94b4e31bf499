using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Providers.Kiro.Auth;

namespace Gapura.Providers.Kiro.Logins;

/// <summary>
/// A user's Kiro login as stored in <c>upstream_logins.secret_enc</c> (sealed by the store): the Kiro IDE
/// JSON that <c>gapura login kiro</c> writes to the home folder — access and refresh tokens, expiry,
/// profile ARN, region, OIDC client id and secret — so one parser serves both places.
/// </summary>
internal static class KiroLoginSecret
{
    public static KiroCredentialSource SourceFor(long loginId)
        => new(KiroCredentialSourceKind.UserLogin, "upstream login #" + loginId.ToString(CultureInfo.InvariantCulture));

    public static string Serialize(JsonObject json) => json.ToJsonString();

    /// <exception cref="InvalidDataException">Not a login.</exception>
    public static (KiroCredential Credential, JsonObject Json) Parse(long loginId, string secret)
    {
        JsonObject json;
        try
        {
            json = JsonNode.Parse(secret) as JsonObject ?? throw new InvalidDataException("the stored Kiro login is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException("the stored Kiro login is not valid JSON", e);
        }
        // A stored login never points at files (clientIdHash); Parse reads only what is in the object.
        json.Remove("clientIdHash");
        var credential = KiroCredentialFile.Parse(json, SourceFor(loginId))
            ?? throw new InvalidDataException("the stored Kiro login holds no token");
        return (credential, json);
    }

    /// <summary>Reads the access-token expiry of any provider's stored login that keeps an <c>expiresAt</c> field.</summary>
    public static DateTimeOffset? ReadExpiry(string secret)
    {
        try
        {
            return JsonNode.Parse(secret) is JsonObject json && KiroTime.TryParse(json["expiresAt"], out var at) ? at : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
