//! The funds database: ledger accounts, journal entries, deposit and withdrawal requests.
//!
//! # How an unbalanced entry is made impossible
//!
//! A journal entry is one row that carries its own legs: two or three `(account, amount)` pairs,
//! each amount signed (a debit positive, a credit negative). Plain `CHECK` constraints on that
//! row make an unbalanced entry impossible, whoever writes it (the service, a migration, or
//! someone with the `sqlite3` shell):
//!
//! - the amounts sum to zero: debits equal credits;
//! - every leg's amount is a non-zero integer (`STRICT`: paise only) below 2⁶⁰ in magnitude, so
//!   the sum of three legs cannot overflow SQLite's 64-bit integers (an overflow would turn the
//!   sum into a float that could round to zero);
//! - an entry has at least two legs (`account2` and `amount2` are `NOT NULL`), a third leg is all
//!   or nothing, and the legs name different ledger accounts (which exist: foreign keys);
//! - entries can be neither updated nor deleted (triggers).
//!
//! Every entry the service posts has at most three legs (a trade two, a fee three: buyer, seller
//! and the fee account; a block three: free cash, reserved, margin). Three partial indexes, one per
//! leg column, find an account's entries for its statement.
//!
//! Why one row and not a row per line: a row per line needs a trigger per line to keep the entry's
//! balanced flag and a deferred constraint to check it at commit, and it made the ledger write
//! about ten rows and thirty statements per trade. One row per entry, checked by its own `CHECK`s,
//! is what lets the service keep up with 100k trades a second (`scripts/bench services`).
//!
//! # Sign convention
//!
//! Each ledger account has a normal side: client cash, reserved and margin accounts and the MIS
//! clearing accounts are credit-normal (what the broker owes the client), the bank is
//! debit-normal (what the broker holds at its bank). An account's balance is the sum of its legs
//! for the bank and minus that sum for every other account. `ledger_accounts.balance` caches it:
//! the service keeps balances in memory while it applies a transaction and writes each changed
//! one once, just before the transaction commits; [`crate::audit`] recomputes them from the legs.
//!
//! # Request ids
//!
//! `funds_requests.id` is `AUTOINCREMENT`: ids only grow and are never reused, because each one
//! is sent to the engine as the `client_ref` of its deposit or withdrawal, which the engine
//! deduplicates per account (see [`crate::requests`]).
//!
//! # Older databases
//!
//! - Version 1 kept one `journal_lines` row per line and a balance flag per entry. [`migrate`]
//!   converts it in one transaction: each entry's lines are netted per account into legs (an
//!   entry keeps its id, so `funds_requests.entry_id` stays valid), the cached balances are kept,
//!   and the old tables and triggers are dropped. An entry with more than three accounts cannot
//!   be converted and fails the migration, which then changes nothing.
//! - A database created before the reserved and margin accounts existed (its `ledger_accounts`
//!   does not allow them) is refused with [`FundsError::OldSchema`]. It belongs to an engine whose
//!   wire format (the funds commands, `BalanceChanged`) has changed since, so it cannot follow the
//!   new event stream anyway: the service starts from a fresh database.

use rusqlite::{Connection, OptionalExtension};

use crate::FundsError;

/// Largest magnitude of one leg (exclusive): 2⁶⁰ paise.
pub const MAX_LEG: i64 = 1 << 60;

const SCHEMA: &str = r#"
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
"#;

