-- carecall schema, version 9: the latest revision of each answer, kept beside
-- the append-only answers so that reports and lists read one row per
-- (response, question) instead of searching the revisions.
--
-- Byte-identical in migrations/sqlite and migrations/postgres. Written in the
-- same transaction as the answer (src/store/audit.rs); derived data, so
-- `carecall audit verify` checks it against the answers too.
CREATE TABLE answer_latest (
    response_id TEXT NOT NULL REFERENCES survey_responses (id),
    key         TEXT NOT NULL,
    revision    BIGINT NOT NULL,
    answer_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    value       TEXT,
    PRIMARY KEY (response_id, key)
);
CREATE INDEX answer_latest_key ON answer_latest (key, response_id);

INSERT INTO answer_latest (response_id, key, revision, answer_id, kind, value)
SELECT a.response_id, a.key, a.revision, a.id, a.kind, a.value FROM answers a
WHERE NOT EXISTS (SELECT 1 FROM answers n WHERE n.response_id = a.response_id
                  AND n.key = a.key AND n.revision > a.revision);
