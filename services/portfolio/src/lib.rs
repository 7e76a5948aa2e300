//! Portfolio: what each client holds and how it is doing.
//!
//! The service follows the engine's events through [`services_core::ServiceRunner`] and keeps,
//! in its own SQLite database:
//!
//! - **Holdings** (delivery, CNC) per (account, instrument): quantity (always the engine's
//!   `holdings`), the average cost and the P&L realised by selling. Bought shares enter at the
//!   traded price; shares transferred in (`HoldingsChanged{Deposit}`) carry no price on the wire
//!   and enter at zero cost, as a broker shows an off-market transfer until the client states
//!   its buy price; transfers out leave at average cost and realise nothing; an intraday
//!   position converted to delivery at square-off brings its own cost.
//! - **Positions** per (account, instrument, product): the net quantity (for MIS, the engine's
//!   `mis_qty`), average price, realised and unrealised P&L, and the day's buys and sells with
//!   the mark-to-market. A delivery (CNC) position is the day's delivery trading: at the next
//!   session open it has settled into holdings and is cleared. An intraday position still open
//!   at the next session open is carried as the overnight quantity, valued at the previous
//!   close.
//! - **Last traded price** per instrument, from `Trade` events, and the previous close (the last
//!   price when the session opened).
//!
//! Average cost: see [`lot::Lot`]. All amounts are integer paise and quantities shares. P&L
//! excludes brokerage (the funds ledger has the fees).
//!
//! Formulas, with `ltp` the last traded price:
//! - `unrealised = qty * ltp - open_value` (open_value: signed cost basis of the open quantity);
//! - `pnl = realised + unrealised`;
//! - `m2m = (day sell value - day buy value) + qty * ltp - overnight_qty * previous close`.
//!
//! While applying, each `HoldingsChanged` (which carries the new total) is checked against the
//! service's own quantity; a difference stops the service ([`ServiceError::Invariant`]).

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{params, Connection, OptionalExtension};

use engine_core::{AccountId, Engine, Event, HoldingsReason, Product, Token, Trade};
use services_core::{EventBatch, Service, ServiceError};

pub mod lot;

use lot::Lot;

#[derive(Debug, thiserror::Error)]
pub enum PortfolioError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{0}")]
    Invariant(String),
}

