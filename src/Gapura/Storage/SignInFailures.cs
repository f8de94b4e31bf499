namespace Gapura.Storage;

/// <summary>The failures counted for one (e-mail, client address) pair, and until when it must wait.</summary>
internal sealed record SignInFailureCount(int Failures, DateTimeOffset? BlockedUntil);

/// <summary>
/// Failed sign-ins per (e-mail, client address) in the shared database (<c>sign_in_failures</c>), so every instance
/// counts together. Callers pass the time, which keeps the back-off policy (and its clock) in one place.
/// </summary>
internal sealed class SignInFailures(Database database)
{
    private readonly ConnectionPerCallScope _scope = new(database);

    /// <summary>The pair's count, or null when it has none newer than <paramref name="forgetBefore"/>.</summary>
    public Task<SignInFailureCount?> FindAsync(string email, string address, DateTimeOffset forgetBefore, CancellationToken ct)
        => _scope.ReadAsync(s => s.Sql("""
                SELECT failures, blocked_until FROM sign_in_failures
                WHERE email = @email AND address = @address AND last_failed_at >= @forget
                """)
            .Param("email", email).Param("address", address).Param("forget", forgetBefore)
            .FirstOrDefaultAsync(r => new SignInFailureCount(r.Int("failures"), r.TimeOrNull("blocked_until")), ct), ct);

    /// <summary>
    /// Counts one failure atomically (an upsert, so two instances failing at once both count; a count older than
    /// <paramref name="forgetBefore"/> starts again at 1), then stores the wait <paramref name="backOff"/> picks for the new count.
    /// Rows forgotten everywhere are deleted on the way, so the table holds at most a day of failures.
    /// </summary>
    public Task<SignInFailureCount> RecordAsync(string email, string address, DateTimeOffset now, DateTimeOffset forgetBefore,
        Func<int, TimeSpan?> backOff, CancellationToken ct)
        => _scope.WriteAsync(async s =>
        {
            await s.Sql("DELETE FROM sign_in_failures WHERE last_failed_at < @forget").Param("forget", forgetBefore).ExecuteAsync(ct);
            await s.Sql("""
                    INSERT INTO sign_in_failures (email, address, failures, blocked_until, last_failed_at)
                    VALUES (@email, @address, 1, NULL, @now)
                    ON CONFLICT (email, address) DO UPDATE SET failures = sign_in_failures.failures + 1, last_failed_at = @now
                    """)
                .Param("email", email).Param("address", address).Param("now", now).ExecuteAsync(ct);
            var failures = (await s.Sql("SELECT failures FROM sign_in_failures WHERE email = @email AND address = @address")
                .Param("email", email).Param("address", address).FirstOrDefaultAsync(r => new { N = r.Int("failures") }, ct))!.N;
            DateTimeOffset? until = backOff(failures) is { } wait ? now + wait : null;
            if (until is not null)
                await s.Sql("UPDATE sign_in_failures SET blocked_until = @until WHERE email = @email AND address = @address")
                    .Param("until", until).Param("email", email).Param("address", address).ExecuteAsync(ct);
            return new SignInFailureCount(failures, until);
        }, ct);

    /// <summary>Forgets the pair's failures (a successful sign-in from that address).</summary>
    public Task ForgetAsync(string email, string address, CancellationToken ct)
        => _scope.WriteAsync(s => s.Sql("DELETE FROM sign_in_failures WHERE email = @email AND address = @address")
            .Param("email", email).Param("address", address).ExecuteAsync(ct), ct);

    /// <summary>Forgets the e-mail's failures from every address (an admin set a new password).</summary>
    public Task ForgetEverywhereAsync(string email, CancellationToken ct)
        => _scope.WriteAsync(s => s.Sql("DELETE FROM sign_in_failures WHERE email = @email").Param("email", email).ExecuteAsync(ct), ct);
}
