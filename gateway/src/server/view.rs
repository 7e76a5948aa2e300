//! The gateway's view of the exchange, built from the engine's events alone: instruments, the
//! day's orders with their history and fills, each account's cash and blocked funds, and the
//! market (book levels, last trade, day OHLC, volume). The event thread applies every batch; the
//! HTTP handlers and the ticker read it. Applying a batch returns what changed, so the ticker
//! sends order updates and ticks for exactly those.
//!
//! The view is rebuilt on start by replaying the event log from seq 1, so it keeps nothing on
//! disk. What the engine does not know (an order's `tag` and variety, as the client sent them) is
//! attached by the request that placed the order, and on replay from the order notes the
//! gateway loaded at start (`notes`), joined to the order by the client ref its `Accepted`
//! echoes.

use std::collections::{BTreeMap, HashMap};

use engine_core::{
    AccountId, BalanceReason, CancelReason, Event, InstrumentSpec, InstrumentStatus, OrderId, OrderType, Price, Qty,
    Side, Token, Trade, Validity,
};
use services_core::EventBatch;

use super::notes::{implied_variety, Note};
use crate::format::{DepthLevel, OrderRecord, QuoteRecord, TradeRecord, DEPTH_LEVELS};
use crate::kite::{Exchange, OrderStatus, Variety};
use crate::money::Decimal;
use crate::orders::{Instrument as OrderInstrument, OpenOrder};
use crate::ticker::{DepthEntry, Tick};

/// An instrument as the gateway lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentInfo {
    pub spec: InstrumentSpec,
    pub exchange: Exchange,
    pub tradingsymbol: String,
    pub band_low: Price,
    pub band_high: Price,
    pub status: InstrumentStatus,
}

impl InstrumentInfo {
    pub fn order_instrument(&self) -> OrderInstrument {
        OrderInstrument { token: self.spec.token, tick: self.spec.tick, lot: self.spec.lot }
    }
}

/// The exchange of an instrument token, from the segment code in its low byte (NSE when the
/// byte names none).
pub fn exchange_of(token: Token) -> Exchange {
    let code = (token & 0xff) as u8;
    Exchange::ALL.into_iter().find(|e| e.segment_code() == code).unwrap_or(Exchange::Nse)
}

/// One state of an order: the current one, and each earlier one in its history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderState {
    pub order_id: OrderId,
    pub account: AccountId,
    pub token: Token,
    pub side: Side,
    pub order_type: OrderType,
    pub validity: Validity,
    pub product: engine_core::Product,
    pub price: Price,
    pub trigger: Price,
    pub qty: Qty,
    pub disclosed: Qty,
    pub filled: Qty,
    pub filled_value: i128,
    pub cancelled: Qty,
    pub status: OrderStatus,
    pub status_message: Option<&'static str>,
    pub placed_ns: u64,
    pub updated_ns: u64,
    pub modified: bool,
}

#[derive(Clone, Debug)]
pub struct OrderEntry {
    pub current: OrderState,
    pub history: Vec<OrderState>,
    pub variety: Variety,
    pub tag: Option<String>,
}

/// One fill as its account sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fill {
    pub trade_id: u64,
    pub order_id: OrderId,
    pub token: Token,
    pub side: Side,
    pub product: engine_core::Product,
    pub qty: Qty,
    pub price: Price,
    pub ts_ns: u64,
}

/// An account's cash as the engine reports it (paise).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountFunds {
    pub cash: i64,
    pub opening_balance: i64,
    pub payin: i64,
    pub payout: i64,
    /// Blocked by open orders.
    pub reserved: i64,
    /// Blocked by open MIS positions.
    pub margin: i64,
}

/// (quantity, orders) per price.
type Ladder = BTreeMap<Price, (Qty, u32)>;

#[derive(Clone, Debug, Default)]
pub struct Market {
    bids: Ladder,
    asks: Ladder,
    bid_total: Qty,
    ask_total: Qty,
    pub last_price: Option<Price>,
    pub last_qty: Qty,
    pub last_trade_ns: Option<u64>,
    pub open: Option<Price>,
    pub high: Price,
    pub low: Price,
    pub prev_close: Price,
    pub volume: i64,
    pub turnover: i128,
    pub updated_ns: u64,
}

impl Market {
    fn ladder(&mut self, side: Side) -> (&mut Ladder, &mut Qty) {
        match side {
            Side::Buy => (&mut self.bids, &mut self.bid_total),
            Side::Sell => (&mut self.asks, &mut self.ask_total),
        }
    }

