//! The funds database: ledger accounts, journal entries, block entries, deposit and withdrawal
//! requests.
//!
//! # How an unbalanced entry is made impossible
//!
//! A journal entry is one row that carries its own legs: two to four `(account, amount)` pairs,
//! each amount signed (a debit positive, a credit negative). Plain `CHECK` constraints on that
//! row make an unbalanced entry impossible, whoever writes it (the service, a migration, or
//! someone with the `sqlite3` shell):
//!
//! - the amounts sum to zero: debits equal credits;
//! - every leg's amount is a non-zero integer (`STRICT`: paise only) below 2⁶⁰ in magnitude, so
//!   the sum of four legs cannot overflow SQLite's 64-bit integers (an overflow would turn the
//!   sum into a float that could round to zero);
//! - an entry has at least two legs (`account2` and `amount2` are `NOT NULL`), a third and a
//!   fourth leg are each all or nothing, a fourth needs a third, and the legs name different
//!   ledger accounts (which exist: foreign keys);
//! - entries can be neither updated nor deleted (triggers).
//!
//! A block entry (`journal_blocks`: the client's cash moved between free and blocked) is a row of
//! two changes, `reserved` and `margin`, not both zero. Its legs are implied: `reserved:<a>` is
//! credited `reserved`, `margin:<a>` credited `margin`, and `cash:<a>` debited their sum, so it
//! balances by construction. The same triggers keep it.
//!
//! # Every entry belongs to one client, on a chain
//!
//! Each entry names the engine account whose statement shows it (`engine_account`). A fill is
//! posted as one entry per side against the `exchange` account (the buyer pays the traded value
//! in, the seller is paid it out), each with the side's brokerage to the fee account inside it;
//! `fee_account` names that account, whose statement shows the entry too.
//!
//! A client's entries form a chain: each names the client's previous entry (`prev`, or
//! `fee_prev` on the fee account's chain), each block entry the client's previous block entry,
//! and `funds_clients` holds every client's newest entry and block entry. A statement follows
//! the chain back from the head. [`crate::audit`] checks every link and head against the
//! entries themselves.
//!
//! An entry's id is `seq << 20 | ordinal`: entries sort in posting order, and `(seq, ordinal)`
//! (generated columns) is unique without an index of its own. Block entries are numbered with
//! the journal entries of the same seq.
//!
//! Why chains and not an index by client: an index by client is written at every client's place
//! in every commit, and the higher levels above those places too. With 200 clients a commit of
//! 4,096 batches wrote 600 to 800 pages, more as the ledger grew, and the service managed 37k to
//! 89k trades a second. With chains every insert is an append, and the only pages written at
//! each client's place are its row in `funds_clients` and `ledger_accounts`. See
//! `perf/RESULTS.md` (`scripts/bench services`).

//! # Sign convention
//!
//! Each ledger account has a normal side: client cash, reserved and margin accounts and the MIS
//! clearing accounts are credit-normal (what the broker owes the client); the bank (what the
//! broker holds at its bank) and the exchange account (what is owed to or by the exchange,
//! nothing after each fill) are debit-normal. An account's balance is the sum of its legs for a
//! debit-normal account and minus that sum for every other. `ledger_accounts.balance` caches it:
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
//! [`migrate`] converts an older database in one transaction that changes nothing if any step
//! fails:
//!
//! - Version 1 kept one `journal_lines` row per line and a balance flag per entry; its lines are
//!   netted per account into legs (an entry of more than four accounts stops the conversion).
//!   Version 2 kept an entry's two or three legs in its row, an entry of no single client for
//!   each fill and its fee, and block entries among the journal entries.
//! - Every entry of one client is kept whole, with a new id from its seq and its place in the
//!   seq, and linked into its client's chain. An entry of no single client (a fill, a fee) is cut into one entry per leg, each
//!   against the exchange account, so each client's statement finds its part. Block entries move
//!   to `journal_blocks`; entries that moved nothing are dropped.
//! - The ledger accounts are rebuilt to allow the exchange account, with their balances, and
//!   `funds_requests.entry_id` follows its entry to its new id.
//! - A database created before the reserved and margin accounts existed (its `ledger_accounts`
//!   does not allow them) is refused with [`FundsError::OldSchema`]. It belongs to an engine whose
//!   wire format (the funds commands, `BalanceChanged`) has changed since, so it cannot follow the
//!   new event stream anyway: the service starts from a fresh database.

use rusqlite::{Connection, OptionalExtension};

use crate::FundsError;

