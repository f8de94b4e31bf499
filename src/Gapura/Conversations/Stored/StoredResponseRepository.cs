using System.Text;
using Gapura.Secrets;
using Gapura.Storage;

namespace Gapura.Conversations.Stored;

/// <summary>
/// The <c>stored_responses</c> table. Payloads are sealed with the secrets key (they are people's conversations), bound to
/// their row id so a payload copied to another row does not open; every read is scoped to the owning user.
/// </summary>
internal sealed class StoredResponseRepository(Database database, SecretBox secrets)
{
    private readonly ConnectionPerCallScope _scope = new(database);

    public Database Database => database;

    /// <summary>Inserts a batch in one transaction; a row already there (a retried batch) is left as it was.</summary>
    public Task InsertAsync(IReadOnlyList<StoredTurn> turns, CancellationToken ct)
        => _scope.WriteAsync(async s =>
        {
            foreach (var turn in turns)
            {
                var sealedPayload = secrets.Seal(Encoding.UTF8.GetString(turn.Payload), SecretColumns.StoredResponse.PurposeFor(turn.Id));
                await s.Sql("""
                        INSERT INTO stored_responses (id, user_id, created_at, expires_at, payload_enc)
                        VALUES (@id, @user, @created, @expires, @payload)
                        ON CONFLICT (id) DO NOTHING
                        """)
                    .Param("id", turn.Id).Param("user", turn.UserId).Param("created", turn.CreatedAt).Param("expires", turn.ExpiresAt)
                    .Param("payload", sealedPayload).ExecuteAsync(ct);
            }
            return 0;
        }, ct);

    /// <summary>The user's turn, or null when there is none, it is another user's, or it has expired.</summary>
    public Task<StoredTurn?> FindAsync(string id, long userId, DateTimeOffset now, CancellationToken ct)
        => _scope.ReadAsync(async s =>
        {
            var row = await s.Sql("""
                    SELECT created_at, expires_at, payload_enc FROM stored_responses
                    WHERE id = @id AND user_id = @user AND expires_at > @now
                    """)
                .Param("id", id).Param("user", userId).Param("now", now)
                .FirstOrDefaultAsync(r => new { Created = r.Time("created_at"), Expires = r.Time("expires_at"), Payload = r.String("payload_enc") }, ct);
            if (row is null) return null;
            var payload = Encoding.UTF8.GetBytes(secrets.Open(row.Payload, SecretColumns.StoredResponse.PurposeFor(id)));
            return (StoredTurn?)new LoadedTurn(id, userId, row.Created, row.Expires, payload);
        }, ct);

    /// <summary>Deletes the user's turn; false when the user has no such turn.</summary>
    public Task<bool> DeleteAsync(string id, long userId, CancellationToken ct)
        => _scope.WriteAsync(async s => await s.Sql("DELETE FROM stored_responses WHERE id = @id AND user_id = @user")
            .Param("id", id).Param("user", userId).ExecuteAsync(ct) > 0, ct);

    /// <summary>Deletes up to <paramref name="limit"/> turns that expired before <paramref name="now"/>; returns how many.</summary>
    public Task<int> DeleteExpiredAsync(DateTimeOffset now, int limit, CancellationToken ct)
        => _scope.WriteAsync(s => s.Sql("""
                DELETE FROM stored_responses WHERE id IN
                    (SELECT id FROM stored_responses WHERE expires_at <= @now ORDER BY expires_at LIMIT @limit)
                """)
            .Param("now", now).Param("limit", limit).ExecuteAsync(ct), ct);
}
