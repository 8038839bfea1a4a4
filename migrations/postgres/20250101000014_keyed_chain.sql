-- The keyed audit chain and call seals (src/store/audit.rs, seals.rs,
-- head_log.rs; issue 9 item 11).
--
-- keyed_from: the upgrade point. Links with seq >= keyed_from are hashed
--             with HMAC-SHA256 under a key kept outside the database (and
--             bind the dossier's unit); the answers already chained keep
--             their unkeyed SHA-256 and verify with the old rule. Set here to
--             the next seq, so a fresh database is keyed from its first link.
-- mac:        HMAC of the head (seq, hash, keyed_from, unchained); NULL until
--             the first keyed link is written.
ALTER TABLE answer_chain_head ADD COLUMN keyed_from BIGINT NOT NULL DEFAULT 1;
ALTER TABLE answer_chain_head ADD COLUMN mac TEXT;
UPDATE answer_chain_head SET keyed_from = seq + 1;

-- A finished call (its row, its dossier's unit and its recordings) sealed
-- into the chain. seq shares the answers' sequence (one head for both);
-- content is the sealed JSON, so that verification can name what changed.
CREATE TABLE call_seals (
    seq       BIGINT PRIMARY KEY,
    call_id   TEXT NOT NULL,
    content   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX call_seals_call_id ON call_seals (call_id, seq);

-- Seals are append-only against hand-written SQL, like the answers.
CREATE TRIGGER call_seals_no_update_or_delete BEFORE UPDATE OR DELETE ON call_seals
FOR EACH ROW EXECUTE FUNCTION history_append_only();
