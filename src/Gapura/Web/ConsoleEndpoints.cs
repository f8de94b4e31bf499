using Gapura.Web.Components;
using Gapura.Web.Components.Shared;
using Microsoft.AspNetCore.Http.HttpResults;
using Gapura.Web.InProcess;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using MudBlazor.Services;

namespace Gapura.Web;

/// <summary>Where the console's pages live.</summary>
internal static class ConsolePaths
{
    public const string Root = "/ui";
    public const string SignIn = "/ui/signin";
    public const string SignOut = "/ui/signout";
    public const string Setup = "/ui/setup";

    /// <summary>Requests the console's authentication runs on: its pages and Blazor's connection.</summary>
    public static bool IsConsole(PathString path)
        => path.StartsWithSegments(Root, StringComparison.OrdinalIgnoreCase) || path.StartsWithSegments("/_blazor", StringComparison.OrdinalIgnoreCase);
}

/// <summary>
/// The web console at <c>/ui</c>: Razor components with server interactivity (Blazor), served by the gateway
/// itself with every asset from the build. Its pages read and change things only through the admin API, called
/// in process (<see cref="ConsoleApi"/>).
/// </summary>
internal static class ConsoleEndpoints
{
    /// <summary><c>Console:Enabled</c> (default true): false serves no page at <c>/ui</c> (the admin API stays).</summary>
    public static bool IsEnabled(IConfiguration configuration) => configuration.GetValue("Console:Enabled", true);

    public static void AddGapuraConsole(this WebApplicationBuilder builder)
    {
        // Package assets (MudBlazor's CSS and JS) are served from the build's manifest in every environment,
        // not only in Development; a published build carries them in wwwroot instead and this is a no-op.
        builder.WebHost.UseStaticWebAssets();
        var services = builder.Services;
        services.AddRazorComponents().AddInteractiveServerComponents();
        services.AddMudServices();
        services.AddCascadingAuthenticationState();
        services.AddAuthentication(ConsoleAuthentication.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ConsoleAuthentication>(ConsoleAuthentication.SchemeName, null);
        services.AddAuthorization();
        // Blazor's circuits and form tokens are protected with keys kept in the database, sealed (ConsoleKeyStore).
        services.AddDataProtection().SetApplicationName("gapura");
        services.AddSingleton<ConsoleKeyStore>();
        services.AddOptions<KeyManagementOptions>().Configure<ConsoleKeyStore>((o, store) => o.XmlRepository = store);
        // The framework warns that the keys are stored unencrypted because it does not see the sealing, which
        // ConsoleKeyStore does itself with the secrets key; its one real warning would be that, so it is silenced.
        builder.Logging.AddFilter("Microsoft.AspNetCore.DataProtection.KeyManagement.XmlKeyManager", LogLevel.Error);
        services.AddScoped<ConsoleApi>();
        ApplicationCapture.Register(services);
    }

    public static void MapGapuraConsole(this WebApplication app)
    {
        // Only the console's requests pay for cookie authentication; the API paths never see it. The host would
        // otherwise add both middlewares for every request by itself (it sees the services, not the branch): these
        // are the marks UseAuthentication/UseAuthorization leave to say they are in place.
        var pipeline = (IApplicationBuilder)app;
        pipeline.Properties["__AuthenticationMiddlewareSet"] = true;
        pipeline.Properties["__AuthorizationMiddlewareSet"] = true;
        app.UseWhen(http => ConsolePaths.IsConsole(http.Request.Path), console =>
        {
            console.Use(AnswerBodilessRefusalsAsync);
            console.UseAuthentication();
            console.UseAuthorization();
        });
        app.UseAntiforgery();
        app.MapStaticAssets(Path.Combine(AppContext.BaseDirectory, "gapura.staticwebassets.endpoints.json"));
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
        app.MapPost(ConsolePaths.SignOut, SignOutAsync).WithMetadata(new RequireAntiforgeryTokenAttribute()).ExcludeFromDescription();
    }

    /// <summary>
    /// A page load under <c>/ui</c> refused without a body — no such page (404), an admin page for a non-admin
    /// (403, from authorization) — gets a page saying so rather than the browser's empty error.
    /// </summary>
    private static async Task AnswerBodilessRefusalsAsync(HttpContext http, RequestDelegate next)
    {
        await next(http);
        var status = http.Response.StatusCode;
        if (status is not (StatusCodes.Status403Forbidden or StatusCodes.Status404NotFound) || http.Response.HasStarted
            || !HttpMethods.IsGet(http.Request.Method) || !http.Request.Path.StartsWithSegments(ConsolePaths.Root, StringComparison.OrdinalIgnoreCase))
            return;
        // Rendered on its own, not as the refused page's endpoint (whose metadata would apply again).
        http.SetEndpoint(null);
        await new RazorComponentResult<StatusDocument>(new Dictionary<string, object?> { [nameof(StatusDocument.Code)] = status }) { StatusCode = status }
            .ExecuteAsync(http);
    }

    /// <summary>
    /// The menu's sign-out form: ends the session through the admin API (which audits it), clears the cookie
    /// whatever the API said (an already-ended session is signed out all the same), back to the sign-in page.
    /// </summary>
    private static async Task<IResult> SignOutAsync(HttpContext http, ApplicationCapture capture)
    {
        if (http.Features.Get<IAntiforgeryValidationFeature>() is { IsValid: false })
            return Results.Text("This sign-out form has expired; reload the page and sign out again.", statusCode: StatusCodes.Status400BadRequest);
        if (http.Request.Cookies.TryGetValue(Api.Admin.AdminSessions.CookieName, out var token) && !string.IsNullOrEmpty(token))
        {
            using var api = ConsoleApi.CreateClient(capture, token, http.Connection.RemoteIpAddress);
            using var _ = await api.DeleteAsync(Api.Admin.AdminEndpoints.Prefix + "/session", http.RequestAborted);
        }
        Api.Admin.AdminSessions.ClearCookie(http);
        return Results.Redirect(ConsolePaths.SignIn);
    }
}