    fn level(&mut self, side: Side, price: Price, qty: Qty, orders: u32) {
        let (ladder, total) = self.ladder(side);
        let old = if qty == 0 && orders == 0 { ladder.remove(&price) } else { ladder.insert(price, (qty, orders)) };
        *total += qty - old.map_or(0, |l| l.0);
    }

    fn trade(&mut self, price: Price, qty: Qty, ts_ns: u64) {
        self.last_price = Some(price);
        self.last_qty = qty;
        self.last_trade_ns = Some(ts_ns);
        if self.open.is_none() {
            self.open = Some(price);
            self.high = price;
            self.low = price;
        }
        self.high = self.high.max(price);
        self.low = self.low.min(price);
        self.volume += qty;
        self.turnover += i128::from(qty) * i128::from(price);
    }

    fn new_day(&mut self) {
        if let Some(last) = self.last_price {
            self.prev_close = last;
        }
        self.open = None;
        self.high = 0;
        self.low = 0;
        self.volume = 0;
        self.turnover = 0;
    }

    /// Best `n` levels of one side, best first.
    pub fn depth(&self, side: Side, n: usize) -> Vec<DepthLevel> {
        let level = |(&price, &(quantity, orders)): (&Price, &(Qty, u32))| DepthLevel { price, quantity, orders };
        match side {
            Side::Buy => self.bids.iter().rev().take(n).map(level).collect(),
            Side::Sell => self.asks.iter().take(n).map(level).collect(),
        }
    }

    /// Today's VWAP in paise (rounded half up), 0 before the first trade.
    pub fn vwap(&self) -> Price {
        if self.volume == 0 {
            return 0;
        }
        let v = i128::from(self.volume);
        ((self.turnover * 2 + v) / (v * 2)) as Price
    }
}

/// What a batch changed, for the ticker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Orders whose state changed, in event order (an order appears once per change).
    pub orders: Vec<OrderId>,
    /// Instruments whose market changed, each once.
    pub tokens: Vec<Token>,
}

impl Changes {
    fn token(&mut self, token: Token) {
        if !self.tokens.contains(&token) {
            self.tokens.push(token);
        }
    }
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct View {
    instruments: BTreeMap<Token, InstrumentInfo>,
    by_symbol: HashMap<(Exchange, String), Token>,
    orders: HashMap<OrderId, OrderEntry>,
    /// Each account's orders of the day (and older ones still open), oldest first.
    account_orders: HashMap<AccountId, Vec<OrderId>>,
    fills: HashMap<AccountId, Vec<Fill>>,
    funds: HashMap<AccountId, AccountFunds>,
    markets: HashMap<Token, Market>,
    session_open: bool,
    last_seq: u64,
    last_ts_ns: u64,
    /// Order notes loaded at start, by client ref, not yet attached to their orders.
    notes: HashMap<u64, Note>,
}

fn cancel_message(reason: CancelReason) -> &'static str {
    match reason {
        CancelReason::User => "Cancelled by the user.",
        CancelReason::IocRemainder => "IOC order: the unfilled quantity was cancelled.",
        CancelReason::FokUnfilled => "Fill-or-kill order could not be filled completely.",
        CancelReason::MarketRemainder => {
            "Market order: no more quantity within the circuit band; the rest was cancelled."
        }
        CancelReason::SelfTrade => "Cancelled to prevent a self-trade.",
        CancelReason::Expired => "The order expired at the close of the session.",
        CancelReason::MassCancel => "Cancelled by a mass cancel.",
        CancelReason::Halt => "Cancelled: the instrument was halted.",
        CancelReason::AccountSuspended => "Cancelled: the account was suspended.",
        CancelReason::SquareOff => "Cancelled by the intraday square-off.",
    }
}

impl View {
    pub fn new() -> View {
        View::default()
    }

    /// A view that attaches `notes` (by client ref) to the orders they were written for as
    /// their `Accepted` events arrive.
    pub fn with_notes(notes: HashMap<u64, Note>) -> View {
        View { notes, ..View::default() }
    }

    /// The seq of the last batch applied (0 before any).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The engine time of the last batch applied.
    pub fn last_ts_ns(&self) -> u64 {
        self.last_ts_ns
    }

    pub fn session_open(&self) -> bool {
        self.session_open
    }