impl From<PortfolioError> for ServiceError {
    fn from(e: PortfolioError) -> ServiceError {
        match e {
            PortfolioError::Db(e) => ServiceError::Db(e),
            PortfolioError::Invariant(s) => ServiceError::Invariant(s),
        }
    }
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS pf_instruments (
    token         INTEGER PRIMARY KEY CHECK (token >= 0),
    band_low      INTEGER,
    band_high     INTEGER,
    last_price    INTEGER CHECK (last_price > 0),
    close_price   INTEGER CHECK (close_price > 0),
    last_trade_id INTEGER
) STRICT;

CREATE TABLE IF NOT EXISTS pf_holdings (
    account      INTEGER NOT NULL CHECK (account >= 0),
    token        INTEGER NOT NULL CHECK (token >= 0),
    quantity     INTEGER NOT NULL,
    cost         INTEGER NOT NULL,
    realized_pnl INTEGER NOT NULL,
    PRIMARY KEY (account, token)
) STRICT;

CREATE TABLE IF NOT EXISTS pf_positions (
    account            INTEGER NOT NULL CHECK (account >= 0),
    token              INTEGER NOT NULL CHECK (token >= 0),
    product            TEXT NOT NULL CHECK (product IN ('CNC', 'MIS')),
    quantity           INTEGER NOT NULL,
    open_value         INTEGER NOT NULL,
    realized_pnl       INTEGER NOT NULL,
    overnight_quantity INTEGER NOT NULL,
    overnight_value    INTEGER NOT NULL,
    day_buy_quantity   INTEGER NOT NULL CHECK (day_buy_quantity >= 0),
    day_buy_value      INTEGER NOT NULL CHECK (day_buy_value >= 0),
    day_sell_quantity  INTEGER NOT NULL CHECK (day_sell_quantity >= 0),
    day_sell_value     INTEGER NOT NULL CHECK (day_sell_value >= 0),
    PRIMARY KEY (account, token, product)
) STRICT;
"#;

/// The portfolio service: a [`Service`] for [`services_core::ServiceRunner`].
///
/// While a transaction applies, the rows it touches live in memory ([`Rows`]): each position,
/// holding and last price is read at most once and written once, just before the transaction
/// commits (`before_commit`), instead of a read and a write per event. A rollback forgets them.
#[derive(Debug, Default)]
pub struct PortfolioService {
    rows: Rows,
}

impl PortfolioService {
    pub fn new() -> PortfolioService {
        PortfolioService::default()
    }
}

/// Key of a position: (account, token, is MIS).
type PositionKey = (AccountId, Token, bool);

/// The open transaction's rows, with whether each changed. Emptied at every commit and rollback,
/// so a transaction always starts from what the database holds.
#[derive(Debug, Default)]
struct Rows {
    positions: BTreeMap<PositionKey, (PositionRow, bool)>,
    holdings: BTreeMap<(AccountId, Token), (Lot, bool)>,
    /// Token -> (last price, last trade id) of this transaction's trades.
    last_trades: BTreeMap<Token, (i64, u64)>,
}

impl Rows {
    fn position(
        &mut self,
        tx: &Connection,
        account: AccountId,
        token: Token,
        product: Product,
    ) -> Result<&mut (PositionRow, bool), PortfolioError> {
        Ok(match self.positions.entry((account, token, product == Product::Mis)) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert((load_position(tx, account, token, product)?, false))
            }
        })
    }

    fn holding(
        &mut self,
        tx: &Connection,
        account: AccountId,
        token: Token,
    ) -> Result<&mut (Lot, bool), PortfolioError> {
        Ok(match self.holdings.entry((account, token)) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => e.insert((load_holding(tx, account, token)?, false)),
        })
    }

    /// Writes what changed, in key order, and forgets everything.
    fn flush(&mut self, tx: &Connection) -> Result<(), PortfolioError> {
        for (&(account, token, mis), (row, dirty)) in &self.positions {
            if *dirty {
                store_position(tx, account, token, if mis { Product::Mis } else { Product::Cnc }, row)?;
            }
        }
        for (&(account, token), (lot, dirty)) in &self.holdings {
            if *dirty {
                store_holding(tx, account, token, lot)?;
            }
        }
        for (&token, &(price, trade_id)) in &self.last_trades {
            tx.prepare_cached(
                "INSERT INTO pf_instruments (token, last_price, last_trade_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (token) DO UPDATE SET last_price = excluded.last_price, last_trade_id = excluded.last_trade_id",
            )?
            .execute(params![token, price, trade_id as i64])?;
        }
        self.clear();
        Ok(())
    }

    fn clear(&mut self) {
        self.positions.clear();
        self.holdings.clear();
        self.last_trades.clear();
    }
}

fn product_code(p: Product) -> &'static str {
    match p {
        Product::Cnc => "CNC",
        Product::Mis => "MIS",
    }
}

fn invariant(seq: u64, what: String) -> PortfolioError {
    PortfolioError::Invariant(format!("seq {seq}: {what}"))
}

/// A stored position row.
#[derive(Clone, Copy, Debug, Default)]
struct PositionRow {
    lot: Lot,
    overnight_quantity: i64,
    overnight_value: i64,
    day_buy_quantity: i64,
    day_buy_value: i64,
    day_sell_quantity: i64,
    day_sell_value: i64,
}

fn load_holding(conn: &Connection, account: AccountId, token: Token) -> Result<Lot, PortfolioError> {
    Ok(conn
        .prepare_cached("SELECT quantity, cost, realized_pnl FROM pf_holdings WHERE account = ?1 AND token = ?2")?
        .query_row(params![account, token], |r| Ok(Lot { qty: r.get(0)?, open_value: r.get(1)?, realized: r.get(2)? }))
        .optional()?
        .unwrap_or_default())
}

