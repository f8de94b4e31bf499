using System.Net;
using Microsoft.AspNetCore.Http.Features;

namespace Gapura.Web.InProcess;

/// <summary>
/// An <see cref="HttpMessageHandler"/> that hands each request to the gateway's own pipeline in memory: the console
/// calls the admin API exactly as any client does — same authentication, CSRF check, authorization, validation,
/// audit and error answers — without a socket, a port or a certificate to know about. Bodies are small JSON
/// documents, so both are buffered.
/// </summary>
internal sealed class InProcessHandler(ApplicationCapture capture, IPAddress? remoteAddress) : HttpMessageHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var application = capture.Application ?? throw new InvalidOperationException("The gateway has not started yet.");
        var uri = request.RequestUri ?? throw new ArgumentException("The request has no address.", nameof(request));

        var requestBody = request.Content is null ? Stream.Null : new MemoryStream(await request.Content.ReadAsByteArrayAsync(cancellationToken));
        var requestFeature = new HttpRequestFeature
        {
            Protocol = "HTTP/1.1",
            Scheme = uri.Scheme,
            Method = request.Method.Method,
            PathBase = "",
            Path = Uri.UnescapeDataString(uri.AbsolutePath),
            QueryString = uri.Query,
            RawTarget = uri.PathAndQuery,
            Body = requestBody,
        };
        foreach (var (name, values) in request.Headers) requestFeature.Headers.Append(name, values.ToArray());
        if (request.Content is not null)
            foreach (var (name, values) in request.Content.Headers) requestFeature.Headers.Append(name, values.ToArray());
        requestFeature.Headers.Host = uri.Authority;

        using var responseBody = new MemoryStream();
        var response = new BufferedResponse(responseBody);
        using var aborted = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var features = new FeatureCollection();
        features.Set<IHttpRequestFeature>(requestFeature);
        features.Set<IHttpResponseFeature>(response);
        features.Set<IHttpResponseBodyFeature>(response);
        features.Set<IHttpConnectionFeature>(new HttpConnectionFeature
        {
            ConnectionId = "in-process",
            RemoteIpAddress = remoteAddress,
            LocalIpAddress = IPAddress.Loopback,
        });
        features.Set<IHttpRequestLifetimeFeature>(new HttpRequestLifetimeFeature { RequestAborted = aborted.Token });
        features.Set<IHttpRequestIdentifierFeature>(new HttpRequestIdentifierFeature());

        await application.ProcessAsync(features);
        await response.CompleteAsync();

        var message = new HttpResponseMessage((HttpStatusCode)response.StatusCode)
        {
            RequestMessage = request,
            Content = new ByteArrayContent(responseBody.ToArray()),
        };
        foreach (var (name, values) in response.Headers)
            if (!message.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
                message.Content.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
        return message;
    }

    /// <summary>
    /// Response headers, status and a buffered body, with the "on starting" and "on completed" callbacks run when a
    /// server would run them (headers are set in those by middleware), which the plain feature classes skip.
    /// </summary>
    private sealed class BufferedResponse(MemoryStream body) : HttpResponseFeature, IHttpResponseBodyFeature
    {
        private readonly List<(Func<object, Task> Callback, object State)> _starting = [];
        private readonly List<(Func<object, Task> Callback, object State)> _completed = [];
        private bool _started;

        public override bool HasStarted => _started;

        public override void OnStarting(Func<object, Task> callback, object state) => _starting.Add((callback, state));

        public override void OnCompleted(Func<object, Task> callback, object state) => _completed.Add((callback, state));

        Stream IHttpResponseBodyFeature.Stream => new StartingStream(this, body);

        System.IO.Pipelines.PipeWriter IHttpResponseBodyFeature.Writer => System.IO.Pipelines.PipeWriter.Create(new StartingStream(this, body), new(leaveOpen: true));

        public void DisableBuffering() { }

        public Task StartAsync(CancellationToken cancellationToken = default) => StartOnceAsync();

        public async Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
        {
            await StartOnceAsync();
            await using var file = File.OpenRead(path);
            file.Seek(offset, SeekOrigin.Begin);
            if (count is { } n)
            {
                var buffer = new byte[n];
                await file.ReadExactlyAsync(buffer, cancellationToken);
                await body.WriteAsync(buffer, cancellationToken);
            }
            else await file.CopyToAsync(body, cancellationToken);
        }

        public async Task CompleteAsync()
        {
            await StartOnceAsync();
            for (var i = _completed.Count - 1; i >= 0; i--) await _completed[i].Callback(_completed[i].State);
            _completed.Clear();
        }

        internal async Task StartOnceAsync()
        {
            if (_started) return;
            // Registered last runs first, as on Kestrel.
            for (var i = _starting.Count - 1; i >= 0; i--) await _starting[i].Callback(_starting[i].State);
            _starting.Clear();
            _started = true;
        }
    }

    /// <summary>The body stream: its first write starts the response.</summary>
    private sealed class StartingStream(BufferedResponse response, MemoryStream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush() { }

        public override Task FlushAsync(CancellationToken cancellationToken) => response.StartOnceAsync();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            response.StartOnceAsync().GetAwaiter().GetResult();
            inner.Write(buffer, offset, count);
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await response.StartOnceAsync();
            await inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }
}
