using Gapura.Routing;
using Gapura.Routing.Profiles;
using Gapura.Storage;

namespace Gapura.Cli;

/// <summary>The routing verbs' access to routing: the same <see cref="RoutingChanges"/> the admin API uses, audited as the CLI's actor.</summary>
internal static class CliRouting
{
    /// <summary>
    /// Changes checked against the upstreams' model lists when the session was opened with upstreams
    /// (<see cref="StoreCommands.SetAction"/> with <c>upstreams: true</c>); structure only otherwise.
    /// </summary>
    public static RoutingChanges Changes(CliSession session)
    {
        var services = session.Services;
        var source = services.GetService<RoutingConfigSource>()
            ?? throw new InvalidOperationException("The routing verbs need a session opened with upstreams.");
        return new RoutingChanges(session.Store, source, services.GetService<TaskRouter>(),
            (action, target, detail) => new NewAuditEntry(session.Actor, action, target, detail, "local"));
    }

    /// <summary>A routing setting that cannot be used, as the CLI reports it: the field and why, exit code 1.</summary>
    public static CliException Refusal(RoutingConfigException e) => new(e.Message);
}
