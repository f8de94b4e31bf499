using System.Data.Common;

namespace Gapura.Storage;

/// <summary>An open connection, the transaction it is in (if any) and the back end's dialect.</summary>
internal sealed class DbSession(Database database, DbConnection connection, DbTransaction? transaction)
{
    public Database Database { get; } = database;
    public DbConnection Connection { get; } = connection;
    public DbTransaction? Transaction { get; } = transaction;

    public SqlCommand Sql(string text) => new(this, text);
}

/// <summary>
/// A thin builder over <see cref="DbCommand"/>: the SQL stays visible at the call site and values are
/// always parameters. Times pass through the dialect so both back ends compare them correctly.
/// </summary>
internal sealed class SqlCommand
{
    private readonly DbSession _session;
    private readonly DbCommand _command;

    public SqlCommand(DbSession session, string text)
    {
        _session = session;
        _command = session.Connection.CreateCommand();
        _command.Transaction = session.Transaction;
        _command.CommandText = text;
    }

    public SqlCommand Param(string name, object? value)
    {
        var p = _command.CreateParameter();
        p.ParameterName = name;
        p.Value = value switch
        {
            null => DBNull.Value,
            DateTimeOffset t => _session.Database.ToDb(t),
            _ => value,
        };
        _command.Parameters.Add(p);
        return this;
    }

    public async Task<int> ExecuteAsync(CancellationToken ct)
    {
        await using (_command) return await _command.ExecuteNonQueryAsync(ct);
    }

    public async Task<T> ScalarAsync<T>(CancellationToken ct)
    {
        await using (_command)
        {
            var value = await _command.ExecuteScalarAsync(ct);
            if (value is null or DBNull) throw new InvalidOperationException("The query returned no value.");
            return value is T typed ? typed : (T)Convert.ChangeType(value, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    public async Task<List<T>> ListAsync<T>(Func<Row, T> map, CancellationToken ct)
    {
        await using (_command)
        {
            await using var reader = await _command.ExecuteReaderAsync(ct);
            var row = new Row(reader, _session.Database);
            var list = new List<T>();
            while (await reader.ReadAsync(ct)) list.Add(map(row));
            return list;
        }
    }

    public async Task<T?> FirstOrDefaultAsync<T>(Func<Row, T> map, CancellationToken ct) where T : class
    {
        await using (_command)
        {
            await using var reader = await _command.ExecuteReaderAsync(ct);
            return await reader.ReadAsync(ct) ? map(new Row(reader, _session.Database)) : null;
        }
    }
}

/// <summary>Typed column access by name over the current row, hiding the back ends' type differences.</summary>
internal readonly struct Row(DbDataReader reader, Database database)
{
    private int Ordinal(string column) => reader.GetOrdinal(column);

    public long Long(string column) => reader.GetInt64(Ordinal(column));

    public int Int(string column) => Convert.ToInt32(reader.GetValue(Ordinal(column)), System.Globalization.CultureInfo.InvariantCulture);

    public bool Bool(string column) => Convert.ToBoolean(reader.GetValue(Ordinal(column)), System.Globalization.CultureInfo.InvariantCulture);

    public object Value(string column) => reader.GetValue(Ordinal(column));

    public string String(string column) => reader.GetString(Ordinal(column));

    public string? StringOrNull(string column)
    {
        var i = Ordinal(column);
        return reader.IsDBNull(i) ? null : reader.GetString(i);
    }

    public long? LongOrNull(string column)
    {
        var i = Ordinal(column);
        return reader.IsDBNull(i) ? null : reader.GetInt64(i);
    }

    public DateTimeOffset Time(string column) => database.ReadTime(reader, Ordinal(column));

    public DateTimeOffset? TimeOrNull(string column)
    {
        var i = Ordinal(column);
        return reader.IsDBNull(i) ? null : database.ReadTime(reader, i);
    }
}
