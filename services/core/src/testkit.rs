//! Support for service tests: realistic event streams (commands applied to a real in-process
//! engine, one [`EventBatch`] per seq, empty batches included), a step-by-step [`Exchange`], a
//! [`RecordingSink`], and [`dump`] to compare two databases table by table.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine_core::{
    AccountLimits, Command, Engine, FeeSchedule, InstrumentSpec, Limits, NewOrder, OrderType, Product, Side, Symbol,
    Validity,
};
use rusqlite::Connection;

use crate::feed::{CommandSink, EventBatch, MemoryFeed, SinkError};
use crate::{Service, ServiceError, ServiceRunner};

/// A timestamp in 2023 (ns since the epoch) that test batches start from.
pub const TS0: u64 = 1_700_000_000_000_000_000;

/// Applies `commands` from seq 1 (timestamps 1 ms apart from `ts0_ns`); returns the engine and
/// the batches.
pub fn run_engine(commands: &[Command], ts0_ns: u64) -> (Engine, Vec<EventBatch>) {
    let mut engine: Engine = Engine::new(Limits::small());
    let batches = commands
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let seq = i as u64 + 1;
            let ts_ns = ts0_ns + i as u64 * 1_000_000;
            let mut events = Vec::new();
            engine.apply(seq, ts_ns, c, &mut events);
            EventBatch { seq, ts_ns, events }
        })
        .collect();
    (engine, batches)
}

/// Instrument INFY (token 408065, tick 5 paise, lot 1, reference ₹1,500, band 10%, MIS 5x).
pub const INFY: u32 = 408_065;
/// Instrument TCS (token 2953217, tick 5 paise, lot 1, reference ₹3,500, band 10%, MIS 5x).
pub const TCS: u32 = 2_953_217;
/// The fee account in [`trading_day`].
pub const FEE_ACCOUNT: u32 = 0;

/// The start of a trading day: INFY and TCS, the fee account and its schedule (3 bps, capped at
/// ₹20), `accounts` funded traders (ids 1..) with `cash` paise and `infy` / `tcs` shares each,
/// and the session opened.
pub fn day_setup(accounts: u32, cash: i64, infy: i64, tcs: i64) -> Vec<Command> {
    let mut c = Vec::new();
    for (token, sym, reference) in [(INFY, "INFY", 150_000), (TCS, "TCS", 350_000)] {
        c.push(Command::AddInstrument(InstrumentSpec {
            token,
            symbol: Symbol::new(sym).unwrap_or_default(),
            tick: 5,
            lot: 1,
            band_bps: 1_000,
            reference_price: reference,
            mis_leverage: 5,
        }));
    }
    c.push(Command::CreateAccount { account: FEE_ACCOUNT, limits: AccountLimits::default() });
    c.push(Command::SetFeeSchedule(FeeSchedule { bps: 3, cap: 2_000, fee_account: FEE_ACCOUNT }));
    for account in 1..=accounts {
        c.push(Command::CreateAccount { account, limits: AccountLimits::default() });
        c.push(Command::ActivateAccount { account });
        c.push(Command::Deposit { client_ref: 0, account, amount: cash });
        c.push(Command::DepositHoldings { account, token: INFY, qty: infy });
        c.push(Command::DepositHoldings { account, token: TCS, qty: tcs });
    }
    c.push(Command::OpenSession);
    c
}

/// What [`Interrupted`] does inside the transaction that applies its batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interruption {
    /// Fail the transaction once (the runner rolls it back and the service carries on).
    Fail,
    /// Abort the process, as a crash would.
    Abort,
}

/// A service that is interrupted right after applying batch `at`, before its transaction
/// commits; every other hook goes to the service it wraps, so the wrapped service sees exactly
/// what the runner does.
#[derive(Debug)]
pub struct Interrupted<S> {
    pub inner: S,
    pub at: Option<u64>,
    pub how: Interruption,
}

