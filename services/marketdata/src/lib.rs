//! Market data from the engine's events: last traded price, best bid and ask, depth, the day's
//! OHLC, volume and VWAP, and 1m / 5m / 15m / day candles.
//!
//! # Sources
//!
//! - Depth comes from `BookLevel` events only: each carries the new aggregate (visible quantity,
//!   order count) of one price level; `(0, 0)` removes the level. Per instrument and side the
//!   service keeps a price ladder (price → qty, orders); the best bid is the highest bid with
//!   qty > 0, the best ask the lowest ask with qty > 0.
//! - Trades (`Trade` events) drive the last price, the day's statistics and the candles, timed
//!   by their batch's `ts_ns`. The day is the IST calendar day (UTC+5:30) of the trade; the first
//!   trade of a later day starts a new day (its predecessor's close becomes `prev_close`).
//!   A trade whose timestamp is older than the current day (a clock step back) counts in the
//!   current day (its candles are still those of its own timestamp).
//! - VWAP is integer: `sum(price * qty) / sum(qty)` in paise, rounded half up ([`vwap`]).
//!
//! # Persistence and restarts
//!
//! Everything is written to SQLite in the [`ServiceRunner`](services_core::ServiceRunner)'s
//! transaction, with the cursor, so a restart resumes exactly once:
//!
//! ```sql
//! md_instruments (token PK, last_price, last_qty, last_trade_ns,
//!                 day_start_ns, open, high, low, close, volume, turnover, trades, prev_close)
//! md_levels      (token, side 0=buy|1=sell, price, qty, orders; PK (token, side, price))
//! md_candles     (token, interval '1m'|'5m'|'15m'|'day', start_ns,
//!                 open, high, low, close, volume, turnover, trades; PK (token, interval, start_ns))
//! ```
//!
//! The levels are persisted (rather than rebuilt by replaying the journal from seq 1, which a
//! long-running exchange may no longer hold), and [`Service::migrate`] reloads the in-memory
//! ladders and last state from these tables on open. The in-memory state runs ahead of the
//! database inside a transaction: `apply` only notes which levels, candles and instruments a
//! batch changed, and [`Service::before_commit`] writes each of them once for the whole
//! transaction (the runner groups up to 1,024 batches in one), so a busy book costs one row
//! write per level and candle per transaction rather than per event. The rows are the same as
//! if each batch had been written on its own. If the transaction rolls back, the committed
//! state is reloaded before the next batch.
//!
//! Other processes (an HTTP gateway) can read the same numbers from the database with
//! [`read_quote`], [`read_depth`] and [`read_candles`].

mod types;

use std::collections::{BTreeMap, BTreeSet};

use engine_core::{Event, Price, Qty, Side, Token, Trade};
use rusqlite::{params, Connection, OptionalExtension};
use services_core::{EventBatch, Service, ServiceError};