fn store_holding(conn: &Connection, account: AccountId, token: Token, lot: &Lot) -> Result<(), PortfolioError> {
    conn.prepare_cached(
        "INSERT INTO pf_holdings (account, token, quantity, cost, realized_pnl) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (account, token) DO UPDATE
            SET quantity = excluded.quantity, cost = excluded.cost, realized_pnl = excluded.realized_pnl",
    )?
    .execute(params![account, token, lot.qty, lot.open_value, lot.realized])?;
    Ok(())
}

fn load_position(
    conn: &Connection,
    account: AccountId,
    token: Token,
    product: Product,
) -> Result<PositionRow, PortfolioError> {
    Ok(conn
        .prepare_cached(
            "SELECT quantity, open_value, realized_pnl, overnight_quantity, overnight_value,
                    day_buy_quantity, day_buy_value, day_sell_quantity, day_sell_value
               FROM pf_positions WHERE account = ?1 AND token = ?2 AND product = ?3",
        )?
        .query_row(params![account, token, product_code(product)], |r| {
            Ok(PositionRow {
                lot: Lot { qty: r.get(0)?, open_value: r.get(1)?, realized: r.get(2)? },
                overnight_quantity: r.get(3)?,
                overnight_value: r.get(4)?,
                day_buy_quantity: r.get(5)?,
                day_buy_value: r.get(6)?,
                day_sell_quantity: r.get(7)?,
                day_sell_value: r.get(8)?,
            })
        })
        .optional()?
        .unwrap_or_default())
}

fn store_position(
    conn: &Connection,
    account: AccountId,
    token: Token,
    product: Product,
    p: &PositionRow,
) -> Result<(), PortfolioError> {
    conn.prepare_cached(
        "INSERT INTO pf_positions (account, token, product, quantity, open_value, realized_pnl, overnight_quantity,
                                   overnight_value, day_buy_quantity, day_buy_value, day_sell_quantity, day_sell_value)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (account, token, product) DO UPDATE
            SET quantity = excluded.quantity, open_value = excluded.open_value, realized_pnl = excluded.realized_pnl,
                overnight_quantity = excluded.overnight_quantity, overnight_value = excluded.overnight_value,
                day_buy_quantity = excluded.day_buy_quantity, day_buy_value = excluded.day_buy_value,
                day_sell_quantity = excluded.day_sell_quantity, day_sell_value = excluded.day_sell_value",
    )?
    .execute(params![
        account,
        token,
        product_code(product),
        p.lot.qty,
        p.lot.open_value,
        p.lot.realized,
        p.overnight_quantity,
        p.overnight_value,
        p.day_buy_quantity,
        p.day_buy_value,
        p.day_sell_quantity,
        p.day_sell_value
    ])?;
    Ok(())
}

