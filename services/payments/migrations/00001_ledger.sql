-- +goose Up
-- Double-entry ledger (see internal/domain/ledger.go for the chart of accounts).
-- Append-only: lines never change; an entry only moves pending -> posted|voided.
-- Corrections are new (reversal) entries.
CREATE TABLE journal_entries (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       TEXT        NOT NULL CHECK (kind ~ '^[a-z][a-z_]*$'),
    reference  TEXT        NOT NULL CHECK (reference <> ''),
    status     TEXT        NOT NULL CHECK (status IN ('pending', 'posted', 'voided')),
    line_count SMALLINT    NOT NULL CHECK (line_count >= 2),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- One entry per (kind, reference): a redelivered event cannot post twice.
    -- Columns in (reference, kind) order so the same index serves Entries(reference).
    CONSTRAINT journal_entries_kind_reference_key UNIQUE (reference, kind)
);

-- Debit positive, credit negative; every entry sums to zero per currency.
CREATE TABLE journal_lines (
    entry_id     BIGINT   NOT NULL REFERENCES journal_entries (id),
    line_no      SMALLINT NOT NULL,
    account      TEXT     NOT NULL CHECK (account <> ''),
    amount_minor BIGINT   NOT NULL CHECK (amount_minor <> 0),
    currency     CHAR(3)  NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    PRIMARY KEY (entry_id, line_no)
);
-- Balance(account, currency) reads only this index plus the entry's status.
CREATE INDEX journal_lines_account ON journal_lines (account, currency) INCLUDE (entry_id, amount_minor);

-- Checked at commit (deferred), so an entry's lines can be inserted one by one in
-- its transaction, yet no committed entry is ever unbalanced, whoever writes it.
-- The entry declares its line count: adding lines to a committed entry (even a
-- balanced pair) breaks the count, so entries are sealed once written.
-- +goose StatementBegin
CREATE FUNCTION journal_check_entry(entry BIGINT) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    declared SMALLINT;
    actual   BIGINT;
    bad      RECORD;
BEGIN
    SELECT line_count INTO declared FROM journal_entries WHERE id = entry;
    SELECT count(*) INTO actual FROM journal_lines WHERE entry_id = entry;
    IF actual IS DISTINCT FROM declared::BIGINT THEN
        RAISE EXCEPTION 'journal entry % has % lines, declared %', entry, actual, declared
            USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_entries_sealed';
    END IF;
    SELECT currency, sum(amount_minor) AS total INTO bad
    FROM journal_lines WHERE entry_id = entry
    GROUP BY currency HAVING sum(amount_minor) <> 0
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance: % off by %', entry, bad.currency, bad.total
            USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_lines_balanced';
    END IF;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION journal_lines_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM journal_check_entry(NEW.entry_id);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE CONSTRAINT TRIGGER journal_lines_balanced AFTER INSERT ON journal_lines
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_lines_check();

-- Catches an entry whose lines never came (no line trigger would fire).
-- +goose StatementBegin
CREATE FUNCTION journal_entries_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM journal_check_entry(NEW.id);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE CONSTRAINT TRIGGER journal_entries_sealed AFTER INSERT ON journal_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_entries_check();

-- Lines are immutable, whatever their entry's status.
-- +goose StatementBegin
CREATE FUNCTION journal_lines_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'journal lines are append-only (% refused); post a reversal entry instead', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER journal_lines_append_only BEFORE UPDATE OR DELETE ON journal_lines
    FOR EACH ROW EXECUTE FUNCTION journal_lines_forbid_change();
CREATE TRIGGER journal_lines_no_truncate BEFORE TRUNCATE ON journal_lines
    FOR EACH STATEMENT EXECUTE FUNCTION journal_lines_forbid_change();

-- Entries are inserted pending or posted; afterwards only pending -> posted|voided.
-- +goose StatementBegin
CREATE FUNCTION journal_entries_guard() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER journal_entries_append_only BEFORE INSERT OR UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_entries_guard();
-- +goose StatementBegin
CREATE FUNCTION journal_entries_forbid_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'journal entries are append-only: TRUNCATE refused' USING ERRCODE = 'restrict_violation';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION journal_entries_forbid_truncate();

-- +goose Down
DROP TABLE journal_lines;
DROP TABLE journal_entries;
DROP FUNCTION journal_entries_forbid_truncate();
DROP FUNCTION journal_entries_guard();
DROP FUNCTION journal_lines_forbid_change();
DROP FUNCTION journal_entries_check();
DROP FUNCTION journal_lines_check();
DROP FUNCTION journal_check_entry(BIGINT);
