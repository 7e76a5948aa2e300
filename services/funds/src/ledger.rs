//! Posting journal entries and reading balances, statements and the audit.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};

use crate::rows::{BlockRow, EntryRow, Legs, Rows};
use crate::schema::{MAX_ORDINAL, ORDINAL_BITS};
use crate::FundsError;

/// Debit or credit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Debit,
    Credit,
}

/// What kind of movement an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// Bank → client cash.
    Deposit,
    /// Client cash → bank.
    Withdrawal,
    /// One side of a fill: the buyer pays the traded value into the exchange account, the seller
    /// is paid out of it (client cash for delivery (CNC), the MIS clearing account for intraday),
    /// and the side's brokerage goes from client cash to the fee account's cash.
    Trade,
    /// Brokerage as a version 1 or 2 database recorded it, apart from the fill (no longer posted).
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

/// Ledger account codes: `bank`, `exchange`, `cash:<account>`, `reserved:<account>`, `margin:<account>`,
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
pub const EXCHANGE: &str = "exchange";

/// One ledger account, as the service names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum LedgerAccount {
    Bank,
    /// The exchange's settlement account: each fill's buyer pays into it and its seller is paid
    /// out of it, so it is empty after every fill.
    Exchange,
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
            LedgerAccount::Exchange => EXCHANGE.to_string(),
            LedgerAccount::Cash(a) => cash_code(a),
            LedgerAccount::Reserved(a) => reserved_code(a),
            LedgerAccount::Margin(a) => margin_code(a),
            LedgerAccount::Mis(a, t) => mis_code(a, t),
        }
    }
}