pub use types::{ist_day_start, vwap, Candle, Depth, Interval, Level, Ohlc, Quote, IST_OFFSET_NS};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS md_instruments (
    token         INTEGER PRIMARY KEY CHECK (token >= 0),
    last_price    INTEGER,
    last_qty      INTEGER NOT NULL DEFAULT 0,
    last_trade_ns INTEGER NOT NULL DEFAULT 0,
    day_start_ns  INTEGER,
    open          INTEGER,
    high          INTEGER,
    low           INTEGER,
    close         INTEGER,
    volume        INTEGER NOT NULL DEFAULT 0 CHECK (volume >= 0),
    turnover      INTEGER NOT NULL DEFAULT 0 CHECK (turnover >= 0),
    trades        INTEGER NOT NULL DEFAULT 0 CHECK (trades >= 0),
    prev_close    INTEGER
);
CREATE TABLE IF NOT EXISTS md_levels (
    token  INTEGER NOT NULL,
    side   INTEGER NOT NULL CHECK (side IN (0, 1)),
    price  INTEGER NOT NULL,
    qty    INTEGER NOT NULL CHECK (qty >= 0),
    orders INTEGER NOT NULL CHECK (orders >= 0),
    PRIMARY KEY (token, side, price)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS md_candles (
    token    INTEGER NOT NULL,
    interval TEXT    NOT NULL CHECK (interval IN ('1m', '5m', '15m', 'day')),
    start_ns INTEGER NOT NULL,
    open     INTEGER NOT NULL,
    high     INTEGER NOT NULL,
    low      INTEGER NOT NULL,
    close    INTEGER NOT NULL,
    -- SQLite turns an i64 overflow in `volume + x` into a REAL: refuse it rather than round.
    volume   INTEGER NOT NULL CHECK (typeof(volume) = 'integer' AND volume >= 0),
    turnover INTEGER NOT NULL CHECK (typeof(turnover) = 'integer' AND turnover >= 0),
    trades   INTEGER NOT NULL CHECK (trades >= 0),
    PRIMARY KEY (token, interval, start_ns)
) WITHOUT ROWID;
";

/// (qty, orders) per price.
type Ladder = BTreeMap<Price, (Qty, u32)>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Instrument {
    bids: Ladder,
    asks: Ladder,
    last_price: Option<Price>,
    last_qty: Qty,
    last_trade_ns: u64,
    day: Option<Ohlc>,
    prev_close: Option<Price>,
}

impl Instrument {
    fn ladder(&mut self, side: Side) -> &mut Ladder {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    fn depth(&self, n: usize) -> Depth {
        let level = |(&price, &(qty, orders)): (&Price, &(Qty, u32))| Level { price, qty, orders };
        Depth {
            bids: self.bids.iter().rev().filter(|(_, l)| l.0 > 0).take(n).map(level).collect(),
            asks: self.asks.iter().filter(|(_, l)| l.0 > 0).take(n).map(level).collect(),
        }
    }

    fn quote(&self, token: Token) -> Quote {
        let top = self.depth(1);
        Quote {
            token,
            last_price: self.last_price,
            last_qty: self.last_qty,
            last_trade_ns: self.last_trade_ns,
            best_bid: top.bids.first().copied(),
            best_ask: top.asks.first().copied(),
            ohlc: self.day,
            prev_close: self.prev_close,
        }
    }
}

/// The market-data service: a [`Service`] for [`services_core::ServiceRunner`], and the query API.
#[derive(Debug, Default)]
pub struct MarketDataService {
    instruments: BTreeMap<Token, Instrument>,
    /// What the open transaction changed and has not written yet.
    pending: Pending,
    /// The open transaction rolled back: reload the committed state before the next batch.
    stale: bool,
}

/// Rows to write at the end of the transaction.
#[derive(Debug, Default)]
struct Pending {
    instruments: BTreeSet<Token>,
    /// (token, side, price): written from the ladder (or deleted if it has no such level).
    levels: BTreeSet<(Token, u8, Price)>,
    /// The transaction's trades per candle, merged into the candle's row when written.
    candles: BTreeMap<(Token, Interval, u64), CandleTrades>,
}

/// The trades of one transaction that fall in one candle.
#[derive(Debug, Clone, Copy)]
struct CandleTrades {
    open: Price,
    high: Price,
    low: Price,
    close: Price,
    volume: Qty,
    turnover: i64,
    trades: i64,
}

fn overflow(what: &str) -> ServiceError {
    ServiceError::Invariant(format!("{what} overflows i64"))
}

impl MarketDataService {
    pub fn new() -> MarketDataService {
        MarketDataService::default()
    }

    /// Instruments seen so far, ascending.
    pub fn tokens(&self) -> impl Iterator<Item = Token> + '_ {
        self.instruments.keys().copied()
    }

    /// Last trade, best bid and ask, and the day's statistics.
    pub fn quote(&self, token: Token) -> Option<Quote> {
        self.instruments.get(&token).map(|i| i.quote(token))
    }

    /// The best `n` levels per side (Kite shows 5).
    pub fn depth(&self, token: Token, n: usize) -> Depth {
        self.instruments.get(&token).map(|i| i.depth(n)).unwrap_or_default()
    }

    /// The current day's OHLC, volume, VWAP; `None` before the first trade.
    pub fn ohlc(&self, token: Token) -> Option<Ohlc> {
        self.instruments.get(&token).and_then(|i| i.day)
    }

    /// Candles of `token` whose start is in `[from_ns, to_ns)`, oldest first.
    pub fn candles(
        &self,
        conn: &Connection,
        token: Token,
        interval: Interval,
        from_ns: u64,
        to_ns: u64,
    ) -> rusqlite::Result<Vec<Candle>> {
        read_candles(conn, token, interval, from_ns, to_ns)
    }

    fn load(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        self.instruments.clear();
        let mut stmt = conn.prepare(
            "SELECT token, last_price, last_qty, last_trade_ns, day_start_ns, open, high, low, close, volume,
                    turnover, trades, prev_close
             FROM md_instruments",
        )?;
        let rows = stmt.query_map([], |r| {
            let token: Token = r.get(0)?;
            let day = match r.get::<_, Option<i64>>(4)? {
                Some(day_start) => Some(Ohlc {
                    day_start_ns: day_start as u64,
                    open: r.get(5)?,
                    high: r.get(6)?,
                    low: r.get(7)?,
                    close: r.get(8)?,
                    volume: r.get(9)?,
                    turnover: r.get(10)?,
                    trades: r.get::<_, i64>(11)? as u64,
                }),
                None => None,
            };
            Ok((
                token,
                Instrument {
                    last_price: r.get(1)?,
                    last_qty: r.get(2)?,
                    last_trade_ns: r.get::<_, i64>(3)? as u64,
                    day,
                    prev_close: r.get(12)?,
                    ..Instrument::default()
                },
            ))
        })?;
        for row in rows {
            let (token, ins) = row?;
            self.instruments.insert(token, ins);
        }
        let mut stmt = conn.prepare("SELECT token, side, price, qty, orders FROM md_levels")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, Token>(0)?, r.get::<_, u8>(1)?, r.get::<_, Price>(2)?, r.get(3)?, r.get(4)?))
        })?;
        for row in rows {
            let (token, side, price, qty, orders) = row?;
            let side = Side::from_u8(side).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Integer, "bad side".into())
            })?;
            self.instruments.entry(token).or_default().ladder(side).insert(price, (qty, orders));
        }
        Ok(())
    }

    fn level(&mut self, token: Token, side: Side, price: Price, qty: Qty, orders: u32) {
        let ladder = self.instruments.entry(token).or_default().ladder(side);
        if qty == 0 && orders == 0 {
            ladder.remove(&price);
        } else {
            ladder.insert(price, (qty, orders));
        }
        self.pending.levels.insert((token, side.as_u8(), price));
    }

    fn trade(&mut self, t: &Trade, ts_ns: u64) -> Result<(), ServiceError> {
        let value = t.price.checked_mul(t.qty).ok_or_else(|| overflow("trade value"))?;
        let ins = self.instruments.entry(t.token).or_default();
        ins.last_price = Some(t.price);
        ins.last_qty = t.qty;
        ins.last_trade_ns = ts_ns;
        let day_start = ist_day_start(ts_ns);
        match &mut ins.day {
            Some(day) if day_start <= day.day_start_ns => {
                day.high = day.high.max(t.price);
                day.low = day.low.min(t.price);
                day.close = t.price;
                day.volume = day.volume.checked_add(t.qty).ok_or_else(|| overflow("day volume"))?;
                day.turnover = day.turnover.checked_add(value).ok_or_else(|| overflow("day turnover"))?;
                day.trades += 1;
            }
            previous => {
                if let Some(prev) = previous {
                    ins.prev_close = Some(prev.close);
                }
                *previous = Some(Ohlc {
                    day_start_ns: day_start,
                    open: t.price,
                    high: t.price,
                    low: t.price,
                    close: t.price,
                    volume: t.qty,
                    turnover: value,
                    trades: 1,
                });
            }
        }
        for interval in Interval::ALL {
            let key = (t.token, interval, interval.start_of(ts_ns));
            match self.pending.candles.get_mut(&key) {
                Some(c) => {
                    c.high = c.high.max(t.price);
                    c.low = c.low.min(t.price);
                    c.close = t.price;
                    c.volume = c.volume.checked_add(t.qty).ok_or_else(|| overflow("candle volume"))?;
                    c.turnover = c.turnover.checked_add(value).ok_or_else(|| overflow("candle turnover"))?;
                    c.trades += 1;
                }
                None => {
                    let (p, q) = (t.price, t.qty);
                    let first =
                        CandleTrades { open: p, high: p, low: p, close: p, volume: q, turnover: value, trades: 1 };
                    self.pending.candles.insert(key, first);
                }
            }
        }
        self.pending.instruments.insert(t.token);
        Ok(())
    }

    /// Writes what the open transaction changed: each level, candle and instrument once.
    fn write_pending(&mut self, tx: &Connection) -> Result<(), ServiceError> {
        let pending = std::mem::take(&mut self.pending);
        for (token, side, price) in pending.levels {
            let level = Side::from_u8(side)
                .and_then(|s| self.instruments.get_mut(&token).map(|i| i.ladder(s)))
                .and_then(|ladder| ladder.get(&price).copied());
            match level {
                Some((qty, orders)) => {
                    tx.prepare_cached(
                        "INSERT INTO md_levels (token, side, price, qty, orders) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (token, side, price) DO UPDATE SET qty = excluded.qty, orders = excluded.orders",
                    )?
                    .execute(params![token, side, price, qty, orders])?;
                }
                None => {
                    tx.prepare_cached("DELETE FROM md_levels WHERE token = ?1 AND side = ?2 AND price = ?3")?
                        .execute(params![token, side, price])?;
                }
            }
        }
        let mut candle = tx.prepare_cached(
            "INSERT INTO md_candles (token, interval, start_ns, open, high, low, close, volume, turnover, trades)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (token, interval, start_ns) DO UPDATE SET
                 high = max(high, excluded.high), low = min(low, excluded.low), close = excluded.close,
                 volume = volume + excluded.volume, turnover = turnover + excluded.turnover,
                 trades = trades + excluded.trades",
        )?;
        for ((token, interval, start), c) in pending.candles {
            candle.execute(params![
                token,
                interval.as_str(),
                start as i64,
                c.open,
                c.high,
                c.low,
                c.close,
                c.volume,
                c.turnover,
                c.trades
            ])?;
        }
        for token in pending.instruments {
            self.save_instrument(tx, token)?;
        }
        Ok(())
    }

    fn save_instrument(&self, tx: &Connection, token: Token) -> rusqlite::Result<()> {
        let Some(ins) = self.instruments.get(&token) else { return Ok(()) };
        let d = ins.day;
        tx.prepare_cached(
            "INSERT INTO md_instruments (token, last_price, last_qty, last_trade_ns, day_start_ns, open, high, low,
                 close, volume, turnover, trades, prev_close)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT (token) DO UPDATE SET
                 last_price = excluded.last_price, last_qty = excluded.last_qty,
                 last_trade_ns = excluded.last_trade_ns, day_start_ns = excluded.day_start_ns,
                 open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
                 volume = excluded.volume, turnover = excluded.turnover, trades = excluded.trades,
                 prev_close = excluded.prev_close",
        )?
        .execute(params![
            token,
            ins.last_price,
            ins.last_qty,
            ins.last_trade_ns as i64,
            d.map(|d| d.day_start_ns as i64),
            d.map(|d| d.open),
            d.map(|d| d.high),
            d.map(|d| d.low),
            d.map(|d| d.close),
            d.map_or(0, |d| d.volume),
            d.map_or(0, |d| d.turnover),
            d.map_or(0, |d| d.trades as i64),
            ins.prev_close,
        ])?;
        Ok(())
    }
}

