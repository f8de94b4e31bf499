using Polly;
using Polly.Retry;

namespace Gapura.Providers;

/// <summary>
/// The retry policy every upstream HTTP client shares: connection failures, 429 and 5xx are tried again with
/// exponential backoff and jitter before the first byte, honouring the upstream's Retry-After but capped, so a
/// long quota window is not waited out here (the caller sees the error and can fall back to another account or
/// provider). Each upstream adds only what is its own: a response that must not be retried (a spent quota, an
/// explicit "do not retry"), a connection error that is a refusal, or a finer wait header.
/// </summary>
internal static class UpstreamRetry
{
    public static ResiliencePipeline<HttpResponseMessage> Build(
        string upstream,
        int maxAttempts,
        double baseDelayMilliseconds,
        double maxDelaySeconds,
        ILogger log,
        TimeProvider? time = null,
        Func<HttpResponseMessage, CancellationToken, ValueTask<bool>>? refuseRetry = null,
        Func<HttpRequestException, bool>? retryConnectionError = null,
        Func<HttpResponseMessage, TimeSpan?>? retryAfter = null)
    {
        // One attempt is no retry: Polly refuses a retry strategy with zero retries, so there is none.
        if (maxAttempts <= 1) return ResiliencePipeline<HttpResponseMessage>.Empty;
        var clock = time ?? TimeProvider.System;
        var maxDelay = TimeSpan.FromSeconds(maxDelaySeconds);
        return new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = clock }
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = maxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(Math.Max(1, baseDelayMilliseconds)),
                MaxDelay = maxDelay,
                ShouldHandle = async args => args.Outcome switch
                {
                    { Exception: HttpRequestException e } => retryConnectionError?.Invoke(e) ?? true,
                    { Exception: OperationCanceledException } => false,
                    { Result: { } r } => (int)r.StatusCode is 429 or >= 500
                                         && !(refuseRetry is not null && await refuseRetry(r, args.Context.CancellationToken)),
                    _ => false,
                },
                // Null lets Polly use its own backoff.
                DelayGenerator = args => ValueTask.FromResult(args.Outcome.Result is { } r
                    ? Cap(retryAfter?.Invoke(r) ?? RetryAfterHeader(r, clock), maxDelay)
                    : null),
                OnRetry = args =>
                {
                    log.LogWarning("{Upstream} call failed ({Outcome}); retry {Attempt} in {Delay} ms", upstream,
                        args.Outcome.Result is { } r ? ((int)r.StatusCode).ToString() : args.Outcome.Exception?.GetType().Name,
                        args.AttemptNumber + 1, (int)args.RetryDelay.TotalMilliseconds);
                    args.Outcome.Result?.Dispose();
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    /// <summary>The standard Retry-After header as a wait (never negative), uncapped; null when absent.</summary>
    public static TimeSpan? RetryAfterHeader(HttpResponseMessage response, TimeProvider? time = null)
    {
        var header = response.Headers.RetryAfter;
        var delay = header?.Delta ?? (header?.Date is { } at ? at - (time ?? TimeProvider.System).GetUtcNow() : null);
        return delay < TimeSpan.Zero ? TimeSpan.Zero : delay;
    }

    private static TimeSpan? Cap(TimeSpan? delay, TimeSpan max) => delay > max ? max : delay;
}