impl<S: Service> Service for Interrupted<S> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn migrate(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        self.inner.migrate(conn)
    }
    fn apply(&mut self, tx: &rusqlite::Transaction<'_>, batch: &EventBatch) -> Result<(), ServiceError> {
        self.inner.apply(tx, batch)?;
        if self.at == Some(batch.seq) {
            self.at = None;
            match self.how {
                Interruption::Fail => return Err(ServiceError::Invariant("injected failure".into())),
                Interruption::Abort => std::process::abort(),
            }
        }
        Ok(())
    }
    fn before_commit(&mut self, tx: &rusqlite::Transaction<'_>) -> Result<(), ServiceError> {
        self.inner.before_commit(tx)
    }
    fn after_commit(&mut self, conn: &Connection) -> Result<(), ServiceError> {
        self.inner.after_commit(conn)
    }
    fn rolled_back(&mut self) {
        self.inner.rolled_back()
    }
    fn on_idle(&mut self, conn: &Connection) -> Result<(), ServiceError> {
        self.inner.on_idle(conn)
    }
}

/// A day LIMIT order (no trigger, nothing disclosed, not post-only).
pub fn limit(client_ref: u64, account: u32, token: u32, side: Side, product: Product, price: i64, qty: i64) -> Command {
    Command::Place(NewOrder {
        client_ref,
        account,
        token,
        side,
        order_type: OrderType::Limit,
        validity: Validity::Day,
        product,
        price,
        trigger: 0,
        qty,
        disclosed: 0,
        post_only: false,
    })
}

/// A small trading day: [`day_setup`] with `accounts` traders (₹1 crore and 5,000 INFY / 2,000
/// TCS each), then `orders` seeded orders of every kind (limit, market, SL, IOC, CNC and MIS, some
/// crossing), a withdrawal or two, an MIS square-off and the session close.
pub fn trading_day(accounts: u32, orders: usize, seed: u64) -> Vec<Command> {
    let mut c = day_setup(accounts, 1_000_000_000, 5_000, 2_000);
    let mut x = seed | 1;
    let mut rand = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..orders {
        let r = rand();
        let account = 1 + (r % accounts as u64) as u32;
        let (token, mid) = if r & 1 == 0 { (INFY, 150_000) } else { (TCS, 350_000) };
        let side = if r & 2 == 0 { Side::Buy } else { Side::Sell };
        let offset = 5 * ((r >> 8) % 20) as i64 - 50;
        let price = mid + offset;
        let product = if r & 4 == 0 { Product::Cnc } else { Product::Mis };
        let qty = 1 + ((r >> 16) % 20) as i64;
        let (order_type, validity, limit, trigger) = match (r >> 24) % 10 {
            0 => (OrderType::Market, Validity::Day, 0, 0),
            1 => (OrderType::Limit, Validity::Ioc, price, 0),
            2 => {
                let t = if side == Side::Buy { mid + 60 } else { mid - 60 };
                (OrderType::StopLimit, Validity::Day, t, t)
            }
            _ => (OrderType::Limit, Validity::Day, price, 0),
        };
        c.push(Command::Place(NewOrder {
            client_ref: i as u64 + 1,
            account,
            token,
            side,
            order_type,
            validity,
            product,
            price: limit,
            trigger,
            qty,
            disclosed: 0,
            post_only: false,
        }));
        if i % 97 == 96 {
            c.push(Command::Withdraw { client_ref: 0, account, amount: 1_000_000 });
        }
    }
    c.push(Command::SquareOffMis { token: INFY });
    c.push(Command::SquareOffMis { token: TCS });
    c.push(Command::CloseSession);
    c
}