/// The entries table (version 2); `{name}` is `journal_entries`, or a temporary name while a
/// version 1 database is converted.
const ENTRIES_TABLE: &str = r#"
CREATE TABLE IF NOT EXISTS {name} (
    id             INTEGER PRIMARY KEY,
    seq            INTEGER NOT NULL CHECK (seq > 0),
    ordinal        INTEGER NOT NULL CHECK (ordinal >= 0),
    ts_ns          INTEGER NOT NULL,
    -- An OR chain, not `kind IN (...)`: SQLite builds a temporary index for an IN list of three
    -- or more values on every row it checks, which made this check cost more than the insert.
    kind           TEXT NOT NULL
                   CHECK (kind = 'trade' OR kind = 'block' OR kind = 'fee' OR kind = 'deposit' OR kind = 'withdrawal'
                          OR kind = 'mis_settlement' OR kind = 'mis_conversion'),
    engine_account INTEGER,
    token          INTEGER,
    trade_id       INTEGER,
    request_id     INTEGER REFERENCES funds_requests (id),
    memo           TEXT NOT NULL,
    account1       INTEGER NOT NULL REFERENCES ledger_accounts (id),
    amount1        INTEGER NOT NULL CHECK (amount1 != 0 AND amount1 > -1152921504606846976
                                           AND amount1 < 1152921504606846976),
    account2       INTEGER NOT NULL REFERENCES ledger_accounts (id),
    amount2        INTEGER NOT NULL CHECK (amount2 != 0 AND amount2 > -1152921504606846976
                                           AND amount2 < 1152921504606846976),
    account3       INTEGER REFERENCES ledger_accounts (id),
    amount3        INTEGER CHECK (amount3 != 0 AND amount3 > -1152921504606846976
                                  AND amount3 < 1152921504606846976),
    CHECK ((account3 IS NULL) = (amount3 IS NULL)),
    CHECK (account1 != account2 AND account3 IS NOT account1 AND account3 IS NOT account2),
    CHECK (amount1 + amount2 + COALESCE(amount3, 0) = 0),
    UNIQUE (seq, ordinal)
) STRICT;
"#;

/// Its indexes and triggers.
const ENTRIES_INDEXES: &str = r#"
CREATE INDEX IF NOT EXISTS journal_entries_account1 ON journal_entries (account1);
CREATE INDEX IF NOT EXISTS journal_entries_account2 ON journal_entries (account2);
CREATE INDEX IF NOT EXISTS journal_entries_account3 ON journal_entries (account3) WHERE account3 IS NOT NULL;
CREATE TRIGGER IF NOT EXISTS journal_entries_immutable BEFORE UPDATE ON journal_entries
BEGIN
    SELECT RAISE(ABORT, 'journal entries are immutable');
END;
CREATE TRIGGER IF NOT EXISTS journal_entries_kept BEFORE DELETE ON journal_entries
BEGIN
    SELECT RAISE(ABORT, 'journal entries cannot be deleted');
END;
"#;

/// Version 1 to 2, SQLite's way of changing a table: the new table is made under another name
/// and filled (each entry's lines netted per account into legs, ids kept), the line table, the
/// old entries, the balance guard and their triggers are dropped, and the new table takes the
/// name `journal_entries`. Runs in one transaction with foreign keys off and `legacy_alter_table`
/// on, so that `funds_requests.entry_id` keeps naming `journal_entries`; the foreign keys are
/// checked before the commit.
const FROM_V1: &str = r#"
DROP TRIGGER IF EXISTS journal_lines_posted;
DROP TRIGGER IF EXISTS journal_lines_immutable;
DROP TRIGGER IF EXISTS journal_lines_kept;
DROP TRIGGER IF EXISTS journal_entries_immutable;
DROP TRIGGER IF EXISTS journal_entries_flag;
DROP TRIGGER IF EXISTS journal_entries_kept;
DROP TRIGGER IF EXISTS ledger_balance_guard_fixed;
DROP INDEX IF EXISTS journal_lines_account;
DROP INDEX IF EXISTS journal_entries_ts;
"#;

const FROM_V1_COPY: &str = r#"
INSERT INTO journal_entries_v2 (id, seq, ordinal, ts_ns, kind, engine_account, token, trade_id, request_id, memo,
                                account1, amount1, account2, amount2, account3, amount3)
