namespace Gapura.Storage.Migrations;

/// <summary>
/// The schema history. Conventions: ids are 64-bit integers; times are epoch milliseconds in SQLite and
/// <c>timestamptz</c> in PostgreSQL (the dialect converts); flags are 0/1 in SQLite and booleans in
/// PostgreSQL; emails are unique on <c>lower(email)</c> in both. Every column ending in <c>_enc</c> holds
/// a <see cref="Secrets.SecretBox"/> value, never plaintext. The usage rollups keep time as whole hours
/// (<c>usage_hourly.hour</c>) or days (<c>usage_daily.day</c>) since the Unix epoch in UTC, the same integers on
/// both back ends, so one report query serves both; a rollup's absent user, key or provider is 0 or ''.
/// </summary>
internal static class Schema
{
    public static IReadOnlyList<Migration> All { get; } =
    [
        new(1, "users, keys, upstream logins, audit, settings, change feed", Sqlite: """
            CREATE TABLE users (
                id              INTEGER PRIMARY KEY,
                email           TEXT    NOT NULL,
                display_name    TEXT    NOT NULL DEFAULT '',
                role            TEXT    NOT NULL CHECK (role IN ('admin', 'user')),
                disabled        INTEGER NOT NULL DEFAULT 0,
                password_hash   TEXT,
                failed_logins   INTEGER NOT NULL DEFAULT 0,
                locked_until    INTEGER,
                totp_secret_enc TEXT,
                totp_last_step  INTEGER,
                created_at      INTEGER NOT NULL,
                updated_at      INTEGER NOT NULL
            );
            CREATE UNIQUE INDEX users_email_ci ON users (lower(email));

            CREATE TABLE recovery_codes (
                id         INTEGER PRIMARY KEY,
                user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                code_hash  TEXT    NOT NULL,
                created_at INTEGER NOT NULL,
                used_at    INTEGER,
                UNIQUE (user_id, code_hash)
            );

            CREATE TABLE api_keys (
                id           INTEGER PRIMARY KEY,
                user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                name         TEXT    NOT NULL DEFAULT '',
                prefix       TEXT    NOT NULL,
                hash         TEXT    NOT NULL UNIQUE,
                created_at   INTEGER NOT NULL,
                expires_at   INTEGER,
                revoked_at   INTEGER,
                last_used_at INTEGER
            );
            CREATE INDEX api_keys_user ON api_keys (user_id);
            CREATE INDEX api_keys_prefix ON api_keys (prefix);

            CREATE TABLE upstream_logins (
                id         INTEGER PRIMARY KEY,
                user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                provider   TEXT    NOT NULL,
                label      TEXT    NOT NULL,
                secret_enc TEXT    NOT NULL,
                status     TEXT    NOT NULL DEFAULT 'alive' CHECK (status IN ('alive', 'dead')),
                last_error TEXT,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                UNIQUE (user_id, provider, label)
            );
            CREATE INDEX upstream_logins_provider ON upstream_logins (provider);

            CREATE TABLE audit_log (
                id          INTEGER PRIMARY KEY,
                at          INTEGER NOT NULL,
                actor       TEXT    NOT NULL,
                action      TEXT    NOT NULL,
                target      TEXT,
                detail      TEXT,
                remote_addr TEXT
            );
            CREATE INDEX audit_log_at ON audit_log (at);

            CREATE TABLE settings (
                key        TEXT    PRIMARY KEY,
                value      TEXT,
                value_enc  TEXT,
                updated_at INTEGER NOT NULL,
                CHECK ((value IS NULL) <> (value_enc IS NULL))
            );

            CREATE TABLE change_seq (
                id    INTEGER PRIMARY KEY CHECK (id = 1),
                value INTEGER NOT NULL
            );
            INSERT INTO change_seq (id, value) VALUES (1, 0);

            CREATE TABLE change_log (
                seq       INTEGER NOT NULL,
                entity    TEXT    NOT NULL,
                entity_id TEXT    NOT NULL,
                at        INTEGER NOT NULL
            );
            CREATE INDEX change_log_seq ON change_log (seq);
            """, Postgres: """
            CREATE TABLE users (
                id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                email           text        NOT NULL,
                display_name    text        NOT NULL DEFAULT '',
                role            text        NOT NULL CHECK (role IN ('admin', 'user')),
                disabled        boolean     NOT NULL DEFAULT false,
                password_hash   text,
                failed_logins   integer     NOT NULL DEFAULT 0,
                locked_until    timestamptz,
                totp_secret_enc text,
                totp_last_step  bigint,
                created_at      timestamptz NOT NULL,
                updated_at      timestamptz NOT NULL
            );
            CREATE UNIQUE INDEX users_email_ci ON users (lower(email));

            CREATE TABLE recovery_codes (
                id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                code_hash  text        NOT NULL,
                created_at timestamptz NOT NULL,
                used_at    timestamptz,
                UNIQUE (user_id, code_hash)
            );

            CREATE TABLE api_keys (
                id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                name         text        NOT NULL DEFAULT '',
                prefix       text        NOT NULL,
                hash         text        NOT NULL UNIQUE,
                created_at   timestamptz NOT NULL,
                expires_at   timestamptz,
                revoked_at   timestamptz,
                last_used_at timestamptz
            );
            CREATE INDEX api_keys_user ON api_keys (user_id);
            CREATE INDEX api_keys_prefix ON api_keys (prefix);

            CREATE TABLE upstream_logins (
                id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                provider   text        NOT NULL,
                label      text        NOT NULL,
                secret_enc text        NOT NULL,
                status     text        NOT NULL DEFAULT 'alive' CHECK (status IN ('alive', 'dead')),
                last_error text,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                UNIQUE (user_id, provider, label)
            );
            CREATE INDEX upstream_logins_provider ON upstream_logins (provider);

            CREATE TABLE audit_log (
                id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                at          timestamptz NOT NULL,
                actor       text        NOT NULL,
                action      text        NOT NULL,
                target      text,
                detail      text,
                remote_addr text
            );
            CREATE INDEX audit_log_at ON audit_log (at);

            CREATE TABLE settings (
                key        text        PRIMARY KEY,
                value      text,
                value_enc  text,
                updated_at timestamptz NOT NULL,
                CHECK ((value IS NULL) <> (value_enc IS NULL))
            );

            CREATE TABLE change_seq (
                id    integer PRIMARY KEY CHECK (id = 1),
                value bigint  NOT NULL
            );
            INSERT INTO change_seq (id, value) VALUES (1, 0);

            CREATE TABLE change_log (
                seq       bigint      NOT NULL,
                entity    text        NOT NULL,
                entity_id text        NOT NULL,
                at        timestamptz NOT NULL
            );
            CREATE INDEX change_log_seq ON change_log (seq);
            """),
        new(2, "admin sign-in sessions", Sqlite: """
            CREATE TABLE sessions (
                id           INTEGER PRIMARY KEY,
                user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                token_hash   TEXT    NOT NULL UNIQUE,
                created_at   INTEGER NOT NULL,
                expires_at   INTEGER NOT NULL,
                last_seen_at INTEGER NOT NULL,
                remote_addr  TEXT
            );
            CREATE INDEX sessions_user ON sessions (user_id);
            CREATE INDEX sessions_expires ON sessions (expires_at);
            """, Postgres: """
            CREATE TABLE sessions (
                id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                token_hash   text        NOT NULL UNIQUE,
                created_at   timestamptz NOT NULL,
                expires_at   timestamptz NOT NULL,
                last_seen_at timestamptz NOT NULL,
                remote_addr  text
            );
            CREATE INDEX sessions_user ON sessions (user_id);
            CREATE INDEX sessions_expires ON sessions (expires_at);
            """),
        new(3, "usage ledger: one row per request, hourly and daily rollups", Sqlite: """
            CREATE TABLE usage_records (
                id                 INTEGER PRIMARY KEY,
                request_id         TEXT NOT NULL UNIQUE,
                at                 INTEGER NOT NULL,
                user_id            INTEGER,
                key_id             INTEGER,
                key_prefix         TEXT,
                client             TEXT NOT NULL,
                client_version     TEXT,
                user_agent         TEXT,
                session_id         TEXT,
                front_door         TEXT NOT NULL,
                requested_model    TEXT NOT NULL,
                model              TEXT NOT NULL,
                provider           TEXT,
                login              TEXT,
                upstream_model     TEXT,
                fallbacks          INTEGER NOT NULL,
                stream             INTEGER NOT NULL,
                task               TEXT NOT NULL,
                input_tokens       INTEGER NOT NULL,
                output_tokens      INTEGER NOT NULL,
                cache_read_tokens  INTEGER NOT NULL,
                cache_write_tokens INTEGER NOT NULL,
                reasoning_tokens   INTEGER NOT NULL,
                estimated          INTEGER NOT NULL,
                credits            REAL,
                cost_usd           REAL,
                ttfb_ms            REAL,
                duration_ms        REAL NOT NULL,
                http_status        INTEGER NOT NULL,
                status             TEXT NOT NULL,
                error_kind         TEXT
            );
            CREATE INDEX usage_records_at ON usage_records (at);
            CREATE INDEX usage_records_session ON usage_records (session_id) WHERE session_id IS NOT NULL;

            CREATE TABLE usage_hourly (
                hour               INTEGER NOT NULL,
                user_id            INTEGER NOT NULL,
                key_id             INTEGER NOT NULL,
                client             TEXT NOT NULL,
                model              TEXT NOT NULL,
                provider           TEXT NOT NULL,
                task               TEXT NOT NULL,
                requests           INTEGER NOT NULL,
                errors             INTEGER NOT NULL,
                client_closed      INTEGER NOT NULL,
                input_tokens       INTEGER NOT NULL,
                output_tokens      INTEGER NOT NULL,
                cache_read_tokens  INTEGER NOT NULL,
                cache_write_tokens INTEGER NOT NULL,
                reasoning_tokens   INTEGER NOT NULL,
                estimated          INTEGER NOT NULL,
                credits            REAL NOT NULL,
                cost_usd           REAL NOT NULL,
                unpriced           INTEGER NOT NULL,
                duration_ms        REAL NOT NULL,
                ttfb_ms            REAL NOT NULL,
                ttfb_count         INTEGER NOT NULL,
                PRIMARY KEY (hour, user_id, key_id, client, model, provider, task)
            );
            CREATE INDEX usage_hourly_user ON usage_hourly (user_id, hour);

            CREATE TABLE usage_daily (
                day                INTEGER NOT NULL,
                user_id            INTEGER NOT NULL,
                key_id             INTEGER NOT NULL,
                client             TEXT NOT NULL,
                model              TEXT NOT NULL,
                provider           TEXT NOT NULL,
                task               TEXT NOT NULL,
                requests           INTEGER NOT NULL,
                errors             INTEGER NOT NULL,
                client_closed      INTEGER NOT NULL,
                input_tokens       INTEGER NOT NULL,
                output_tokens      INTEGER NOT NULL,
                cache_read_tokens  INTEGER NOT NULL,
                cache_write_tokens INTEGER NOT NULL,
                reasoning_tokens   INTEGER NOT NULL,
                estimated          INTEGER NOT NULL,
                credits            REAL NOT NULL,
                cost_usd           REAL NOT NULL,
                unpriced           INTEGER NOT NULL,
                duration_ms        REAL NOT NULL,
                ttfb_ms            REAL NOT NULL,
                ttfb_count         INTEGER NOT NULL,
                PRIMARY KEY (day, user_id, key_id, client, model, provider, task)
            );
            CREATE INDEX usage_daily_user ON usage_daily (user_id, day);
            """, Postgres: """
            CREATE TABLE usage_records (
                id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                request_id         text NOT NULL UNIQUE,
                at                 timestamptz NOT NULL,
                user_id            bigint,
                key_id             bigint,
                key_prefix         text,
                client             text NOT NULL,
                client_version     text,
                user_agent         text,
                session_id         text,
                front_door         text NOT NULL,
                requested_model    text NOT NULL,
                model              text NOT NULL,
                provider           text,
                login              text,
                upstream_model     text,
                fallbacks          integer NOT NULL,
                stream             boolean NOT NULL,
                task               text NOT NULL,
                input_tokens       integer NOT NULL,
                output_tokens      integer NOT NULL,
                cache_read_tokens  integer NOT NULL,
                cache_write_tokens integer NOT NULL,
                reasoning_tokens   integer NOT NULL,
                estimated          boolean NOT NULL,
                credits            double precision,
                cost_usd           double precision,
                ttfb_ms            double precision,
                duration_ms        double precision NOT NULL,
                http_status        integer NOT NULL,
                status             text NOT NULL,
                error_kind         text
            );
            CREATE INDEX usage_records_at ON usage_records (at);
            CREATE INDEX usage_records_session ON usage_records (session_id) WHERE session_id IS NOT NULL;

            CREATE TABLE usage_hourly (
                hour               bigint NOT NULL,
                user_id            bigint NOT NULL,
                key_id             bigint NOT NULL,
                client             text NOT NULL,
                model              text NOT NULL,
                provider           text NOT NULL,
                task               text NOT NULL,
                requests           bigint NOT NULL,
                errors             bigint NOT NULL,
                client_closed      bigint NOT NULL,
                input_tokens       bigint NOT NULL,
                output_tokens      bigint NOT NULL,
                cache_read_tokens  bigint NOT NULL,
                cache_write_tokens bigint NOT NULL,
                reasoning_tokens   bigint NOT NULL,
                estimated          bigint NOT NULL,
                credits            double precision NOT NULL,
                cost_usd           double precision NOT NULL,
                unpriced           bigint NOT NULL,
                duration_ms        double precision NOT NULL,
                ttfb_ms            double precision NOT NULL,
                ttfb_count         bigint NOT NULL,
                PRIMARY KEY (hour, user_id, key_id, client, model, provider, task)
            );
            CREATE INDEX usage_hourly_user ON usage_hourly (user_id, hour);

            CREATE TABLE usage_daily (
                day                bigint NOT NULL,
                user_id            bigint NOT NULL,
                key_id             bigint NOT NULL,
                client             text NOT NULL,
                model              text NOT NULL,
                provider           text NOT NULL,
                task               text NOT NULL,
                requests           bigint NOT NULL,
                errors             bigint NOT NULL,
                client_closed      bigint NOT NULL,
                input_tokens       bigint NOT NULL,
                output_tokens      bigint NOT NULL,
                cache_read_tokens  bigint NOT NULL,
                cache_write_tokens bigint NOT NULL,
                reasoning_tokens   bigint NOT NULL,
                estimated          bigint NOT NULL,
                credits            double precision NOT NULL,
                cost_usd           double precision NOT NULL,
                unpriced           bigint NOT NULL,
                duration_ms        double precision NOT NULL,
                ttfb_ms            double precision NOT NULL,
                ttfb_count         bigint NOT NULL,
                PRIMARY KEY (day, user_id, key_id, client, model, provider, task)
            );
            CREATE INDEX usage_daily_user ON usage_daily (user_id, day);
            """),
        // The reports' commonest question, day x model (the admin default window is whole days): on SQLite an index in
        // that order holding every sum lets it aggregate as it reads instead of sorting the whole window first (about
        // 3x less work over a month of a 50-person team, see bench/README.md).
        new(4, "usage reports: the daily rollup in (day, model) order", Sqlite: """
            CREATE INDEX usage_daily_day_model ON usage_daily (day, model, requests, errors, client_closed, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, unpriced, ttfb_count, credits, cost_usd, duration_ms, ttfb_ms);
            """, Postgres: """
            -- Nothing: PostgreSQL hash-aggregates the window as fast without it (measured), and an index holding the
            -- sums would turn every rollup update from HOT (no index write) into one that rewrites three indexes.
            SELECT 1;
            """),
        // Routing by task: which profile served a request, which side of a canary it was on, and how many tool calls
        // the client reported failed in it. The canary's status reads one profile since the canary started; only rows
        // on a canary are indexed (variant set), so the index stays as small as canaries are rare.
        new(5, "usage ledger: routing profile, canary variant and tool-call failures per request", Sqlite: """
            ALTER TABLE usage_records ADD COLUMN profile TEXT;
            ALTER TABLE usage_records ADD COLUMN variant TEXT;
            ALTER TABLE usage_records ADD COLUMN tool_errors INTEGER NOT NULL DEFAULT 0;
            CREATE INDEX usage_records_canary ON usage_records (profile, at) WHERE variant IS NOT NULL;
            """, Postgres: """
            ALTER TABLE usage_records ADD COLUMN profile text, ADD COLUMN variant text, ADD COLUMN tool_errors integer NOT NULL DEFAULT 0;
            CREATE INDEX usage_records_canary ON usage_records (profile, at) WHERE variant IS NOT NULL;
            """),
        // Budgets: one counter row per scope and window (a new window is a new row, so nothing resets at midnight), the
        // open reservations of running requests (renewed by their instance, released when it dies), and standing pauses.
        // Reserving locks the request's meter rows, so two instances cannot both spend a window's last tokens.
        new(6, "budgets: meters per scope and window, open reservations, pauses", Sqlite: """
            CREATE TABLE budget_meters (
                scope           TEXT    NOT NULL,
                period          TEXT    NOT NULL CHECK (period IN ('daily', 'monthly')),
                win             TEXT    NOT NULL,
                used_input      INTEGER NOT NULL DEFAULT 0,
                used_output     INTEGER NOT NULL DEFAULT 0,
                used_cost       REAL    NOT NULL DEFAULT 0,
                reserved_input  INTEGER NOT NULL DEFAULT 0,
                reserved_output INTEGER NOT NULL DEFAULT 0,
                reserved_cost   REAL    NOT NULL DEFAULT 0,
                alerted         INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (scope, period, win)
            );
            CREATE TABLE budget_reservations (
                id         TEXT    PRIMARY KEY,
                instance   TEXT    NOT NULL,
                input      INTEGER NOT NULL,
                output     INTEGER NOT NULL,
                cost       REAL    NOT NULL,
                meters     TEXT    NOT NULL,
                expires_at INTEGER NOT NULL
            );
            CREATE INDEX budget_reservations_instance ON budget_reservations (instance);
            CREATE INDEX budget_reservations_expiry ON budget_reservations (expires_at);
            CREATE TABLE budget_pauses (
                scope  TEXT    NOT NULL,
                period TEXT    NOT NULL CHECK (period IN ('daily', 'monthly')),
                since  INTEGER NOT NULL,
                until  INTEGER,
                reason TEXT    NOT NULL,
                PRIMARY KEY (scope, period)
            );
            """, Postgres: """
            CREATE TABLE budget_meters (
                scope           text   NOT NULL,
                period          text   NOT NULL CHECK (period IN ('daily', 'monthly')),
                win             text   NOT NULL,
                used_input      bigint NOT NULL DEFAULT 0,
                used_output     bigint NOT NULL DEFAULT 0,
                used_cost       double precision NOT NULL DEFAULT 0,
                reserved_input  bigint NOT NULL DEFAULT 0,
                reserved_output bigint NOT NULL DEFAULT 0,
                reserved_cost   double precision NOT NULL DEFAULT 0,
                alerted         integer NOT NULL DEFAULT 0,
                PRIMARY KEY (scope, period, win)
            );
            CREATE TABLE budget_reservations (
                id         text   PRIMARY KEY,
                instance   text   NOT NULL,
                input      bigint NOT NULL,
                output     bigint NOT NULL,
                cost       double precision NOT NULL,
                meters     text   NOT NULL,
                expires_at timestamptz NOT NULL
            );
            CREATE INDEX budget_reservations_instance ON budget_reservations (instance);
            CREATE INDEX budget_reservations_expiry ON budget_reservations (expires_at);
            CREATE TABLE budget_pauses (
                scope  text NOT NULL,
                period text NOT NULL CHECK (period IN ('daily', 'monthly')),
                since  timestamptz NOT NULL,
                until  timestamptz,
                reason text NOT NULL,
                PRIMARY KEY (scope, period)
            );
            """),
        // Rate limits: one row per user or key holding its sliding minute as two one-minute buckets (the minute and the
        // one before), and one row per open lease of a running request in each scope that limits concurrency (renewed
        // by its instance, no longer counted once expired). Acquiring locks the scopes' rows, so instances queue on them.
        new(7, "rate limits: a two-bucket sliding minute per scope, open leases of running requests", Sqlite: """
            CREATE TABLE rate_windows (
                scope         TEXT    PRIMARY KEY,
                minute        INTEGER NOT NULL,
                requests      INTEGER NOT NULL DEFAULT 0,
                tokens        INTEGER NOT NULL DEFAULT 0,
                prev_requests INTEGER NOT NULL DEFAULT 0,
                prev_tokens   INTEGER NOT NULL DEFAULT 0
            );
            CREATE TABLE rate_leases (
                id         TEXT    NOT NULL,
                scope      TEXT    NOT NULL,
                instance   TEXT    NOT NULL,
                expires_at INTEGER NOT NULL,
                PRIMARY KEY (id, scope)
            );
            CREATE INDEX rate_leases_scope ON rate_leases (scope, expires_at);
            CREATE INDEX rate_leases_expiry ON rate_leases (expires_at);
            """, Postgres: """
            CREATE TABLE rate_windows (
                scope         text   PRIMARY KEY,
                minute        bigint NOT NULL,
                requests      bigint NOT NULL DEFAULT 0,
                tokens        bigint NOT NULL DEFAULT 0,
                prev_requests bigint NOT NULL DEFAULT 0,
                prev_tokens   bigint NOT NULL DEFAULT 0
            );
            CREATE TABLE rate_leases (
                id         text        NOT NULL,
                scope      text        NOT NULL,
                instance   text        NOT NULL,
                expires_at timestamptz NOT NULL,
                PRIMARY KEY (id, scope)
            );
            CREATE INDEX rate_leases_scope ON rate_leases (scope, expires_at);
            CREATE INDEX rate_leases_expiry ON rate_leases (expires_at);
            """),
        // State every instance must see, that used to live in one process's memory: upstream cool-downs (an account or a
        // provider resting after a 429, keyed by its stable name, kept until the later of two rests ends) and sign-ins in
        // progress (device codes, OAuth PKCE), so a flow started on one instance is finished on another. A flow's codes
        // and verifier are sealed (state_enc); next_poll_at paces polls and is claimed by the instance that polls.
        new(8, "shared state: upstream cool-downs and sign-ins in progress", Sqlite: """
            CREATE TABLE upstream_rests (
                key   TEXT    PRIMARY KEY,
                until INTEGER NOT NULL
            );
            CREATE INDEX upstream_rests_until ON upstream_rests (until);
            CREATE TABLE sign_in_flows (
                id           TEXT    PRIMARY KEY,
                kind         TEXT    NOT NULL,
                user_id      INTEGER NOT NULL,
                label        TEXT,
                state_enc    TEXT    NOT NULL,
                expires_at   INTEGER NOT NULL,
                next_poll_at INTEGER NOT NULL,
                interval_ms  INTEGER NOT NULL
            );
            CREATE INDEX sign_in_flows_user ON sign_in_flows (user_id, kind, expires_at);
            CREATE INDEX sign_in_flows_expiry ON sign_in_flows (expires_at);
            """, Postgres: """
            CREATE TABLE upstream_rests (
                key   text        PRIMARY KEY,
                until timestamptz NOT NULL
            );
            CREATE INDEX upstream_rests_until ON upstream_rests (until);
            CREATE TABLE sign_in_flows (
                id           text        PRIMARY KEY,
                kind         text        NOT NULL,
                user_id      bigint      NOT NULL,
                label        text,
                state_enc    text        NOT NULL,
                expires_at   timestamptz NOT NULL,
                next_poll_at timestamptz NOT NULL,
                interval_ms  bigint      NOT NULL
            );
            CREATE INDEX sign_in_flows_user ON sign_in_flows (user_id, kind, expires_at);
            CREATE INDEX sign_in_flows_expiry ON sign_in_flows (expires_at);
            """),
        // Failed sign-ins per (e-mail as typed, lower-cased; client address), for known and unknown e-mails alike, so the
        // answer never tells them apart and a stranger's failures never hold back the account's owner at another address.
        // A row is forgotten a day after its last failure.
        new(9, "sign-in back-off per e-mail and client address", Sqlite: """
            CREATE TABLE sign_in_failures (
                email          TEXT    NOT NULL,
                address        TEXT    NOT NULL,
                failures       INTEGER NOT NULL,
                blocked_until  INTEGER,
                last_failed_at INTEGER NOT NULL,
                PRIMARY KEY (email, address)
            );
            CREATE INDEX sign_in_failures_last ON sign_in_failures (last_failed_at);
            """, Postgres: """
            CREATE TABLE sign_in_failures (
                email          text        NOT NULL,
                address        text        NOT NULL,
                failures       integer     NOT NULL,
                blocked_until  timestamptz,
                last_failed_at timestamptz NOT NULL,
                PRIMARY KEY (email, address)
            );
            CREATE INDEX sign_in_failures_last ON sign_in_failures (last_failed_at);
            """),
        // Answers kept so a later request can continue from them (Responses previous_response_id and item_reference).
        // The payload (the input and output items) is sealed with the secrets key under the purpose "stored_response:<id>";
        // rows past expires_at are read as absent and deleted by a background sweep; a deleted user's rows go with them.
        new(10, "stored responses: answers a later request may continue from, sealed, per user, until they expire", Sqlite: """
            CREATE TABLE stored_responses (
                id          TEXT    PRIMARY KEY,
                user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                created_at  INTEGER NOT NULL,
                expires_at  INTEGER NOT NULL,
                payload_enc TEXT    NOT NULL
            );
            CREATE INDEX stored_responses_expiry ON stored_responses (expires_at);
            """, Postgres: """
            CREATE TABLE stored_responses (
                id          text        PRIMARY KEY,
                user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                created_at  timestamptz NOT NULL,
                expires_at  timestamptz NOT NULL,
                payload_enc text        NOT NULL
            );
            CREATE INDEX stored_responses_expiry ON stored_responses (expires_at);
            """),
    ];
}
