using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.AspNetCore.HttpOverrides;
using IPNetwork = System.Net.IPNetwork;
using Microsoft.Extensions.Options;

namespace Gapura.Hosting;

/// <summary>
/// <c>Gateway:TrustedProxies</c>: behind a reverse proxy every caller has the proxy's address, so the sign-in back-off
/// would hold them back together and the audit would name the proxy. ASP.NET Core's forwarded-headers middleware
/// replaces the connection's address with the one <c>X-Forwarded-For</c> names, for requests from the listed proxies
/// only, walking the header from the right and stopping at the first address that is not a listed proxy — so a caller
/// cannot choose its own address by sending the header itself.
/// </summary>
internal static class TrustedProxies
{
    /// <summary>Puts the middleware first in the pipeline when proxies are listed; nothing otherwise.</summary>
    public static void UseTrustedProxies(this WebApplication app)
    {
        var listed = Parse(app.Services.GetRequiredService<IOptions<Api.GatewayOptions>>().Value.TrustedProxies);
        if (listed.Count == 0) return;
        var options = new ForwardedHeadersOptions
        {
            ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto,
            // Every hop the listed proxies vouch for, not just the last one: a chain of proxies is common.
            ForwardLimit = null,
        };
        // The defaults trust loopback; only what the setting lists is trusted.
        options.KnownProxies.Clear();
        options.KnownIPNetworks.Clear();
        foreach (var entry in listed)
        {
            if (entry.Network is { } network) options.KnownIPNetworks.Add(network);
            else options.KnownProxies.Add(entry.Address!);
        }
        app.UseForwardedHeaders(options);
    }

    /// <summary>The entries of the setting; an entry that is neither an address nor a network throws.</summary>
    public static List<(IPAddress? Address, IPNetwork? Network)> Parse(string? setting)
    {
        var entries = new List<(IPAddress?, IPNetwork?)>();
        foreach (var entry in (setting ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (entry.Contains('/') && IPNetwork.TryParse(entry, out var network)) entries.Add((null, network));
            else if (!entry.Contains('/') && IPAddress.TryParse(entry, out var address)) entries.Add((address, null));
            else throw new FormatException($"'{entry}' is neither an IP address nor a network such as 10.0.0.0/8");
        }
        return entries;
    }

    /// <summary>Refuses, at start, a list the middleware could not use.</summary>
    [AttributeUsage(AttributeTargets.Property)]
    public sealed class AddressListAttribute : ValidationAttribute
    {
        public AddressListAttribute() => ErrorMessage = "must be IP addresses or networks (10.0.0.0/8) separated by commas";

        public override bool IsValid(object? value)
        {
            try
            {
                Parse(value as string);
                return true;
            }
            catch (FormatException)
            {
                return false;
            }
        }
    }
}
