using System.Net.Http.Headers;
using Gapura.Conversations;
using Gapura.Providers.Accounts;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace Gapura.Providers.Bedrock;

/// <summary>
/// The HTTP side of Bedrock: signs a ConverseStream call with one account's keys, sends it to that account's
/// region, and returns the response once its headers arrived (the body, an event stream, is read as it flows).
/// Retries before the first byte, like KiroClient: 429, 5xx and connection failures with exponential backoff
/// honouring Retry-After; 4xx are never retried. Each attempt is signed afresh, since a signature carries its time.
/// </summary>
internal sealed class BedrockClient
{
    private const int MaxErrorBodyBytes = 8192;
    public const string Service = "bedrock";

    private readonly HttpClient _http;
    private readonly BedrockOptions _options;
    private readonly ILogger<BedrockClient> _log;
    private readonly TimeProvider _time;
    private readonly ResiliencePipeline<HttpResponseMessage> _retry;

    public BedrockClient(HttpClient http, IOptions<BedrockOptions> options, ILogger<BedrockClient> log, TimeProvider? time = null)
    {
        _http = http;
        _options = options.Value;
        _log = log;
        _time = time ?? TimeProvider.System;
        _retry = UpstreamRetry.Build("Bedrock", _options.MaxAttempts, _options.RetryBaseDelayMilliseconds, _options.MaxRetryDelaySeconds, _log, _time);
    }

    /// <summary>Sends a ConverseStream call; returns a successful response whose body is the event stream.</summary>
    public Task<HttpResponseMessage> ConverseStreamAsync(string modelId, byte[] body, AccountSecret account, CancellationToken ct)
        => SendAsync(modelId, "converse-stream", "application/vnd.amazon.eventstream", body, account, ct);

    /// <summary>Sends a Converse call; returns a successful response whose body is the whole answer as JSON.</summary>
    public Task<HttpResponseMessage> ConverseAsync(string modelId, byte[] body, AccountSecret account, CancellationToken ct)
        => SendAsync(modelId, "converse", "application/json", body, account, ct);

    /// <summary>The account's own region, else the gateway's: keys are valid everywhere, but model access is granted per region.</summary>
    /// <exception cref="GatewayException">UpstreamLogin when neither names one: the account cannot be used here.</exception>
    private string RegionOf(AccountSecret account)
        => !string.IsNullOrWhiteSpace(account.Region) ? account.Region.Trim()
            : !string.IsNullOrWhiteSpace(_options.Region) ? _options.Region.Trim()
            : throw new GatewayException(ErrorKind.UpstreamLogin,
                "Bedrock has no region for this account: connect the login again with a region (`--region`, or \"region\" in the admin API) or set Providers:Bedrock:Region.");

    private async Task<HttpResponseMessage> SendAsync(string modelId, string operation, string accept, byte[] body, AccountSecret account, CancellationToken ct)
    {
        var credentials = new AwsCredentials(account.AccessKeyId ?? "", account.SecretAccessKey ?? "", account.SessionToken);
        var region = RegionOf(account);
        var endpoint = _options.EndpointFor(region);
        // The model id is one path segment, so its ':' and '/' (ARNs) are escaped.
        var url = $"{endpoint}/model/{Uri.EscapeDataString(modelId)}/{operation}";
        var attempt = 0;
        HttpResponseMessage response;
        try
        {
            response = await _retry.ExecuteAsync(async (_, attemptCt) =>
            {
                attempt++;
                using var request = new HttpRequestMessage(HttpMethod.Post, url);
                request.Content = new ByteArrayContent(body);
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                request.Headers.Accept.ParseAdd(accept);
                request.Headers.TryAddWithoutValidation("User-Agent", _options.UserAgent);
                request.Headers.TryAddWithoutValidation("amz-sdk-invocation-id", Guid.NewGuid().ToString());
                request.Headers.TryAddWithoutValidation("amz-sdk-request", $"attempt={attempt}; max={_options.MaxAttempts}");
                SigV4Signer.Sign(request, body, credentials, region, Service, _time.GetUtcNow());
                return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, attemptCt);
            }, ct, ct);
        }
        catch (HttpRequestException e)
        {
            throw new GatewayException(ErrorKind.UpstreamUnavailable, $"Could not reach Bedrock at {endpoint}: {e.Message}", 502, inner: e);
        }

        if (response.IsSuccessStatusCode) return response;
        using (response)
        {
            var error = await ReadErrorBodyAsync(response, ct);
            var type = response.Headers.TryGetValues("x-amzn-ErrorType", out var values) ? values.FirstOrDefault() : null;
            throw BedrockErrors.FromHttp((int)response.StatusCode, type, error, UpstreamRetry.RetryAfterHeader(response, _time));
        }
    }

    private static async Task<byte[]> ReadErrorBodyAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            var bytes = await response.Content.ReadAsByteArrayAsync(ct);
            return bytes.Length > MaxErrorBodyBytes ? bytes[..MaxErrorBodyBytes] : bytes;
        }
        catch (HttpRequestException) { return []; }
    }
}
