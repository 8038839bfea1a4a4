-- carecall schema, version 10: the operator who took a bridged call.
--
-- Byte-identical in migrations/sqlite and migrations/postgres. NULL for calls
-- the IVR handled alone; set when an operator answers the bridge, so the call
-- list and reports can say who spoke with the citizen.
ALTER TABLE calls ADD COLUMN operator_id TEXT REFERENCES operators (id);
