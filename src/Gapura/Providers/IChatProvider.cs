using Gapura.Conversations;
using Gapura.Routing;

namespace Gapura.Providers;

/// <summary>
/// An upstream that can answer a chat turn. The stream must be lazy: nothing is sent upstream until
/// the first <c>MoveNextAsync</c>, and each upstream event is yielded as soon as it is decoded.
/// Failures are thrown as <see cref="GatewayException"/>; before the first event they become an HTTP
/// error, after it the front door ends its stream with an error event.
/// </summary>
public interface IChatProvider
{
    string Name { get; }

    /// <summary>
    /// Whether the upstream takes a structured-output request itself (a JSON-schema field of its own). When not, the
    /// chain constrains the model with <see cref="StructuredOutput"/> instead.
    /// </summary>
    bool TakesOutputFormat(OutputFormat format) => false;

    IAsyncEnumerable<StreamEvent> StreamAsync(ChatRequest request, ResolvedModel model, ChatContext context, CancellationToken ct);
}

/// <summary>Per-request facts a provider may need besides the conversation.</summary>
public sealed class ChatContext
{
    /// <summary>Who is asking: providers pick the caller's own upstream login first.</summary>
    internal Identity.Caller? Caller { get; init; }

    /// <summary>Response headers the provider wants the client to see (e.g. history trimmed).</summary>
    public Dictionary<string, string> ResponseHeaders { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Input tokens estimated by the gateway, for formats that announce usage up front.</summary>
    public int EstimatedInputTokens { get; set; }

    // What the usage ledger records about where the request went; set by ProviderChain as it tries candidates.

    /// <summary>The provider of the attempt that answered (or the last one tried).</summary>
    internal string? ServedBy { get; set; }

    /// <summary>The catalog id of that attempt's model.</summary>
    internal string? ServedModel { get; set; }

    /// <summary>Upstream attempts that failed before the one that answered: provider and error kind, in order.</summary>
    internal List<(string Provider, ErrorKind Kind)>? FailedAttempts { get; set; }

    internal int Fallbacks => FailedAttempts?.Count ?? 0;

    /// <summary><see cref="System.Diagnostics.Stopwatch"/> timestamp of the first answer byte sent to the client; 0 until then.</summary>
    internal long FirstByteAt { get; set; }

    /// <summary>A failure that ended the answer after it had started (the client saw a 200 and an error event).</summary>
    internal GatewayException? Failure { get; set; }

    /// <summary>Usage of an answer that did not complete (the client left): what had been sent by then.</summary>
    internal Usage? PartialUsage { get; set; }

    /// <summary>How routing chose the models (for the <c>x-gapura-route</c> header); null before routing.</summary>
    internal Routing.RouteDecision? Route { get; init; }

    internal void RecordFailedAttempt(string provider, ErrorKind kind) => (FailedAttempts ??= []).Add((provider, kind));
}
