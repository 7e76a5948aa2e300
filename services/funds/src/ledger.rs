//! Posting journal entries and reading balances, statements and the audit.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};

use crate::FundsError;

/// Debit or credit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Debit,
    Credit,
}

impl Side {
    fn code(self) -> &'static str {
        match self {
            Side::Debit => "D",
            Side::Credit => "C",
        }
    }
}

/// What kind of movement an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// Bank → client cash.
    Deposit,
    /// Client cash → bank.
    Withdrawal,
    /// Buyer → seller for the traded value: client cash for delivery (CNC), the MIS clearing
    /// account for intraday.
    Trade,
    /// Client cash → the fee account's cash (brokerage of one fill, both sides).
    Fee,
    /// An intraday position went flat: its clearing balance (the realised P&L) → client cash.
    MisSettlement,
    /// Square-off converted an intraday position to delivery: its clearing balance → client cash.
    MisConversion,
    /// Client cash ⇄ the client's reserved and margin accounts: the engine's blocked cash after a
    /// command (`AccountRisk`). Money stays the client's; only whether it is free changes.
    Block,
}

impl EntryKind {
    pub fn code(self) -> &'static str {
        match self {
            EntryKind::Deposit => "deposit",
            EntryKind::Withdrawal => "withdrawal",
            EntryKind::Trade => "trade",
            EntryKind::Fee => "fee",
            EntryKind::MisSettlement => "mis_settlement",
            EntryKind::MisConversion => "mis_conversion",
            EntryKind::Block => "block",
        }
    }
}

/// Ledger account codes: `bank`, `cash:<account>`, `reserved:<account>`, `margin:<account>`,
/// `mis:<account>:<token>`.
pub fn cash_code(account: u32) -> String {
    format!("cash:{account}")
}

pub fn reserved_code(account: u32) -> String {
    format!("reserved:{account}")
}

pub fn margin_code(account: u32) -> String {
    format!("margin:{account}")
}

pub fn mis_code(account: u32, token: u32) -> String {
    format!("mis:{account}:{token}")
}

pub const BANK: &str = "bank";

/// One ledger account, as the service names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum LedgerAccount {
    Bank,
    /// A client's free cash.
    Cash(u32),
    /// A client's cash blocked by open orders (the engine's `reserved`).
    Reserved(u32),
    /// A client's cash blocked by open intraday positions (the engine's `margin`).
    Margin(u32),
    /// The MIS clearing account of one (engine account, instrument).
    Mis(u32, u32),
}

impl LedgerAccount {
    pub(crate) fn code(self) -> String {
        match self {
            LedgerAccount::Bank => BANK.to_string(),
            LedgerAccount::Cash(a) => cash_code(a),
            LedgerAccount::Reserved(a) => reserved_code(a),
            LedgerAccount::Margin(a) => margin_code(a),
            LedgerAccount::Mis(a, t) => mis_code(a, t),
        }
    }
}

/// The id of a ledger account, created on first use (the bank exists from the start).
fn ensure_account(conn: &Connection, account: LedgerAccount) -> Result<i64, FundsError> {
    let code = account.code();
    let (kind, engine_account, token) = match account {
        LedgerAccount::Bank => {
            return account_id(conn, BANK)?.ok_or_else(|| FundsError::Invariant("no bank account".into()))
        }
        LedgerAccount::Cash(a) => ("cash", a, None),
        LedgerAccount::Reserved(a) => ("reserved", a, None),
        LedgerAccount::Margin(a) => ("margin", a, None),
        LedgerAccount::Mis(a, t) => ("mis_clearing", a, Some(t)),
    };
    conn.prepare_cached(
        "INSERT OR IGNORE INTO ledger_accounts (code, kind, engine_account, token, normal_side)
         VALUES (?1, ?2, ?3, ?4, 'C')",
    )?
    .execute(params![code, kind, engine_account, token])?;
    account_id(conn, &code)?.ok_or_else(|| FundsError::Invariant(format!("no ledger account {code}")))
}

/// Ledger account ids, remembered so that posting an entry does not look them up in the
/// database. An id found or created inside the open transaction is only `pending` until the
/// transaction commits: if it rolls back, the row may be gone and its id handed to another
/// account later, so [`AccountIds::rolled_back`] forgets it.
#[derive(Debug, Default)]
pub(crate) struct AccountIds {
    committed: HashMap<LedgerAccount, i64>,
    pending: Vec<(LedgerAccount, i64)>,
}

