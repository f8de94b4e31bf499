using System.Net;
using System.Text;

namespace Gapura.Cli;

/// <summary>
/// The sign-in page's redirect caught on this machine, as the Codex CLI does: when a sign-in redirects to
/// <c>http://localhost:&lt;port&gt;/…</c> and the browser runs beside the CLI, the address it lands on reaches
/// this listener and nobody has to paste it. Bound to loopback only, answers that one path, and serves until
/// the first request carrying a code (or an error) arrives. When the port is taken or the redirect is not a
/// loopback address, there is no listener and the user pastes the address instead.
/// </summary>
internal sealed class LoopbackCallback : IDisposable
{
    private readonly HttpListener _listener;
    private readonly string _path;

    private LoopbackCallback(HttpListener listener, string path)
    {
        _listener = listener;
        _path = path;
    }

    /// <summary>A listener for <paramref name="redirectUri"/>, or null when it is not loopback HTTP or cannot be bound.</summary>
    public static LoopbackCallback? TryStart(string redirectUri)
    {
        if (!Uri.TryCreate(redirectUri, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp || !uri.IsLoopback) return null;
        var listener = new HttpListener();
        // The prefix must end with '/'; the handler itself checks the exact path.
        listener.Prefixes.Add($"http://{uri.Host}:{uri.Port}/");
        try
        {
            listener.Start();
        }
        catch (HttpListenerException)
        {
            listener.Close();
            return null;
        }
        return new LoopbackCallback(listener, uri.AbsolutePath);
    }

    /// <summary>The whole address the browser was sent to, once it carries a code or an error.</summary>
    public async Task<string?> WaitAsync(CancellationToken ct)
    {
        await using var stop = ct.Register(() => _listener.Stop());
        while (true)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException && ct.IsCancellationRequested)
            {
                throw new OperationCanceledException(ct);
            }
            var url = context.Request.Url;
            var query = System.Web.HttpUtility.ParseQueryString(url?.Query ?? "");
            var answered = url is not null && url.AbsolutePath == _path && (query["code"] is not null || query["error"] is not null);
            await RespondAsync(context.Response, answered
                ? query["error"] is null ? "Signed in. You can close this tab and return to the terminal." : $"The sign-in failed: {query["error_description"] ?? query["error"]}."
                : null);
            if (answered) return url!.ToString();
        }
    }

    private static async Task RespondAsync(HttpListenerResponse response, string? message)
    {
        response.StatusCode = message is null ? 404 : 200;
        response.ContentType = "text/plain; charset=utf-8";
        var body = Encoding.UTF8.GetBytes(message ?? "Not found.");
        await response.OutputStream.WriteAsync(body);
        response.Close();
    }

    public void Dispose() => _listener.Close();
}
