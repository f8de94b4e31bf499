using System.ComponentModel.DataAnnotations;

namespace Gapura.Api;

/// <summary>Settings of the front door (section <c>Gateway</c>).</summary>
public sealed class GatewayOptions
{
    public const string Section = "Gateway";

    /// <summary>The bootstrap API key (at least 16 characters); it belongs to the first enabled admin.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Where the bootstrap key was generated when none was configured (null when <see cref="ApiKey"/> was set); not a setting.</summary>
    internal string? GeneratedKeyFile { get; set; }

    /// <summary>Email of the admin created on first start when the database is empty (with <see cref="AdminPassword"/>).</summary>
    public string? AdminEmail { get; set; }

    /// <summary>Password of that first admin; must pass the password rules.</summary>
    public string? AdminPassword { get; set; }

    /// <summary>
    /// The reverse proxies in front of the gateway, as IP addresses or networks separated by commas
    /// (<c>10.0.0.5, 172.16.0.0/12</c>): a request from one of them is taken to come from the address its
    /// <c>X-Forwarded-For</c> names (and its scheme from <c>X-Forwarded-Proto</c>), so the sign-in back-off, the audit
    /// log and sessions see the real caller. Empty (the default): those headers are ignored, since anyone can send them.
    /// </summary>
    [Hosting.TrustedProxies.AddressList]
    public string? TrustedProxies { get; set; }

    /// <summary>Largest request body accepted, in bytes (Claude Code sends ~100 KB; images make more).</summary>
    [Range(typeof(long), "1024", "1073741824")]
    public long MaxRequestBodyBytes { get; set; } = 32 * 1024 * 1024;

    /// <summary>
    /// After request bodies of 1 MB or more adding up to this many megabytes, once none has come for 5 s, the gateway gives
    /// the memory they took back to the system (<see cref="Hosting.Memory.LargeBodyMemory"/>). 0: never.
    /// </summary>
    [Range(0, 1_000_000)]
    public int ReclaimMemoryAfterMegabytes { get; set; } = 64;

    /// <summary>How long a streaming response may stay silent before the gateway sends a keep-alive.</summary>
    [Range(0.1, 3600)]
    public double KeepAliveSeconds { get; set; } = 15;

    /// <summary>How long to wait for the upstream's first event before giving up with a 504.</summary>
    [Range(0.1, 86400)]
    public double FirstByteTimeoutSeconds { get; set; } = 300;

    /// <summary>How long a started stream may go without an upstream event before it is ended with an error.</summary>
    [Range(0.1, 86400)]
    public double IdleTimeoutSeconds { get; set; } = 300;

    /// <summary>
    /// On SIGTERM or Ctrl-C, how long open requests may finish before they are ended with the caller's format's error
    /// (above 0, at most an hour; checked at start by <see cref="Hosting.Shutdown.GracefulShutdown"/>).
    /// </summary>
    public double ShutdownTimeoutSeconds { get; set; } = 30;
}