impl AccountIds {
    /// The id of `account`, created on first use.
    pub(crate) fn id(&mut self, conn: &Connection, account: LedgerAccount) -> Result<i64, FundsError> {
        if let Some(&id) = self.committed.get(&account) {
            return Ok(id);
        }
        if let Some(&(_, id)) = self.pending.iter().find(|(a, _)| *a == account) {
            return Ok(id);
        }
        let id = ensure_account(conn, account)?;
        self.pending.push((account, id));
        Ok(id)
    }

    /// The open transaction committed: its ids are now durable.
    pub(crate) fn committed(&mut self) {
        self.committed.extend(self.pending.drain(..));
    }

    /// The open transaction rolled back.
    pub(crate) fn rolled_back(&mut self) {
        self.pending.clear();
    }
}

/// The balance of a ledger account by id.
pub(crate) fn balance_of(conn: &Connection, id: i64) -> Result<i64, FundsError> {
    Ok(conn
        .prepare_cached("SELECT balance FROM ledger_accounts WHERE id = ?1")?
        .query_row(params![id], |r| r.get(0))?)
}

pub(crate) fn account_id(conn: &Connection, code: &str) -> Result<Option<i64>, FundsError> {
    Ok(conn
        .prepare_cached("SELECT id FROM ledger_accounts WHERE code = ?1")?
        .query_row(params![code], |r| r.get(0))
        .optional()?)
}

/// The balance of a ledger account by code (0 if it does not exist yet).
pub fn balance(conn: &Connection, code: &str) -> Result<i64, FundsError> {
    Ok(conn
        .prepare_cached("SELECT balance FROM ledger_accounts WHERE code = ?1")?
        .query_row(params![code], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Everything an entry records apart from its lines.
#[derive(Debug, Clone)]
pub(crate) struct EntryHeader<'a> {
    pub seq: u64,
    pub ordinal: u32,
    pub ts_ns: u64,
    pub kind: EntryKind,
    pub engine_account: Option<u32>,
    pub token: Option<u32>,
    pub trade_id: Option<u64>,
    pub request_id: Option<i64>,
    pub memo: &'a str,
}

/// Writes one entry and its lines (zero amounts are skipped; negative ones are a bug and the
/// schema refuses them). Returns the entry id.
pub(crate) fn post(conn: &Connection, h: &EntryHeader<'_>, lines: &[(i64, Side, i64)]) -> Result<i64, FundsError> {
    conn.prepare_cached(
        "INSERT INTO journal_entries (seq, ordinal, ts_ns, kind, engine_account, token, trade_id, request_id, memo)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        h.seq as i64,
        h.ordinal,
        h.ts_ns as i64,
        h.kind.code(),
        h.engine_account,
        h.token,
        h.trade_id.map(|t| t as i64),
        h.request_id,
        h.memo
    ])?;
    let entry = conn.last_insert_rowid();
    let mut stmt = conn.prepare_cached(
        "INSERT INTO journal_lines (entry_id, line_no, account_id, side, amount) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut line_no = 0;
    for &(account, side, amount) in lines {
        if amount == 0 {
            continue;
        }
        stmt.execute(params![entry, line_no, account, side.code(), amount])?;
        line_no += 1;
    }
    Ok(entry)
}

/// One line of a client's statement: the net effect of one entry on the account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementLine {
    pub entry_id: i64,
    pub seq: u64,
    pub ts_ns: u64,
    pub kind: String,
    pub memo: String,
    pub trade_id: Option<u64>,
    pub request_id: Option<i64>,
    /// Signed change of the balance (paise): credits positive.
    pub amount: i64,
    /// Balance after this entry.
    pub balance: i64,
}

/// A client's cash statement over `[from_ts_ns, to_ts_ns)` (engine timestamps). Its balances are
/// the client's whole cash at the broker, free and blocked (the engine's `AccountView::cash`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub account: u32,
    pub opening_balance: i64,
    pub lines: Vec<StatementLine>,
    pub closing_balance: i64,
}

