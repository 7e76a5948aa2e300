//! The funds database: ledger accounts, journal entries and lines, deposit and withdrawal requests.
//!
//! # How an unbalanced entry is made impossible
//!
//! SQLite has no deferred `CHECK` constraints, but it does have deferred foreign keys, which it
//! checks at `COMMIT`. Every journal entry carries an `unbalanced` flag that is a foreign key into
//! `ledger_balance_guard`, a table whose only possible row is `0`
//! (`CHECK (unbalanced = 0)` on its primary key). So:
//!
//! - an entry is born `unbalanced = 1`, a dangling reference that SQLite counts as a deferred
//!   violation;
//! - after every line insert, a trigger updates the flag from the entry's lines: it becomes 0
//!   only when there are at least two lines and debits equal credits (see [`TRIGGERS`]);
//! - a trigger refuses any other change to an entry, and another refuses setting the flag to
//!   anything but what its lines say, so the flag cannot be forged;
//! - lines and entries can be neither updated nor deleted; a line added later to a balanced entry
//!   flips it back to unbalanced.
//!
//! A transaction that leaves any entry unbalanced therefore fails at `COMMIT` with
//! `FOREIGN KEY constraint failed` and rolls back, whoever wrote it (the service, a migration, or
//! someone with the `sqlite3` shell). Per line, `CHECK`s require `amount > 0` and a side of `D`
//! or `C`; `STRICT` tables refuse anything but integers (paise) for amounts. This needs
//! `PRAGMA foreign_keys = ON`, which `services_core::open_db` sets and [`migrate`] verifies.
//!
//! # Sign convention
//!
//! Each line is a debit (`D`) or a credit (`C`) of a positive amount. Each ledger account has a
//! normal side: client cash, reserved and margin accounts and the MIS clearing accounts are
//! credit-normal (what the broker owes the client), the bank is debit-normal (what the broker
//! holds at its bank). An account's balance is `sum(normal side) - sum(other side)`;
//! `ledger_accounts.balance` caches it (kept by a trigger, checked by [`crate::audit`]).
//!
//! # Request ids
//!
//! `funds_requests.id` is `AUTOINCREMENT`: ids only grow and are never reused, because each one
//! is sent to the engine as the `client_ref` of its deposit or withdrawal, which the engine
//! deduplicates per account (see [`crate::requests`]).
//!
//! # Older databases
//!
//! A database created before the reserved and margin accounts existed (its `ledger_accounts`
//! does not allow them) is refused by [`migrate`] with [`FundsError::OldSchema`]. It belongs to an
//! engine whose wire format (the funds commands, `BalanceChanged`) has changed since, so it
//! cannot follow the new event stream anyway: the service starts from a fresh database.

use rusqlite::{Connection, OptionalExtension};

use crate::FundsError;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS ledger_balance_guard (
    unbalanced INTEGER PRIMARY KEY CHECK (unbalanced = 0)
) STRICT;
INSERT OR IGNORE INTO ledger_balance_guard (unbalanced) VALUES (0);
CREATE TRIGGER IF NOT EXISTS ledger_balance_guard_fixed BEFORE DELETE ON ledger_balance_guard
BEGIN
    SELECT RAISE(ABORT, 'the ledger balance guard row cannot be deleted');
END;

CREATE TABLE IF NOT EXISTS ledger_accounts (
    id             INTEGER PRIMARY KEY,
    code           TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL CHECK (kind IN ('bank', 'cash', 'reserved', 'margin', 'mis_clearing')),
    engine_account INTEGER CHECK (engine_account >= 0),
    token          INTEGER CHECK (token >= 0),
    normal_side    TEXT NOT NULL CHECK (normal_side IN ('D', 'C')),
    balance        INTEGER NOT NULL DEFAULT 0,
    CHECK ((kind = 'bank') = (engine_account IS NULL)),
    CHECK ((kind = 'mis_clearing') = (token IS NOT NULL)),
    CHECK (normal_side = CASE kind WHEN 'bank' THEN 'D' ELSE 'C' END)
) STRICT;
CREATE TRIGGER IF NOT EXISTS ledger_accounts_fixed BEFORE UPDATE OF id, code, kind, engine_account, token, normal_side
    ON ledger_accounts
BEGIN
    SELECT RAISE(ABORT, 'ledger accounts cannot be redefined');
END;
CREATE TRIGGER IF NOT EXISTS ledger_accounts_kept BEFORE DELETE ON ledger_accounts
BEGIN
    SELECT RAISE(ABORT, 'ledger accounts cannot be deleted');
END;
INSERT OR IGNORE INTO ledger_accounts (code, kind, normal_side) VALUES ('bank', 'bank', 'D');

CREATE TABLE IF NOT EXISTS funds_state (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS funds_requests (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account        INTEGER NOT NULL CHECK (account >= 0),
    kind           TEXT NOT NULL CHECK (kind IN ('deposit', 'withdrawal')),
    amount         INTEGER NOT NULL CHECK (amount > 0),
    reference      TEXT NOT NULL CHECK (length(reference) BETWEEN 1 AND 64),
    status         TEXT NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'submitted', 'completed', 'rejected')),
    attempts       INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    entry_id       INTEGER REFERENCES journal_entries (id),
    reject_reason  TEXT,
    resolved_seq   INTEGER,
    UNIQUE (account, reference),
    CHECK ((status = 'completed') = (entry_id IS NOT NULL)),
    CHECK ((status = 'rejected') = (reject_reason IS NOT NULL)),
    CHECK ((status IN ('completed', 'rejected')) = (resolved_seq IS NOT NULL))
) STRICT;
CREATE INDEX IF NOT EXISTS funds_requests_open ON funds_requests (status, account, id);

