-- carecall schema, version 17: which process placed each call.
--
-- Byte-identical in migrations/sqlite and migrations/postgres. A process
-- starting up used to mark every `in_progress` call in the database
-- interrupted, other nodes' live calls included. Each process now registers
-- itself in `instances` with a heartbeat and stamps its calls; at start (and
-- periodically) only the calls of instances that are gone (no fresh heartbeat,
-- or a dead process on this host) are marked. Calls from before this version
-- have no instance and are treated as a gone instance's.
CREATE TABLE instances (
    id           TEXT PRIMARY KEY,
    node         TEXT NOT NULL,
    host         TEXT NOT NULL,
    pid          BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
ALTER TABLE calls ADD COLUMN instance_id TEXT;
CREATE INDEX calls_instance_in_progress ON calls (instance_id, disposition);