/// The cash statement of `account` for entries with `from_ts_ns <= ts < to_ts_ns`, in posting
/// order, with the running balance. `None` bounds are open.
///
/// It lists movements of the client's money (deposits, withdrawals, trades, fees, intraday
/// settlements) and leaves out the `block` entries that move cash between the client's free,
/// reserved and margin accounts: those change what is free, not what the client has, and there is
/// one for nearly every order event. So the balances are the client's whole cash (free +
/// reserved + margin = the engine's `cash`). [`blocked_statement`] lists the reserve and release
/// movements.
pub fn statement(
    conn: &Connection,
    account: u32,
    from_ts_ns: Option<u64>,
    to_ts_ns: Option<u64>,
) -> Result<Statement, FundsError> {
    let from = from_ts_ns.map_or(i64::MIN, |t| t.min(i64::MAX as u64) as i64);
    let to = to_ts_ns.map_or(i64::MAX, |t| t.min(i64::MAX as u64) as i64);
    let Some(id) = account_id(conn, &cash_code(account))? else {
        return Ok(Statement { account, opening_balance: 0, lines: Vec::new(), closing_balance: 0 });
    };
    let mut stmt = conn.prepare_cached(
        "WITH per_entry AS (
             SELECT l.entry_id,
                    SUM(CASE WHEN l.side = a.normal_side THEN l.amount ELSE -l.amount END) AS amount
               FROM journal_lines l JOIN ledger_accounts a ON a.id = l.account_id
              WHERE l.account_id = ?1
              GROUP BY l.entry_id),
         running AS (
             SELECT e.id, e.seq, e.ts_ns, e.kind, e.memo, e.trade_id, e.request_id, p.amount,
                    SUM(p.amount) OVER (ORDER BY e.id ROWS UNBOUNDED PRECEDING) AS balance
               FROM per_entry p JOIN journal_entries e ON e.id = p.entry_id
              WHERE e.kind != 'block')
         SELECT id, seq, ts_ns, kind, memo, trade_id, request_id, amount, balance
           FROM running WHERE ts_ns >= ?2 AND ts_ns < ?3 ORDER BY id",
    )?;
    let lines = stmt
        .query_map(params![id, from, to], |r| {
            Ok(StatementLine {
                entry_id: r.get(0)?,
                seq: r.get::<_, i64>(1)? as u64,
                ts_ns: r.get::<_, i64>(2)? as u64,
                kind: r.get(3)?,
                memo: r.get(4)?,
                trade_id: r.get::<_, Option<i64>>(5)?.map(|t| t as u64),
                request_id: r.get(6)?,
                amount: r.get(7)?,
                balance: r.get(8)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let opening_balance: i64 = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(CASE WHEN l.side = a.normal_side THEN l.amount ELSE -l.amount END), 0)
               FROM journal_lines l
               JOIN ledger_accounts a ON a.id = l.account_id
               JOIN journal_entries e ON e.id = l.entry_id
              WHERE l.account_id = ?1 AND e.ts_ns < ?2 AND e.kind != 'block'",
        )?
        .query_row(params![id, from], |r| r.get(0))?;
    let closing_balance = lines.last().map_or(opening_balance, |l| l.balance);
    Ok(Statement { account, opening_balance, lines, closing_balance })
}

/// A client's money as the ledger sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Balances {
    pub account: u32,
    /// All the client's cash (paise), `available + reserved + margin`: equals the engine's
    /// `AccountView::cash`.
    pub cash: i64,
    /// Free cash, the ledger's `cash:<account>`: equals `AccountView::available`.
    pub available: i64,
    /// Blocked by open orders, `reserved:<account>`: equals `AccountView::reserved`.
    pub reserved: i64,
    /// Blocked by open intraday positions, `margin:<account>`: equals `AccountView::margin`.
    pub margin: i64,
    /// Net cash flow of the open intraday positions (sum of the MIS clearing accounts): equals
    /// the sum of the engine's `PositionView::mis_value` for the account.
    pub mis_open_value: i64,
}

/// The ledger balances of one engine account.
pub fn balances(conn: &Connection, account: u32) -> Result<Balances, FundsError> {
    let available = balance(conn, &cash_code(account))?;
    let reserved = balance(conn, &reserved_code(account))?;
    let margin = balance(conn, &margin_code(account))?;
    let mis_open_value: i64 = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(balance), 0) FROM ledger_accounts WHERE kind = 'mis_clearing' AND engine_account = ?1",
        )?
        .query_row(params![account], |r| r.get(0))?;
    Ok(Balances { account, cash: available + reserved + margin, available, reserved, margin, mis_open_value })
}