CREATE TABLE IF NOT EXISTS journal_entries (
    id             INTEGER PRIMARY KEY,
    seq            INTEGER NOT NULL CHECK (seq > 0),
    ordinal        INTEGER NOT NULL CHECK (ordinal >= 0),
    ts_ns          INTEGER NOT NULL,
    kind           TEXT NOT NULL
                   CHECK (kind IN ('deposit', 'withdrawal', 'trade', 'fee', 'mis_settlement', 'mis_conversion',
                                   'block')),
    engine_account INTEGER,
    token          INTEGER,
    trade_id       INTEGER,
    request_id     INTEGER REFERENCES funds_requests (id),
    memo           TEXT NOT NULL,
    unbalanced     INTEGER NOT NULL DEFAULT 1
                   REFERENCES ledger_balance_guard (unbalanced) DEFERRABLE INITIALLY DEFERRED,
    UNIQUE (seq, ordinal)
) STRICT;

CREATE TABLE IF NOT EXISTS journal_lines (
    entry_id   INTEGER NOT NULL REFERENCES journal_entries (id),
    line_no    INTEGER NOT NULL CHECK (line_no >= 0),
    account_id INTEGER NOT NULL REFERENCES ledger_accounts (id),
    side       TEXT NOT NULL CHECK (side IN ('D', 'C')),
    amount     INTEGER NOT NULL CHECK (amount > 0),
    PRIMARY KEY (entry_id, line_no)
) STRICT;
CREATE INDEX IF NOT EXISTS journal_lines_account ON journal_lines (account_id, entry_id);

CREATE TRIGGER IF NOT EXISTS journal_lines_immutable BEFORE UPDATE ON journal_lines
BEGIN
    SELECT RAISE(ABORT, 'journal lines are immutable');
END;
CREATE TRIGGER IF NOT EXISTS journal_lines_kept BEFORE DELETE ON journal_lines
BEGIN
    SELECT RAISE(ABORT, 'journal lines cannot be deleted');
END;
CREATE TRIGGER IF NOT EXISTS journal_entries_kept BEFORE DELETE ON journal_entries
BEGIN
    SELECT RAISE(ABORT, 'journal entries cannot be deleted');
END;
"#;

/// The triggers that keep `unbalanced` and the cached balances true, recreated at every start so
/// that a database made by an earlier version gets the current definitions.
///
/// A line's amount is positive, so a line added to a balanced entry always unbalances it, and an
/// unbalanced entry can only become balanced when its lines say so: the posting trigger flips the
/// flag in exactly those two cases, so a balanced two-line entry costs one recount of its lines
/// per line. Any update that touches the flag must agree with the lines; any update of another
/// column is refused.
const TRIGGERS: &str = r#"
DROP INDEX IF EXISTS journal_entries_ts;
DROP TRIGGER IF EXISTS journal_lines_posted;
CREATE TRIGGER journal_lines_posted AFTER INSERT ON journal_lines
BEGIN
    UPDATE journal_entries
       SET unbalanced = 1 - unbalanced
     WHERE id = NEW.entry_id
       AND (unbalanced = 0
            OR (SELECT COUNT(*) >= 2 AND SUM(CASE side WHEN 'D' THEN amount ELSE -amount END) = 0
                  FROM journal_lines WHERE entry_id = NEW.entry_id));
    UPDATE ledger_accounts
       SET balance = balance + CASE WHEN NEW.side = normal_side THEN NEW.amount ELSE -NEW.amount END
     WHERE id = NEW.account_id;
END;
DROP TRIGGER IF EXISTS journal_entries_immutable;
CREATE TRIGGER journal_entries_immutable
    BEFORE UPDATE OF id, seq, ordinal, ts_ns, kind, engine_account, token, trade_id, request_id, memo
    ON journal_entries
BEGIN
    SELECT RAISE(ABORT, 'journal entries are immutable')
     WHERE NEW.id IS NOT OLD.id OR NEW.seq IS NOT OLD.seq OR NEW.ordinal IS NOT OLD.ordinal
        OR NEW.ts_ns IS NOT OLD.ts_ns OR NEW.kind IS NOT OLD.kind
        OR NEW.engine_account IS NOT OLD.engine_account OR NEW.token IS NOT OLD.token
        OR NEW.trade_id IS NOT OLD.trade_id OR NEW.request_id IS NOT OLD.request_id
        OR NEW.memo IS NOT OLD.memo;
END;
DROP TRIGGER IF EXISTS journal_entries_flag;
CREATE TRIGGER journal_entries_flag BEFORE UPDATE OF unbalanced ON journal_entries
    WHEN NEW.unbalanced IS NOT (SELECT CASE WHEN COUNT(*) >= 2
                                             AND SUM(CASE side WHEN 'D' THEN amount ELSE -amount END) = 0
                                            THEN 0 ELSE 1 END
                                  FROM journal_lines WHERE entry_id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'an entry is balanced only when its lines are');
END;
"#;

/// Creates the funds tables (idempotent). Refuses a connection without foreign-key enforcement,
/// since that is what makes unbalanced entries impossible, and a database of the older schema.
pub fn migrate(conn: &Connection) -> Result<(), FundsError> {
    let fk: i64 = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    if fk != 1 {
        return Err(FundsError::ForeignKeysOff);
    }
    let existing: Option<String> = conn
        .query_row("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'ledger_accounts'", [], |r| r.get(0))
        .optional()?;
    if existing.is_some_and(|sql| !sql.contains("'reserved'")) {
        return Err(FundsError::OldSchema);
    }
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(TRIGGERS)?;
    Ok(())
}
