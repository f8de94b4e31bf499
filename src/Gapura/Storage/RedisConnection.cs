using StackExchange.Redis;

namespace Gapura.Storage;

/// <summary>
/// The shared Redis, when <c>ConnectionStrings:Redis</c> is set: budget and rate-limit counters live there instead of
/// in the database. One multiplexed connection per process, opened on first use; an unreachable Redis is a
/// <see cref="RedisUnavailableException"/>, which the budget stage treats as it does an unreachable database: <c>Budgets:FailOpen</c> decides.
/// </summary>
internal sealed class RedisConnection(string configuration) : IAsyncDisposable
{
    private readonly Lazy<Task<ConnectionMultiplexer>> _connection = new(() => ConnectAsync(configuration));

    /// <summary>Key prefix of everything Gapura stores, so a Redis shared with other software stays tidy.</summary>
    public const string Prefix = "gapura:";

    public async Task<IDatabase> DatabaseAsync()
    {
        try
        {
            return (await _connection.Value).GetDatabase();
        }
        catch (RedisConnectionException e)
        {
            throw new RedisUnavailableException(e);
        }
    }

    private static async Task<ConnectionMultiplexer> ConnectAsync(string configuration)
    {
        var options = ConfigurationOptions.Parse(configuration);
        options.AbortOnConnectFail = false;
        // A request waits on these counters before it is sent: with Redis down, fail at once (and let Budgets:FailOpen
        // decide) rather than queue every command for the client's default five seconds.
        options.BacklogPolicy = BacklogPolicy.FailFast;
        if (!configuration.Contains("asyncTimeout", StringComparison.OrdinalIgnoreCase)) options.AsyncTimeout = 2000;
        return await ConnectionMultiplexer.ConnectAsync(options);
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection.IsValueCreated && _connection.Value.IsCompletedSuccessfully) await (await _connection.Value).DisposeAsync();
    }
}

/// <summary>Redis did not answer: the counters cannot be checked (see <c>Budgets:FailOpen</c>).</summary>
internal sealed class RedisUnavailableException(Exception inner) : StorageException($"Cannot reach Redis: {inner.Message}", inner);
