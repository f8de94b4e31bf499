using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;

namespace Gapura.Web.InProcess;

/// <summary>
/// Wraps the web server to keep the application it is handed at start — the whole request pipeline, endpoints,
/// filters and all — so <see cref="InProcessHandler"/> can run a request through it without a socket. The server
/// itself is untouched: it still serves every request from the network.
/// </summary>
internal sealed class ApplicationCapture(IServer server) : IServer
{
    private volatile IInProcessApplication? _application;

    public IFeatureCollection Features => server.Features;

    /// <summary>The running application; null before the server started.</summary>
    public IInProcessApplication? Application => _application;

    public Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken) where TContext : notnull
    {
        _application = new CapturedApplication<TContext>(application);
        return server.StartAsync(application, cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => server.StopAsync(cancellationToken);

    public void Dispose() => server.Dispose();

    /// <summary>Replaces the registered <see cref="IServer"/> with itself wrapping it, and registers itself.</summary>
    public static void Register(IServiceCollection services)
    {
        var registered = services.LastOrDefault(d => d.ServiceType == typeof(IServer))
            ?? throw new InvalidOperationException("No web server is registered to wrap.");
        services.Remove(registered);
        services.AddSingleton(sp => new ApplicationCapture(Create(sp, registered)));
        services.AddSingleton<IServer>(sp => sp.GetRequiredService<ApplicationCapture>());
    }

    private static IServer Create(IServiceProvider sp, ServiceDescriptor d) => d switch
    {
        { ImplementationInstance: IServer instance } => instance,
        { ImplementationFactory: { } factory } => (IServer)factory(sp),
        { ImplementationType: { } type } => (IServer)ActivatorUtilities.CreateInstance(sp, type),
        _ => throw new InvalidOperationException("The registered web server cannot be wrapped."),
    };

    private sealed class CapturedApplication<TContext>(IHttpApplication<TContext> application) : IInProcessApplication where TContext : notnull
    {
        public async Task ProcessAsync(IFeatureCollection features)
        {
            var context = application.CreateContext(features);
            Exception? error = null;
            try { await application.ProcessRequestAsync(context); }
            catch (Exception e) { error = e; throw; }
            finally { application.DisposeContext(context, error); }
        }
    }
}

/// <summary>The captured pipeline, without its context type.</summary>
internal interface IInProcessApplication
{
    Task ProcessAsync(IFeatureCollection features);
}