/// Largest magnitude of one leg (exclusive): 2⁶⁰ paise.
pub const MAX_LEG: i64 = 1 << 60;

/// Bits of an entry id below its seq: `id = seq << ORDINAL_BITS | ordinal`.
pub const ORDINAL_BITS: u32 = 20;

/// Most entries one engine batch can post.
pub const MAX_ORDINAL: u32 = (1 << ORDINAL_BITS) - 1;

/// The ledger accounts table; `{name}` is `ledger_accounts`, or a temporary name while an older
/// database is converted.
const ACCOUNTS_TABLE: &str = r#"
CREATE TABLE IF NOT EXISTS {name} (
    id             INTEGER PRIMARY KEY,
    code           TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL CHECK (kind IN ('bank', 'exchange', 'cash', 'reserved', 'margin', 'mis_clearing')),
    engine_account INTEGER CHECK (engine_account >= 0),
    token          INTEGER CHECK (token >= 0),
    normal_side    TEXT NOT NULL CHECK (normal_side IN ('D', 'C')),
    balance        INTEGER NOT NULL DEFAULT 0,
    CHECK ((kind IN ('bank', 'exchange')) = (engine_account IS NULL)),
    CHECK ((kind = 'mis_clearing') = (token IS NOT NULL)),
    CHECK (normal_side = CASE WHEN kind IN ('bank', 'exchange') THEN 'D' ELSE 'C' END)
) STRICT;
"#;

/// Its triggers and the two accounts that exist from the start.
const ACCOUNTS_REST: &str = r#"
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
INSERT OR IGNORE INTO ledger_accounts (code, kind, normal_side) VALUES ('exchange', 'exchange', 'D');
"#;

const SCHEMA: &str = r#"
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

-- The newest journal entry and block entry of each client: the heads of its chains.
CREATE TABLE IF NOT EXISTS funds_clients (
    engine_account INTEGER PRIMARY KEY CHECK (engine_account >= 0),
    last_entry     INTEGER,
    last_block     INTEGER
) STRICT;
"#;

/// The entries table (version 3); `{name}` is `journal_entries`, or a temporary name while an
/// older database is converted.
const ENTRIES_TABLE: &str = r#"
CREATE TABLE IF NOT EXISTS {name} (
    -- seq << 20 | ordinal: entries in posting order, (seq, ordinal) unique without an index.
    id             INTEGER PRIMARY KEY CHECK (id >= 1048576),
    seq            INTEGER GENERATED ALWAYS AS (id >> 20) VIRTUAL,
    ordinal        INTEGER GENERATED ALWAYS AS (id & 1048575) VIRTUAL,
    ts_ns          INTEGER NOT NULL,
    -- An OR chain, not `kind IN (...)`: SQLite builds a temporary index for an IN list of three
    -- or more values on every row it checks, which made this check cost more than the insert.
    kind           TEXT NOT NULL
                   CHECK (kind = 'trade' OR kind = 'fee' OR kind = 'deposit' OR kind = 'withdrawal'
                          OR kind = 'mis_settlement' OR kind = 'mis_conversion'),
    engine_account INTEGER NOT NULL CHECK (engine_account >= 0),
    -- The client's previous entry: the client's entries form a chain from funds_clients.last_entry.
    prev           INTEGER CHECK (prev < id),
    fee_account    INTEGER CHECK (fee_account >= 0 AND fee_account != engine_account),
    -- The fee account's previous entry, on the fee account's chain.
    fee_prev       INTEGER CHECK (fee_prev IS NULL OR (fee_prev < id AND fee_account IS NOT NULL)),
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
    account4       INTEGER REFERENCES ledger_accounts (id),
    amount4        INTEGER CHECK (amount4 != 0 AND amount4 > -1152921504606846976
                                  AND amount4 < 1152921504606846976),
    CHECK ((account3 IS NULL) = (amount3 IS NULL)),
    CHECK ((account4 IS NULL) = (amount4 IS NULL)),
    CHECK (account1 != account2 AND account3 IS NOT account1 AND account3 IS NOT account2),
    CHECK (account4 IS NULL
           OR (account3 IS NOT NULL AND account4 != account1 AND account4 != account2 AND account4 != account3)),
    CHECK (amount1 + amount2 + COALESCE(amount3, 0) + COALESCE(amount4, 0) = 0)
) STRICT;
"#;

