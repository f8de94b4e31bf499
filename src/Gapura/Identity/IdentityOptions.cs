using System.ComponentModel.DataAnnotations;

namespace Gapura.Identity;

/// <summary>Settings of client identity (section <c>Identity</c>).</summary>
internal sealed class IdentityOptions
{
    public const string Section = "Identity";

    /// <summary>
    /// How often each instance asks the database whether users or keys changed. A revoked key, a disabled
    /// or deleted user or a changed role is refused by every instance within about this long (the issue's
    /// bound is 5 s; one cheap primary-key read per interval buys a 1 s default).
    /// </summary>
    [Range(0.1, 3600)]
    public double RefreshSeconds { get; set; } = 1;

    /// <summary>How often last-used times are written, in one batch (never a write per request).</summary>
    [Range(0.1, 86400)]
    public double LastUsedFlushSeconds { get; set; } = 30;
}
