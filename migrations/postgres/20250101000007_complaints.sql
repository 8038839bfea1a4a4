-- carecall schema, version 7: follow-up of the complaints citizens make at Q3.
--
-- Byte-identical in migrations/sqlite and migrations/postgres (portable DDL, as in
-- version 1). Ids are TEXT UUIDs made in Rust; timestamps BIGINT unix milliseconds.
--
-- A complaint is a survey response whose latest Q3 answer is a clip or a text
-- value; it has no row of its own. Its follow-up is an append-only history of
-- events, and its state (open, forwarded, resolved) is derived from them by
-- src/store/complaints.rs. The rule "never UPDATE or DELETE" is kept by the
-- code; the per-backend triggers that enforce it against hand-written SQL
-- (as migration 2 does for answers) differ between SQLite and PostgreSQL and
-- so do not belong in this file.
--
-- seq numbers a complaint's events 1, 2, 3, ...: the writer reads the history,
-- checks the transition and inserts seq = last + 1, so two supervisors acting
-- at once cannot both resolve the same complaint (the second insert breaks
-- the UNIQUE constraint instead of silently passing the check).
-- unit_code: the unit the complaint is with after this event (the unit it was
-- forwarded to, otherwise the one it was already with).
CREATE TABLE complaint_events (
    id          TEXT PRIMARY KEY,
    response_id TEXT NOT NULL REFERENCES survey_responses (id),
    seq         BIGINT NOT NULL,
    unit_code   TEXT,
    action      TEXT NOT NULL
                CHECK (action IN ('opened', 'forwarded', 'note', 'resolved', 'reopened')),
    note        TEXT,
    actor       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (response_id, seq)
);
CREATE INDEX complaint_events_unit_code ON complaint_events (unit_code);
CREATE INDEX complaint_events_created_at ON complaint_events (created_at);