/// Block entries: a client's cash moved between free and blocked.
const BLOCKS_TABLE: &str = r#"
CREATE TABLE IF NOT EXISTS journal_blocks (
    -- seq << 20 | ordinal, numbered with the journal entries of the same seq.
    id             INTEGER PRIMARY KEY CHECK (id >= 1048576),
    engine_account INTEGER NOT NULL CHECK (engine_account >= 0),
    -- The client's previous block entry: a chain from funds_clients.last_block.
    prev           INTEGER CHECK (prev < id),
    ts_ns          INTEGER NOT NULL,
    reserved       INTEGER NOT NULL CHECK (reserved > -1152921504606846976 AND reserved < 1152921504606846976),
    margin         INTEGER NOT NULL CHECK (margin > -1152921504606846976 AND margin < 1152921504606846976),
    CHECK (reserved != 0 OR margin != 0)
) STRICT;
"#;

/// What keeps the entries of table `{t}` (`journal_entries`, `journal_blocks`) as posted.
const KEPT: &str = r#"
CREATE TRIGGER IF NOT EXISTS {t}_immutable BEFORE UPDATE ON {t}
BEGIN
    SELECT RAISE(ABORT, 'journal entries are immutable');
END;
CREATE TRIGGER IF NOT EXISTS {t}_kept BEFORE DELETE ON {t}
BEGIN
    SELECT RAISE(ABORT, 'journal entries cannot be deleted');
END;
"#;

/// The triggers of both entry tables.
fn keep_entries(conn: &Connection) -> Result<(), FundsError> {
    for table in ["journal_entries", "journal_blocks"] {
        conn.execute_batch(&KEPT.replace("{t}", table))?;
    }
    Ok(())
}

/// What every older version leaves behind, besides its two tables.
const DROP_OLD: &str = r#"
DROP TRIGGER IF EXISTS journal_lines_posted;
DROP TRIGGER IF EXISTS journal_lines_immutable;
DROP TRIGGER IF EXISTS journal_lines_kept;
DROP TRIGGER IF EXISTS journal_entries_immutable;
DROP TRIGGER IF EXISTS journal_entries_flag;
DROP TRIGGER IF EXISTS journal_entries_kept;
DROP TRIGGER IF EXISTS ledger_balance_guard_fixed;
DROP INDEX IF EXISTS journal_lines_account;
DROP INDEX IF EXISTS journal_entries_ts;
DROP INDEX IF EXISTS journal_entries_account1;
DROP INDEX IF EXISTS journal_entries_account2;
DROP INDEX IF EXISTS journal_entries_account3;
"#;

/// The legs of a version 1 database: its lines netted per (entry, account), numbered by account.
const V1_LEGS: &str = r#"
CREATE TEMP TABLE old_legs AS
WITH netted AS (
    SELECT entry_id AS id, account_id AS account, SUM(CASE side WHEN 'D' THEN amount ELSE -amount END) AS amount
      FROM journal_lines GROUP BY entry_id, account_id)
SELECT id, ROW_NUMBER() OVER (PARTITION BY id ORDER BY account) AS n, account, amount
  FROM netted WHERE amount != 0;
"#;

/// The legs of a version 2 database, in column order.
const V2_LEGS: &str = r#"
CREATE TEMP TABLE old_legs AS
SELECT id, 1 AS n, account1 AS account, amount1 AS amount FROM journal_entries
UNION ALL SELECT id, 2, account2, amount2 FROM journal_entries
UNION ALL SELECT id, 3, account3, amount3 FROM journal_entries WHERE account3 IS NOT NULL;
"#;

/// From the old entries and `old_legs` to version 3 (see "Older databases" above): the new id of
/// every entry kept whole (`n = 0`) and of every piece an entry of no single client is cut into
/// (`n` = its leg), numbered within each seq in the old order.
const NEW_IDS: &str = r#"
CREATE TEMP TABLE new_ids AS
WITH pieces AS (
    SELECT e.id AS old_id, 0 AS n, e.engine_account AS client FROM journal_entries e
     WHERE e.engine_account IS NOT NULL AND EXISTS (SELECT 1 FROM old_legs l WHERE l.id = e.id)
    UNION ALL
    SELECT l.id, l.n, a.engine_account FROM old_legs l
      JOIN journal_entries e ON e.id = l.id JOIN ledger_accounts a ON a.id = l.account
     WHERE e.engine_account IS NULL)
SELECT p.old_id, p.n, p.client, p.n = 0 AND e.kind = 'block' AS is_block,
       (e.seq << 20) + ROW_NUMBER() OVER (PARTITION BY e.seq ORDER BY e.ordinal, p.n) - 1 AS new_id,
       ROW_NUMBER() OVER (PARTITION BY e.seq ORDER BY e.ordinal, p.n) - 1 AS ordinal
  FROM pieces p JOIN journal_entries e ON e.id = p.old_id;
