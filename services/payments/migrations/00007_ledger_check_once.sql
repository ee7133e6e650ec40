-- +goose Up
-- The commit-time check of 00001 ran once per line and once per entry, three
-- queries each: a four-line entry was checked five times. Same rules, checked
-- once per entry:
--   * a new entry's own deferred check (journal_entries_sealed) covers every
--     line it has when the check runs, so a line inserted while that check is
--     still to run needs none of its own. The entry's insert notes its id in a
--     transaction-local setting, its check clears it, and the line trigger is
--     queued only for lines of another entry (WHEN is evaluated as the row is
--     inserted, not deferred). A line added after the check ran (e.g. under
--     SET CONSTRAINTS ... IMMEDIATE), or to an entry of an earlier transaction,
--     is checked as before;
--   * the entry's check is one plain aggregate over its lines; only an entry
--     that fails it or spans currencies goes through journal_check_entry,
--     which checks per currency and raises the errors of 00001.
-- A subtransaction that rolls back restores the setting and re-arms the checks
-- it ran, so the two stay in step.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION journal_entries_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unused TEXT;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status NOT IN ('pending', 'posted') THEN
            RAISE EXCEPTION 'journal entry must be inserted pending or posted, not %', NEW.status
                USING ERRCODE = 'check_violation';
        END IF;
        -- Its check (journal_entries_check) is now queued and has not run.
        unused := set_config('payments.journal_unchecked_entry', NEW.id::text, true);
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE'
        AND NEW.id = OLD.id AND NEW.kind = OLD.kind AND NEW.reference = OLD.reference
        AND NEW.line_count = OLD.line_count AND NEW.created_at = OLD.created_at
        AND OLD.status = 'pending' AND NEW.status IN ('posted', 'voided') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'journal entries are append-only: % refused (status %)', TG_OP, OLD.status
        USING ERRCODE = 'restrict_violation';
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION journal_entries_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n      BIGINT;
    total  NUMERIC;
    lo     TEXT;
    hi     TEXT;
    unused TEXT;
BEGIN
    -- From here on, lines of any entry queue their own check.
    unused := set_config('payments.journal_unchecked_entry', '', true);
    SELECT count(*), sum(amount_minor), min(currency), max(currency) INTO n, total, lo, hi
    FROM journal_lines WHERE entry_id = NEW.id;
    IF n <> NEW.line_count OR lo <> hi OR total <> 0 THEN
        PERFORM journal_check_entry(NEW.id); -- raises unless a balanced multi-currency entry
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

DROP TRIGGER journal_lines_balanced ON journal_lines;
CREATE CONSTRAINT TRIGGER journal_lines_balanced AFTER INSERT ON journal_lines
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (current_setting('payments.journal_unchecked_entry', true) IS DISTINCT FROM NEW.entry_id::text)
    EXECUTE FUNCTION journal_lines_check();

-- +goose Down
DROP TRIGGER journal_lines_balanced ON journal_lines;
CREATE CONSTRAINT TRIGGER journal_lines_balanced AFTER INSERT ON journal_lines
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_lines_check();
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION journal_entries_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM journal_check_entry(NEW.id);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION journal_entries_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status NOT IN ('pending', 'posted') THEN
            RAISE EXCEPTION 'journal entry must be inserted pending or posted, not %', NEW.status
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE'
        AND NEW.id = OLD.id AND NEW.kind = OLD.kind AND NEW.reference = OLD.reference
        AND NEW.line_count = OLD.line_count AND NEW.created_at = OLD.created_at
        AND OLD.status = 'pending' AND NEW.status IN ('posted', 'voided') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'journal entries are append-only: % refused (status %)', TG_OP, OLD.status
        USING ERRCODE = 'restrict_violation';
END;
$$;
-- +goose StatementEnd
