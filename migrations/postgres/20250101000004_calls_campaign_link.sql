-- carecall schema, version 4: a call placed by a campaign names its campaign and
-- target (both NULL for calls from the CLI or the demo). Byte-identical in both
-- backends.
ALTER TABLE calls ADD COLUMN campaign_id TEXT REFERENCES campaigns (id);
ALTER TABLE calls ADD COLUMN target_id TEXT REFERENCES campaign_targets (id);
CREATE INDEX calls_campaign_id ON calls (campaign_id);
CREATE INDEX calls_target_id ON calls (target_id);
CREATE INDEX calls_destination ON calls (destination);