-- Each client's entries and block entries chained in id order.
CREATE TEMP TABLE chains AS
SELECT new_id, LAG(new_id) OVER (PARTITION BY client, is_block ORDER BY new_id) AS prev FROM new_ids;
"#;

const COPY: &str = r#"
INSERT INTO journal_entries_v3 (id, ts_ns, kind, engine_account, prev, token, trade_id, request_id, memo,
                                account1, amount1, account2, amount2, account3, amount3, account4, amount4)
SELECT m.new_id, e.ts_ns, e.kind, m.client, c.prev, e.token, e.trade_id, e.request_id, e.memo,
       l1.account, l1.amount, l2.account, l2.amount, l3.account, l3.amount, l4.account, l4.amount
  FROM new_ids m JOIN journal_entries e ON e.id = m.old_id JOIN chains c ON c.new_id = m.new_id
  JOIN old_legs l1 ON l1.id = m.old_id AND l1.n = 1
  LEFT JOIN old_legs l2 ON l2.id = m.old_id AND l2.n = 2
  LEFT JOIN old_legs l3 ON l3.id = m.old_id AND l3.n = 3
  LEFT JOIN old_legs l4 ON l4.id = m.old_id AND l4.n = 4
 WHERE m.n = 0 AND NOT m.is_block;
INSERT INTO journal_blocks (engine_account, id, prev, ts_ns, reserved, margin)
SELECT m.client, m.new_id, c.prev, e.ts_ns,
       -COALESCE((SELECT SUM(l.amount) FROM old_legs l JOIN ledger_accounts a ON a.id = l.account
                   WHERE l.id = m.old_id AND a.kind = 'reserved'), 0),
       -COALESCE((SELECT SUM(l.amount) FROM old_legs l JOIN ledger_accounts a ON a.id = l.account
                   WHERE l.id = m.old_id AND a.kind = 'margin'), 0)
  FROM new_ids m JOIN journal_entries e ON e.id = m.old_id JOIN chains c ON c.new_id = m.new_id
 WHERE m.is_block;
INSERT INTO journal_entries_v3 (id, ts_ns, kind, engine_account, prev, token, trade_id, request_id, memo,
                                account1, amount1, account2, amount2)
SELECT m.new_id, e.ts_ns, e.kind, m.client, c.prev, e.token, e.trade_id, e.request_id, e.memo,
       l.account, l.amount, (SELECT id FROM ledger_accounts WHERE code = 'exchange'), -l.amount
  FROM new_ids m JOIN journal_entries e ON e.id = m.old_id JOIN old_legs l ON l.id = m.old_id AND l.n = m.n
  JOIN chains c ON c.new_id = m.new_id
 WHERE m.n > 0;
INSERT INTO funds_clients (engine_account, last_entry, last_block)
SELECT client, MAX(CASE WHEN NOT is_block THEN new_id END), MAX(CASE WHEN is_block THEN new_id END)
  FROM new_ids GROUP BY client;
UPDATE funds_requests SET entry_id = (SELECT new_id FROM new_ids WHERE old_id = entry_id AND n = 0)
 WHERE entry_id IS NOT NULL;
DROP TABLE journal_entries;
DROP TABLE IF EXISTS journal_lines;
DROP TABLE IF EXISTS ledger_balance_guard;
ALTER TABLE journal_entries_v3 RENAME TO journal_entries;
DROP TABLE temp.old_legs;
DROP TABLE temp.new_ids;
DROP TABLE temp.chains;
"#;