/// The id of a ledger account, created on first use (the bank and the exchange account exist
/// from the start).
fn ensure_account(conn: &Connection, account: LedgerAccount) -> Result<i64, FundsError> {
    let code = account.code();
    let (kind, engine_account, token) = match account {
        LedgerAccount::Bank | LedgerAccount::Exchange => {
            return account_id(conn, &code)?.ok_or_else(|| FundsError::Invariant(format!("no {code} account")))
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

/// The service's view of the books while it applies: ledger account ids and balances,
/// remembered so that posting an entry neither looks ids up nor reads or writes a balance row,
/// and the entries posted and not yet written.
///
/// - An id found or created inside the open transaction is only `pending` until the transaction
///   commits: if it rolls back, the row may be gone and its id handed to another account later.
/// - Balances are read from `ledger_accounts.balance` on first use, changed in memory by every
///   posting (`dirty`), written once per changed account by [`Books::flush`] just before the
///   transaction commits, and kept by [`Books::committed`].
/// - Entries wait in `rows` and are written many to a statement by [`Books::write_rows`]
///   (before a request names its entry) and by [`Books::flush`].
/// - Each entry names the client's previous one (`prev`, and `fee_prev` for the fee account), so
///   a client's entries form a chain from its head in `funds_clients`, and a statement follows
///   the chain instead of an index that every commit would write at every client's place. Heads
///   are kept like balances: read on first use, moved in memory, written in [`Books::flush`].
/// - [`Books::rolled_back`] forgets the pending ids, the dirty balances and heads and the waiting
///   rows, so that the next transaction starts from what the database holds.
#[derive(Debug, Default)]
pub(crate) struct Books {
    committed: HashMap<LedgerAccount, i64>,
    pending: Vec<(LedgerAccount, i64)>,
    /// Balances as of the last commit, by ledger account id (ids are small and dense).
    balances: Vec<Option<i64>>,
    /// Balances the open transaction changed, by id, and the ids it changed.
    dirty: Vec<Option<i64>>,
    dirty_ids: Vec<i64>,
    /// Each client's chain heads as of the last commit, and those the open transaction moved.
    heads: HashMap<u32, Heads>,
    dirty_heads: HashMap<u32, Heads>,
    /// The ids of the bank and the exchange account, the debit-normal accounts (made by
    /// [`crate::schema::migrate`], so never rolled back).
    debit_normal: Option<[i64; 2]>,
    rows: Rows,
}

/// A client's newest journal entry and block entry (`funds_clients`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Heads {
    entry: Option<i64>,
    block: Option<i64>,
}

/// The slot of ledger account `id` in a table by id, grown as needed.
fn slot(table: &mut Vec<Option<i64>>, id: i64) -> Result<&mut Option<i64>, FundsError> {
    let i = usize::try_from(id).map_err(|_| FundsError::Invariant(format!("ledger account id {id}")))?;
    if i >= table.len() {
        table.resize(i + 1, None);
    }
    Ok(&mut table[i])
}

impl Books {
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

    /// The balance of a ledger account as the open transaction has it.
    pub(crate) fn balance(&mut self, conn: &Connection, id: i64) -> Result<i64, FundsError> {
        if let Some(b) = *slot(&mut self.dirty, id)? {
            return Ok(b);
        }
        if let Some(b) = *slot(&mut self.balances, id)? {
            return Ok(b);
        }
        // Nothing writes `balance` before `flush`, so the row holds the last committed value.
        let b = balance_of(conn, id)?;
        *slot(&mut self.balances, id)? = Some(b);
        Ok(b)
    }

    /// The chain heads of `account` as the open transaction has them.
    fn heads(&mut self, conn: &Connection, account: u32) -> Result<Heads, FundsError> {
        if let Some(&h) = self.dirty_heads.get(&account) {
            return Ok(h);
        }
        if let Some(&h) = self.heads.get(&account) {
            return Ok(h);
        }
        let h = conn
            .prepare_cached("SELECT last_entry, last_block FROM funds_clients WHERE engine_account = ?1")?
            .query_row(params![account], |r| Ok(Heads { entry: r.get(0)?, block: r.get(1)? }))
            .optional()?
            .unwrap_or_default();
        self.heads.insert(account, h);
        Ok(h)
    }

    /// Makes `id` the newest entry (or block entry) of `account`; returns the one before it.
    fn link(&mut self, conn: &Connection, account: u32, id: i64, block: bool) -> Result<Option<i64>, FundsError> {
        let mut h = self.heads(conn, account)?;
        let slot = if block { &mut h.block } else { &mut h.entry };
        let prev = slot.replace(id);
        self.dirty_heads.insert(account, h);
        Ok(prev)
    }

    /// Moves the balance of `id` by `change`.
    fn move_balance(&mut self, conn: &Connection, id: i64, change: i64) -> Result<(), FundsError> {
        let b = self.balance(conn, id)?;
        let dirty = slot(&mut self.dirty, id)?;
        if dirty.is_none() {
            self.dirty_ids.push(id);
        }
        *dirty = Some(b + change);
        Ok(())
    }

    /// Posts one entry: its lines netted per account into legs (see [`legs`]), and the balances
    /// it touches moved. Returns its id, or `None` when the lines net to nothing (no entry).
    pub(crate) fn post(
        &mut self,
        conn: &Connection,
        h: &EntryHeader<'_>,
        lines: &[(i64, Side, i64)],
    ) -> Result<Option<i64>, FundsError> {
        let debit_normal = match self.debit_normal {
            Some(ids) => ids,
            None => {
                let ids = [self.id(conn, LedgerAccount::Bank)?, self.id(conn, LedgerAccount::Exchange)?];
                *self.debit_normal.insert(ids)
            }
        };
        let legs = legs(lines)?;
        if legs[0].is_none() {
            return Ok(None);
        }
        if legs[1].is_none() {
            return Err(FundsError::Invariant(format!("a one-legged {} entry at seq {}", h.kind.code(), h.seq)));
        }
        let id = entry_id(h.seq, h.ordinal)?;
        let fee_account = h.fee_account.filter(|&f| f != h.engine_account);
        let prev = self.link(conn, h.engine_account, id, false)?;
        let fee_prev = match fee_account {
            Some(f) => self.link(conn, f, id, false)?,
            None => None,
        };
        self.rows.entry(EntryRow {
            id,
            ts_ns: h.ts_ns as i64,
            kind: h.kind.code(),
            engine_account: h.engine_account,
            prev,
            fee_account,
            fee_prev,
            token: h.token,
            trade_id: h.trade_id.map(|t| t as i64),
            request_id: h.request_id,
            memo: h.memo.to_string(),
            legs,
        });
        for &(account, amount) in legs.iter().flatten() {
            // Debits raise a debit-normal balance (the bank's, the exchange's) and lower every other.
            let change = if debit_normal.contains(&account) { amount } else { -amount };
            self.move_balance(conn, account, change)?;
        }
        Ok(Some(id))
    }

    /// Posts one block entry: `reserved` and `margin` are the changes of the client's blocked
    /// cash (positive: blocked, credited to `reserved:` / `margin:`), and the client's free cash
    /// is debited their sum, so the entry balances by construction.
    pub(crate) fn block(&mut self, conn: &Connection, b: &BlockEntry) -> Result<(), FundsError> {
        let BlockEntry { seq, ordinal, ts_ns, account, reserved, margin } = *b;
        let reserved_id = self.id(conn, LedgerAccount::Reserved(account))?;
        let margin_id = self.id(conn, LedgerAccount::Margin(account))?;
        let cash_id = self.id(conn, LedgerAccount::Cash(account))?;
        let id = entry_id(seq, ordinal)?;
        let prev = self.link(conn, account, id, true)?;
        self.rows.block(BlockRow { account, id, prev, ts_ns: ts_ns as i64, reserved, margin });
        // All three are credit-normal: a credit raises the balance.
        self.move_balance(conn, reserved_id, reserved)?;
        self.move_balance(conn, margin_id, margin)?;
        self.move_balance(conn, cash_id, -(reserved + margin))
    }

    /// Writes the entries posted so far.
    pub(crate) fn write_rows(&mut self, tx: &Connection) -> Result<(), FundsError> {
        self.rows.write(tx)
    }

    /// Writes the waiting entries and the balances the open transaction changed: call just
    /// before it commits.
    pub(crate) fn flush(&mut self, tx: &Connection) -> Result<(), FundsError> {
        self.write_rows(tx)?;
        self.dirty_ids.sort_unstable();
        let mut stmt = tx.prepare_cached("UPDATE ledger_accounts SET balance = ?2 WHERE id = ?1")?;
        for &id in &self.dirty_ids {
            if let Some(b) = *slot(&mut self.dirty, id)? {
                stmt.execute(params![id, b])?;
            }
        }
        let mut clients: Vec<(&u32, &Heads)> = self.dirty_heads.iter().collect();
        clients.sort_unstable_by_key(|(&a, _)| a);
        let mut stmt = tx.prepare_cached(
            "INSERT INTO funds_clients (engine_account, last_entry, last_block) VALUES (?1, ?2, ?3)
             ON CONFLICT (engine_account) DO UPDATE SET last_entry = excluded.last_entry, last_block = excluded.last_block",
        )?;
        for (&account, h) in clients {
            stmt.execute(params![account, h.entry, h.block])?;
        }
        Ok(())
    }

    /// The open transaction committed: its ids and balances are now durable.
    pub(crate) fn committed(&mut self) {
        self.committed.extend(self.pending.drain(..));
        self.heads.extend(self.dirty_heads.drain());
        for id in self.dirty_ids.drain(..) {
            let b = self.dirty[id as usize].take();
            if let (Some(b), Ok(kept)) = (b, slot(&mut self.balances, id)) {
                *kept = Some(b);
            }
        }
    }

    /// The open transaction rolled back.
    pub(crate) fn rolled_back(&mut self) {
        self.pending.clear();
        self.dirty_heads.clear();
        for id in self.dirty_ids.drain(..) {
            self.dirty[id as usize] = None;
        }
        self.rows.clear();
    }
}

/// The balance of a ledger account by id, as stored.
fn balance_of(conn: &Connection, id: i64) -> Result<i64, FundsError> {
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

/// Everything an entry records apart from its legs.
#[derive(Debug, Clone)]
pub(crate) struct EntryHeader<'a> {
    pub seq: u64,
    pub ordinal: u32,
    pub ts_ns: u64,
    pub kind: EntryKind,
    /// The client whose statement shows the entry.
    pub engine_account: u32,
    /// The engine account a fee leg pays, whose statement shows the entry too.
    pub fee_account: Option<u32>,
    pub token: Option<u32>,
    pub trade_id: Option<u64>,
    pub request_id: Option<i64>,
    pub memo: &'a str,
}

/// A client's cash moved between free and blocked (see [`Books::block`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockEntry {
    pub seq: u64,
    pub ordinal: u32,
    pub ts_ns: u64,
    pub account: u32,
    pub reserved: i64,
    pub margin: i64,
}

/// Lines netted per account into legs, in first-appearance order; accounts that net to zero are
/// left out. More than four accounts, or an amount out of range, is a bug (the schema would
/// refuse it too).
fn legs(lines: &[(i64, Side, i64)]) -> Result<Legs, FundsError> {
    let mut legs: Legs = [None; 4];
    for &(account, side, amount) in lines {
        if !(0..crate::schema::MAX_LEG).contains(&amount) {
            return Err(FundsError::Invariant(format!("a line of {amount} paise")));
        }
        let signed = if side == Side::Debit { amount } else { -amount };
        match legs.iter_mut().find(|l| l.is_none_or(|(a, _)| a == account)) {
            Some(Some((_, v))) => *v += signed,
            Some(slot) => *slot = Some((account, signed)),
            None => return Err(FundsError::Invariant("an entry moves more than four accounts".into())),
        }
    }
    let mut out: Legs = [None; 4];
    for (slot, leg) in out.iter_mut().zip(legs.iter().flatten().filter(|(_, v)| *v != 0)) {
        *slot = Some(*leg);
    }
    Ok(out)
}

/// `seq << 20 | ordinal`.
fn entry_id(seq: u64, ordinal: u32) -> Result<i64, FundsError> {
    if ordinal > MAX_ORDINAL || seq >= 1 << (63 - ORDINAL_BITS) {
        return Err(FundsError::Invariant(format!("entry {ordinal} of seq {seq}: out of entry ids")));
    }
    Ok((seq << ORDINAL_BITS | u64::from(ordinal)) as i64)
}

/// `[from, to)` in engine nanoseconds as SQLite integers; an open bound is the type's end.
fn ts_bounds(from_ts_ns: Option<u64>, to_ts_ns: Option<u64>) -> (i64, i64) {
    let clamp = |t: u64| t.min(i64::MAX as u64) as i64;
    (from_ts_ns.map_or(i64::MIN, clamp), to_ts_ns.map_or(i64::MAX, clamp))
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
    let (from, to) = ts_bounds(from_ts_ns, to_ts_ns);
    let Some(id) = account_id(conn, &cash_code(account))? else {
        return Ok(Statement { account, opening_balance: 0, lines: Vec::new(), closing_balance: 0 });
    };
    // A cash account is credit-normal: its balance moves by minus its leg. The entries are the
    // client's chain (its own and those that pay it a fee), less those that leave its cash alone
    // (an intraday fill without brokerage moves only the position's clearing account).
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE chain (id) AS (
             SELECT last_entry FROM funds_clients WHERE engine_account = ?4
             UNION ALL
             SELECT CASE e.engine_account WHEN ?4 THEN e.prev ELSE e.fee_prev END
               FROM chain c JOIN journal_entries e ON e.id = c.id),
         per_entry AS (
             SELECT e.id, e.seq, e.ts_ns, e.kind, e.memo, e.trade_id, e.request_id,
                    -(CASE ?1 WHEN account1 THEN amount1 WHEN account2 THEN amount2 WHEN account3 THEN amount3
                      ELSE amount4 END) AS amount
               FROM chain c JOIN journal_entries e ON e.id = c.id
              WHERE account1 = ?1 OR account2 = ?1 OR account3 = ?1 OR account4 = ?1),
         running AS (
             SELECT *, SUM(amount) OVER (ORDER BY id ROWS UNBOUNDED PRECEDING) AS balance FROM per_entry)
         SELECT id, seq, ts_ns, kind, memo, trade_id, request_id, amount, balance
           FROM running WHERE ts_ns >= ?2 AND ts_ns < ?3 ORDER BY id",
    )?;
    let lines = stmt
        .query_map(params![id, from, to, account], |r| {
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
            "WITH RECURSIVE chain (id) AS (
                 SELECT last_entry FROM funds_clients WHERE engine_account = ?3
                 UNION ALL
                 SELECT CASE e.engine_account WHEN ?3 THEN e.prev ELSE e.fee_prev END
                   FROM chain c JOIN journal_entries e ON e.id = c.id)
             SELECT COALESCE(-SUM(CASE ?1 WHEN account1 THEN amount1 WHEN account2 THEN amount2
                                  WHEN account3 THEN amount3 ELSE amount4 END), 0)
               FROM chain c JOIN journal_entries e ON e.id = c.id
              WHERE (account1 = ?1 OR account2 = ?1 OR account3 = ?1 OR account4 = ?1) AND ts_ns < ?2",
        )?
        .query_row(params![id, from, account], |r| r.get(0))?;
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
    let (from, to) = ts_bounds(from_ts_ns, to_ts_ns);
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE chain (id) AS (
             SELECT last_block FROM funds_clients WHERE engine_account = ?1
             UNION ALL SELECT b.prev FROM chain c JOIN journal_blocks b ON b.id = c.id),
         running AS (
             SELECT b.id, ts_ns, reserved, margin,
                    SUM(reserved) OVER (ORDER BY b.id ROWS UNBOUNDED PRECEDING) AS reserved_after,
                    SUM(margin) OVER (ORDER BY b.id ROWS UNBOUNDED PRECEDING) AS margin_after
               FROM chain c JOIN journal_blocks b ON b.id = c.id)
         SELECT id, ts_ns, reserved, margin, reserved_after, margin_after
           FROM running WHERE ts_ns >= ?2 AND ts_ns < ?3 ORDER BY id",
    )?;
    let lines = stmt
        .query_map(params![account, from, to], |r| {
            let entry_id: i64 = r.get(0)?;
            Ok(BlockedLine {
                entry_id,
                seq: (entry_id >> ORDINAL_BITS) as u64,
                ts_ns: r.get::<_, i64>(1)? as u64,
                reserved_delta: r.get(2)?,
                margin_delta: r.get(3)?,
                reserved: r.get(4)?,
                margin: r.get(5)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let opening: (i64, i64) = conn
        .prepare_cached(
            "WITH RECURSIVE chain (id) AS (
                 SELECT last_block FROM funds_clients WHERE engine_account = ?1
                 UNION ALL SELECT b.prev FROM chain c JOIN journal_blocks b ON b.id = c.id)
             SELECT COALESCE(SUM(reserved), 0), COALESCE(SUM(margin), 0)
               FROM chain c JOIN journal_blocks b ON b.id = c.id WHERE ts_ns < ?2",
        )?
        .query_row(params![account, from], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let closing = lines.last().map_or(opening, |l| (l.reserved, l.margin));
    Ok(BlockedStatement { account, opening, lines, closing })
}

/// What [`audit`] found wrong; empty when the books are sound.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Audit {
    /// Journal entries and block entries.
    pub entries: u64,
    /// Legs of all entries (two to four each; a block entry's non-zero changes and its free cash).
    pub legs: u64,
    /// Entries whose legs do not sum to zero (the schema's `CHECK`s refuse them; the audit looks
    /// again, for a database written with checks switched off).
    pub unbalanced_entries: Vec<i64>,
    /// Accounts whose cached balance differs from the sum of their legs.
    pub stale_balances: Vec<String>,
    /// Sum of all debit-normal balances minus all credit-normal ones: 0 for sound books.
    pub trial_balance: i64,
    /// Entries (`entry <id>`, `block <id>`) whose link to the client's previous one is wrong,
    /// and clients (`client <n>`) whose chain does not start at their newest entry: a statement
    /// would miss entries.
    pub broken_chains: Vec<String>,
}

impl Audit {
    pub fn is_clean(&self) -> bool {
        self.unbalanced_entries.is_empty()
            && self.stale_balances.is_empty()
            && self.trial_balance == 0
            && self.broken_chains.is_empty()
    }
}

/// Each client's entries (its own, and those paying it a fee) and block entries with the link
/// each should have: the client's entry before it.
const CHAINS: &str = "
WITH links (what, client, id, prev) AS (
    SELECT 'entry', engine_account, id, prev FROM journal_entries
    UNION ALL SELECT 'entry', fee_account, id, fee_prev FROM journal_entries WHERE fee_account IS NOT NULL
    UNION ALL SELECT 'block', engine_account, id, prev FROM journal_blocks),
expected AS (
    SELECT what, client, id, prev, LAG(id) OVER (PARTITION BY what, client ORDER BY id) AS want FROM links),
heads AS (
    SELECT client, MAX(CASE what WHEN 'entry' THEN id END) AS entry, MAX(CASE what WHEN 'block' THEN id END) AS block
      FROM links GROUP BY client)
SELECT what || ' ' || id FROM expected WHERE prev IS NOT want
UNION ALL
SELECT 'client ' || COALESCE(h.client, f.engine_account) FROM heads h
  FULL JOIN funds_clients f ON f.engine_account = h.client
 WHERE f.last_entry IS NOT h.entry OR f.last_block IS NOT h.block";

/// Re-checks the books from the legs up: every entry balances, every cached balance is the sum
/// of its legs, the trial balance is zero, and every client's chains hold all its entries.
pub fn audit(conn: &Connection) -> Result<Audit, FundsError> {
    let (entries, legs): (i64, i64) = conn.query_row(
        "SELECT (SELECT COUNT(*) FROM journal_entries) + (SELECT COUNT(*) FROM journal_blocks),
                (SELECT COALESCE(SUM(2 + (account3 IS NOT NULL) + (account4 IS NOT NULL)), 0) FROM journal_entries)
                + (SELECT COALESCE(SUM(1 + (reserved != 0) + (margin != 0)), 0) FROM journal_blocks)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let unbalanced_entries = conn
        .prepare(
            "SELECT id FROM journal_entries
              WHERE account2 IS NULL OR amount1 + amount2 + COALESCE(amount3, 0) + COALESCE(amount4, 0) != 0
                 OR (account3 IS NULL) != (amount3 IS NULL) OR (account4 IS NULL) != (amount4 IS NULL)
              ORDER BY id",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    let stale_balances = conn
        .prepare(
            "WITH legs (account, amount) AS (
                 SELECT account1, amount1 FROM journal_entries
                 UNION ALL SELECT account2, amount2 FROM journal_entries
                 UNION ALL SELECT account3, amount3 FROM journal_entries WHERE account3 IS NOT NULL
                 UNION ALL SELECT account4, amount4 FROM journal_entries WHERE account4 IS NOT NULL
                 UNION ALL SELECT a.id, -b.reserved FROM journal_blocks b
                             JOIN ledger_accounts a ON a.code = 'reserved:' || b.engine_account
                 UNION ALL SELECT a.id, -b.margin FROM journal_blocks b
                             JOIN ledger_accounts a ON a.code = 'margin:' || b.engine_account
                 UNION ALL SELECT a.id, b.reserved + b.margin FROM journal_blocks b
                             JOIN ledger_accounts a ON a.code = 'cash:' || b.engine_account),
             sums AS (SELECT account, SUM(amount) AS debits FROM legs GROUP BY account)
             SELECT a.code FROM ledger_accounts a LEFT JOIN sums s ON s.account = a.id
              WHERE a.balance != CASE a.normal_side WHEN 'D' THEN COALESCE(s.debits, 0) ELSE -COALESCE(s.debits, 0) END
              ORDER BY a.id",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    let trial_balance: i64 = conn.query_row(
        "SELECT COALESCE(SUM(CASE normal_side WHEN 'D' THEN balance ELSE -balance END), 0) FROM ledger_accounts",
        [],
        |r| r.get(0),
    )?;
    let broken_chains = conn.prepare(CHAINS)?.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
    Ok(Audit {
        entries: entries as u64,
        legs: legs as u64,
        unbalanced_entries,
        stale_balances,
        trial_balance,
        broken_chains,
    })
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
        let mut ids = Books::default();
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

    #[test]
    fn balances_are_written_at_flush_and_forgotten_on_rollback() {
        let (_dir, conn) = db();
        let mut books = Books::default();
        let header = |ordinal| EntryHeader {
            seq: 1,
            ordinal,
            ts_ns: 0,
            kind: EntryKind::Deposit,
            engine_account: 5,
            fee_account: None,
            token: None,
            trade_id: None,
            request_id: None,
            memo: "deposit",
        };
        let post = |books: &mut Books, conn: &Connection, ordinal, amount| {
            let bank = books.id(conn, LedgerAccount::Bank).expect("bank");
            let cash = books.id(conn, LedgerAccount::Cash(5)).expect("cash");
            books
                .post(conn, &header(ordinal), &[(bank, Side::Debit, amount), (cash, Side::Credit, amount)])
                .expect("post")
        };

        // Rolled back: neither the entry nor the balances stay, in the database or in memory.
        let tx = conn.unchecked_transaction().expect("tx");
        post(&mut books, &tx, 0, 700).expect("an entry");
        let cash = books.id(&tx, LedgerAccount::Cash(5)).expect("cash");
        assert_eq!(books.balance(&tx, cash).expect("balance"), 700, "the open transaction sees its postings");
        assert_eq!(balance(&tx, "cash:5").expect("stored"), 0, "not written before the flush");
        drop(tx);
        books.rolled_back();

        // Committed: written once, at the flush.
        let tx = conn.unchecked_transaction().expect("tx");
        post(&mut books, &tx, 0, 100).expect("an entry");
        post(&mut books, &tx, 1, 50).expect("an entry");
        assert_eq!(post(&mut books, &tx, 2, 0), None, "an entry of nothing is not written");
        books.flush(&tx).expect("flush");
        tx.commit().expect("commit");
        books.committed();
        assert_eq!((balance(&conn, "cash:5").expect("cash"), balance(&conn, BANK).expect("bank")), (150, 150));
        let cash = books.id(&conn, LedgerAccount::Cash(5)).expect("cash");
        assert_eq!(books.balance(&conn, cash).expect("balance"), 150);
        assert!(audit(&conn).expect("audit").is_clean());
    }
}