fn apply_trade(rows: &mut Rows, tx: &Connection, seq: u64, t: &Trade) -> Result<(), PortfolioError> {
    let value = t.qty.checked_mul(t.price).ok_or_else(|| invariant(seq, format!("trade {} overflows", t.trade_id)))?;
    rows.last_trades.insert(t.token, (t.price, t.trade_id));
    for (account, product, qty, value) in
        [(t.buy_account, t.buy_product, t.qty, value), (t.sell_account, t.sell_product, -t.qty, -value)]
    {
        let (p, dirty) = rows.position(tx, account, t.token, product)?;
        p.lot.fill(qty, value);
        if qty > 0 {
            p.day_buy_quantity += qty;
            p.day_buy_value += value;
        } else {
            p.day_sell_quantity -= qty;
            p.day_sell_value -= value;
        }
        *dirty = true;
        if product == Product::Cnc {
            let (h, dirty) = rows.holding(tx, account, t.token)?;
            h.fill(qty, value);
            *dirty = true;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn apply_holdings(
    rows: &mut Rows,
    tx: &Connection,
    seq: u64,
    account: AccountId,
    token: Token,
    delta: i64,
    holdings: i64,
    reason: HoldingsReason,
) -> Result<(), PortfolioError> {
    match reason {
        // Already applied from the `Trade` event, which carries the price.
        HoldingsReason::Trade => {}
        HoldingsReason::Deposit => {
            let (h, dirty) = rows.holding(tx, account, token)?;
            h.fill(delta, 0);
            *dirty = true;
        }
        HoldingsReason::Withdrawal => {
            let (h, dirty) = rows.holding(tx, account, token)?;
            h.transfer_out(-delta);
            *dirty = true;
        }
        HoldingsReason::MisConversion => {
            let (p, p_dirty) = rows.position(tx, account, token, Product::Mis)?;
            if p.lot.qty != delta {
                return Err(invariant(
                    seq,
                    format!(
                        "account {account} token {token}: converting {delta} from an MIS position of {}",
                        p.lot.qty
                    ),
                ));
            }
            let open_value = p.lot.open_value;
            p.lot.qty = 0;
            p.lot.open_value = 0;
            *p_dirty = true;
            let (h, h_dirty) = rows.holding(tx, account, token)?;
            h.fill(delta, open_value);
            *h_dirty = true;
        }
    }
    let (h, _) = rows.holding(tx, account, token)?;
    if h.qty != holdings {
        return Err(invariant(
            seq,
            format!("account {account} token {token}: holdings {} here, {holdings} in the engine", h.qty),
        ));
    }
    Ok(())
}

/// A new session: delivery positions have settled into holdings; flat intraday positions close;
/// open ones are carried at the previous close.
fn open_day(tx: &Connection) -> Result<(), PortfolioError> {
    tx.execute_batch(
        "UPDATE pf_instruments SET close_price = last_price WHERE last_price IS NOT NULL;
         DELETE FROM pf_positions WHERE product = 'CNC' OR quantity = 0;
         UPDATE pf_positions
            SET overnight_quantity = quantity,
                overnight_value = COALESCE(quantity * (SELECT close_price FROM pf_instruments i
                                                        WHERE i.token = pf_positions.token), open_value),
                realized_pnl = 0, day_buy_quantity = 0, day_buy_value = 0, day_sell_quantity = 0, day_sell_value = 0;",
    )?;
    Ok(())
}

impl Service for PortfolioService {
    fn name(&self) -> &'static str {
        "portfolio"
    }

    fn migrate(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        conn.execute_batch(SCHEMA)
    }

    fn apply(&mut self, tx: &rusqlite::Transaction<'_>, batch: &EventBatch) -> Result<(), ServiceError> {
        for event in &batch.events {
            match *event {
                Event::InstrumentAdded { spec, band_low, band_high } => {
                    let token = spec.token;
                    tx.prepare_cached(
                        "INSERT INTO pf_instruments (token, band_low, band_high) VALUES (?1, ?2, ?3)
                         ON CONFLICT (token) DO UPDATE SET band_low = excluded.band_low, band_high = excluded.band_high",
                    )?
                    .execute(params![token, band_low, band_high])?;
                }
                Event::SessionOpened => {
                    // The day's roll is SQL over the tables: they must hold everything first.
                    self.rows.flush(tx)?;
                    open_day(tx)?
                }
                Event::Trade(t) => apply_trade(&mut self.rows, tx, batch.seq, &t)?,
                Event::HoldingsChanged { account, token, delta, holdings, reason } => {
                    apply_holdings(&mut self.rows, tx, batch.seq, account, token, delta, holdings, reason)?
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn before_commit(&mut self, tx: &rusqlite::Transaction<'_>) -> Result<(), ServiceError> {
        Ok(self.rows.flush(tx)?)
    }

    fn rolled_back(&mut self) {
        self.rows.clear();
    }
}

/// A delivery holding with its valuation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holding {
    pub account: AccountId,
    pub token: Token,
    pub quantity: i64,
    /// Average cost per share (paise), rounded toward zero.
    pub average_price: i64,
    /// Cost basis of the quantity held (paise).
    pub cost: i64,
    pub last_price: Option<i64>,
    /// The last price when the current session opened.
    pub close_price: Option<i64>,
    pub realized_pnl: i64,
    pub unrealized_pnl: i64,
    pub pnl: i64,
    /// `quantity * (last_price - close_price)`; 0 without both prices.
    pub day_change: i64,
}

/// A day and net position with its P&L.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub account: AccountId,
    pub token: Token,
    pub product: Product,
    /// Net quantity (overnight + today), signed.
    pub quantity: i64,
    /// Average price of the open quantity (paise, positive for long and short), rounded toward zero.
    pub average_price: i64,
    /// Signed cost basis of the open quantity.
    pub open_value: i64,
    pub last_price: Option<i64>,
    pub realized_pnl: i64,
    pub unrealized_pnl: i64,
    pub pnl: i64,
    /// Mark-to-market for the day.
    pub m2m: i64,
    pub overnight_quantity: i64,
    pub day_buy_quantity: i64,
    pub day_buy_value: i64,
    pub day_sell_quantity: i64,
    pub day_sell_value: i64,
}

impl Position {
    /// Today's net quantity (`quantity - overnight_quantity`).
    pub fn day_quantity(&self) -> i64 {
        self.day_buy_quantity - self.day_sell_quantity
    }
}

fn mul(a: i64, b: i64) -> i64 {
    (a as i128 * b as i128).clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

fn holding_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Holding> {
    let lot = Lot { qty: r.get(2)?, open_value: r.get(3)?, realized: r.get(4)? };
    let last_price: Option<i64> = r.get(5)?;
    let close_price: Option<i64> = r.get(6)?;
    let unrealized_pnl = last_price.map_or(0, |p| mul(lot.qty, p) - lot.open_value);
    let day_change = match (last_price, close_price) {
        (Some(l), Some(c)) => mul(lot.qty, l - c),
        _ => 0,
    };
    Ok(Holding {
        account: r.get(0)?,
        token: r.get(1)?,
        quantity: lot.qty,
        average_price: lot.average_price(),
        cost: lot.open_value,
        last_price,
        close_price,
        realized_pnl: lot.realized,
        unrealized_pnl,
        pnl: lot.realized + unrealized_pnl,
        day_change,
    })
}

const HOLDING_SELECT: &str =
    "SELECT h.account, h.token, h.quantity, h.cost, h.realized_pnl, i.last_price, i.close_price
                                FROM pf_holdings h LEFT JOIN pf_instruments i ON i.token = h.token";

/// An account's holdings (quantity not zero), by instrument token.
pub fn holdings(conn: &Connection, account: AccountId) -> Result<Vec<Holding>, PortfolioError> {
    let mut stmt =
        conn.prepare_cached(&format!("{HOLDING_SELECT} WHERE h.account = ?1 AND h.quantity != 0 ORDER BY h.token"))?;
    let rows = stmt.query_map(params![account], holding_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// One holding, including one sold down to zero (its realised P&L).
pub fn holding(conn: &Connection, account: AccountId, token: Token) -> Result<Option<Holding>, PortfolioError> {
    Ok(conn
        .prepare_cached(&format!("{HOLDING_SELECT} WHERE h.account = ?1 AND h.token = ?2"))?
        .query_row(params![account, token], holding_row)
        .optional()?)
}

fn position_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Position> {
    let product: String = r.get(2)?;
    let product = match product.as_str() {
        "CNC" => Product::Cnc,
        "MIS" => Product::Mis,
        _ => return Err(rusqlite::Error::InvalidColumnType(2, product, rusqlite::types::Type::Text)),
    };
    let lot = Lot { qty: r.get(3)?, open_value: r.get(4)?, realized: r.get(5)? };
    let last_price: Option<i64> = r.get(12)?;
    let overnight_value: i64 = r.get(7)?;
    let (day_buy_value, day_sell_value): (i64, i64) = (r.get(9)?, r.get(11)?);
    // Without a trade yet there is no market price: mark at cost.
    let marked = last_price.map_or(lot.open_value, |p| mul(lot.qty, p));
    let unrealized_pnl = marked - lot.open_value;
    Ok(Position {
        account: r.get(0)?,
        token: r.get(1)?,
        product,
        quantity: lot.qty,
        average_price: lot.average_price(),
        open_value: lot.open_value,
        last_price,
        realized_pnl: lot.realized,
        unrealized_pnl,
        pnl: lot.realized + unrealized_pnl,
        m2m: day_sell_value - day_buy_value + marked - overnight_value,
        overnight_quantity: r.get(6)?,
        day_buy_quantity: r.get(8)?,
        day_buy_value,
        day_sell_quantity: r.get(10)?,
        day_sell_value,
    })
}

const POSITION_SELECT: &str = "SELECT p.account, p.token, p.product, p.quantity, p.open_value, p.realized_pnl,
                                      p.overnight_quantity, p.overnight_value, p.day_buy_quantity, p.day_buy_value,
                                      p.day_sell_quantity, p.day_sell_value, i.last_price
                                 FROM pf_positions p LEFT JOIN pf_instruments i ON i.token = p.token";

/// An account's positions of the current day (open, or traded today), by token then product.
pub fn positions(conn: &Connection, account: AccountId) -> Result<Vec<Position>, PortfolioError> {
    let mut stmt =
        conn.prepare_cached(&format!("{POSITION_SELECT} WHERE p.account = ?1 ORDER BY p.token, p.product"))?;
    let rows = stmt.query_map(params![account], position_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// One position.
pub fn position(
    conn: &Connection,
    account: AccountId,
    token: Token,
    product: Product,
) -> Result<Option<Position>, PortfolioError> {
    Ok(conn
        .prepare_cached(&format!("{POSITION_SELECT} WHERE p.account = ?1 AND p.token = ?2 AND p.product = ?3"))?
        .query_row(params![account, token, product_code(product)], position_row)
        .optional()?)
}

/// The last traded price of an instrument, if it has traded.
pub fn last_price(conn: &Connection, token: Token) -> Result<Option<i64>, PortfolioError> {
    Ok(conn
        .prepare_cached("SELECT last_price FROM pf_instruments WHERE token = ?1")?
        .query_row(params![token], |r| r.get(0))
        .optional()?
        .flatten())
}

/// One difference between the portfolio and the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub account: AccountId,
    pub token: Token,
    /// `"holdings"` or `"mis_qty"`.
    pub field: &'static str,
    pub portfolio: i64,
    pub engine: i64,
}

/// Compares every (account, instrument) both ways: delivery holdings and the intraday net
/// quantity. Empty when they agree.
pub fn reconcile(conn: &Connection, engine: &Engine) -> Result<Vec<Mismatch>, PortfolioError> {
    let mut engine_view: BTreeMap<(AccountId, Token), (i64, i64)> = BTreeMap::new();
    for p in engine.positions() {
        engine_view.insert((p.account, p.token), (p.holdings, p.mis_qty));
    }
    let mut ours: BTreeMap<(AccountId, Token), (i64, i64)> = BTreeMap::new();
    let mut stmt = conn.prepare("SELECT account, token, quantity FROM pf_holdings")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, u32>(1)?, r.get::<_, i64>(2)?)))? {
        let (a, t, q) = row?;
        ours.entry((a, t)).or_default().0 = q;
    }
    let mut stmt = conn.prepare("SELECT account, token, quantity FROM pf_positions WHERE product = 'MIS'")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, u32>(1)?, r.get::<_, i64>(2)?)))? {
        let (a, t, q) = row?;
        ours.entry((a, t)).or_default().1 = q;
    }
    let keys: BTreeSet<(AccountId, Token)> = engine_view.keys().chain(ours.keys()).copied().collect();
    let mut out = Vec::new();
    for (account, token) in keys {
        let (eh, em) = engine_view.get(&(account, token)).copied().unwrap_or((0, 0));
        let (oh, om) = ours.get(&(account, token)).copied().unwrap_or((0, 0));
        if eh != oh {
            out.push(Mismatch { account, token, field: "holdings", portfolio: oh, engine: eh });
        }
        if em != om {
            out.push(Mismatch { account, token, field: "mis_qty", portfolio: om, engine: em });
        }
    }
    Ok(out)
}
