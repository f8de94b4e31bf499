using Gapura.Conversations.Stored;
using Gapura.Api.Admin;
using Gapura.Budgets;
using Gapura.Formats;
using Gapura.Formats.Anthropic;
using Gapura.Formats.OpenAi;
using Gapura.Hosting;
using Gapura.Identity;
using Gapura.Providers;
using Gapura.Providers.Accounts;
using Gapura.Providers.Anthropic;
using Gapura.Providers.Bedrock;
using Gapura.Providers.Copilot;
using Gapura.Providers.Kiro;
using Gapura.Providers.OpenAi;
using Gapura.Routing;
using Gapura.Storage;
using Gapura.Ledger;
using Gapura.Telemetry;
using Gapura.Web;
using Microsoft.Extensions.Options;

namespace Gapura.Api;

/// <summary>Builds the web application: configuration, services and endpoints.</summary>
public static class GatewayHost
{
    public const string DefaultUrl = "http://127.0.0.1:8000";

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
            // The build's asset manifests are named after this, whoever hosts the gateway (a test host, say).
            ApplicationName = typeof(GatewayHost).Assembly.GetName().Name,
        });
        // Reads appsettings.json from the working directory too, so a user's own file wins.
        builder.Configuration.AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json"), optional: true, reloadOnChange: false);
        builder.Configuration.AddEnvironmentVariables();
        builder.Configuration.AddCommandLine(args);

        // Loopback unless told otherwise.
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["ASPNETCORE_URLS"]))
            builder.WebHost.UseUrls(DefaultUrl);

        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        // `gapura serve` reports a failed start in one line itself; the host's own "Hosting failed to start" (an error with
        // the whole stack trace) would say it again. A background service that fails later is still logged (critical).
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);

        AddGatewayServices(builder.Services, builder.Configuration);
        Hosting.Shutdown.GracefulShutdown.Register(builder.Services, builder.Configuration);
        // Kestrel's own limit is a backstop above ours, so oversized bodies get an answer in the caller's format.
        var maxBody = builder.Configuration.GetValue<long?>($"{GatewayOptions.Section}:{nameof(GatewayOptions.MaxRequestBodyBytes)}") ?? new GatewayOptions().MaxRequestBodyBytes;
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = maxBody + 1024 * 1024);
        // Kestrel's own refusals (bad request line, headers over the limit…) get a JSON body too.
        builder.WebHost.ConfigureKestrel(ServerRejectionBodies.Configure);
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default));
        var console = ConsoleEndpoints.IsEnabled(builder.Configuration);
        if (console) builder.AddGapuraConsole();
        configure?.Invoke(builder);

        var app = builder.Build();
        BootstrapApiKey.Apply(app.Services.GetRequiredService<IOptions<GatewayOptions>>().Value, DataDirectory(app.Configuration), app.Logger);
        app.UseTrustedProxies();
        app.MapHealthEndpoints();
        app.MapApiEndpoints();
        app.MapAdminApi();
        app.MapGapuraMetrics();
        if (console) app.MapGapuraConsole();
        Hosting.Diagnostics.StartupSummary.LogWhenStarted(app);
        return app;
    }

    /// <summary>
    /// Every service of the gateway but the web host: storage, identity, routing, the ledger and the configured upstreams.
    /// The CLI verbs that must know what the upstreams offer (routing changes) build the same set.
    /// </summary>
    internal static void AddGatewayServices(IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<GatewayOptions>(configuration.GetSection(GatewayOptions.Section));
        services.AddGapuraSettingsValidation();
        services.AddSingleton(TimeProvider.System);
        services.AddGapuraStorage(configuration);
        services.AddGapuraIdentity(configuration);
        services.AddGapuraAdmin(configuration);
        services.AddSingleton<ChatPipeline>();
        services.AddSingleton<Hosting.Memory.LargeBodyMemory>();
        services.AddHostedService(sp => sp.GetRequiredService<Hosting.Memory.LargeBodyMemory>());
        services.AddSingleton<Conversations.InputTokenCalibration>();
        services.AddSingleton<ProviderChain>();
        services.AddKeyedSingleton<IFrontDoor>(FrontDoors.OpenAiChat, OpenAiChatFrontDoor.Instance);
        services.AddKeyedSingleton<IFrontDoor>(FrontDoors.AnthropicMessages, AnthropicMessagesFrontDoor.Instance);
        services.AddGapuraStoredResponses(configuration);
        services.AddKeyedSingleton<IFrontDoor>(FrontDoors.OpenAiResponses,
            (sp, _) => new Gapura.Formats.Responses.ResponsesFrontDoor(sp.GetRequiredService<Gapura.Conversations.Stored.ResponseStore>()));
        services.AddGapuraRouting(configuration);
        services.AddGapuraBudgets(configuration);
        services.AddGapuraUsage(configuration);
        services.AddGapuraTelemetry(configuration);
        services.AddUpstreamAccounts();
        // Upstreams, each registered only when configured. Catalog order is the default provider priority
        // (a caller's own priority list comes first): Kiro, then the others.
        services.AddKiro(configuration);
        services.AddAnthropicProvider(configuration);
        services.AddOpenAiProviders(configuration);
        services.AddBedrockProvider(configuration);
        services.AddCopilotProvider(configuration);
    }

    /// <summary>Where the gateway keeps its files: beside the database (<c>Storage:Path</c>, default <c>data/gapura.db</c>).</summary>
    public static string DataDirectory(IConfiguration configuration)
    {
        var dbPath = configuration["Storage:Path"] ?? Path.Combine("data", "gapura.db");
        return Path.GetDirectoryName(Path.GetFullPath(dbPath, Directory.GetCurrentDirectory())) ?? Directory.GetCurrentDirectory();
    }
}
