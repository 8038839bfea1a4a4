-- Issue 9 item 18b: enough of each answered call's dialog (RFC 3261 §12.1.2: Call-ID,
-- tags, remote target, route set, CSeq) for the next start to BYE the trunk when
-- the process died mid-call. One row per live call; removed when the call ends
-- and when the start-up pass has sent its BYE.
CREATE TABLE live_dialogs (
    call_id        TEXT PRIMARY KEY REFERENCES calls (id),
    sip_call_id    TEXT NOT NULL,
    local_tag      TEXT NOT NULL,
    remote_tag     TEXT NOT NULL,
    from_header    TEXT NOT NULL,
    to_header      TEXT NOT NULL,
    local_cseq     BIGINT NOT NULL,
    remote_cseq    BIGINT NOT NULL,
    local_contact  TEXT,
    remote_uri     TEXT NOT NULL,
    remote_contact TEXT,
    -- Route values, one per line, in the order requests use them.
    route_set      TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