fn has_table(conn: &Connection, name: &str) -> Result<bool, FundsError> {
    Ok(conn
        .query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", [name], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The version an existing database was made by: 0 for a new one.
fn version(conn: &Connection) -> Result<u32, FundsError> {
    if has_table(conn, "journal_lines")? {
        return Ok(1);
    }
    if !has_table(conn, "journal_entries")? {
        return Ok(0);
    }
    let v3: bool = conn
        .query_row("SELECT 1 FROM pragma_table_xinfo('journal_entries') WHERE name = 'fee_account'", [], |_| Ok(()))
        .optional()?
        .is_some();
    Ok(if v3 { 3 } else { 2 })
}

/// Creates the funds tables (idempotent), converting a version 1 or 2 database. Refuses a
/// connection without foreign-key enforcement (legs and requests must name rows that exist) and
/// a database of the oldest schema.
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
    match version(conn)? {
        old @ (1 | 2) => convert(conn, old),
        _ => {
            conn.execute_batch(&ACCOUNTS_TABLE.replace("{name}", "ledger_accounts"))?;
            conn.execute_batch(ACCOUNTS_REST)?;
            conn.execute_batch(SCHEMA)?;
            conn.execute_batch(&ENTRIES_TABLE.replace("{name}", "journal_entries"))?;
            conn.execute_batch(BLOCKS_TABLE)?;
            keep_entries(conn)
        }
    }
}

fn fail(why: String) -> FundsError {
    FundsError::Invariant(format!("cannot convert the funds database: {why}"))
}

/// Converts a version 1 or 2 database to version 3, SQLite's way of changing a table: new tables
/// made under other names and filled, the old ones dropped, the new ones renamed. Runs in one
/// transaction with foreign keys off and `legacy_alter_table` on, so that the references to
/// `ledger_accounts` and `journal_entries` keep naming them; the foreign keys are checked before
/// the commit, and any failure changes nothing.
fn convert(conn: &Connection, from: u32) -> Result<(), FundsError> {
    conn.execute_batch("PRAGMA foreign_keys = OFF; PRAGMA legacy_alter_table = ON")?;
    let converted = (|| -> Result<(i64, i64), FundsError> {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(DROP_OLD)?;
        // The ledger accounts, rebuilt to allow the exchange account.
        tx.execute_batch(&ACCOUNTS_TABLE.replace("{name}", "ledger_accounts_v3"))?;
        tx.execute_batch(
            "INSERT INTO ledger_accounts_v3 (id, code, kind, engine_account, token, normal_side, balance)
             SELECT id, code, kind, engine_account, token, normal_side, balance FROM ledger_accounts;
             DROP TABLE ledger_accounts;
             ALTER TABLE ledger_accounts_v3 RENAME TO ledger_accounts;",
        )?;
        tx.execute_batch(ACCOUNTS_REST)?;
        tx.execute_batch(if from == 1 { V1_LEGS } else { V2_LEGS })?;
        let wide: Option<i64> =
            tx.query_row("SELECT id FROM old_legs WHERE n > 4 LIMIT 1", [], |r| r.get(0)).optional()?;
        if let Some(entry) = wide {
            return Err(fail(format!("entry {entry} moves more than four accounts")));
        }
        tx.execute_batch(NEW_IDS)?;
        let bad: Option<(i64, Option<i64>, i64)> = tx
            .query_row(
                "SELECT old_id, client, ordinal FROM new_ids WHERE client IS NULL OR ordinal > ?1 LIMIT 1",
                [MAX_ORDINAL],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if let Some((entry, client, ordinal)) = bad {
            return Err(fail(match client {
                None => format!("entry {entry} has a leg on the bank but names no client"),
                Some(_) => format!("entry {entry} would be number {ordinal} of its seq"),
            }));
        }
        // A block entry moves the client's cash to or from its reserved and margin accounts only.
        let odd_block: Option<i64> = tx
            .query_row(
                "SELECT e.id FROM journal_entries e JOIN old_legs l ON l.id = e.id
                   JOIN ledger_accounts a ON a.id = l.account
                  WHERE e.kind = 'block' AND (a.kind NOT IN ('cash', 'reserved', 'margin')
                                              OR a.engine_account IS NOT e.engine_account)
                  LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(entry) = odd_block {
            return Err(fail(format!("block entry {entry} moves more than its client's free and blocked cash")));
        }
        let before: i64 = tx.query_row("SELECT COUNT(*) FROM journal_entries", [], |r| r.get(0))?;
        tx.execute_batch(&ENTRIES_TABLE.replace("{name}", "journal_entries_v3"))?;
        tx.execute_batch(BLOCKS_TABLE)?;
        tx.execute_batch(SCHEMA)?;
        tx.execute_batch(COPY)?;
        keep_entries(&tx)?;
        let after: i64 = tx.query_row(
            "SELECT (SELECT COUNT(*) FROM journal_entries) + (SELECT COUNT(*) FROM journal_blocks)",
            [],
            |r| r.get(0),
        )?;
        let dangling: i64 = tx.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| r.get(0))?;
        if dangling != 0 {
            return Err(fail(format!("{dangling} rows would name missing rows")));
        }
        tx.commit()?;
        Ok((before, after))
    })();
    conn.execute_batch("PRAGMA legacy_alter_table = OFF; PRAGMA foreign_keys = ON")?;
    let (before, after) = converted?;
    tracing::info!(from, before, after, "funds database converted to version 3");
    Ok(())
}
