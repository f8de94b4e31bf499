using System.Collections.Frozen;
using System.Globalization;
using Gapura.Routing;
using Gapura.Storage;

namespace Gapura.Budgets;

/// <summary>
/// Keeps <see cref="Current"/> up to date: the configuration file's budgets and rate limits (<c>Budgets:Gateway</c>,
/// <c>Budgets:User:Default</c>, <c>RateLimits:User:Default</c>, <c>RateLimits:Key:Default</c>; validated at start so a
/// typo stops the gateway with the field's name), overlaid with the ones admins stored in the database
/// (<see cref="BudgetKeys"/>), re-read whenever the change feed says a setting changed.
/// </summary>
internal sealed class BudgetConfigSource : IStoreChangeListener
{
    private readonly IGapuraStore _store;
    private readonly ILogger<BudgetConfigSource> _log;
    private readonly BudgetConfig _file;
    private volatile BudgetConfig _current;

    public BudgetConfigSource(IGapuraStore store, IConfiguration configuration, ILogger<BudgetConfigSource> log)
    {
        _store = store;
        _log = log;
        _file = ReadFile(configuration);
        _current = _file;
    }

    public BudgetConfig Current => _current;

    public async Task ReloadAllAsync(CancellationToken ct)
        => _current = Build(_file, await _store.Settings.ListAsync(ct), _log);

    public Task ApplyAsync(IReadOnlyList<Change> changes, CancellationToken ct)
        => changes.Any(c => c.Entity == ChangeEntity.Setting) ? ReloadAllAsync(ct) : Task.CompletedTask;

    internal static BudgetConfig ReadFile(IConfiguration configuration)
    {
        var sources = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var gateway = Budget.FromConfiguration(configuration.GetSection(BudgetKeys.Gateway));
        var defaultUser = Budget.FromConfiguration(configuration.GetSection(BudgetKeys.DefaultUser));
        var userRate = RateLimit.FromConfiguration(configuration.GetSection(BudgetKeys.DefaultUserRate));
        var keyRate = RateLimit.FromConfiguration(configuration.GetSection(BudgetKeys.DefaultKeyRate));
        if (gateway is not null) sources[BudgetKeys.Gateway] = "config";
        if (defaultUser is not null) sources[BudgetKeys.DefaultUser] = "config";
        if (userRate is not null) sources[BudgetKeys.DefaultUserRate] = "config";
        if (keyRate is not null) sources[BudgetKeys.DefaultKeyRate] = "config";
        return new BudgetConfig
        {
            Gateway = gateway, DefaultUser = defaultUser, DefaultUserRate = userRate, DefaultKeyRate = keyRate,
            Sources = sources.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
        };
    }

    /// <summary>The configuration file's layer, then the database's: an admin's budget for a scope wins over the file's.</summary>
    internal static BudgetConfig Build(BudgetConfig file, IReadOnlyList<Setting> settings, ILogger log)
    {
        var gateway = file.Gateway;
        var defaultUser = file.DefaultUser;
        var userRate = file.DefaultUserRate;
        var keyRate = file.DefaultKeyRate;
        var users = new Dictionary<long, Budget>();
        var keys = new Dictionary<long, Budget>();
        var userRates = new Dictionary<long, RateLimit>();
        var keyRates = new Dictionary<long, RateLimit>();
        var sources = new Dictionary<string, string>(file.Sources, StringComparer.OrdinalIgnoreCase);
        foreach (var s in settings)
        {
            if (s.Value is not { } value) continue;
            var isBudget = s.Key.StartsWith(BudgetKeys.Root, StringComparison.OrdinalIgnoreCase);
            if (!isBudget && !s.Key.StartsWith(BudgetKeys.RateRoot, StringComparison.OrdinalIgnoreCase)) continue;
            try
            {
                if (Is(s.Key, BudgetKeys.Gateway)) gateway = Budget.Parse(value);
                else if (Is(s.Key, BudgetKeys.DefaultUser)) defaultUser = Budget.Parse(value);
                else if (Is(s.Key, BudgetKeys.DefaultUserRate)) userRate = RateLimit.Parse(value);
                else if (Is(s.Key, BudgetKeys.DefaultKeyRate)) keyRate = RateLimit.Parse(value);
                else if (Id(s.Key, BudgetKeys.UserPrefix) is { } user) users[user] = Budget.Parse(value);
                else if (Id(s.Key, BudgetKeys.KeyPrefix) is { } key) keys[key] = Budget.Parse(value);
                else if (Id(s.Key, BudgetKeys.UserRatePrefix) is { } userR) userRates[userR] = RateLimit.Parse(value);
                else if (Id(s.Key, BudgetKeys.KeyRatePrefix) is { } keyR) keyRates[keyR] = RateLimit.Parse(value);
                else continue; // Budgets:TimeZone and the like are configuration, not definitions
                sources[s.Key] = "admin";
            }
            catch (BudgetConfigException e)
            {
                // Saved values were validated when saved; one that no longer reads (an older version's) is skipped, loudly.
                log.LogWarning("Budget setting {Key} is ignored: {Error}", s.Key, e.Message);
            }
        }
        return new BudgetConfig
        {
            Gateway = gateway, DefaultUser = defaultUser, DefaultUserRate = userRate, DefaultKeyRate = keyRate,
            Users = users.ToFrozenDictionary(), Keys = keys.ToFrozenDictionary(),
            UserRates = userRates.ToFrozenDictionary(), KeyRates = keyRates.ToFrozenDictionary(),
            Sources = sources.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
        };
    }

    private static bool Is(string key, string name) => string.Equals(key, name, StringComparison.OrdinalIgnoreCase);

    private static long? Id(string key, string prefix)
        => RoutingSettings.TryStrip(key, prefix, out var rest) && long.TryParse(rest, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : null;
}
