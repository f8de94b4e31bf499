using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Gapura.Providers.Bedrock;

/// <summary>AWS credentials for signing. Never logged: <see cref="ToString"/> shows the key id only.</summary>
internal sealed record AwsCredentials(string AccessKeyId, string SecretAccessKey, string? SessionToken = null)
{
    public override string ToString() => $"AwsCredentials {{ AccessKeyId = {AccessKeyId} }}";
}

/// <summary>
/// AWS Signature Version 4 for a header-signed request, written here rather than taken from AWSSDK.Core:
/// the SDK's <c>AWS4Signer.Sign</c> works on <c>Amazon.Runtime.Internal.IRequest</c> and <c>IClientConfig</c>
/// (its own request pipeline, an "Internal" namespace with no stability promise), and the gateway would carry
/// the whole SDK for one HMAC chain. The simulator verifies with the SDK's <c>AWS4Signer.ComputeSignature</c>
/// instead, so the two implementations check each other, and the tests pin AWS's published vectors.
/// </summary>
internal static class SigV4Signer
{
    public const string Algorithm = "AWS4-HMAC-SHA256";

    /// <summary>
    /// Signs <paramref name="request"/> in place: adds <c>x-amz-date</c>, <c>x-amz-security-token</c> when
    /// the credentials carry a session, and <c>Authorization</c>. The body must already be set; it is hashed
    /// as given. Signed headers: host, content-type (when present), x-amz-date, x-amz-security-token.
    /// </summary>
    public static void Sign(HttpRequestMessage request, ReadOnlySpan<byte> body, AwsCredentials credentials, string region, string service, DateTimeOffset now)
    {
        var uri = request.RequestUri ?? throw new InvalidOperationException("The request has no URI.");
        var amzDate = now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        request.Headers.Remove("x-amz-date");
        request.Headers.TryAddWithoutValidation("x-amz-date", amzDate);
        request.Headers.Remove("x-amz-security-token");
        if (!string.IsNullOrEmpty(credentials.SessionToken))
            request.Headers.TryAddWithoutValidation("x-amz-security-token", credentials.SessionToken);

        var headers = new List<KeyValuePair<string, string>> { new("host", HostHeader(uri)), new("x-amz-date", amzDate) };
        if (request.Content?.Headers.ContentType is { } contentType) headers.Add(new("content-type", contentType.ToString()));
        if (!string.IsNullOrEmpty(credentials.SessionToken)) headers.Add(new("x-amz-security-token", credentials.SessionToken));

        var (signedHeaders, signature) = Compute(request.Method.Method, uri.AbsolutePath, uri.Query, headers, body, credentials, region, service, now);
        var scope = CredentialScope(now, region, service);
        request.Headers.TryAddWithoutValidation("Authorization",
            $"{Algorithm} Credential={credentials.AccessKeyId}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}");
    }

    /// <summary>
    /// The signature of a request: <paramref name="rawPath"/> is the path as sent on the wire (already
    /// percent-encoded), <paramref name="query"/> the raw query with or without its <c>?</c>.
    /// </summary>
    public static (string SignedHeaders, string Signature) Compute(string method, string rawPath, string query,
        IEnumerable<KeyValuePair<string, string>> headers, ReadOnlySpan<byte> body, AwsCredentials credentials,
        string region, string service, DateTimeOffset now)
    {
        var canonical = CanonicalRequest(method, rawPath, query, headers, body, out var signedHeaders);
        var stringToSign = StringToSign(canonical, now, region, service);
        var key = SigningKey(credentials.SecretAccessKey, now.UtcDateTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture), region, service);
        return (signedHeaders, Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(stringToSign))));
    }

    public static string CanonicalRequest(string method, string rawPath, string query, IEnumerable<KeyValuePair<string, string>> headers,
        ReadOnlySpan<byte> body, out string signedHeaders)
    {
        // Header names lower-cased and sorted; values trimmed with inner runs of spaces folded; repeats joined by commas.
        var grouped = headers
            .GroupBy(h => h.Key.Trim().ToLowerInvariant(), StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => (Name: g.Key, Value: string.Join(',', g.Select(h => FoldSpaces(h.Value)))))
            .ToList();
        signedHeaders = string.Join(';', grouped.Select(h => h.Name));
        var sb = new StringBuilder();
        sb.Append(method.ToUpperInvariant()).Append('\n');
        sb.Append(CanonicalUri(rawPath)).Append('\n');
        sb.Append(CanonicalQuery(query)).Append('\n');
        foreach (var (name, value) in grouped) sb.Append(name).Append(':').Append(value).Append('\n');
        sb.Append('\n').Append(signedHeaders).Append('\n');
        sb.Append(Convert.ToHexStringLower(SHA256.HashData(body)));
        return sb.ToString();
    }

    public static string StringToSign(string canonicalRequest, DateTimeOffset now, string region, string service)
        => $"{Algorithm}\n{now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}\n{CredentialScope(now, region, service)}\n"
           + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonicalRequest)));

    public static string CredentialScope(DateTimeOffset now, string region, string service)
        => $"{now.UtcDateTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture)}/{region}/{service}/aws4_request";

    public static byte[] SigningKey(string secret, string date, string region, string service)
    {
        var key = HMACSHA256.HashData(Encoding.UTF8.GetBytes("AWS4" + secret), Encoding.UTF8.GetBytes(date));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(region));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(service));
        return HMACSHA256.HashData(key, "aws4_request"u8);
    }

    /// <summary>
    /// Every service but S3 encodes the path twice: the segments of the path as sent (already encoded,
    /// so a model id's <c>:</c> is <c>%3A</c> on the wire) are encoded again (<c>%253A</c>).
    /// </summary>
    public static string CanonicalUri(string rawPath)
    {
        if (string.IsNullOrEmpty(rawPath)) return "/";
        return string.Join('/', rawPath.Split('/').Select(UriEncode));
    }

    private static string CanonicalQuery(string query)
    {
        var q = query.StartsWith('?') ? query[1..] : query;
        if (q.Length == 0) return "";
        return string.Join('&', q.Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p =>
            {
                var eq = p.IndexOf('=');
                var name = Uri.UnescapeDataString(eq < 0 ? p : p[..eq]);
                var value = eq < 0 ? "" : Uri.UnescapeDataString(p[(eq + 1)..]);
                return (Name: UriEncode(name), Value: UriEncode(value));
            })
            .OrderBy(p => p.Name, StringComparer.Ordinal).ThenBy(p => p.Value, StringComparer.Ordinal)
            .Select(p => p.Name + "=" + p.Value));
    }

    /// <summary>RFC 3986 encoding as SigV4 defines it: unreserved characters kept, everything else %XX upper-case.</summary>
    public static string UriEncode(string value)
    {
        var sb = new StringBuilder(value.Length);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            if (b is >= (byte)'A' and <= (byte)'Z' or >= (byte)'a' and <= (byte)'z' or >= (byte)'0' and <= (byte)'9'
                or (byte)'-' or (byte)'_' or (byte)'.' or (byte)'~')
                sb.Append((char)b);
            else
                sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    private static string FoldSpaces(string value)
    {
        var trimmed = value.Trim();
        var sb = new StringBuilder(trimmed.Length);
        var space = false;
        foreach (var c in trimmed)
        {
            if (c == ' ') { if (!space) sb.Append(c); space = true; }
            else { sb.Append(c); space = false; }
        }
        return sb.ToString();
    }

    private static string HostHeader(Uri uri) => uri.IsDefaultPort ? uri.Host : $"{uri.Host}:{uri.Port}";
}
