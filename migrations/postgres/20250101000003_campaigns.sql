-- carecall schema, version 3: units, campaigns, their targets, alarms.
--
-- Byte-identical in migrations/sqlite and migrations/postgres (portable DDL, as in
-- version 1). Ids are TEXT UUIDs made in Rust; timestamps BIGINT unix milliseconds.

-- The province's administrative units: the one-stop desks dossiers come from.
CREATE TABLE units (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('province', 'district', 'commune')),
    parent_code TEXT REFERENCES units (code)
);
CREATE INDEX units_name ON units (name);
CREATE INDEX units_parent_code ON units (parent_code);

-- A campaign: who to call (the sampling rule and its seed), when (windows),
-- how often (retry policy) and how fast. The *_json columns are written and read
-- by the dialer; the store keeps them opaque so their shape can change freely.
CREATE TABLE campaigns (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    mode             TEXT NOT NULL CHECK (mode IN ('ivr', 'operator')),
    dialplan         TEXT NOT NULL,
    period_from      BIGINT NOT NULL,
    period_to        BIGINT NOT NULL,
    daily_target     BIGINT NOT NULL,
    max_concurrent   BIGINT NOT NULL,
    calls_per_second DOUBLE PRECISION NOT NULL,
    rule_json        TEXT NOT NULL,
    windows_json     TEXT NOT NULL,
    retry_json       TEXT NOT NULL,
    quotas_json      TEXT NOT NULL,
    sample_seed      BIGINT NOT NULL,
    status           TEXT NOT NULL
                     CHECK (status IN ('draft', 'running', 'paused', 'stopped', 'finished')),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX campaigns_status ON campaigns (status);

-- One sampled dossier of a campaign and where it stands. A node claims a
-- pending target (claimed_by, lease_until) before dialling it, so that two
-- nodes never dial the same citizen; an expired lease is recovered by any node.
CREATE TABLE campaign_targets (
    id               TEXT PRIMARY KEY,
    campaign_id      TEXT NOT NULL REFERENCES campaigns (id),
    dossier_code     TEXT NOT NULL,
    phone            TEXT NOT NULL,
    unit_code        TEXT NOT NULL,
    rank             BIGINT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'claimed', 'dialling', 'done')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    last_disposition TEXT,
    last_call_id     TEXT,
    final_reason     TEXT,
    claimed_by       TEXT,
    lease_until      BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (campaign_id, dossier_code)
);
CREATE INDEX campaign_targets_state_due ON campaign_targets (state, next_attempt_at);
CREATE INDEX campaign_targets_claim_order
    ON campaign_targets (campaign_id, state, next_attempt_at, rank);
CREATE INDEX campaign_targets_phone ON campaign_targets (phone);
CREATE INDEX campaign_targets_claimed_by ON campaign_targets (claimed_by);

-- Operator-visible alarms (trunk down, disk full). At most one open per kind.
CREATE TABLE alarms (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    message    TEXT NOT NULL,
    raised_at  BIGINT NOT NULL,
    cleared_at BIGINT
);
CREATE UNIQUE INDEX alarms_one_open_per_kind ON alarms (kind) WHERE cleared_at IS NULL;
