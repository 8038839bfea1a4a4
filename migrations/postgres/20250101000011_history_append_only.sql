-- The complaints' follow-up history and the audit log are append-only even
-- against hand-written SQL, like the answers (migration 2): UPDATE and DELETE abort.
CREATE FUNCTION history_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: add a new entry instead', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER complaint_events_no_update_or_delete BEFORE UPDATE OR DELETE ON complaint_events
FOR EACH ROW EXECUTE FUNCTION history_append_only();

CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION history_append_only();
