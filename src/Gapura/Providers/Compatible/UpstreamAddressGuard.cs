using System.Net;
using System.Net.Sockets;

namespace Gapura.Providers.Compatible;

/// <summary>
/// Keeps compatible servers away from addresses that would turn the gateway into a way to reach the
/// machine's own secrets (SSRF): link-local networks, where clouds serve instance metadata and
/// credentials, and the metadata services' names. Two checks:
/// <list type="number">
/// <item>At start, the configured base URL: scheme, the admin's allow-list (<c>Providers:Compatible:AllowedBaseUrls</c>),
/// and host names or addresses written literally.</item>
/// <item>At every connection, the addresses the host name resolves to (the connection is made to exactly
/// the addresses checked, so a DNS answer that changes between check and connect cannot slip through).
/// Guarded clients use no system HTTP proxy: a proxy would hide which address is really reached.</item>
/// </list>
/// Private networks (10/8, 192.168/16, loopback) stay allowed: that is where Ollama and vLLM live.
/// </summary>
internal static class UpstreamAddressGuard
{
    private static readonly string[] MetadataHosts =
        ["metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal", "metadata.azure.com"];

    private static readonly IPAddress AwsMetadataV6 = IPAddress.Parse("fd00:ec2::254");
    private static readonly IPAddress AlibabaMetadata = IPAddress.Parse("100.100.100.200");

    /// <summary>Link-local (169.254.0.0/16, fe80::/10) or a cloud metadata address.</summary>
    public static bool IsForbidden(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            Span<byte> b = stackalloc byte[4];
            address.TryWriteBytes(b, out _);
            return (b[0] == 169 && b[1] == 254) || address.Equals(AlibabaMetadata);
        }
        return address.IsIPv6LinkLocal || address.Equals(AwsMetadataV6);
    }

    public static bool IsMetadataHost(string host)
    {
        var h = host.TrimEnd('.').ToLowerInvariant();
        return MetadataHosts.Contains(h);
    }

    /// <summary>
    /// Why a configured base URL is refused, or null when it is fine. <paramref name="allowLinkLocal"/> lifts
    /// the address rule; the allow-list applies regardless.
    /// </summary>
    public static string? CheckBaseUrl(string name, string baseUrl, bool allowLinkLocal, IReadOnlyList<string> allowedPrefixes)
    {
        var setting = $"{CompatibleServerOptions.Section}:{name}:BaseUrl";
        if (!Uri.TryCreate(baseUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            return $"{setting} '{baseUrl}' is not an absolute http(s) URL.";
        if (!string.IsNullOrEmpty(uri.UserInfo)) return $"{setting} must not hold credentials; use {CompatibleServerOptions.Section}:{name}:ApiKey.";
        if (allowedPrefixes.Count > 0 && !allowedPrefixes.Any(p => MatchesPrefix(uri, p)))
            return $"{setting} '{baseUrl}' is not on the admin's allow-list ({CompatibleServerOptions.Section}:{CompatibleServerOptions.AllowedBaseUrlsKey}: {string.Join(", ", allowedPrefixes)}).";
        if (allowLinkLocal) return null;
        var host = uri.IdnHost;
        if (IsMetadataHost(host) || IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IsForbidden(ip))
            return $"{setting} '{baseUrl}' points at a link-local or cloud-metadata address, which is refused; " +
                   $"set {CompatibleServerOptions.Section}:{name}:AllowLinkLocal=true if you really mean it.";
        return null;
    }

    /// <summary>A prefix match on whole path segments: <c>http://10.0.0.5:8000</c> allows <c>http://10.0.0.5:8000/v1</c>, not <c>http://10.0.0.5:80001</c>.</summary>
    internal static bool MatchesPrefix(Uri uri, string prefix)
    {
        if (!Uri.TryCreate(prefix.Trim(), UriKind.Absolute, out var allowed)) return false;
        if (!string.Equals(uri.Scheme, allowed.Scheme, StringComparison.OrdinalIgnoreCase)
            || !string.Equals(uri.IdnHost, allowed.IdnHost, StringComparison.OrdinalIgnoreCase)
            || uri.Port != allowed.Port) return false;
        var path = uri.AbsolutePath.TrimEnd('/') + "/";
        var allowedPath = allowed.AbsolutePath.TrimEnd('/') + "/";
        return path.StartsWith(allowedPath, StringComparison.Ordinal);
    }

    /// <summary>A handler whose every connection goes only to addresses that pass <see cref="IsForbidden"/>.</summary>
    public static SocketsHttpHandler GuardedHandler(SocketsHttpHandler handler)
    {
        handler.UseProxy = false;
        handler.ConnectCallback = async (context, ct) =>
        {
            var host = context.DnsEndPoint.Host;
            if (IsMetadataHost(host)) throw new RefusedAddressException($"the host '{host}' is a cloud-metadata service, which is refused");
            var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
            foreach (var address in addresses)
                if (IsForbidden(address))
                    throw new RefusedAddressException($"the host '{host}' resolves to {address}, a link-local or cloud-metadata address, which is refused");
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(addresses, context.DnsEndPoint.Port, ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        };
        return handler;
    }

    public static bool IsRefusal(HttpRequestException e) => Find(e) is not null;

    public static string Describe(HttpRequestException e) => Find(e)?.Message ?? e.Message;

    private static RefusedAddressException? Find(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is RefusedAddressException refused) return refused;
        return null;
    }

    /// <summary>Thrown from the connect callback; HttpClient wraps it in an HttpRequestException.</summary>
    internal sealed class RefusedAddressException(string message) : Exception(message);
}
