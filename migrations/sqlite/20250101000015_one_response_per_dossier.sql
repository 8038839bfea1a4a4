-- carecall schema, version 15: the sampled dossier is the unit of measurement
-- (issue 15, AAPOR Standard Definitions: one case per sampled dossier).
--
-- Byte-identical in migrations/sqlite and migrations/postgres.
--
-- A campaign target (one sampled dossier) has at most one survey response: a
-- retry after a partial call resumes the same response instead of opening a
-- second one, so a dossier is never counted twice. Responses opened before this
-- migration, and calls placed outside a campaign, keep target_id NULL (UNIQUE
-- allows any number of NULLs on both databases). The calls of a target stay
-- the attempt history (calls.target_id).
ALTER TABLE survey_responses ADD COLUMN target_id TEXT REFERENCES campaign_targets (id);
CREATE UNIQUE INDEX survey_responses_one_per_target ON survey_responses (target_id);

-- Hang-ups before consent so far: the first is a soft refusal worth one more
-- try on another day, the next one is final (see src/dialer/schedule/retry.rs).
ALTER TABLE campaign_targets ADD COLUMN soft_refusals BIGINT NOT NULL DEFAULT 0;

-- One number is never dialled twice at once, whatever campaign its targets
-- belong to: the database refuses a second claim on a number in flight even
-- when two dialer nodes race (the claim query also skips such targets).
CREATE UNIQUE INDEX campaign_targets_one_call_per_phone
    ON campaign_targets (phone) WHERE state IN ('claimed', 'dialling');