    /// Applies one batch; batches at or below the last seq applied are ignored (replay overlap).
    pub fn apply(&mut self, batch: &EventBatch, changes: &mut Changes) {
        if batch.seq <= self.last_seq && self.last_seq != 0 {
            return;
        }
        self.last_seq = batch.seq;
        self.last_ts_ns = batch.ts_ns;
        let ts = batch.ts_ns;
        for event in &batch.events {
            self.apply_event(event, ts, changes);
        }
    }

    fn apply_event(&mut self, event: &Event, ts: u64, changes: &mut Changes) {
        match *event {
            Event::InstrumentAdded { spec, band_low, band_high } => {
                let exchange = exchange_of(spec.token);
                let tradingsymbol = spec.symbol.as_str().to_string();
                self.by_symbol.insert((exchange, tradingsymbol.clone()), spec.token);
                self.instruments.insert(
                    spec.token,
                    InstrumentInfo {
                        spec,
                        exchange,
                        tradingsymbol,
                        band_low,
                        band_high,
                        status: InstrumentStatus::Active,
                    },
                );
                self.markets.entry(spec.token).or_default().prev_close = spec.reference_price;
                changes.token(spec.token);
            }
            Event::SessionOpened => self.open_day(),
            Event::SessionClosed => self.session_open = false,
            Event::InstrumentStatusChanged { token, status } => {
                if let Some(i) = self.instruments.get_mut(&token) {
                    i.status = status;
                }
            }
            Event::Accepted(a) => {
                let status = match a.order_type {
                    OrderType::StopLimit | OrderType::StopMarket => OrderStatus::TriggerPending,
                    _ => OrderStatus::Open,
                };
                let state = OrderState {
                    order_id: a.order_id,
                    account: a.account,
                    token: a.token,
                    side: a.side,
                    order_type: a.order_type,
                    validity: a.validity,
                    product: a.product,
                    price: a.price,
                    trigger: a.trigger,
                    qty: a.qty,
                    disclosed: a.disclosed,
                    filled: 0,
                    filled_value: 0,
                    cancelled: 0,
                    status,
                    status_message: None,
                    placed_ns: ts,
                    updated_ns: ts,
                    modified: false,
                };
                // A note joins its order by client ref, and only an order of the note's account.
                let (variety, tag) = match self.notes.remove(&a.client_ref) {
                    Some(note) if note.account == a.account => (note.variety, note.tag),
                    _ => (implied_variety(a.disclosed), None),
                };
                self.orders.insert(a.order_id, OrderEntry { current: state, history: vec![state], variety, tag });
                self.account_orders.entry(a.account).or_default().push(a.order_id);
                changes.orders.push(a.order_id);
            }
            Event::Triggered { order_id, .. } => {
                self.update(order_id, ts, changes, |o| o.status = OrderStatus::Open);
            }
            Event::Trade(ref t) => self.trade(t, ts, changes),
            Event::Modified { order_id, price, qty, trigger, .. } => {
                self.update(order_id, ts, changes, |o| {
                    o.price = price;
                    o.qty = qty;
                    o.trigger = trigger;
                    o.modified = true;
                });
            }
            Event::Cancelled { order_id, remaining, reason, .. } => {
                self.update(order_id, ts, changes, |o| {
                    o.cancelled = remaining;
                    o.status = OrderStatus::Cancelled;
                    o.status_message = Some(cancel_message(reason));
                });
            }
            Event::BalanceChanged { account, delta, cash, reason, .. } => {
                let f = self.funds.entry(account).or_default();
                f.cash = cash;
                match reason {
                    BalanceReason::Deposit => f.payin += delta,
                    BalanceReason::Withdrawal => f.payout -= delta,
                    _ => {}
                }
            }
            Event::AccountRisk { account, reserved, margin } => {
                let f = self.funds.entry(account).or_default();
                f.reserved = reserved;
                f.margin = margin;
            }
            Event::BookLevel { token, side, price, qty, orders } => {
                let m = self.markets.entry(token).or_default();
                m.level(side, price, qty, orders);
                m.updated_ns = ts;
                changes.token(token);
            }
            _ => {}
        }
    }

