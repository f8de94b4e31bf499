using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using Gapura.Budgets;
using Gapura.Budgets.RateLimits;
using Gapura.Conversations;
using Gapura.Formats;
using Gapura.Hosting.Shutdown;
using Gapura.Identity;
using Gapura.Providers;
using Gapura.Routing;
using Gapura.Storage;
using Gapura.Ledger;
using Gapura.Telemetry;
using Microsoft.Extensions.Options;

namespace Gapura.Api;

/// <summary>
/// One chat request end to end, whatever the front door: read and parse the body, resolve the model,
/// call the provider, and write the answer — streamed event by event, or whole.
/// </summary>
internal sealed class ChatPipeline(
    TaskRouter router,
    BudgetGate budgets,
    ProviderChain chain,
    UsageLedger ledger,
    PriceTable prices,
    IOptions<GatewayOptions> options,
    ILogger<ChatPipeline> log,
    TimeProvider time,
    RateLimiter rateLimiter,
    GracefulShutdown shutdown,
    InputTokenCalibration calibration,
    Hosting.Memory.LargeBodyMemory memory)
{
    /// <summary>The request's id in the usage ledger, on every answer, so a user can point at one request.</summary>
    public const string RequestIdHeader = "x-gapura-request-id";

    private const int MaxEventsPerFlush = 64;

    private const int MaxRecordedModel = 200;

    private readonly GatewayOptions _options = options.Value;

    /// <param name="frontDoor">The dialect's name (<see cref="FrontDoors"/>), for providers that can pass it through unchanged.</param>
    public async Task HandleAsync(HttpContext http, IFrontDoor door, string frontDoor)
    {
        var started = Stopwatch.GetTimestamp();
        var arrivedAt = time.GetUtcNow();
        var requestId = Guid.CreateVersion7(arrivedAt).ToString("N");
        http.Response.Headers[RequestIdHeader] = requestId;
        using var activity = GapuraTracing.StartRequest(requestId, frontDoor, http.Request.Headers.TraceParent, http.Request.Headers.TraceState);
        var ct = http.RequestAborted;
        string model = "?";
        var stream = false;
        string? sessionId = null;
        Usage? usage = null;
        GatewayException? failure = null;
        var finished = false;
        ChatContext? context = null;
        RouteDecision? route = null;
        BudgetAdmission? admission = null;
        RateLease? rateLease = null;
        var client = ClientApps.Recognize(http.Request.Headers);
        var refused = false;
        try
        {
            // The host is stopping (Kestrel no longer accepts connections, but a request can still come on one it had).
            if (shutdown.IsStopping) { refused = true; throw GracefulShutdown.Refused(); }
            using var body = await ReadJsonBodyAsync(http.Request, _options.MaxRequestBodyBytes, ct);
            memory.BodyRead(body.Raw.Length);
            sessionId = ClientApps.SessionId(http.Request.Headers, body.Json.RootElement);
            var caller = http.FindCaller();
            // A door that keeps answers reads the caller's earlier ones the request refers to (Responses previous_response_id).
            var (request, turn) = door is IStatefulFrontDoor stateful ? await stateful.ParseAsync(body, caller, ct) : (body.Parse(door), null);
            model = request.Model;
            stream = request.Stream;
            if (stream) ledger.StreamStarted();
            GapuraTracing.RequestParsed(activity, request);
            var estimated = RequestTokenCounter.Count(request);
            rateLease = await rateLimiter.AcquireAsync(caller, estimated, ct);
            route = await router.DecideAsync(request, http.Request.Headers, client, caller, sessionId, estimated, ct);
            admission = await budgets.AdmitAsync(caller, route, estimated, ct);
            if (admission is not null)
            {
                if (admission.Header is { } budgetHeader) http.Response.Headers[BudgetGate.Header] = budgetHeader;
                if (admission.Refusal is { } refusal) throw refusal;
                if (admission.RestrictedBy is not null) route = await router.RestrictAsync(route, request, http.Request.Headers, client, caller, estimated, ct);
            }
            var note = admission?.Note;
            var asked = request;
            request = route.Request; // the profile's max_tokens / temperature, when routed
            var candidates = chain.Order(route.Candidates);
            if (route.Routed) http.Response.Headers[TaskRouter.RouteHeader] = route.Header(null, null);

            context = new ChatContext { Caller = caller, EstimatedInputTokens = estimated, Route = route };
            // Before the passthrough decision, so a body forwarded unchanged is checked as well.
            candidates = CapabilityCheck.Filter(request, context.EstimatedInputTokens,
                CapabilityCheck.AsksLongContext(http.Request.Headers["anthropic-beta"]), candidates);
            // What a stream announces before the upstream speaks: the estimate, corrected by what the likeliest model's answers taught.
            var response = new ResponseContext(door.NewResponseId(), request.Model, time.GetUtcNow(), request,
                calibration.AtStart(candidates[0].Model.Id, context.EstimatedInputTokens)) { Turn = turn };

            // A body the profile changed (max_tokens, temperature) cannot be forwarded as received, nor an answer that gets a note,
            // nor one whose max_tokens is over the model's (probed) cap: the canonical path clamps it instead of the upstream refusing it.
            // Nor a request that continues a kept answer or is to be kept: the body does not say it all, or the answer must be read.
            var passthrough = ReferenceEquals(asked, request) && note is null && turn is null && !(request.MaxTokens > candidates[0].Model.MaxOutputTokens)
                ? await TryPassThroughAsync(http, door, frontDoor, body.Raw, request.Stream, candidates, context, response, ct)
                : default;
            if (passthrough.Relayed is { } relayed)
            {
                // The best candidate spoke the caller's own dialect and answered; its bytes went through unchanged.
                usage = relayed;
            }
            else
            {
                if (passthrough.FailedFirst) candidates = candidates.Skip(1).ToList();
                usage = request.Stream
                    ? await StreamAsync(http, door, request, candidates, context, response, note, ct)
                    : await CompleteAsync(http, door, request, candidates, context, response, note, ct);
            }
            finished = true;
            if (context.ServedModel is { } served) calibration.Learn(served, context.EstimatedInputTokens, usage.InputTokens);
        }
        catch (GatewayException e) when (!http.Response.HasStarted)
        {
            // A routed request that ran out of models is the profile's failure: say which, whatever the last upstream said.
            var error = route is { Routed: true } && e.IsRetryable && context?.ServedBy is not null
                ? new GatewayException(ErrorKind.UpstreamUnavailable, $"Routing profile '{route.Profile!.Name}': every model failed; the last ({context.ServedModel} on {context.ServedBy}): {e.Message}", 503, e.RetryAfter)
                : e;
            failure = error;
            if (error.Kind != ErrorKind.ShuttingDown || refused) // a request ended by the shutdown gets its own line below
                log.LogWarning("{Path} model={Model} failed before the first byte: {Status} {Kind}: {Message}", http.Request.Path, model, error.Status, error.Kind, error.Message);
            await door.WriteErrorAsync(http.Response, error);
        }
        catch (DatabaseUnavailableException e) when (!http.Response.HasStarted)
        {
            log.LogError("{Path}: the gateway's database is unavailable: {Error}", http.Request.Path, e.Message);
            failure = new GatewayException(ErrorKind.UpstreamUnavailable, "The gateway's database is unavailable; try again shortly.", 503);
            await door.WriteErrorAsync(http.Response, failure);
        }
        catch (Exception e) when (e is not GatewayException && e is not OperationCanceledException && !http.Response.HasStarted)
        {
            log.LogError(e, "{Path} model={Model}: unexpected failure", http.Request.Path, model);
            failure = new GatewayException(ErrorKind.Internal, "The gateway failed to process the request.");
            await door.WriteErrorAsync(http.Response, failure);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            log.LogInformation("{Path} model={Model}: the client went away", http.Request.Path, model);
        }
        finally
        {
            if (stream) ledger.StreamEnded();
            var elapsed = Stopwatch.GetElapsedTime(started);
            // A stream that failed mid-way answered 200 but still failed; a client that left was not served whole.
            failure ??= context?.Failure;
            var status = failure is not null ? UsageStatus.Error
                : finished ? UsageStatus.Ok
                : ct.IsCancellationRequested ? UsageStatus.ClientClosed
                : UsageStatus.Error;
            // An exception that escaped after the answer had started is the gateway's own failure.
            var errorKind = failure is not null ? UsageRecord.KindName(failure.Kind) : status == UsageStatus.Error ? UsageRecord.KindName(ErrorKind.Internal) : null;
            usage ??= context?.PartialUsage;
            if (failure?.Kind == ErrorKind.ShuttingDown && !refused)
                log.LogWarning("Shutdown ended request {RequestId} {Path} model={Model} user={UserId} after {Seconds:F1} s: {How}",
                    requestId, http.Request.Path, model, http.FindCaller()?.UserId, elapsed.TotalSeconds,
                    http.Response.StatusCode == 200 ? "the stream ended with the format's error event" : "answered 503");
            rateLease?.Release(usage is null ? 0 : (long)usage.InputTokens + usage.OutputTokens);
            var record = Record(http, requestId, arrivedAt, frontDoor, model, stream, sessionId, client, route, context, usage, status, errorKind, started, elapsed);
            if (admission is not null) budgets.Settle(admission, usage, record.CostUsd);
            GapuraTracing.EndRequest(activity, record, hasUsage: usage is not null);
        }
    }

    /// <summary>Hands the finished request to the usage ledger: values already at hand, no database on this path.</summary>
    private UsageRecord Record(HttpContext http, string requestId, DateTimeOffset arrivedAt, string frontDoor, string model, bool stream, string? sessionId,
        ClientApp client, RouteDecision? route, ChatContext? context, Usage? usage, string status, string? errorKind, long started, TimeSpan elapsed)
    {
        var caller = http.FindCaller();
        var served = context?.ServedModel;
        usage ??= Usage.Zero;
        var record = new UsageRecord
        {
            RequestId = requestId,
            At = arrivedAt,
            UserId = caller?.UserId,
            KeyId = caller?.KeyId,
            KeyPrefix = caller?.KeyPrefix,
            Client = client.Name,
            ClientVersion = client.Version,
            UserAgent = client.UserAgent,
            SessionId = sessionId,
            FrontDoor = frontDoor,
            RequestedModel = model.Length <= MaxRecordedModel ? model : model[..MaxRecordedModel], // a client's name, not a catalog id: bounded
            Provider = context?.ServedBy,
            Login = context?.ResponseHeaders.GetValueOrDefault(ProviderChain.LoginHeader),
            UpstreamModel = served,
            Fallbacks = context?.Fallbacks ?? 0,
            FailedAttempts = context?.FailedAttempts,
            Stream = stream,
            Task = route?.Task ?? "unknown",
            Profile = route?.Profile?.Name,
            Variant = route?.Variant,
            ToolErrors = route is null ? 0 : TaskRouter.ToolErrors(route.Request),
            InputTokens = usage.InputTokens,
            OutputTokens = usage.OutputTokens,
            CacheReadTokens = usage.CacheReadTokens,
            CacheWriteTokens = usage.CacheWriteTokens,
            ReasoningTokens = usage.ReasoningTokens,
            Estimated = usage.Estimated,
            Credits = usage.Credits,
            CostUsd = served is null ? null : prices.CostOf(context!.ServedBy, served, usage),
            TimeToFirstByteMs = context?.FirstByteAt is > 0 and var first ? Stopwatch.GetElapsedTime(started, first).TotalMilliseconds : null,
            DurationMs = elapsed.TotalMilliseconds,
            HttpStatus = http.Response.StatusCode,
            Status = status,
            ErrorKind = errorKind,
        };
        ledger.Record(record);
        return record;
    }

    private async Task<Usage> CompleteAsync(HttpContext http, IFrontDoor door, ChatRequest request, IReadOnlyList<ResolvedModel> candidates, ChatContext context, ResponseContext response,
        string? note, CancellationToken ct)
    {
        // Linked to the shutdown deadline too: an answer still awaited then is ended with a 503.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct, shutdown.Deadline);
        timeout.CancelAfter(TimeSpan.FromSeconds(_options.FirstByteTimeoutSeconds));
        var builder = new ChatResultBuilder();
        var first = true;
        try
        {
            await foreach (var e in BudgetNote.Append(chain.StreamAsync(request, candidates, context, timeout.Token), note).WithCancellation(timeout.Token))
            {
                // The deadline is for the upstream's first event; a long answer that has started may take its time.
                if (first) { timeout.CancelAfter(Timeout.InfiniteTimeSpan); first = false; }
                builder.Add(e);
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            throw shutdown.Deadline.IsCancellationRequested ? shutdown.Ended() : FirstByteTimeout();
        }
        var result = builder.Build();
        CopyHeaders(http, context);
        context.FirstByteAt = Stopwatch.GetTimestamp();
        await door.WriteResultAsync(http.Response, result, response, ct);
        return result.Usage;
    }

    /// <summary>
    /// Streams provider events to the client as they arrive. The 200 and SSE headers are held back until
    /// the first event (so an upstream that fails at once gets a real HTTP error status) or until the
    /// keep-alive interval passes; after that, silence is filled with the format's keep-alive and a
    /// failure ends the stream with the format's error event.
    /// </summary>
    private async Task<Usage> StreamAsync(HttpContext http, IFrontDoor door, ChatRequest request, IReadOnlyList<ResolvedModel> candidates, ChatContext context, ResponseContext response,
        string? note, CancellationToken ct)
    {
        // The shutdown deadline stops the upstream, never a write: the stream then ends after a whole event.
        using var upstreamCts = CancellationTokenSource.CreateLinkedTokenSource(ct, shutdown.Deadline);
        var keepAlive = TimeSpan.FromSeconds(_options.KeepAliveSeconds);
        var firstByteTimeout = TimeSpan.FromSeconds(_options.FirstByteTimeoutSeconds);
        var idleTimeout = TimeSpan.FromSeconds(_options.IdleTimeoutSeconds);
        var lastEventAt = time.GetTimestamp();
        var lastWriteAt = lastEventAt;
        var writer = door.CreateStreamWriter(http.Response.BodyWriter, response);
        var events = BudgetNote.Append(chain.StreamAsync(request, candidates, context, upstreamCts.Token), note).GetAsyncEnumerator(upstreamCts.Token);
        Task<bool>? pending = null;
        Usage? usage = null;
        var gotFirst = false;
        var unflushed = 0;
        var sentChars = 0;
        try
        {
            while (true)
            {
                bool hasEvent;
                var next = events.MoveNextAsync();
                if (next.IsCompletedSuccessfully) hasEvent = next.Result; // frames already buffered: no timer, no flush yet
                else
                {
                    // About to wait for the upstream: send everything decoded so far first.
                    unflushed = 0;
                    await writer.FlushAsync(ct);
                    pending = next.AsTask();
                    while (true)
                    {
                        // Wake for whichever comes first, the next keep-alive or the timeout: waking only at
                        // keep-alive ticks would stretch a first-byte timeout shorter than the interval to the interval.
                        var silent = time.GetElapsedTime(lastEventAt);
                        var limit = gotFirst ? idleTimeout : firstByteTimeout;
                        if (silent >= limit)
                            throw gotFirst
                                ? new GatewayException(ErrorKind.Timeout, $"The upstream went silent for {_options.IdleTimeoutSeconds:0.#} s mid-answer (setting Gateway:IdleTimeoutSeconds).")
                                : FirstByteTimeout();
                        var untilKeepAlive = keepAlive - time.GetElapsedTime(lastWriteAt);
                        if (untilKeepAlive <= TimeSpan.Zero)
                        {
                            if (!http.Response.HasStarted) await StartStreamAsync(http, context);
                            await writer.WriteKeepAliveAsync(ct);
                            lastWriteAt = time.GetTimestamp();
                            continue;
                        }
                        var wait = untilKeepAlive < limit - silent ? untilKeepAlive : limit - silent;
                        try { hasEvent = await pending.WaitAsync(wait, time, ct); break; }
                        catch (TimeoutException) { /* a keep-alive or a timeout is due: the checks above decide */ }
                    }
                    pending = null;
                }
                if (!hasEvent) break;
                if (!gotFirst) { gotFirst = true; context.FirstByteAt = Stopwatch.GetTimestamp(); }
                lastEventAt = lastWriteAt = time.GetTimestamp();
                if (!http.Response.HasStarted) await StartStreamAsync(http, context);
                var e = events.Current;
                switch (e)
                {
                    case MessageEnd end: usage = end.Usage; break;
                    case TextDelta t: sentChars += t.Text.Length; break;
                    case ReasoningDelta r: sentChars += r.Text.Length; break;
                    case ToolCallDelta d: sentChars += d.ArgumentsFragment.Length; break;
                }
                writer.Write(e);
                // A burst of already-decoded frames still goes out in bounded slices.
                if (++unflushed == MaxEventsPerFlush) { unflushed = 0; await writer.FlushAsync(ct); }
            }
            await writer.FlushAsync(ct);
            if (usage is null) throw new GatewayException(ErrorKind.UpstreamUnavailable, "The upstream stream ended without completing the response.");
            return usage;
        }
        catch (Exception) when (!http.Response.HasStarted && shutdown.Deadline.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            throw shutdown.Ended(); // nothing sent yet: the caller gets a 503 in its format
        }
        catch (Exception e) when (http.Response.HasStarted && !ct.IsCancellationRequested)
        {
            var error = shutdown.Deadline.IsCancellationRequested ? shutdown.Ended() : e as GatewayException ?? Unexpected(e);
            if (error.Kind != ErrorKind.ShuttingDown) // logged once, by HandleAsync
                log.LogWarning("{Path} stream failed after the first byte: {Kind}: {Message}", http.Request.Path, error.Kind, error.Message);
            context.Failure = error;
            await writer.WriteErrorAsync(error, ct);
            return usage ?? SentSoFar(context, sentChars);
        }
        finally
        {
            // A client that leaves mid-answer is charged what it was sent: the input and the output written so far.
            if (usage is null && gotFirst) context.PartialUsage = SentSoFar(context, sentChars);
            // An async iterator cannot be disposed while a MoveNextAsync is in flight: cancel it and let it settle.
            upstreamCts.Cancel();
            if (pending is not null) { try { await pending; } catch { /* already reported or cancelled */ } }
            await events.DisposeAsync();
        }
    }

    private static Usage SentSoFar(ChatContext context, int sentChars)
        => new(context.EstimatedInputTokens, TokenEstimator.FromCharCount(sentChars), Estimated: true);

    private static async Task StartStreamAsync(HttpContext http, ChatContext context)
    {
        JsonResponses.PrepareEventStream(http.Response);
        CopyHeaders(http, context);
        await http.Response.StartAsync();
    }

    private GatewayException FirstByteTimeout() => new(ErrorKind.Timeout,
        $"The upstream sent nothing within {_options.FirstByteTimeoutSeconds:0.#} s (setting Gateway:FirstByteTimeoutSeconds).");

    private GatewayException Unexpected(Exception e)
    {
        log.LogError(e, "Unexpected failure while streaming");
        return new GatewayException(ErrorKind.Internal, "The gateway failed while streaming the response.", inner: e);
    }

    /// <summary>
    /// When the best candidate's provider speaks the caller's own dialect, it forwards the body unchanged but for
    /// the model and auth, and the answer is relayed byte for byte. A retryable failure before the first byte
    /// leaves the request to the other candidates on the canonical path.
    /// </summary>
    private async Task<(Usage? Relayed, bool FailedFirst)> TryPassThroughAsync(HttpContext http, IFrontDoor door, string frontDoor, byte[] raw, bool stream,
        IReadOnlyList<ResolvedModel> candidates, ChatContext context, ResponseContext response, CancellationToken ct)
    {
        var best = candidates[0];
        var provider = chain.For(best);
        if (provider is not IPassthroughProvider passthrough || !passthrough.CanPassThrough(frontDoor, context)) return (null, false);
        var headers = http.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        using var attempt = GapuraTracing.StartAttempt(provider.Name, best, response.Request.MaxTokens);
        // The upstream is read until the client leaves or the shutdown deadline passes; writes to the client stop only when it leaves.
        using var relay = LinkedCancellation.Rent(ct, shutdown.Deadline);
        PassthroughResponse upstream;
        try
        {
            upstream = await passthrough.SendAsync(new PassthroughRequest(frontDoor, raw, headers, best, context, stream), relay.Token);
        }
        catch (Exception e) when (GapuraTracing.Failed(attempt, e)) { throw; /* never: the filter only marks the span */ }
        catch (Exception) when (shutdown.Deadline.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            throw shutdown.Ended(); // nothing sent yet: the caller gets a 503 in its format
        }
        catch (GatewayException e) when (e.IsRetryable && candidates.Count > 1 && !ct.IsCancellationRequested)
        {
            log.LogWarning("Falling back from {Provider} ({Model}) to {Next}: {Kind} {Status}: {Reason}",
                provider.Name, best.Model.Id, candidates[1].Model.Provider, e.Kind, e.Status, e.Message);
            context.ResponseHeaders.Clear();
            context.RecordFailedAttempt(provider.Name, e.Kind);
            return (null, true);
        }
        await using (upstream)
        {
            ProviderChain.Describe(context, provider, best);
            http.Response.StatusCode = upstream.Status;
            http.Response.ContentType = upstream.ContentType;
            foreach (var (name, value) in upstream.Headers) http.Response.Headers[name] = value;
            CopyHeaders(http, context);
            byte[]? buffer = null;
            var tap = new UsageTap(stream);
            var relayed = false;
            var held = 0; // bytes of an event not yet complete, kept at the start of the buffer
            var midEvent = false;
            try
            {
                while (true)
                {
                    // Between events, wait for the upstream with no buffer in hand.
                    if (held == 0)
                    {
                        if (buffer is not null) { ArrayPool<byte>.Shared.Return(buffer); buffer = null; }
                        await UpstreamHttp.WaitForDataAsync(upstream.Body, relay.Token);
                    }
                    buffer ??= ArrayPool<byte>.Shared.Rent(16 * 1024);
                    var read = await upstream.Body.ReadAsync(buffer.AsMemory(held), relay.Token);
                    if (read == 0) break;
                    if (context.FirstByteAt == 0) context.FirstByteAt = Stopwatch.GetTimestamp();
                    var filled = held + read;
                    // A stream is relayed whole events at a time, so that it can always be ended cleanly after what was sent
                    // (an error event never lands inside a half-sent one). A client cannot use half an event anyway.
                    var boundary = stream ? EventsEnd(buffer.AsSpan(0, filled)) : filled;
                    var send = boundary == 0 && filled == buffer.Length ? filled : boundary; // an event larger than the buffer goes as it comes
                    if (send > 0)
                    {
                        midEvent = send != boundary;
                        await RelayAsync(http, tap, buffer.AsMemory(0, send), ct);
                    }
                    held = filled - send;
                    if (held > 0 && send > 0) buffer.AsSpan(send, held).CopyTo(buffer);
                }
                if (held > 0) await RelayAsync(http, tap, buffer!.AsMemory(0, held), ct); // the upstream ended without a last blank line
                tap.Complete();
                relayed = true;
            }
            catch (Exception e) when (!ct.IsCancellationRequested && (shutdown.Deadline.IsCancellationRequested || e is IOException or HttpRequestException))
            {
                var ending = shutdown.Deadline.IsCancellationRequested;
                if (ending && !http.Response.HasStarted) throw shutdown.Ended(); // nothing sent yet: a 503 in the caller's format
                // The upstream broke off mid-answer, or the shutdown ends it: a stream ends with the dialect's error event, never a clean stop.
                if (!ending) log.LogWarning("{Path} passthrough from {Provider} broke off: {Error}", http.Request.Path, provider.Name, e.Message);
                context.Failure = ending ? shutdown.Ended() : new GatewayException(ErrorKind.UpstreamUnavailable, $"The {provider.Name} upstream broke off mid-answer.");
                if (stream && !midEvent) await door.CreateStreamWriter(http.Response.BodyWriter, response).WriteErrorAsync(context.Failure, ct);
                else http.Abort();
            }
            finally
            {
                if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
                // The client left mid-answer: what the relayed bytes said so far is what it was charged.
                if (!relayed) context.PartialUsage = tap.Usage ?? new Usage(context.EstimatedInputTokens, 0, Estimated: true);
            }
            GapuraTracing.AttemptUsage(attempt, tap.Usage);
            // Usage as the upstream reported it in the relayed bytes; the gateway's input estimate only if it said nothing.
            return (tap.Usage ?? new Usage(context.EstimatedInputTokens, 0, Estimated: true), false);
        }
    }

    private static async ValueTask RelayAsync(HttpContext http, UsageTap tap, ReadOnlyMemory<byte> bytes, CancellationToken ct)
    {
        await http.Response.Body.WriteAsync(bytes, ct);
        await http.Response.Body.FlushAsync(ct);
        tap.Observe(bytes.Span);
    }

    /// <summary>Where the last complete SSE event in <paramref name="data"/> ends (after its blank line); 0 when none has.</summary>
    private static int EventsEnd(ReadOnlySpan<byte> data)
    {
        var lf = data.LastIndexOf("\n\n"u8);
        var crlf = data.LastIndexOf("\r\n\r\n"u8);
        return Math.Max(lf < 0 ? 0 : lf + 2, crlf < 0 ? 0 : crlf + 4);
    }

    private static void CopyHeaders(HttpContext http, ChatContext context)
    {
        foreach (var (name, value) in context.ResponseHeaders) http.Response.Headers[name] = value;
        // The route as served: after a fallback, the model and provider that answered.
        if (context.Route is { Routed: true } route) http.Response.Headers[TaskRouter.RouteHeader] = route.Header(context.ServedBy, context.ServedModel);
    }

    /// <summary>
    /// Reads the body under a size limit without trusting Content-Length, then parses it once. The bytes are copied out
    /// of Kestrel's buffers as they arrive, into one array of the announced length (or a growing one for a chunked
    /// body): holding a whole 30 MB body in the request pipe would take 7,500 of Kestrel's pooled 4 KB blocks per
    /// request, which its pool gives back only a few percent every ten seconds once the requests are gone.
    /// </summary>
    internal static async Task<RequestBody> ReadJsonBodyAsync(HttpRequest request, long limit, CancellationToken ct)
    {
        if (request.ContentLength > limit) throw TooLarge(limit);
        var reader = request.BodyReader;
        // A copy in any case: JsonDocument keeps pointing into its input, and Kestrel gives its buffers to another
        // connection once they are released. Uninitialized: every byte is written before it is read, and the pages of a
        // large array are only touched as the body arrives. (Only authenticated callers get here.)
        var raw = GC.AllocateUninitializedArray<byte>((int)(request.ContentLength ?? 16 * 1024));
        var length = 0;
        while (true)
        {
            var read = await reader.ReadAsync(ct);
            var buffer = read.Buffer;
            if (length + buffer.Length > limit)
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
                throw TooLarge(limit);
            }
            // Only a chunked body grows (by doubling, up to the limit): Kestrel holds a body to its Content-Length.
            if (length + buffer.Length > raw.Length)
                Array.Resize(ref raw, (int)Math.Min(limit, Math.Max(raw.Length * 2L, length + buffer.Length)));
            buffer.CopyTo(raw.AsSpan(length));
            length += (int)buffer.Length;
            reader.AdvanceTo(buffer.End);
            if (read.IsCompleted) break;
        }
        if (length == 0) throw GatewayException.BadRequest("The request body is empty; a JSON object is required.");
        if (length != raw.Length) Array.Resize(ref raw, length);
        try
        {
            var doc = JsonDocument.Parse(raw, new JsonDocumentOptions { MaxDepth = 128 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                doc.Dispose();
                throw GatewayException.BadRequest("The request body must be a JSON object.");
            }
            // Every string is checked here, once: a front door reads only some of them, and the rest (tool
            // schemas, metadata) would otherwise fail deep inside whatever copies them later, as a 500.
            if (!JsonText.IsAllText(raw))
            {
                doc.Dispose();
                throw Formats.JsonFields.Error(JsonText.FirstInvalidString(raw) ?? "body", JsonText.NotText);
            }
            return new RequestBody(raw, doc);
        }
        catch (JsonException e)
        {
            throw GatewayException.BadRequest($"The request body is not valid JSON: {e.Message}");
        }
    }

    private static GatewayException TooLarge(long limit) =>
        new(ErrorKind.RequestTooLarge, $"The request body is larger than the gateway's limit of {limit} bytes (setting Gateway:MaxRequestBodyBytes).");
}

/// <summary>A request body as received (for passthrough) and parsed (for everything else).</summary>
internal sealed record RequestBody(byte[] Raw, JsonDocument Json) : IDisposable
{
    public void Dispose() => Json.Dispose();

    /// <summary>The front door's reading of the body (whose strings <see cref="ChatPipeline.ReadJsonBodyAsync"/> has checked).</summary>
    public ChatRequest Parse(IFrontDoor door) => Parse(door.ParseRequest);

    /// <inheritdoc cref="Parse(IFrontDoor)"/>
    public ChatRequest Parse(Func<JsonElement, ChatRequest> parse) => parse(Json.RootElement);
}

/// <summary>Checks that every JSON string of a body is valid Unicode text, and finds the one that is not.</summary>
internal static class JsonText
{
    public const string NotText = "not valid text (invalid UTF-8, or a lone UTF-16 surrogate escape such as \\ud800).";

    /// <summary>
    /// True when every string and field name of <paramref name="json"/> (already parsed, so well-formed) is valid text:
    /// no invalid UTF-8 bytes, no escape that decodes to a lone surrogate. Allocation-free: unescaped strings are checked
    /// in place, escaped ones decoded into a pooled buffer.
    /// </summary>
    public static bool IsAllText(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 256 });
        while (reader.Read())
        {
            if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.PropertyName)) continue;
            if (!reader.ValueIsEscaped)
            {
                if (!System.Text.Unicode.Utf8.IsValid(reader.ValueSpan)) return false;
                continue;
            }
            var buffer = System.Buffers.ArrayPool<char>.Shared.Rent(reader.ValueSpan.Length);
            try
            {
                reader.CopyString(buffer);
            }
            catch (InvalidOperationException)
            {
                return false;
            }
            finally
            {
                System.Buffers.ArrayPool<char>.Shared.Return(buffer);
            }
        }
        return true;
    }

    /// <summary>
    /// The path (<c>messages[0].content</c>) of the first string or field name that is not valid text — invalid UTF-8
    /// bytes, or an escape that decodes to a lone surrogate — or null when every one is valid.
    /// </summary>
    public static string? FirstInvalidString(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 256 });
        var containers = new List<int>(); // per open container: the next array index, or -1 for an object
        var segments = new List<string>();
        string? name = null;
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.EndObject or JsonTokenType.EndArray:
                        containers.RemoveAt(containers.Count - 1);
                        segments.RemoveAt(segments.Count - 1);
                        continue;
                    case JsonTokenType.PropertyName:
                        if (!IsText(ref reader)) return Join(segments, "(a field name)");
                        name = reader.GetString();
                        continue;
                }
                var segment = containers.Count == 0 ? "" : containers[^1] < 0 ? name! : $"[{containers[^1]++}]";
                if (reader.TokenType == JsonTokenType.String && !IsText(ref reader)) return Join(segments, segment);
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    containers.Add(reader.TokenType == JsonTokenType.StartArray ? 0 : -1);
                    segments.Add(segment);
                }
            }
            return null;
        }
        catch (JsonException)
        {
            return null; // not this kind of problem
        }
    }

    private static bool IsText(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped) return System.Text.Unicode.Utf8.IsValid(reader.ValueSpan);
        try
        {
            reader.GetString();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static string Join(List<string> segments, string last)
    {
        var path = new System.Text.StringBuilder();
        foreach (var s in segments.Append(last))
        {
            if (s.Length == 0) continue;
            if (path.Length > 0 && s[0] != '[') path.Append('.');
            path.Append(s);
        }
        return path.Length == 0 ? "body" : path.ToString();
    }
}
