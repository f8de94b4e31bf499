using System.Net;
using Gapura.Conversations;

namespace Gapura.Providers;

/// <summary>
/// The one way the gateway makes an HTTP client for an upstream (model calls, token exchanges, sign-ins). Redirects are
/// never followed: a compatible server on an allowed base URL could otherwise send the gateway to an address the guard
/// refuses (and its answer to the caller), a 307 would re-post the caller's prompt to another host, and a redirect to
/// <c>file://</c> was a 500. A 3xx is an upstream error instead, naming where it pointed (scheme, host and path only: a
/// query may hold a token).
/// </summary>
internal static class UpstreamHttp
{
    /// <param name="handler">The connection settings; <c>AllowAutoRedirect</c> is switched off here.</param>
    /// <param name="timeout">The whole request's limit; infinite for streams, which the pipeline's own timeouts bound.</param>
    public static HttpClient Create(SocketsHttpHandler handler, TimeSpan timeout)
    {
        handler.AllowAutoRedirect = false;
        return new HttpClient(new RefuseRedirects { InnerHandler = handler }) { Timeout = timeout };
    }

    /// <summary>
    /// Waits until an upstream body has bytes to read, or has ended, with no buffer in hand: a zero-byte read, which
    /// HttpClient's response streams complete when data arrives (others at once, which costs nothing). A stream waiting on
    /// a model then holds no read buffer, which is most of what a thousand open streams would otherwise hold.
    /// </summary>
    public static ValueTask<int> WaitForDataAsync(Stream body, CancellationToken ct) => body.ReadAsync(Memory<byte>.Empty, ct);

    /// <summary>Connection settings every upstream shares.</summary>
    public static SocketsHttpHandler Handler(bool decompress = true) => new()
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(15),
        AutomaticDecompression = decompress ? DecompressionMethods.All : DecompressionMethods.None,
    };

    private sealed class RefuseRedirects : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var response = await base.SendAsync(request, ct);
            var status = (int)response.StatusCode;
            if (status is < 300 or > 399 || status == 304) return response;
            var location = response.Headers.Location;
            response.Dispose();
            var target = location is null ? "nowhere"
                : location.IsAbsoluteUri ? $"{location.Scheme}://{location.Authority}{location.AbsolutePath}"
                : location.OriginalString.Split('?', 2)[0];
            throw new GatewayException(ErrorKind.UpstreamUnavailable,
                $"The upstream {request.RequestUri?.Authority} answered {status} redirecting to {target}; the gateway does not follow redirects.", 502);
        }
    }
}
