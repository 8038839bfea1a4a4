-- Answers are append-only even against hand-written SQL: UPDATE and DELETE abort.
CREATE TRIGGER answers_no_update BEFORE UPDATE ON answers
BEGIN
    SELECT RAISE(ABORT, 'answers are append-only: add a new revision instead');
END;

CREATE TRIGGER answers_no_delete BEFORE DELETE ON answers
BEGIN
    SELECT RAISE(ABORT, 'answers are append-only: add a new revision instead');
END;
