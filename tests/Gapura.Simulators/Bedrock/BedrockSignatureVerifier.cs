using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Amazon.Runtime.Internal.Auth;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Gapura.Simulators.Bedrock;

/// <summary>
/// Checks a request's SigV4 signature the way AWS does: parse the Authorization header, check the credential
/// scope (key, date, region, service) and the clock, rebuild the canonical request from what actually arrived
/// (raw path, query, the signed headers' values, the body's hash), and recompute the signature with the AWS
/// SDK's own <see cref="AWS4Signer.ComputeSignature(string,string,string,DateTime,string,string,string)"/> —
/// an implementation independent of the gateway's signer.
/// </summary>
public sealed class BedrockSignatureVerifier(BedrockSimulatorOptions options, TimeProvider time)
{
    public const string MismatchMessage =
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

    /// <summary>Null when the signature is valid; otherwise the error type and message AWS would answer with 403.</summary>
    public (string Type, string Message)? Verify(HttpContext context, byte[] body, string service)
    {
        var auth = context.Request.Headers.Authorization.ToString();
        if (string.IsNullOrEmpty(auth)) return ("MissingAuthenticationTokenException", "Missing Authentication Token");
        const string algorithm = "AWS4-HMAC-SHA256 ";
        if (!auth.StartsWith(algorithm, StringComparison.Ordinal))
            return ("IncompleteSignatureException", $"Authorization header requires the AWS4-HMAC-SHA256 algorithm. Authorization={auth.Split(' ')[0]}");

        var parts = Parts(auth[algorithm.Length..]);
        if (!parts.TryGetValue("Credential", out var credential) || !parts.TryGetValue("SignedHeaders", out var signedHeaders) || !parts.TryGetValue("Signature", out var signature))
            return ("IncompleteSignatureException", "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.");

        var scope = credential.Split('/');
        if (scope.Length != 5 || scope[4] != "aws4_request")
            return ("IncompleteSignatureException", $"Credential should be scoped to a valid region, not '{credential}'.");
        var (keyId, date, region, scopeService) = (scope[0], scope[1], scope[2], scope[3]);
        if (!options.Accounts.TryGetValue(keyId, out var secret))
            return ("UnrecognizedClientException", "The security token included in the request is invalid.");
        if (!options.Regions.Contains(region))
            return ("InvalidSignatureException", $"Credential should be scoped to a valid region, not '{region}'.");
        if (scopeService != service)
            return ("InvalidSignatureException", $"Credential should be scoped to correct service: '{service}'.");

        var amzDate = context.Request.Headers["x-amz-date"].ToString();
        if (!DateTime.TryParseExact(amzDate, "yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var signedAt))
            return ("IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
        if (!amzDate.StartsWith(date, StringComparison.Ordinal))
            return ("InvalidSignatureException", $"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{amzDate[..8]}'.");
        if ((time.GetUtcNow().UtcDateTime - signedAt).Duration() > options.MaxClockSkew)
            return ("InvalidSignatureException", $"Signature expired: {amzDate} is now earlier or later than the allowed skew.");

        var names = signedHeaders.Split(';');
        if (!names.Contains("host") || !names.Contains("x-amz-date"))
            return ("InvalidSignatureException", "The host and x-amz-date headers must be signed.");
        if (options.RequiredSessionToken is { } token)
        {
            if (context.Request.Headers["x-amz-security-token"].ToString() != token || !names.Contains("x-amz-security-token"))
                return ("UnrecognizedClientException", "The security token included in the request is invalid.");
        }

        var canonical = CanonicalRequest(context, body, names);
        var expected = AWS4Signer.ComputeSignature(keyId, secret, region, signedAt, service, signedHeaders, canonical).Signature;
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(signature)))
            return ("InvalidSignatureException", MismatchMessage);
        return null;
    }

    /// <summary>
    /// The access key id and region a request was signed with, read from its <c>Authorization</c> header's
    /// credential scope; null when the header names none. What tests check to tell accounts and regions apart.
    /// </summary>
    public static (string AccessKeyId, string Region)? ScopeOf(string? authorization)
    {
        var space = authorization?.IndexOf(' ') ?? -1;
        if (space < 0 || !Parts(authorization![(space + 1)..]).TryGetValue("Credential", out var credential)) return null;
        var scope = credential.Split('/');
        return scope.Length == 5 ? (scope[0], scope[2]) : null;
    }

    /// <summary><c>Credential=…, SignedHeaders=…, Signature=…</c> → name → value.</summary>
    private static Dictionary<string, string> Parts(string parameters)
        => parameters.Split(',', StringSplitOptions.TrimEntries)
            .Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);

    private static string CanonicalRequest(HttpContext context, byte[] body, string[] signedHeaders)
    {
        // The raw target, as the client put it on the wire: Kestrel's Path would already be unescaped.
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "/";
        var q = raw.IndexOf('?');
        var path = q >= 0 ? raw[..q] : raw;
        var query = q >= 0 ? raw[(q + 1)..] : "";

        var sb = new StringBuilder();
        sb.Append(context.Request.Method).Append('\n');
        // Non-S3 services encode the already-encoded path segments once more.
        sb.Append(string.Join('/', path.Split('/').Select(Encode))).Append('\n');
        sb.Append(string.Join('&', query.Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .Select(p => (Name: Encode(Uri.UnescapeDataString(p[0])), Value: p.Length > 1 ? Encode(Uri.UnescapeDataString(p[1])) : ""))
            .OrderBy(p => p.Name, StringComparer.Ordinal).ThenBy(p => p.Value, StringComparer.Ordinal)
            .Select(p => $"{p.Name}={p.Value}"))).Append('\n');
        foreach (var name in signedHeaders)
        {
            var value = name == "host" ? context.Request.Host.Value : context.Request.Headers[name].ToString();
            sb.Append(name).Append(':').Append(string.Join(' ', (value ?? "").Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries))).Append('\n');
        }
        sb.Append('\n').Append(string.Join(';', signedHeaders)).Append('\n');
        sb.Append(Convert.ToHexStringLower(SHA256.HashData(body)));
        return sb.ToString();
    }

    private static string Encode(string s)
    {
        var sb = new StringBuilder();
        foreach (var b in Encoding.UTF8.GetBytes(s))
        {
            var c = (char)b;
            if (char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~') sb.Append(c);
            else sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }
}
