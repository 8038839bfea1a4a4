-- carecall schema, version 13: the units each campaign samples, one row each,
-- so that a user's unit scope selects campaigns in SQL (issue 9, item 7). A
-- campaign without rows samples the whole province: only users without a unit
-- see it. The sampling rule never changes after creation, so this index of it
-- cannot drift; campaigns made before this version are filled in from it.
CREATE TABLE campaign_units (
    campaign_id TEXT NOT NULL REFERENCES campaigns (id),
    unit_code   TEXT NOT NULL,
    PRIMARY KEY (campaign_id, unit_code)
);
CREATE INDEX campaign_units_unit_code ON campaign_units (unit_code);

INSERT INTO campaign_units (campaign_id, unit_code)
SELECT c.id, u.code
FROM campaigns c, jsonb_array_elements_text(c.rule_json::jsonb -> 'units') AS u(code)
WHERE jsonb_typeof(c.rule_json::jsonb -> 'units') = 'array'
ON CONFLICT DO NOTHING;
