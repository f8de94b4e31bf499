using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Gapura.Tests.Budgets.Alerts;

/// <summary>One POST as the receiver saw it.</summary>
internal sealed record ReceivedHook(string Path, string ContentType, IReadOnlyDictionary<string, string> Headers, string Body);

/// <summary>
/// A real webhook receiver on 127.0.0.1 (Kestrel, port 0). <see cref="Respond"/> decides each answer from the attempt
/// number (1-based, counted over all POSTs to <see cref="HookPath"/>); POSTs anywhere else (a redirect's target) are
/// recorded in <see cref="Elsewhere"/>.
/// </summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    /// <summary>The webhook's path carries a token, as chat webhooks do: it must never reach a log line.</summary>
    public const string HookPath = "/hooks/secret-path-token";

    private readonly WebApplication _app;
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _attempts;

    private WebhookReceiver(WebApplication app) => _app = app;

    public Func<int, HttpContext, Task> Respond { get; set; } = (_, _) => Task.CompletedTask;

    public ConcurrentQueue<ReceivedHook> Received { get; } = new();

    public ConcurrentQueue<string> Elsewhere { get; } = new();

    public string BaseUrl => _app.Urls.First();

    public string Url => BaseUrl + HookPath;

    /// <summary>Never answers until the receiver is disposed (bounded: disposal ends it).</summary>
    public Task Hang() => _release.Task;

    public static async Task<WebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        app.MapPost(HookPath, async (HttpContext http) =>
        {
            using var reader = new StreamReader(http.Request.Body);
            var body = await reader.ReadToEndAsync();
            var headers = http.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString());
            receiver.Received.Enqueue(new ReceivedHook(http.Request.Path, http.Request.ContentType ?? "", headers, body));
            await receiver.Respond(Interlocked.Increment(ref receiver._attempts), http);
        });
        app.MapFallback((HttpContext http) =>
        {
            receiver.Elsewhere.Enqueue(http.Request.Method + " " + http.Request.Path);
            return Results.Ok();
        });
        await app.StartAsync();
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        _release.TrySetResult();
        await _app.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(5)).Token);
        await _app.DisposeAsync();
    }
}

/// <summary>Collects formatted log lines of every category into one list, safely from any thread.</summary>
internal sealed class LogSink
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyList<string> Lines => [.. _lines];

    public ILogger<T> For<T>() => new Logger<T>(this);

    private sealed class Logger<T>(LogSink sink) : ILogger<T>
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => sink._lines.Enqueue($"{logLevel}: {formatter(state, exception)}{(exception is null ? "" : " " + exception.Message)}");
    }
}

internal static class Eventually
{
    /// <summary>Polls until <paramref name="done"/> holds, for at most <paramref name="seconds"/>; false if it never did.</summary>
    public static async Task<bool> HoldsAsync(Func<Task<bool>> done, double seconds = 5)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(seconds))
        {
            if (await done()) return true;
            await Task.Delay(10);
        }
        return await done();
    }

    public static Task<bool> HoldsAsync(Func<bool> done, double seconds = 5) => HoldsAsync(() => Task.FromResult(done()), seconds);
}