    fn open_day(&mut self) {
        self.session_open = true;
        for m in self.markets.values_mut() {
            m.new_day();
        }
        for f in self.funds.values_mut() {
            f.opening_balance = f.cash;
            f.payin = 0;
            f.payout = 0;
        }
        // Yesterday's finished orders and fills leave the day's books; open ones stay.
        let orders = &mut self.orders;
        for list in self.account_orders.values_mut() {
            list.retain(|id| {
                let open = orders
                    .get(id)
                    .is_some_and(|o| matches!(o.current.status, OrderStatus::Open | OrderStatus::TriggerPending));
                if !open {
                    orders.remove(id);
                }
                open
            });
        }
        self.fills.clear();
    }

    fn update(&mut self, order_id: OrderId, ts: u64, changes: &mut Changes, f: impl FnOnce(&mut OrderState)) {
        if let Some(entry) = self.orders.get_mut(&order_id) {
            f(&mut entry.current);
            entry.current.updated_ns = ts;
            entry.history.push(entry.current);
            changes.orders.push(order_id);
        }
    }

    fn trade(&mut self, t: &Trade, ts: u64, changes: &mut Changes) {
        for (order_id, account, side, product, remaining) in [
            (t.buy_order, t.buy_account, Side::Buy, t.buy_product, t.buy_remaining),
            (t.sell_order, t.sell_account, Side::Sell, t.sell_product, t.sell_remaining),
        ] {
            self.update(order_id, ts, changes, |o| {
                o.filled += t.qty;
                o.filled_value += i128::from(t.qty) * i128::from(t.price);
                // A stop that traded has triggered, whatever the order of the events.
                o.status = if remaining == 0 { OrderStatus::Complete } else { OrderStatus::Open };
            });
            self.fills.entry(account).or_default().push(Fill {
                trade_id: t.trade_id,
                order_id,
                token: t.token,
                side,
                product,
                qty: t.qty,
                price: t.price,
                ts_ns: ts,
            });
        }
        let m = self.markets.entry(t.token).or_default();
        m.trade(t.price, t.qty, ts);
        m.updated_ns = ts;
        changes.token(t.token);
    }

    // ----------------------------------------------------------------------------- reading

    pub fn instruments(&self) -> impl Iterator<Item = &InstrumentInfo> {
        self.instruments.values()
    }

    pub fn instrument(&self, token: Token) -> Option<&InstrumentInfo> {
        self.instruments.get(&token)
    }

    pub fn instrument_by_symbol(&self, exchange: Exchange, tradingsymbol: &str) -> Option<&InstrumentInfo> {
        // Allocation-free lookup would need a borrowed key type; symbols are short.
        self.by_symbol.get(&(exchange, tradingsymbol.to_string())).and_then(|t| self.instruments.get(t))
    }

    pub fn order(&self, order_id: OrderId) -> Option<&OrderEntry> {
        self.orders.get(&order_id)
    }

    /// The account's orders of the day, oldest first.
    pub fn account_orders(&self, account: AccountId) -> impl Iterator<Item = &OrderEntry> {
        self.account_orders.get(&account).into_iter().flatten().filter_map(|id| self.orders.get(id))
    }

    pub fn account_fills(&self, account: AccountId) -> &[Fill] {
        self.fills.get(&account).map_or(&[], Vec::as_slice)
    }

    pub fn funds(&self, account: AccountId) -> AccountFunds {
        self.funds.get(&account).copied().unwrap_or_default()
    }

    pub fn market(&self, token: Token) -> Option<&Market> {
        self.markets.get(&token)
    }

    /// Attaches what the client sent that the engine does not carry.
    pub fn annotate(&mut self, order_id: OrderId, variety: Variety, tag: Option<String>) {
        if let Some(entry) = self.orders.get_mut(&order_id) {
            entry.variety = variety;
            entry.tag = tag;
        }
    }

    /// The state a modification or cancellation starts from; `None` when the order is not the
    /// account's (or not known), so that another account's order looks like a missing one.
    pub fn open_order(&self, account: AccountId, order_id: OrderId) -> Option<OpenOrder> {
        let entry = self.orders.get(&order_id).filter(|e| e.current.account == account)?;
        let o = &entry.current;
        let instrument = self.instruments.get(&o.token)?.order_instrument();
        Some(OpenOrder {
            order_id,
            variety: entry.variety,
            order_type: o.order_type,
            validity: o.validity,
            price: o.price,
            trigger: o.trigger,
            qty: o.qty,
            disclosed: o.disclosed,
            instrument,
        })
    }