impl Service for MarketDataService {
    fn name(&self) -> &'static str {
        "marketdata"
    }

    /// Creates the tables, then loads the committed ladders and last state into memory.
    fn migrate(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        conn.execute_batch(SCHEMA)?;
        self.load(conn)
    }

    fn apply(&mut self, tx: &rusqlite::Transaction<'_>, batch: &EventBatch) -> Result<(), ServiceError> {
        if self.stale {
            self.load(tx)?;
            self.stale = false;
        }
        for event in &batch.events {
            match *event {
                Event::InstrumentAdded { spec, .. } => {
                    self.instruments.entry(spec.token).or_default();
                    self.pending.instruments.insert(spec.token);
                }
                Event::BookLevel { token, side, price, qty, orders } => self.level(token, side, price, qty, orders),
                Event::Trade(ref t) => self.trade(t, batch.ts_ns)?,
                _ => {}
            }
        }
        Ok(())
    }

    fn before_commit(&mut self, tx: &rusqlite::Transaction<'_>) -> Result<(), ServiceError> {
        self.write_pending(tx)
    }

    fn rolled_back(&mut self) {
        self.pending = Pending::default();
        self.stale = true;
    }
}

/// A quote read from the database (any connection; e.g. a gateway's read-only one).
pub fn read_quote(conn: &Connection, token: Token) -> rusqlite::Result<Option<Quote>> {
    let mut md = MarketDataService::new();
    let ins = conn
        .query_row(
            "SELECT last_price, last_qty, last_trade_ns, day_start_ns, open, high, low, close, volume, turnover,
                    trades, prev_close
             FROM md_instruments WHERE token = ?1",
            params![token],
            |r| {
                let day = match r.get::<_, Option<i64>>(3)? {
                    Some(start) => Some(Ohlc {
                        day_start_ns: start as u64,
                        open: r.get(4)?,
                        high: r.get(5)?,
                        low: r.get(6)?,
                        close: r.get(7)?,
                        volume: r.get(8)?,
                        turnover: r.get(9)?,
                        trades: r.get::<_, i64>(10)? as u64,
                    }),
                    None => None,
                };
                Ok(Instrument {
                    last_price: r.get(0)?,
                    last_qty: r.get(1)?,
                    last_trade_ns: r.get::<_, i64>(2)? as u64,
                    day,
                    prev_close: r.get(11)?,
                    ..Instrument::default()
                })
            },
        )
        .optional()?;
    let Some(mut ins) = ins else { return Ok(None) };
    let top = read_depth(conn, token, 1)?;
    ins.bids.extend(top.bids.iter().map(|l| (l.price, (l.qty, l.orders))));
    ins.asks.extend(top.asks.iter().map(|l| (l.price, (l.qty, l.orders))));
    md.instruments.insert(token, ins);
    Ok(md.quote(token))
}