WITH legs AS (
    SELECT entry_id, account_id, SUM(CASE side WHEN 'D' THEN amount ELSE -amount END) AS amount
      FROM journal_lines GROUP BY entry_id, account_id),
numbered AS (
    SELECT entry_id, account_id, amount, ROW_NUMBER() OVER (PARTITION BY entry_id ORDER BY account_id) AS n
      FROM legs WHERE amount != 0),
pivot AS (
    SELECT entry_id,
           MAX(CASE n WHEN 1 THEN account_id END) AS account1, MAX(CASE n WHEN 1 THEN amount END) AS amount1,
           MAX(CASE n WHEN 2 THEN account_id END) AS account2, MAX(CASE n WHEN 2 THEN amount END) AS amount2,
           MAX(CASE n WHEN 3 THEN account_id END) AS account3, MAX(CASE n WHEN 3 THEN amount END) AS amount3
      FROM numbered GROUP BY entry_id)
SELECT e.id, e.seq, e.ordinal, e.ts_ns, e.kind, e.engine_account, e.token, e.trade_id, e.request_id, e.memo,
       p.account1, p.amount1, p.account2, p.amount2, p.account3, p.amount3
  FROM journal_entries e JOIN pivot p ON p.entry_id = e.id
 ORDER BY e.id;
DROP TABLE journal_lines;
DROP TABLE journal_entries;
DROP TABLE ledger_balance_guard;
ALTER TABLE journal_entries_v2 RENAME TO journal_entries;
"#;

fn has_table(conn: &Connection, name: &str) -> Result<bool, FundsError> {
    Ok(conn
        .query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", [name], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Creates the funds tables (idempotent), converting a version 1 database. Refuses a connection
/// without foreign-key enforcement (legs and requests must name rows that exist) and a database
/// of the oldest schema.
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
    if has_table(conn, "journal_lines")? {
        return from_v1(conn);
    }
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(&ENTRIES_TABLE.replace("{name}", "journal_entries"))?;
    conn.execute_batch(ENTRIES_INDEXES)?;
    Ok(())
}

fn from_v1(conn: &Connection) -> Result<(), FundsError> {
    let too_wide: Option<i64> = conn
        .query_row(
            "SELECT entry_id FROM (
                 SELECT entry_id, account_id FROM journal_lines GROUP BY entry_id, account_id
                 HAVING SUM(CASE side WHEN 'D' THEN amount ELSE -amount END) != 0)
              GROUP BY entry_id HAVING COUNT(*) > 3 LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(entry) = too_wide {
        return Err(FundsError::Invariant(format!(
            "cannot convert the version 1 funds database: entry {entry} moves more than three accounts"
        )));
    }
    conn.execute_batch("PRAGMA foreign_keys = OFF; PRAGMA legacy_alter_table = ON")?;
    let converted = (|| -> Result<usize, FundsError> {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(FROM_V1)?;
        tx.execute_batch(&ENTRIES_TABLE.replace("{name}", "journal_entries_v2"))?;
        let before: i64 = tx.query_row("SELECT COUNT(*) FROM journal_entries", [], |r| r.get(0))?;
        tx.execute_batch(FROM_V1_COPY)?;
        tx.execute_batch(SCHEMA)?;
        tx.execute_batch(ENTRIES_INDEXES)?;
        let after: i64 = tx.query_row("SELECT COUNT(*) FROM journal_entries", [], |r| r.get(0))?;
        let dangling: i64 = tx.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| r.get(0))?;
        if dangling != 0 {
            return Err(FundsError::Invariant(format!(
                "cannot convert the version 1 funds database: {dangling} rows would name missing rows"
            )));
        }
        tx.commit()?;
        Ok((before - after) as usize)
    })();
    conn.execute_batch("PRAGMA legacy_alter_table = OFF; PRAGMA foreign_keys = ON")?;
    let skipped = converted?;
    tracing::info!(skipped, "funds database converted from version 1 (entries that moved nothing were dropped)");
    Ok(())
}
