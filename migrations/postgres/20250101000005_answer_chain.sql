-- Answers chained by hash, so that an edit made behind carecall's back (an
-- attacker or an operator with database access who drops the append-only
-- triggers) is found by `carecall audit verify` (src/store/audit.rs).
--
-- This file is kept byte-identical in migrations/sqlite and migrations/postgres.
--
-- seq:        global order of answers, 1, 2, 3, ... without gaps.
-- prev_hash:  the hash of the answer with seq - 1 (64 zeros for seq 1).
-- hash:       hex SHA-256 of prev_hash and the answer's canonical content
--             (the field list is documented in src/store/audit.rs).
-- changed_by, change_reason: who corrected an answer and why (a correction is
--             a new revision, never an UPDATE); part of the hashed content.
--
-- Rows written before this migration keep NULL seq/prev_hash/hash: SQL cannot
-- compute SHA-256 portably. They predate the chain and `verify` counts them
-- separately as "unchained". Their number is frozen in the head (`unchained`),
-- so a row forged later with a NULL hash does not hide among them.
ALTER TABLE answers ADD COLUMN seq BIGINT;
ALTER TABLE answers ADD COLUMN prev_hash TEXT;
ALTER TABLE answers ADD COLUMN hash TEXT;
ALTER TABLE answers ADD COLUMN changed_by TEXT;
ALTER TABLE answers ADD COLUMN change_reason TEXT;
CREATE UNIQUE INDEX answers_seq ON answers (seq);

-- The chain's head: the last seq and its hash. Every add_answer locks this one
-- row first, which serialises writers on both databases, and the head catches
-- answers deleted from the end of the chain.
CREATE TABLE answer_chain_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       BIGINT NOT NULL,
    hash      TEXT NOT NULL,
    unchained BIGINT NOT NULL
);
INSERT INTO answer_chain_head (id, seq, hash, unchained)
SELECT 1, 0, '0000000000000000000000000000000000000000000000000000000000000000', COUNT(*)
FROM answers;
