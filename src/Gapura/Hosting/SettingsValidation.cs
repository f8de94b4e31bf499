using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Options;

namespace Gapura.Hosting;

/// <summary>
/// Checks the ranges declared on settings classes (<see cref="RangeAttribute"/> and friends on their properties) when
/// the gateway starts, not when a request first reads them: a keep-alive of 0, a negative timeout or a port of 70000 is
/// refused with one line naming the setting, its allowed range and the value given.
/// </summary>
internal static class SettingsValidation
{
    /// <summary>Every settings class read through <c>IOptions</c>, checked when the host starts (or when a CLI verb first reads it).</summary>
    public static IServiceCollection AddGapuraSettingsValidation(this IServiceCollection services) => services
        .ValidateSettings<Api.GatewayOptions>(Api.GatewayOptions.Section)
        .ValidateSettings<Api.Admin.AdminOptions>(Api.Admin.AdminOptions.Section)
        .ValidateSettings<Storage.StorageOptions>(Storage.StorageOptions.Section)
        .ValidateSettings<Identity.IdentityOptions>(Identity.IdentityOptions.Section)
        .ValidateSettings<Ledger.UsageOptions>(Ledger.UsageOptions.Section)
        .ValidateSettings<Budgets.BudgetOptions>("Budgets")
        .ValidateSettings<Budgets.RateLimits.RateLimitOptions>(Budgets.RateLimits.RateLimitOptions.Section)
        .ValidateSettings<Routing.RoutingOptions>(Routing.RoutingOptions.Section)
        .ValidateSettings<Routing.Canary.CanaryOptions>(Routing.Canary.CanaryOptions.Section)
        .ValidateSettings<Providers.Kiro.KiroOptions>(Providers.Kiro.KiroOptions.Section)
        .ValidateSettings<Providers.Anthropic.AnthropicOptions>(Providers.Anthropic.AnthropicOptions.Section)
        .ValidateSettings<Providers.Bedrock.BedrockOptions>(Providers.Bedrock.BedrockOptions.Section);

    /// <summary>Validates <typeparamref name="T"/> (bound from section <paramref name="section"/>) at start-up.</summary>
    public static IServiceCollection ValidateSettings<T>(this IServiceCollection services, string section) where T : class
    {
        services.AddSingleton<IValidateOptions<T>>(new SettingsValidator<T>(section));
        services.AddOptions<T>().ValidateOnStart();
        return services;
    }

    /// <summary>
    /// The same check for a settings object read straight from configuration (not through <c>IOptions</c>); throws
    /// <see cref="OptionsValidationException"/> like the start-up validation does.
    /// </summary>
    public static T Checked<T>(T settings, string section) where T : class
    {
        var result = new SettingsValidator<T>(section).Validate(null, settings);
        if (result.Failed) throw new OptionsValidationException(section, typeof(T), result.Failures);
        return settings;
    }

    /// <summary>Every failure of an <see cref="OptionsValidationException"/> on one line.</summary>
    public static string Describe(OptionsValidationException e) => string.Join("; ", e.Failures);

    private sealed class SettingsValidator<T>(string section) : IValidateOptions<T> where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options)
        {
            List<string>? failures = null;
            foreach (var property in typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                foreach (var rule in property.GetCustomAttributes<ValidationAttribute>())
                {
                    var value = property.GetValue(options);
                    if (rule.IsValid(value)) continue;
                    (failures ??= []).Add($"{section}:{property.Name} {Expectation(rule)} (it is {Shown(value)})");
                }
            }
            return failures is null ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
        }

        private static string Expectation(ValidationAttribute rule) => rule switch
        {
            RangeAttribute r => $"must be {(r.MinimumIsExclusive ? "more than" : "at least")} {Number(r.Minimum)} and {(r.MaximumIsExclusive ? "less than" : "at most")} {Number(r.Maximum)}",
            _ => rule.ErrorMessage ?? "is not valid",
        };

        private static string Shown(object? value) => value switch
        {
            null => "empty",
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString() ?? "",
        };

        private static string Number(object value) => value is IFormattable f ? f.ToString(null, CultureInfo.InvariantCulture) : value.ToString() ?? "";
    }
}