/// Every engine account's ledger cash (free cash, `cash:<account>`), by account id.
pub fn cash_balances(conn: &Connection) -> Result<Vec<(u32, i64)>, FundsError> {
    let mut stmt = conn.prepare_cached(
        "SELECT engine_account, balance FROM ledger_accounts WHERE kind = 'cash' ORDER BY engine_account",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)? as u32, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// One reserve or release movement: a `block` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockedLine {
    pub entry_id: i64,
    pub seq: u64,
    pub ts_ns: u64,
    /// Change of the cash blocked by open orders (positive: reserved; negative: released).
    pub reserved_delta: i64,
    /// Change of the cash blocked as intraday margin.
    pub margin_delta: i64,
    /// Blocked by open orders after this entry.
    pub reserved: i64,
    /// Blocked as intraday margin after this entry.
    pub margin: i64,
}

/// The reserve and release movements of a client's cash over `[from_ts_ns, to_ts_ns)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockedStatement {
    pub account: u32,
    /// `(reserved, margin)` before the first line.
    pub opening: (i64, i64),
    pub lines: Vec<BlockedLine>,
    /// `(reserved, margin)` after the last line.
    pub closing: (i64, i64),
}

/// The `block` entries of `account` with `from_ts_ns <= ts < to_ts_ns`, in posting order, with
/// the running reserved and margin balances: what [`statement`] leaves out.
pub fn blocked_statement(
    conn: &Connection,
    account: u32,
    from_ts_ns: Option<u64>,
    to_ts_ns: Option<u64>,
) -> Result<BlockedStatement, FundsError> {
    let from = from_ts_ns.map_or(i64::MIN, |t| t.min(i64::MAX as u64) as i64);
    let to = to_ts_ns.map_or(i64::MAX, |t| t.min(i64::MAX as u64) as i64);
    // -1 matches no line: an account that never had blocked cash has no such ledger accounts.
    let reserved_id = account_id(conn, &reserved_code(account))?.unwrap_or(-1);
    let margin_id = account_id(conn, &margin_code(account))?.unwrap_or(-1);
    let mut stmt = conn.prepare_cached(
        "WITH per_entry AS (
             SELECT l.entry_id,
                    SUM(CASE WHEN l.account_id = ?1 THEN (CASE l.side WHEN 'C' THEN l.amount ELSE -l.amount END)
                             ELSE 0 END) AS reserved,
                    SUM(CASE WHEN l.account_id = ?2 THEN (CASE l.side WHEN 'C' THEN l.amount ELSE -l.amount END)
                             ELSE 0 END) AS margin
               FROM journal_lines l
              WHERE l.account_id IN (?1, ?2)
              GROUP BY l.entry_id),
         running AS (
             SELECT e.id, e.seq, e.ts_ns, p.reserved, p.margin,
                    SUM(p.reserved) OVER (ORDER BY e.id ROWS UNBOUNDED PRECEDING) AS reserved_after,
                    SUM(p.margin) OVER (ORDER BY e.id ROWS UNBOUNDED PRECEDING) AS margin_after
               FROM per_entry p JOIN journal_entries e ON e.id = p.entry_id)
         SELECT id, seq, ts_ns, reserved, margin, reserved_after, margin_after
           FROM running WHERE ts_ns >= ?3 AND ts_ns < ?4 ORDER BY id",
    )?;
    let lines = stmt
        .query_map(params![reserved_id, margin_id, from, to], |r| {
            Ok(BlockedLine {
                entry_id: r.get(0)?,
                seq: r.get::<_, i64>(1)? as u64,
                ts_ns: r.get::<_, i64>(2)? as u64,
                reserved_delta: r.get(3)?,
                margin_delta: r.get(4)?,
                reserved: r.get(5)?,
                margin: r.get(6)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let opening: (i64, i64) = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(CASE WHEN l.account_id = ?1 THEN (CASE l.side WHEN 'C' THEN l.amount ELSE -l.amount END)
                                      ELSE 0 END), 0),
                    COALESCE(SUM(CASE WHEN l.account_id = ?2 THEN (CASE l.side WHEN 'C' THEN l.amount ELSE -l.amount END)
                                      ELSE 0 END), 0)
               FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id
              WHERE l.account_id IN (?1, ?2) AND e.ts_ns < ?3",
        )?
        .query_row(params![reserved_id, margin_id, from], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let closing = lines.last().map_or(opening, |l| (l.reserved, l.margin));
    Ok(BlockedStatement { account, opening, lines, closing })
}

/// What [`audit`] found wrong; empty when the books are sound.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Audit {
    pub entries: u64,
    pub lines: u64,
    /// Entries whose lines do not sum to zero, or with fewer than two lines.
    pub unbalanced_entries: Vec<i64>,
    /// Accounts whose cached balance differs from the sum of their lines.
    pub stale_balances: Vec<String>,
    /// Sum of all debit-normal balances minus all credit-normal ones: 0 for sound books.
    pub trial_balance: i64,
}

impl Audit {
    pub fn is_clean(&self) -> bool {
        self.unbalanced_entries.is_empty() && self.stale_balances.is_empty() && self.trial_balance == 0
    }
}

/// Re-checks the books from the lines up: every entry balances, every cached balance is the sum
/// of its lines, and the trial balance is zero.
pub fn audit(conn: &Connection) -> Result<Audit, FundsError> {
    let entries: i64 = conn.query_row("SELECT COUNT(*) FROM journal_entries", [], |r| r.get(0))?;
    let lines: i64 = conn.query_row("SELECT COUNT(*) FROM journal_lines", [], |r| r.get(0))?;
    let unbalanced_entries = conn
        .prepare(
            "SELECT e.id FROM journal_entries e LEFT JOIN journal_lines l ON l.entry_id = e.id
              GROUP BY e.id
             HAVING COUNT(l.line_no) < 2
                 OR COALESCE(SUM(CASE l.side WHEN 'D' THEN l.amount ELSE -l.amount END), 0) != 0
                 OR MAX(e.unbalanced) != 0
              ORDER BY e.id",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    let stale_balances = conn
        .prepare(
            "SELECT a.code FROM ledger_accounts a
              WHERE a.balance != (SELECT COALESCE(SUM(CASE WHEN l.side = a.normal_side THEN l.amount ELSE -l.amount END), 0)
                                    FROM journal_lines l WHERE l.account_id = a.id)
              ORDER BY a.id",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    let trial_balance: i64 = conn.query_row(
        "SELECT COALESCE(SUM(CASE normal_side WHEN 'D' THEN balance ELSE -balance END), 0) FROM ledger_accounts",
        [],
        |r| r.get(0),
    )?;
    Ok(Audit { entries: entries as u64, lines: lines as u64, unbalanced_entries, stale_balances, trial_balance })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = services_core::open_db(&dir.path().join("funds.db")).expect("open");
        crate::schema::migrate(&conn).expect("migrate");
        (dir, conn)
    }

    #[test]
    fn an_id_from_a_rolled_back_transaction_is_forgotten() {
        let (_dir, conn) = db();
        let mut ids = AccountIds::default();
        let tx = conn.unchecked_transaction().expect("tx");
        let lost = ids.id(&tx, LedgerAccount::Cash(5)).expect("create");
        assert_eq!(ids.id(&tx, LedgerAccount::Cash(5)).expect("again"), lost, "same id within the transaction");
        drop(tx);
        ids.rolled_back();

        // The rolled-back row's id goes to the next account created.
        let tx = conn.unchecked_transaction().expect("tx");
        let other = ids.id(&tx, LedgerAccount::Cash(6)).expect("create");
        assert_eq!(other, lost, "SQLite reuses the id of a row that was never committed");
        let five = ids.id(&tx, LedgerAccount::Cash(5)).expect("create again");
        assert_ne!(five, other);
        tx.commit().expect("commit");
        ids.committed();
        assert_eq!(account_id(&conn, "cash:5").expect("query"), Some(five));
        assert_eq!(account_id(&conn, "cash:6").expect("query"), Some(other));
        assert_eq!(ids.id(&conn, LedgerAccount::Cash(5)).expect("cached"), five);
        assert_eq!(
            ids.id(&conn, LedgerAccount::Bank).expect("bank"),
            account_id(&conn, BANK).expect("q").expect("bank")
        );
    }
}
