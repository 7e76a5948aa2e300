//! Posting journal entries and reading balances, statements and the audit.

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
        }
    }
}

/// Ledger account codes: `bank`, `cash:<account>`, `mis:<account>:<token>`.
pub fn cash_code(account: u32) -> String {
    format!("cash:{account}")
}

pub fn mis_code(account: u32, token: u32) -> String {
    format!("mis:{account}:{token}")
}

pub const BANK: &str = "bank";

/// The ledger account id for an engine account's cash, created on first use.
pub(crate) fn cash_account(conn: &Connection, account: u32) -> Result<i64, FundsError> {
    let code = cash_code(account);
    conn.prepare_cached(
        "INSERT OR IGNORE INTO ledger_accounts (code, kind, engine_account, normal_side) VALUES (?1, 'cash', ?2, 'C')",
    )?
    .execute(params![code, account])?;
    account_id(conn, &code)?.ok_or_else(|| FundsError::Invariant(format!("no ledger account {code}")))
}

/// The MIS clearing account of one (engine account, instrument), created on first use.
pub(crate) fn mis_account(conn: &Connection, account: u32, token: u32) -> Result<i64, FundsError> {
    let code = mis_code(account, token);
    conn.prepare_cached(
        "INSERT OR IGNORE INTO ledger_accounts (code, kind, engine_account, token, normal_side)
         VALUES (?1, 'mis_clearing', ?2, ?3, 'C')",
    )?
    .execute(params![code, account, token])?;
    account_id(conn, &code)?.ok_or_else(|| FundsError::Invariant(format!("no ledger account {code}")))
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

/// A client's cash statement over `[from_ts_ns, to_ts_ns)` (engine timestamps).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub account: u32,
    pub opening_balance: i64,
    pub lines: Vec<StatementLine>,
    pub closing_balance: i64,
}

/// The cash statement of `account` for entries with `from_ts_ns <= ts < to_ts_ns`, in posting
/// order, with the running balance. `None` bounds are open.
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
               FROM per_entry p JOIN journal_entries e ON e.id = p.entry_id)
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
              WHERE l.account_id = ?1 AND e.ts_ns < ?2",
        )?
        .query_row(params![id, from], |r| r.get(0))?;
    let closing_balance = lines.last().map_or(opening_balance, |l| l.balance);
    Ok(Statement { account, opening_balance, lines, closing_balance })
}

/// A client's money as the ledger sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Balances {
    pub account: u32,
    /// Cash (paise): equals the engine's `AccountView::cash`.
    pub cash: i64,
    /// Net cash flow of the open intraday positions (sum of the MIS clearing accounts): equals
    /// the sum of the engine's `PositionView::mis_value` for the account.
    pub mis_open_value: i64,
}

/// The ledger balances of one engine account.
pub fn balances(conn: &Connection, account: u32) -> Result<Balances, FundsError> {
    let cash = balance(conn, &cash_code(account))?;
    let mis_open_value: i64 = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(balance), 0) FROM ledger_accounts WHERE kind = 'mis_clearing' AND engine_account = ?1",
        )?
        .query_row(params![account], |r| r.get(0))?;
    Ok(Balances { account, cash, mis_open_value })
}

/// Every engine account's ledger cash, by account id.
pub fn cash_balances(conn: &Connection) -> Result<Vec<(u32, i64)>, FundsError> {
    let mut stmt = conn.prepare_cached(
        "SELECT engine_account, balance FROM ledger_accounts WHERE kind = 'cash' ORDER BY engine_account",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)? as u32, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
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
