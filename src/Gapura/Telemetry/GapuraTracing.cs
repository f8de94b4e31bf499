using System.Diagnostics;
using Gapura.Conversations;
using Gapura.Ledger;
using Gapura.Providers;
using Gapura.Routing;

namespace Gapura.Telemetry;

/// <summary>
/// The gateway's spans: one per chat request (kind Server) and one per upstream attempt (kind Client), with the
/// OpenTelemetry GenAI semantic-convention attributes. Every helper takes a nullable activity and returns at once
/// on null: with no listener (no OTLP endpoint configured) <see cref="ActivitySource.StartActivity(string, ActivityKind)"/>
/// returns null and the request path pays one check. Attributes are names, counts and ids only — never a
/// prompt, an answer, a key or a user's email.
/// </summary>
internal static class GapuraTracing
{
    public const string SourceName = "Gapura";

    /// <summary>Model names come from the client: a span name stays readable whatever it sent.</summary>
    private const int MaxModelNameLength = 128;

    public static readonly ActivitySource Source = new(SourceName, typeof(GapuraTracing).Assembly.GetName().Version?.ToString(3));

    /// <summary>The request's span; named <c>chat</c> until the body says which model (<see cref="RequestParsed"/>).</summary>
    /// <param name="traceParent">The caller's W3C <c>traceparent</c> header, if it sent one: the span joins the caller's trace.
    /// (Read here, because ASP.NET Core's own per-request activity, which would carry it, is off: it cost 5–8 % of the CPU
    /// per request.)</param>
    public static Activity? StartRequest(string requestId, string frontDoor, string? traceParent = null, string? traceState = null)
    {
        if (!Source.HasListeners()) return null;
        var activity = traceParent is not null && ActivityContext.TryParse(traceParent, traceState, isRemote: true, out var parent)
            ? Source.StartActivity("chat", ActivityKind.Server, parent)
            : Source.StartActivity("chat", ActivityKind.Server);
        if (activity is null) return null;
        activity.SetTag("gen_ai.operation.name", "chat");
        activity.SetTag("gapura.request_id", requestId);
        activity.SetTag("gapura.front_door", frontDoor);
        return activity;
    }

    public static void RequestParsed(Activity? activity, ChatRequest request)
    {
        if (activity is null) return;
        var model = Bounded(request.Model);
        activity.DisplayName = "chat " + model;
        activity.SetTag("gen_ai.request.model", model);
        if (request.MaxTokens is { } maxTokens) activity.SetTag("gen_ai.request.max_tokens", maxTokens);
        activity.SetTag("gapura.stream", request.Stream);
    }

    /// <summary>Closes the request's span with what the usage ledger recorded about it.</summary>
    /// <param name="hasUsage">Whether the request got as far as counting tokens (a refused body did not).</param>
    public static void EndRequest(Activity? activity, UsageRecord record, bool hasUsage)
    {
        if (activity is null) return;
        activity.SetTag("gapura.client", record.Client);
        activity.SetTag("gapura.status", record.Status);
        if (record.Provider is { } provider)
        {
            activity.SetTag("gen_ai.provider.name", provider);
            activity.SetTag("gen_ai.system", provider);
        }
        if (record.UpstreamModel is { } served) activity.SetTag("gen_ai.response.model", served);
        if (record.Fallbacks > 0) activity.SetTag("gapura.fallbacks", record.Fallbacks);
        if (hasUsage) SetUsage(activity, record.InputTokens, record.OutputTokens, record.CacheReadTokens, record.CacheWriteTokens);
        if (record.ErrorKind is { } kind)
        {
            activity.SetTag("error.type", kind);
            activity.SetStatus(ActivityStatusCode.Error, kind);
        }
    }

    /// <summary>One call to an upstream: ended by the caller (a fallback, a failure, or the end of the answer).</summary>
    public static Activity? StartAttempt(string provider, ResolvedModel candidate, int? maxTokens)
    {
        // Checked first so the span name is not built for nobody.
        if (!Source.HasListeners()) return null;
        var activity = Source.StartActivity("chat " + candidate.Model.Id, ActivityKind.Client);
        if (activity is null) return null;
        activity.SetTag("gen_ai.operation.name", "chat");
        activity.SetTag("gen_ai.provider.name", provider);
        activity.SetTag("gen_ai.system", provider);
        activity.SetTag("gen_ai.request.model", candidate.Model.Id);
        activity.SetTag("gen_ai.response.model", candidate.Model.Id);
        if (maxTokens is { } max) activity.SetTag("gen_ai.request.max_tokens", max);
        return activity;
    }

    /// <summary>
    /// Marks the attempt failed. Returns false so it can sit in an exception filter that only looks: the
    /// exception goes on to the handlers that deal with it.
    /// </summary>
    public static bool Failed(Activity? activity, Exception e)
    {
        if (activity is null || e is OperationCanceledException) return false;
        var kind = e is GatewayException g ? UsageRecord.KindName(g.Kind) : e.GetType().Name;
        activity.SetTag("error.type", kind);
        activity.SetStatus(ActivityStatusCode.Error, kind);
        return false;
    }

    public static void AttemptUsage(Activity? activity, Usage? usage)
    {
        if (activity is null || usage is null) return;
        SetUsage(activity, usage.InputTokens, usage.OutputTokens, usage.CacheReadTokens, usage.CacheWriteTokens);
    }

    /// <remarks>
    /// The convention's input count includes cached tokens; the ledger's input bucket excludes them, so they are
    /// added back here and also given on their own.
    /// </remarks>
    private static void SetUsage(Activity activity, int input, int output, int cacheRead, int cacheWrite)
    {
        activity.SetTag("gen_ai.usage.input_tokens", input + cacheRead + cacheWrite);
        activity.SetTag("gen_ai.usage.output_tokens", output);
        if (cacheRead > 0) activity.SetTag("gen_ai.usage.cache_read.input_tokens", cacheRead);
        if (cacheWrite > 0) activity.SetTag("gen_ai.usage.cache_creation.input_tokens", cacheWrite);
    }

    private static string Bounded(string model) => model.Length <= MaxModelNameLength ? model : model[..MaxModelNameLength];
}
