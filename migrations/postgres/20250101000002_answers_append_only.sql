-- Answers are append-only even against hand-written SQL: UPDATE and DELETE abort.
CREATE FUNCTION answers_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'answers are append-only: add a new revision instead'
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER answers_no_update_or_delete BEFORE UPDATE OR DELETE ON answers
FOR EACH ROW EXECUTE FUNCTION answers_append_only();