/// The best `n` levels per side, read from the database.
pub fn read_depth(conn: &Connection, token: Token, n: usize) -> rusqlite::Result<Depth> {
    let side = |side: Side, order: &str| -> rusqlite::Result<Vec<Level>> {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT price, qty, orders FROM md_levels WHERE token = ?1 AND side = ?2 AND qty > 0
             ORDER BY price {order} LIMIT ?3"
        ))?;
        let rows = stmt
            .query_map(params![token, side.as_u8(), n as i64], |r| {
                Ok(Level { price: r.get(0)?, qty: r.get(1)?, orders: r.get(2)? })
            })?
            .collect();
        rows
    };
    Ok(Depth { bids: side(Side::Buy, "DESC")?, asks: side(Side::Sell, "ASC")? })
}

/// Candles of `token` whose start is in `[from_ns, to_ns)`, oldest first.
pub fn read_candles(
    conn: &Connection,
    token: Token,
    interval: Interval,
    from_ns: u64,
    to_ns: u64,
) -> rusqlite::Result<Vec<Candle>> {
    let mut stmt = conn.prepare_cached(
        "SELECT start_ns, open, high, low, close, volume, turnover, trades FROM md_candles
         WHERE token = ?1 AND interval = ?2 AND start_ns >= ?3 AND start_ns < ?4 ORDER BY start_ns",
    )?;
    let from = from_ns.min(i64::MAX as u64) as i64;
    let to = to_ns.min(i64::MAX as u64) as i64;
    let rows = stmt
        .query_map(params![token, interval.as_str(), from, to], |r| {
            Ok(Candle {
                token,
                interval,
                start_ns: r.get::<_, i64>(0)? as u64,
                open: r.get(1)?,
                high: r.get(2)?,
                low: r.get(3)?,
                close: r.get(4)?,
                volume: r.get(5)?,
                turnover: r.get(6)?,
                trades: r.get::<_, i64>(7)? as u64,
            })
        })?
        .collect();
    rows
}
