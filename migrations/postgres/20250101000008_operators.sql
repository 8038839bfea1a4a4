-- carecall schema, version 8: operators (điện thoại viên) and their SIP registrations.
--
-- Byte-identical in migrations/sqlite and migrations/postgres (portable DDL: TEXT
-- ids made in Rust, BIGINT unix milliseconds).

-- An operator account. The SIP password is never stored: sip_ha1 is
-- MD5(sip_user ":" realm ":" password) in hex (RFC 2617 §3.2.2.2), all the
-- registrar needs to check a digest; changing the realm needs new passwords.
CREATE TABLE operators (
    id           TEXT PRIMARY KEY,
    username     TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    sip_user     TEXT NOT NULL UNIQUE,
    sip_ha1      TEXT NOT NULL,
    unit_code    TEXT,
    state        TEXT NOT NULL
                 CHECK (state IN ('offline', 'available', 'on_call', 'wrap_up', 'paused')),
    state_since  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);

-- The contacts an operator's phones registered (RFC 3261 §10.3), shared by every
-- node. call_id and cseq order the updates of one binding (RFC 3261 §10.3 step 7).
-- A row whose expires_at has passed is no binding; any node may delete it.
CREATE TABLE registrations (
    operator_id TEXT NOT NULL REFERENCES operators (id),
    contact     TEXT NOT NULL,
    source      TEXT NOT NULL,
    transport   TEXT NOT NULL,
    user_agent  TEXT,
    call_id     TEXT NOT NULL,
    cseq        BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (operator_id, contact)
);
CREATE INDEX registrations_expires_at ON registrations (expires_at);
