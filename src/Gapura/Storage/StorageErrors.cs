namespace Gapura.Storage;

/// <summary>A domain-level refusal from the store; the message is fit to show to an administrator.</summary>
internal abstract class StorageException(string message, Exception? inner = null) : Exception(message, inner);

internal sealed class DuplicateEmailException(string email)
    : StorageException($"A user with the email '{email}' already exists (emails are compared without regard to case).")
{
    public string Email { get; } = email;
}

internal sealed class InvalidEmailException(string email, string reason)
    : StorageException($"'{email}' is not a usable email address: {reason}.")
{
    public string Email { get; } = email;
}

/// <summary>The row a call named does not exist (or no longer does).</summary>
internal abstract class EntityNotFoundException(string message) : StorageException(message);

internal sealed class UserNotFoundException : EntityNotFoundException
{
    public UserNotFoundException(long id) : base($"There is no user with id {id}.") { }
    public UserNotFoundException(string email) : base($"There is no user with the email '{email}'.") { }
}

internal sealed class ApiKeyNotFoundException(long id) : EntityNotFoundException($"There is no API key with id {id}.");

internal sealed class UpstreamLoginNotFoundException(long id) : EntityNotFoundException($"There is no upstream login with id {id}.");

internal sealed class DuplicateApiKeyException()
    : StorageException("An API key with the same hash is already stored; generate a new key.");

internal sealed class DuplicateUpstreamLoginException(string provider, string label)
    : StorageException($"This user already has a {provider} login labelled '{label}'; choose another label.");

/// <summary>The change would leave the gateway without an enabled administrator.</summary>
internal sealed class LastAdminException(string action)
    : StorageException($"Cannot {action} the last enabled administrator; make another user an admin first.");

/// <summary>
/// The database could not be opened or reached. The message names the back end and the target
/// (host, port, database and user, or the file) — never a password.
/// </summary>
internal sealed class DatabaseUnavailableException(Database database, Exception inner)
    : StorageException($"Cannot reach the {database.Backend} database at {database.Target}: {inner.Message}", inner)
{
    public StorageBackend Backend { get; } = database.Backend;
}

internal sealed class MigrationException(string message, Exception? inner = null) : StorageException(message, inner);
