-- carecall schema, version 16 (issue 15): units as data, corrections under
-- four eyes, complaints forwarded before a unit sees them.
--
-- Byte-identical in migrations/sqlite and migrations/postgres.
--
-- unit_aliases: a unit name as one-stop exports write it (folded to its key,
-- see intake/units.rs), mapped once by an administrator to a unit.
-- pending_dossiers: rows whose unit could not be matched; they wait here, in
-- full, until an alias releases them into `dossiers`.
CREATE TABLE unit_aliases (
    name_key   TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    unit_code  TEXT NOT NULL REFERENCES units (code),
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE pending_dossiers (
    code       TEXT PRIMARY KEY,
    unit_name  TEXT NOT NULL,
    name_key   TEXT NOT NULL,
    row_json   TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX pending_dossiers_name_key ON pending_dossiers (name_key);

-- A correction proposed by one user takes effect (as a new answer revision)
-- only when a second user at a higher level approves it.
CREATE TABLE correction_proposals (
    id          TEXT PRIMARY KEY,
    response_id TEXT NOT NULL REFERENCES survey_responses (id),
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    proposed_by TEXT NOT NULL,
    -- the proposer's unit then (NULL: the whole province), for the rule
    proposer_unit TEXT,
    proposed_at BIGINT NOT NULL,
    decision    TEXT CHECK (decision IN ('approved', 'refused')),
    decided_by  TEXT,
    decided_at  BIGINT,
    answer_id   TEXT
);
CREATE INDEX correction_proposals_response_id ON correction_proposals (response_id);

-- The dossier reports (store/coverage.rs) look dossiers up by return date
-- and each dossier's campaign targets.
CREATE INDEX dossiers_returned_at ON dossiers (returned_at);
CREATE INDEX campaign_targets_dossier_code ON campaign_targets (dossier_code);

-- The province may hide the citizen's identity when it forwards a complaint.
ALTER TABLE complaint_events ADD COLUMN mask_identity BIGINT NOT NULL DEFAULT 0;
