namespace Gapura.Identity;

internal static class IdentityServiceCollectionExtensions
{
    /// <summary>
    /// Client identity: the in-memory key index and its sync with the database, the first-admin bootstrap
    /// and password hashing. Register after storage: hosted services start in registration order, and
    /// these need the migrated database.
    /// </summary>
    public static IServiceCollection AddGapuraIdentity(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<IdentityOptions>(configuration.GetSection(IdentityOptions.Section));
        services.AddSingleton<ApiKeyIndex>();
        services.AddSingleton<LastUsedRecorder>();
        services.AddSingleton<ApiKeyAuthenticator>();
        services.AddSingleton<SetupCode>();
        services.AddSingleton(new PasswordHasher());
        services.AddHostedService<AdminBootstrap>();
        services.AddSingleton<IdentitySync>();
        services.AddHostedService(sp => sp.GetRequiredService<IdentitySync>());
        return services;
    }
}
