-- carecall schema, version 1.
--
-- This file is kept byte-identical in migrations/sqlite and migrations/postgres:
-- one portable DDL so that src/store runs the same queries on both databases.
-- Ids are TEXT UUIDs made in Rust; timestamps are BIGINT unix milliseconds (UTC).
-- Backend-specific DDL (triggers) lives in the later, per-backend migrations.

-- Dossiers imported from the one-stop information system (the survey's subject).
CREATE TABLE dossiers (
    code            TEXT PRIMARY KEY,
    procedure       TEXT NOT NULL,
    field           TEXT NOT NULL,
    unit_code       TEXT NOT NULL,
    applicant_kind  TEXT NOT NULL,
    applicant_name  TEXT NOT NULL,
    phone           TEXT NOT NULL,
    received_at     BIGINT,
    returned_at     BIGINT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX dossiers_unit_code ON dossiers (unit_code);
CREATE INDEX dossiers_phone ON dossiers (phone);

-- One outbound call attempt. dossier_code has no foreign key on purpose: a call
-- may be placed (CLI, demo) for a dossier that was never imported.
-- disposition: in_progress, answered, no_input, busy, no_answer, rejected,
-- failed, interrupted (free text; see src/store/types.rs).
CREATE TABLE calls (
    id           TEXT PRIMARY KEY,
    dossier_code TEXT,
    sip_call_id  TEXT,
    destination  TEXT NOT NULL,
    caller_id    TEXT NOT NULL,
    dialplan     TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    answered_at  BIGINT,
    ended_at     BIGINT,
    disposition  TEXT NOT NULL,
    sip_code     BIGINT,
    reason       TEXT,
    end_reason   TEXT
);
CREATE INDEX calls_dossier_code ON calls (dossier_code);
CREATE INDEX calls_started_at ON calls (started_at);
CREATE INDEX calls_disposition ON calls (disposition);
CREATE INDEX calls_sip_call_id ON calls (sip_call_id);

-- One questionnaire run inside a call.
CREATE TABLE survey_responses (
    id           TEXT PRIMARY KEY,
    call_id      TEXT NOT NULL REFERENCES calls (id),
    dossier_code TEXT,
    dialplan     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    status       TEXT NOT NULL
);
CREATE INDEX survey_responses_call_id ON survey_responses (call_id);
CREATE INDEX survey_responses_dossier_code ON survey_responses (dossier_code);

-- Answers are append-only: a changed answer is a new row with the next revision,
-- never an UPDATE (seed 004: a result, once taken, is never silently edited).
CREATE TABLE answers (
    id           TEXT PRIMARY KEY,
    response_id  TEXT NOT NULL REFERENCES survey_responses (id),
    key          TEXT NOT NULL,
    revision     BIGINT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('value', 'clip', 'unanswered')),
    value        TEXT,
    why          TEXT,
    offset_ms    BIGINT,
    clip_path    TEXT,
    -- Clip length in milliseconds, not a nullable float: sqlx 0.9's Any driver
    -- binds a NULL float as float4 on PostgreSQL, which poisons the prepared
    -- statement for later float8 values (see src/store/survey.rs).
    clip_ms      BIGINT,
    clip_sha256  TEXT,
    answered_at  BIGINT NOT NULL,
    UNIQUE (response_id, key, revision)
);

-- The stereo WAV of a call.
CREATE TABLE recordings (
    id         TEXT PRIMARY KEY,
    call_id    TEXT NOT NULL REFERENCES calls (id),
    path       TEXT NOT NULL,
    seconds    DOUBLE PRECISION NOT NULL,
    sha256     TEXT NOT NULL,
    bytes      BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX recordings_call_id ON recordings (call_id);

-- Numbers that asked not to be called again.
CREATE TABLE do_not_call (
    phone      TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