    /// An order state as Kite's JSON record.
    pub fn order_record<'a>(
        &'a self,
        entry: &'a OrderEntry,
        state: &OrderState,
        placed_by: &'a str,
    ) -> OrderRecord<'a> {
        let (exchange, tradingsymbol) = match self.instruments.get(&state.token) {
            Some(i) => (i.exchange, i.tradingsymbol.as_str()),
            None => (exchange_of(state.token), ""),
        };
        OrderRecord {
            order_id: state.order_id,
            exchange_order_id: Some(state.order_id),
            placed_by,
            status: state.status,
            status_message: state.status_message,
            variety: entry.variety,
            exchange,
            tradingsymbol,
            instrument_token: state.token,
            order_type: state.order_type,
            side: state.side,
            validity: state.validity,
            product: state.product,
            quantity: state.qty,
            disclosed_quantity: state.disclosed,
            price: state.price,
            trigger_price: state.trigger,
            filled_quantity: state.filled,
            filled_value: state.filled_value,
            cancelled_quantity: state.cancelled,
            order_timestamp_ns: state.placed_ns,
            exchange_timestamp_ns: Some(state.placed_ns),
            exchange_update_timestamp_ns: Some(state.updated_ns),
            modified: state.modified,
            tag: entry.tag.as_deref(),
            guid: None,
        }
    }

    pub fn trade_record<'a>(&'a self, fill: &Fill) -> TradeRecord<'a> {
        let (exchange, tradingsymbol) = match self.instruments.get(&fill.token) {
            Some(i) => (i.exchange, i.tradingsymbol.as_str()),
            None => (exchange_of(fill.token), ""),
        };
        let order_ts = self.orders.get(&fill.order_id).map_or(fill.ts_ns, |o| o.current.placed_ns);
        TradeRecord {
            trade_id: fill.trade_id,
            order_id: fill.order_id,
            exchange_order_id: Some(fill.order_id),
            exchange,
            tradingsymbol,
            instrument_token: fill.token,
            product: fill.product,
            side: fill.side,
            quantity: fill.qty,
            price: fill.price,
            fill_timestamp_ns: fill.ts_ns,
            order_timestamp_ns: order_ts,
        }
    }

    /// A full quote of an instrument.
    pub fn quote(&self, token: Token) -> Option<QuoteRecord> {
        let info = self.instruments.get(&token)?;
        let m = self.markets.get(&token)?;
        let last = m.last_price.unwrap_or(m.prev_close);
        Some(QuoteRecord {
            instrument_token: token,
            timestamp_ns: m.updated_ns.max(self.last_ts_ns),
            last_trade_time_ns: m.last_trade_ns,
            last_price: last,
            last_quantity: m.last_qty,
            volume: m.volume,
            average_price: Decimal::paise(m.vwap()),
            buy_quantity: m.bid_total,
            sell_quantity: m.ask_total,
            open: m.open.unwrap_or(0),
            high: m.high,
            low: m.low,
            close: m.prev_close,
            lower_circuit_limit: info.band_low,
            upper_circuit_limit: info.band_high,
            bids: m.depth(Side::Buy, DEPTH_LEVELS),
            asks: m.depth(Side::Sell, DEPTH_LEVELS),
        })
    }

    /// The ticker's view of an instrument (every field of a full packet).
    pub fn tick(&self, token: Token) -> Option<Tick> {
        let m = self.markets.get(&token)?;
        let secs = |ns: u64| (ns / 1_000_000_000).min(u64::from(u32::MAX)) as u32;
        let depth = |side| {
            let mut out = [DepthEntry::default(); 5];
            for (slot, l) in out.iter_mut().zip(m.depth(side, 5)) {
                *slot = DepthEntry { quantity: l.quantity, price: l.price, orders: l.orders };
            }
            out
        };
        Some(Tick {
            token,
            last_price: m.last_price.unwrap_or(m.prev_close),
            last_quantity: m.last_qty,
            average_price: m.vwap(),
            volume: m.volume,
            buy_quantity: m.bid_total,
            sell_quantity: m.ask_total,
            open: m.open.unwrap_or(0),
            high: m.high,
            low: m.low,
            close: m.prev_close,
            last_trade_time: m.last_trade_ns.map_or(0, secs),
            oi: 0,
            oi_day_high: 0,
            oi_day_low: 0,
            exchange_timestamp: secs(m.updated_ns),
            bids: depth(Side::Buy),
            asks: depth(Side::Sell),
        })
    }
}