/// Every table's rows, ordered by every column: two databases with equal dumps hold the same data.
pub fn dump(conn: &Connection) -> Vec<(String, Vec<String>)> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .expect("tables")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("names");
    tables
        .into_iter()
        .map(|t| {
            let n = conn.prepare(&format!("SELECT * FROM \"{t}\"")).expect("select").column_count();
            let order: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
            let mut stmt =
                conn.prepare(&format!("SELECT * FROM \"{t}\" ORDER BY {}", order.join(", "))).expect("select ordered");
            let rows = stmt
                .query_map([], |r| {
                    let mut line = Vec::with_capacity(n);
                    for i in 0..n {
                        line.push(format!("{:?}", r.get::<_, rusqlite::types::Value>(i)?));
                    }
                    Ok(line.join("|"))
                })
                .expect("rows")
                .collect::<Result<Vec<_>, _>>()
                .expect("collect");
            (t, rows)
        })
        .collect()
}

/// Steps until a poll brings nothing (the last step runs `on_idle`).
pub fn drain<S: Service>(runner: &mut ServiceRunner<S>, feed: &mut MemoryFeed) -> Result<(), ServiceError> {
    while runner.step(feed, Duration::ZERO)?.applied > 0 {}
    Ok(())
}

/// Opens, resumes from the cursor and applies everything in `batches`.
pub fn catch_up<S: Service>(runner: &mut ServiceRunner<S>, batches: &[EventBatch]) -> Result<(), ServiceError> {
    let mut feed = MemoryFeed::new(batches.to_vec());
    runner.resume(&mut feed)?;
    drain(runner, &mut feed)
}

pub fn open<S: Service>(path: &Path, service: S) -> ServiceRunner<S> {
    ServiceRunner::open(path, service).expect("open")
}

/// A sink that records commands, for the test to deliver to the engine.
#[derive(Clone, Debug, Default)]
pub struct RecordingSink(pub Arc<Mutex<Vec<Command>>>);

impl RecordingSink {
    pub fn take(&self) -> Vec<Command> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
    pub fn len(&self) -> usize {
        self.0.lock().expect("lock").len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl CommandSink for RecordingSink {
    fn submit(&mut self, command: &Command) -> Result<(), SinkError> {
        self.0.lock().expect("lock").push(*command);
        Ok(())
    }
}

/// An in-process exchange: an engine and every batch it produced, seq from 1.
#[derive(Debug)]
pub struct Exchange {
    pub engine: Engine,
    pub batches: Vec<EventBatch>,
}

impl Exchange {
    pub fn new(commands: &[Command]) -> Exchange {
        let mut x = Exchange { engine: Engine::new(Limits::small()), batches: Vec::new() };
        for c in commands {
            x.apply(c);
        }
        x
    }

    pub fn apply(&mut self, command: &Command) {
        let seq = self.batches.len() as u64 + 1;
        let ts_ns = TS0 + seq * 1_000_000;
        let mut events = Vec::new();
        self.engine.apply(seq, ts_ns, command, &mut events);
        self.batches.push(EventBatch { seq, ts_ns, events });
    }

    /// Applies what the service submitted, in order.
    pub fn deliver(&mut self, sink: &RecordingSink) -> usize {
        let commands = sink.take();
        for c in &commands {
            self.apply(c);
        }
        commands.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_core::Event;

    #[test]
    fn the_trading_day_trades_and_settles() {
        let (_, batches) = run_engine(&trading_day(20, 2_000, 7), 1_700_000_000_000_000_000);
        let trades = batches.iter().flat_map(|b| &b.events).filter(|e| matches!(e, Event::Trade(_))).count();
        let rejects = batches.iter().flat_map(|b| &b.events).filter(|e| matches!(e, Event::Rejected { .. })).count();
        assert!(trades > 200, "{trades} trades");
        let mut reasons = std::collections::BTreeMap::new();
        for e in batches.iter().flat_map(|b| &b.events) {
            if let Event::Rejected { reason, .. } = e {
                *reasons.entry(format!("{reason:?}")).or_insert(0) += 1;
            }
        }
        assert!(rejects < batches.len() / 10, "{rejects} rejects: {reasons:?}");
        assert!(batches.iter().enumerate().all(|(i, b)| b.seq == i as u64 + 1));
    }
}
