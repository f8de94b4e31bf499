using System.Net.Http.Headers;
using System.Globalization;
using Gapura.Conversations;
using Gapura.Providers;

namespace Gapura.Budgets.Alerts;

/// <summary>
/// POSTs one alert's JSON to <c>Budgets:WebhookUrl</c>: up to <see cref="BudgetAlertTuning.MaxAttempts"/> attempts,
/// waiting 1 s, 2 s, 4 s, 8 s between them (or the receiver's <c>Retry-After</c>, if longer), on network errors,
/// time-outs, 5xx and 429. Any other answer is final: a 2xx is delivered, a 4xx is the receiver refusing this event, and
/// a 3xx is refused like every upstream redirect (<see cref="UpstreamHttp"/>) — a receiver that moved must be
/// reconfigured, not followed.
/// </summary>
internal sealed class BudgetWebhook(Uri url, BudgetAlertTuning tuning, TimeProvider time, ILogger log) : IDisposable
{
    private readonly HttpClient _http = UpstreamHttp.Create(UpstreamHttp.Handler(), tuning.AttemptTimeout);
    private readonly string _target = BudgetAlerts.Describe(url);

    /// <summary>True once the receiver took it; false when it refused it or every attempt failed (both logged).</summary>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> fired (shutdown).</exception>
    public async Task<bool> DeliverAsync(BudgetAlert alert, CancellationToken ct)
    {
        var body = alert.ToJson();
        for (var attempt = 1; ; attempt++)
        {
            string failure;
            var retry = true;
            TimeSpan? retryAfter = null;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
                request.Headers.UserAgent.Add(new ProductInfoHeaderValue("gapura", typeof(BudgetWebhook).Assembly.GetName().Version?.ToString(3) ?? "0"));
                request.Headers.Add("x-gapura-event", alert.Event);
                request.Headers.Add("x-gapura-event-id", alert.Id);
                request.Headers.Add("x-gapura-attempt", attempt.ToString(CultureInfo.InvariantCulture));
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
                var status = (int)response.StatusCode;
                if (status is >= 200 and <= 299)
                {
                    log.LogInformation("Budget alert {Event} {Id} delivered to the webhook at {Webhook} (attempt {Attempt})", alert.Event, alert.Id, _target, attempt);
                    return true;
                }
                failure = $"it answered {status}";
                retry = status is >= 500 or 429;
                retryAfter = RetryAfter(response.Headers.RetryAfter);
            }
            catch (GatewayException e)
            {
                // The redirect guard: its message names where the receiver pointed (scheme, host and path, no query).
                failure = e.Message;
                retry = false;
            }
            catch (HttpRequestException e)
            {
                failure = e.Message;
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                failure = $"no answer within {tuning.AttemptTimeout.TotalSeconds:0.#} s";
            }

            if (!retry || attempt >= tuning.MaxAttempts)
            {
                log.LogWarning("Budget alert {Event} {Id} was not delivered to the webhook at {Webhook}: {Failure} ({Outcome})",
                    alert.Event, alert.Id, _target, failure, retry ? $"gave up after {attempt} attempts" : "not retried");
                return false;
            }
            var delay = tuning.BaseDelay * Math.Pow(2, attempt - 1);
            if (retryAfter is { } asked && asked > delay) delay = asked < tuning.MaxRetryAfter ? asked : tuning.MaxRetryAfter;
            log.LogInformation("Budget alert {Event} {Id}: attempt {Attempt} to the webhook at {Webhook} failed ({Failure}); retrying in {Delay} ms",
                alert.Event, alert.Id, attempt, _target, failure, (long)delay.TotalMilliseconds);
            await Task.Delay(delay, time, ct);
        }
    }

    private TimeSpan? RetryAfter(RetryConditionHeaderValue? header)
        => header?.Delta ?? (header?.Date is { } at ? at - time.GetUtcNow() : null);

    public void Dispose() => _http.Dispose();
}
