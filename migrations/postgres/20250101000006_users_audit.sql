-- carecall schema, version 6: users, their sessions and API tokens, the audit log.
--
-- Byte-identical in migrations/sqlite and migrations/postgres (portable DDL).
-- Ids are TEXT UUIDs made in Rust; timestamps BIGINT unix milliseconds.

-- People who use the admin pages and API. password_hash is an argon2id PHC
-- string (never the password). unit_code scopes a supervisor or viewer to a
-- unit and the units under it; NULL means the whole province.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'operator', 'viewer')),
    unit_code     TEXT REFERENCES units (code),
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- A browser session. The cookie carries a random token; only its SHA-256 is
-- stored, so a copy of the database does not let anyone in. csrf is the
-- synchronizer token that forms and cookie-authenticated API calls must echo.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- Bearer tokens for the API (scripts, the one-stop system's push). Hashed like
-- sessions; revoked tokens stay listed.
CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL REFERENCES users (id),
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);

-- Every change made through the API or the pages: who, what, on which
-- resource, from where. Append-only (per-backend triggers could be added as
-- for answers; the hash chain protects the survey results themselves).
CREATE TABLE audit_log (
    id       TEXT PRIMARY KEY,
    at       BIGINT NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT,
    detail   TEXT,
    remote   TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_target ON audit_log (target);
