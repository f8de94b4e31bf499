using Gapura.Secrets;

namespace Gapura.Storage;

/// <summary>
/// The store: one entry point to every repository, whichever back end is behind it. Each repository call
/// is atomic on its own; <see cref="InTransactionAsync{T}"/> makes several calls one unit (a user change
/// and its audit entry, say).
/// </summary>
internal interface IGapuraStore
{
    Database Database { get; }
    IUserRepository Users { get; }
    IApiKeyRepository ApiKeys { get; }
    IUpstreamLoginRepository UpstreamLogins { get; }
    IAuditLog Audit { get; }
    ISettingsRepository Settings { get; }
    IChangeFeed Changes { get; }
    IStoredSecrets Secrets { get; }
    ISessionRepository Sessions { get; }
    IUsageRepository Usage { get; }
    IUsageReports UsageReports { get; }

    /// <summary>
    /// Runs <paramref name="work"/> in one transaction over the store it is given: all of it commits, or
    /// an exception rolls all of it back. Use only the store passed in — on SQLite a call through the
    /// outer store would wait for the write lock this transaction holds.
    /// </summary>
    Task<T> InTransactionAsync<T>(Func<IGapuraStore, Task<T>> work, CancellationToken ct = default);

    Task InTransactionAsync(Func<IGapuraStore, Task> work, CancellationToken ct = default);
}

internal sealed class GapuraStore : IGapuraStore
{
    private readonly IDbScope _scope;
    private readonly SecretBox _secrets;
    private readonly TimeProvider _time;

    public GapuraStore(Database database, SecretBox secrets, TimeProvider? time = null)
        : this(new ConnectionPerCallScope(database), secrets, time ?? TimeProvider.System) { }

    private GapuraStore(IDbScope scope, SecretBox secrets, TimeProvider time)
    {
        _scope = scope;
        _secrets = secrets;
        _time = time;
        Users = new UserRepository(scope, secrets, time);
        ApiKeys = new ApiKeyRepository(scope, time);
        UpstreamLogins = new UpstreamLoginRepository(scope, secrets, time);
        Audit = new AuditLog(scope, time);
        Settings = new SettingsRepository(scope, secrets, time);
        Changes = new ChangeFeed(scope);
        Secrets = new StoredSecrets(scope);
        Sessions = new SessionRepository(scope, time);
        Usage = new UsageRepository(scope);
        UsageReports = new UsageReports(scope);
    }

    public Database Database => _scope.Database;
    public IUserRepository Users { get; }
    public IApiKeyRepository ApiKeys { get; }
    public IUpstreamLoginRepository UpstreamLogins { get; }
    public IAuditLog Audit { get; }
    public ISettingsRepository Settings { get; }
    public IChangeFeed Changes { get; }
    public IStoredSecrets Secrets { get; }
    public ISessionRepository Sessions { get; }
    public IUsageRepository Usage { get; }
    public IUsageReports UsageReports { get; }

    public Task<T> InTransactionAsync<T>(Func<IGapuraStore, Task<T>> work, CancellationToken ct = default)
    {
        // Already inside one: join it (the inner work still gets a savepoint per write).
        if (_scope is TransactionScope) return work(this);
        return _scope.WriteAsync(session => work(new GapuraStore(new TransactionScope(session), _secrets, _time)), ct);
    }

    public Task InTransactionAsync(Func<IGapuraStore, Task> work, CancellationToken ct = default)
        => InTransactionAsync<int>(async store => { await work(store); return 0; }, ct);
}
