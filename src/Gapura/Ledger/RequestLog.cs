namespace Gapura.Ledger;

/// <summary>
/// The one line per finished request that operators read in the console, under its own category
/// (<c>Logging:LogLevel:Gapura.Requests</c> turns it off or on alone). The usage ledger's writer logs it from the record it
/// is about to store, so the request itself does no logging work: the line is formatted and written on the writer's
/// thread, a batch at a time, up to <c>Usage:FlushMilliseconds</c> after the request ended. The message is source-generated:
/// no argument array, no boxing until a provider formats it.
/// </summary>
internal static partial class RequestLog
{
    public const string Category = "Gapura.Requests";

    /// <summary>Writes <paramref name="r"/>'s line; the caller has checked that Information is enabled.</summary>
    public static void Write(ILogger log, UsageRecord r) =>
        Served(log, r.FrontDoor, r.RequestedModel, r.Provider ?? "-", r.UpstreamModel ?? "-", r.HttpStatus, r.Status, r.InputTokens, r.OutputTokens,
            r.CacheReadTokens, r.Credits, r.Estimated, (long)Math.Round(r.DurationMs), r.RequestId);

    [LoggerMessage(EventId = 1, EventName = "RequestServed", Level = LogLevel.Information,
        Message = "{FrontDoor} model={Model} provider={Provider} served={Served} status={Status} {Outcome} in={In} out={Out} cached={Cached} credits={Credits} estimated={Estimated} ms={Ms} id={RequestId}")]
    private static partial void Served(ILogger log, string frontDoor, string model, string provider, string served, int status, string outcome,
        int @in, int @out, int cached, double? credits, bool estimated, long ms, string requestId);
}
