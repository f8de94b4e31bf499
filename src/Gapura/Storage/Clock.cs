namespace Gapura.Storage;

internal static class Clock
{
    /// <summary>
    /// Now, cut to whole milliseconds: SQLite keeps milliseconds and PostgreSQL microseconds, so cutting
    /// here makes a value read back from either back end equal to the one written.
    /// </summary>
    public static DateTimeOffset NowMs(this TimeProvider time)
    {
        var now = time.GetUtcNow();
        return new DateTimeOffset(now.UtcTicks - now.UtcTicks % TimeSpan.TicksPerMillisecond, TimeSpan.Zero);
    }
}
