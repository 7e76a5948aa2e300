//! Test fixture for black-box unit tests of `engine-core`.
//!
//! `Fixture::new()` builds an engine with two instruments (INFY: tick 5, lot 1, reference
//! 1500.00, band 10%, MIS leverage 5; TCS: tick 5, lot 10, reference 1000.00, band 10%,
//! leverage 4), opens the session, creates, activates and funds four trading accounts (A..D,
//! `CASH` paise and `HOLD` shares of each instrument) and creates (but does not activate) the
//! fee account `FEE`. Every command goes through `Fixture::apply`, which keeps the sequence
//! counter, remembers the fee schedule, counts trades (trade ids are expected to be consecutive
//! from 1) and checks that the last `BookLevel` emitted for each level matches the book view.
//!
//! `Expect` builds an expected event sequence. It starts from the engine's cash and positions
//! before the command and applies the settlement arithmetic of the spec itself for each fill,
//! so a test states only the fills (price, quantity, orders, remaining quantities).
#![allow(dead_code)]

use std::collections::BTreeMap;

use engine_core::{
    Accepted, AccountId, AccountLimits, AccountStatus, BalanceReason, CancelReason, Command, CommandKind, Engine,
    Event, FeeSchedule, HoldingsReason, InstrumentSpec, LevelView, Limits, ModifyOrder, NewOrder, OrderId, OrderType,
    Price, Product, Qty, RejectReason, Side, Symbol, Token, Trade, Validity,
};

pub const INFY: Token = 1;
pub const TCS: Token = 2;

pub const A: AccountId = 1;
pub const B: AccountId = 2;
pub const C: AccountId = 3;
pub const D: AccountId = 4;
/// Fee account: created, never activated, no cash at start.
pub const FEE: AccountId = 9;

/// Cash deposited into each trading account by the fixture (1 crore rupees, in paise).
pub const CASH: i64 = 1_000_000_000;
/// Holdings of each instrument deposited into each trading account.
pub const HOLD: Qty = 1_000;

pub const INFY_REF: Price = 150_000;
pub const INFY_LOW: Price = 135_000;
pub const INFY_HIGH: Price = 165_000;
pub const TCS_REF: Price = 100_000;
pub const TCS_LOW: Price = 90_000;
pub const TCS_HIGH: Price = 110_000;

/// Default client refs used by the helpers.
pub const ORDER_REF: u64 = 77;
pub const MODIFY_REF: u64 = 55;
pub const CANCEL_REF: u64 = 66;

pub fn sym(text: &str) -> Symbol {
    Symbol::new(text).expect("valid symbol")
}

pub fn infy_spec() -> InstrumentSpec {
    InstrumentSpec {
        token: INFY,
        symbol: sym("INFY"),
        tick: 5,
        lot: 1,
        band_bps: 1000,
        reference_price: INFY_REF,
        mis_leverage: 5,
    }
}

pub fn tcs_spec() -> InstrumentSpec {
    InstrumentSpec {
        token: TCS,
        symbol: sym("TCS"),
        tick: 5,
        lot: 10,
        band_bps: 1000,
        reference_price: TCS_REF,
        mis_leverage: 4,
    }
}

/// `min(ceil(notional * bps / 10_000), cap)` (cap 0 = none), computed without overflow.
pub fn fee_of(fees: &FeeSchedule, notional: i64) -> i64 {
    let raw = (notional as i128 * fees.bps as i128 + 9_999) / 10_000;
    let raw = raw as i64;
    if fees.cap > 0 {
        raw.min(fees.cap)
    } else {
        raw
    }
}

/// `ceil(a / b)` for non-negative `a` and positive `b`.
pub fn ceil_div(a: i64, b: i64) -> i64 {
    (a + b - 1) / b
}

// ---------------------------------------------------------------------------------------------
// Order builders
// ---------------------------------------------------------------------------------------------

/// A LIMIT DAY CNC order on INFY.
pub fn limit(account: AccountId, side: Side, price: Price, qty: Qty) -> NewOrder {
    NewOrder {
        client_ref: ORDER_REF,
        account,
        token: INFY,
        side,
        order_type: OrderType::Limit,
        validity: Validity::Day,
        product: Product::Cnc,
        price,
        trigger: 0,
        qty,
        disclosed: 0,
        post_only: false,
    }
}

/// A MARKET DAY CNC order on INFY.
pub fn market(account: AccountId, side: Side, qty: Qty) -> NewOrder {
    NewOrder { order_type: OrderType::Market, price: 0, ..limit(account, side, 0, qty) }
}

/// An SL (stop-limit) DAY CNC order on INFY.
pub fn stop_limit(account: AccountId, side: Side, trigger: Price, price: Price, qty: Qty) -> NewOrder {
    NewOrder { order_type: OrderType::StopLimit, trigger, ..limit(account, side, price, qty) }
}

/// An SL-M (stop-market) DAY CNC order on INFY.
pub fn stop_market(account: AccountId, side: Side, trigger: Price, qty: Qty) -> NewOrder {
    NewOrder { order_type: OrderType::StopMarket, trigger, price: 0, ..limit(account, side, 0, qty) }
}

/// Chainable tweaks of a `NewOrder`.
pub trait OrderExt: Sized {
    fn with(self, f: impl FnOnce(&mut NewOrder)) -> Self;
    fn token(self, token: Token) -> Self {
        self.with(|o| o.token = token)
    }
    fn ioc(self) -> Self {
        self.with(|o| o.validity = Validity::Ioc)
    }
    fn fok(self) -> Self {
        self.with(|o| o.validity = Validity::Fok)
    }
    fn gtc(self) -> Self {
        self.with(|o| o.validity = Validity::Gtc)
    }
    fn mis(self) -> Self {
        self.with(|o| o.product = Product::Mis)
    }
    fn disclosed(self, disclosed: Qty) -> Self {
        self.with(|o| o.disclosed = disclosed)
    }
    fn post_only(self) -> Self {
        self.with(|o| o.post_only = true)
    }
    fn client_ref(self, client_ref: u64) -> Self {
        self.with(|o| o.client_ref = client_ref)
    }
}

impl OrderExt for NewOrder {
    fn with(mut self, f: impl FnOnce(&mut NewOrder)) -> Self {
        f(&mut self);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Expected-event builders
// ---------------------------------------------------------------------------------------------

pub fn accepted(order_id: OrderId, o: &NewOrder) -> Event {
    Event::Accepted(Accepted {
        order_id,
        client_ref: o.client_ref,
        account: o.account,
        token: o.token,
        side: o.side,
        order_type: o.order_type,
        validity: o.validity,
        product: o.product,
        price: o.price,
        trigger: o.trigger,
        qty: o.qty,
        disclosed: o.disclosed,
        post_only: o.post_only,
    })
}

pub fn level(token: Token, side: Side, price: Price, qty: Qty, orders: u32) -> Event {
    Event::BookLevel { token, side, price, qty, orders }
}

pub fn cancelled(order_id: OrderId, account: AccountId, token: Token, remaining: Qty, reason: CancelReason) -> Event {
    Event::Cancelled { order_id, account, token, remaining, reason }
}

pub fn triggered(order_id: OrderId, token: Token, last_price: Price) -> Event {
    Event::Triggered { order_id, token, last_price }
}

/// A `BalanceChanged` with `client_ref` 0 (every reason but a deposit or withdrawal made with one).
pub fn balance(account: AccountId, delta: i64, cash: i64, reason: BalanceReason) -> Event {
    Event::BalanceChanged { account, delta, cash, reason, client_ref: 0 }
}

/// The `AccountRisk` that closes a command which changed the account's blocked cash.
pub fn risk(account: AccountId, reserved: i64, margin: i64) -> Event {
    Event::AccountRisk { account, reserved, margin }
}

pub fn holdings(account: AccountId, token: Token, delta: Qty, holdings: Qty, reason: HoldingsReason) -> Event {
    Event::HoldingsChanged { account, token, delta, holdings, reason }
}

pub fn rejected(
    kind: CommandKind,
    reason: RejectReason,
    client_ref: u64,
    account: AccountId,
    order_id: OrderId,
) -> Event {
    Event::Rejected { kind, reason, client_ref, account, order_id }
}

/// The rejection of a `Place` of `o`.
pub fn place_rejected(o: &NewOrder, reason: RejectReason) -> Event {
    rejected(CommandKind::Place, reason, o.client_ref, o.account, 0)
}

/// The rejection of a `Fixture::modify` (client ref `MODIFY_REF`).
pub fn modify_rejected(account: AccountId, order_id: OrderId, reason: RejectReason) -> Event {
    rejected(CommandKind::Modify, reason, MODIFY_REF, account, order_id)
}

/// The rejection of a `Fixture::cancel` (client ref `CANCEL_REF`).
pub fn cancel_rejected(account: AccountId, order_id: OrderId, reason: RejectReason) -> Event {
    rejected(CommandKind::Cancel, reason, CANCEL_REF, account, order_id)
}

#[allow(clippy::too_many_arguments)]
pub fn modified(
    order_id: OrderId,
    account: AccountId,
    price: Price,
    qty: Qty,
    trigger: Price,
    remaining: Qty,
    priority_kept: bool,
) -> Event {
    Event::Modified { order_id, client_ref: MODIFY_REF, account, price, qty, trigger, remaining, priority_kept }
}

/// Every event except `BookLevel` (for commands whose level updates the spec leaves open).
pub fn without_levels(events: &[Event]) -> Vec<Event> {
    events.iter().copied().filter(|e| !matches!(e, Event::BookLevel { .. })).collect()
}

/// One side of a fill: the order, its account and product, and its quantity left after the fill.
#[derive(Clone, Copy, Debug)]
pub struct Leg {
    pub order: OrderId,
    pub account: AccountId,
    pub product: Product,
    pub remaining: Qty,
}

pub fn cnc(order: OrderId, account: AccountId, remaining: Qty) -> Leg {
    Leg { order, account, product: Product::Cnc, remaining }
}

pub fn mis(order: OrderId, account: AccountId, remaining: Qty) -> Leg {
    Leg { order, account, product: Product::Mis, remaining }
}

#[derive(Clone, Copy, Debug, Default)]
struct PosState {
    holdings: Qty,
    mis_qty: Qty,
    mis_value: i64,
}

/// Expected events of one command, with the settlement arithmetic of the spec.
#[derive(Debug)]
pub struct Expect {
    pub events: Vec<Event>,
    cash: BTreeMap<AccountId, i64>,
    pos: BTreeMap<(AccountId, Token), PosState>,
    next_trade_id: u64,
    fees: FeeSchedule,
    risk: bool,
}

impl Expect {
    pub fn push(&mut self, event: Event) -> &mut Self {
        self.events.push(event);
        self
    }

    pub fn accepted(&mut self, order_id: OrderId, o: &NewOrder) -> &mut Self {
        self.push(accepted(order_id, o))
    }

    pub fn level(&mut self, token: Token, side: Side, price: Price, qty: Qty, orders: u32) -> &mut Self {
        self.push(level(token, side, price, qty, orders))
    }

    pub fn cancelled(
        &mut self,
        order_id: OrderId,
        account: AccountId,
        token: Token,
        remaining: Qty,
        reason: CancelReason,
    ) -> &mut Self {
        self.push(cancelled(order_id, account, token, remaining, reason))
    }

    pub fn triggered(&mut self, order_id: OrderId, token: Token, last_price: Price) -> &mut Self {
        self.push(triggered(order_id, token, last_price))
    }

    /// The closing `AccountRisk` of `account`: `reserved` and `margin` after the command.
    pub fn risk(&mut self, account: AccountId, reserved: i64, margin: i64) -> &mut Self {
        self.push(risk(account, reserved, margin))
    }

    /// A fill of `qty` at `price`: `Trade`, then (risk on) the settlement events of the buyer,
    /// of the seller and of the fee account, in the documented order. The `BookLevel` of the
    /// maker's level is left to the caller.
    pub fn fill(&mut self, token: Token, price: Price, qty: Qty, aggressor: Side, buy: Leg, sell: Leg) -> &mut Self {
        let notional = qty * price;
        let (buy_fee, sell_fee) =
            if self.risk { (fee_of(&self.fees, notional), fee_of(&self.fees, notional)) } else { (0, 0) };
        let trade_id = self.next_trade_id;
        self.next_trade_id += 1;
        self.events.push(Event::Trade(Trade {
            trade_id,
            token,
            price,
            qty,
            aggressor,
            buy_order: buy.order,
            sell_order: sell.order,
            buy_account: buy.account,
            sell_account: sell.account,
            buy_product: buy.product,
            sell_product: sell.product,
            buy_fee,
            sell_fee,
            buy_remaining: buy.remaining,
            sell_remaining: sell.remaining,
        }));
        if !self.risk {
            return self;
        }
        self.settle(token, Side::Buy, buy, qty, price, buy_fee);
        self.settle(token, Side::Sell, sell, qty, price, sell_fee);
        if buy_fee + sell_fee != 0 {
            let fee_account = self.fees.fee_account;
            let cash = self.cash.entry(fee_account).or_insert(0);
            *cash += buy_fee + sell_fee;
            let cash = *cash;
            self.events.push(balance(fee_account, buy_fee + sell_fee, cash, BalanceReason::Fee));
        }
        self
    }

    fn settle(&mut self, token: Token, side: Side, leg: Leg, qty: Qty, price: Price, fee: i64) {
        let account = leg.account;
        let pos = self.pos.entry((account, token)).or_default();
        let cash = self.cash.entry(account).or_insert(0);
        match leg.product {
            Product::Cnc => {
                let (dq, dc) = match side {
                    Side::Buy => (qty, -qty * price - fee),
                    Side::Sell => (-qty, qty * price - fee),
                };
                pos.holdings += dq;
                *cash += dc;
                let (h, c) = (pos.holdings, *cash);
                self.events.push(holdings(account, token, dq, h, HoldingsReason::Trade));
                self.events.push(balance(account, dc, c, BalanceReason::TradeSettlement));
            }
            Product::Mis => {
                match side {
                    Side::Buy => {
                        pos.mis_qty += qty;
                        pos.mis_value -= qty * price;
                    }
                    Side::Sell => {
                        pos.mis_qty -= qty;
                        pos.mis_value += qty * price;
                    }
                }
                if fee != 0 {
                    *cash -= fee;
                    let c = *cash;
                    self.events.push(balance(account, -fee, c, BalanceReason::Fee));
                }
                if pos.mis_qty == 0 && pos.mis_value != 0 {
                    let value = pos.mis_value;
                    pos.mis_value = 0;
                    *cash += value;
                    let c = *cash;
                    self.events.push(balance(account, value, c, BalanceReason::MisSettlement));
                }
            }
        }
    }

    /// Expected cash of `account` after the events built so far.
    pub fn cash_of(&self, account: AccountId) -> i64 {
        self.cash.get(&account).copied().unwrap_or(0)
    }

    pub fn done(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}

// ---------------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
pub struct Fixture {
    pub engine: Engine,
    seq: u64,
    trades: u64,
    fees: FeeSchedule,
    depth_buf: Vec<LevelView>,
}

impl Fixture {
    /// An engine with nothing in it (session closed, no instruments, no accounts).
    pub fn bare(limits: Limits) -> Fixture {
        let buf = limits.levels_per_book_max.min(1 << 16) as usize;
        Fixture {
            engine: Engine::new(limits),
            seq: 0,
            trades: 0,
            fees: FeeSchedule::default(),
            depth_buf: vec![LevelView::default(); buf],
        }
    }

    /// The standard set-up on `Limits::small()`.
    pub fn new() -> Fixture {
        Fixture::with_limits(Limits::small())
    }

    /// The standard set-up on `limits`, session open.
    pub fn with_limits(limits: Limits) -> Fixture {
        let mut f = Fixture::bare(limits);
        f.ok(Command::AddInstrument(infy_spec()));
        f.ok(Command::AddInstrument(tcs_spec()));
        f.ok(Command::OpenSession);
        for account in [A, B, C, D] {
            f.open_account(account, AccountLimits::default(), CASH);
            f.ok(Command::DepositHoldings { account, token: INFY, qty: HOLD });
            f.ok(Command::DepositHoldings { account, token: TCS, qty: HOLD });
        }
        f.ok(Command::CreateAccount { account: FEE, limits: AccountLimits::default() });
        f
    }

    /// Creates and activates `account` and deposits `cash` (if positive).
    pub fn open_account(&mut self, account: AccountId, limits: AccountLimits, cash: i64) {
        self.ok(Command::CreateAccount { account, limits });
        self.ok(Command::ActivateAccount { account });
        if cash > 0 {
            self.ok(Command::Deposit { client_ref: 0, account, amount: cash });
        }
    }

    /// Applies one command and returns its events.
    pub fn apply(&mut self, cmd: Command) -> Vec<Event> {
        self.seq += 1;
        let mut out = Vec::new();
        self.engine.apply(self.seq, self.seq * 1_000, &cmd, &mut out);
        for e in &out {
            match e {
                Event::Trade(_) => self.trades += 1,
                Event::FeeScheduleSet(s) => self.fees = *s,
                _ => {}
            }
        }
        self.check_levels(&out);
        out
    }

    /// Applies a command that must not be rejected.
    pub fn ok(&mut self, cmd: Command) -> Vec<Event> {
        let events = self.apply(cmd);
        assert!(
            !events.iter().any(|e| matches!(e, Event::Rejected { .. })),
            "command {cmd:?} was rejected: {events:?}"
        );
        events
    }

    pub fn place(&mut self, o: NewOrder) -> Vec<Event> {
        self.apply(Command::Place(o))
    }

    /// Places an order that must be accepted; returns its id.
    pub fn place_ok(&mut self, o: NewOrder) -> OrderId {
        let events = self.place(o);
        match events.first() {
            Some(Event::Accepted(a)) => a.order_id,
            _ => panic!("order {o:?} not accepted: {events:?}"),
        }
    }

    pub fn modify(
        &mut self,
        account: AccountId,
        order_id: OrderId,
        price: Price,
        qty: Qty,
        trigger: Price,
    ) -> Vec<Event> {
        self.apply(Command::Modify(ModifyOrder { client_ref: MODIFY_REF, account, order_id, price, qty, trigger }))
    }

    pub fn cancel(&mut self, account: AccountId, order_id: OrderId) -> Vec<Event> {
        self.apply(Command::Cancel { client_ref: CANCEL_REF, account, order_id })
    }

    pub fn set_fees(&mut self, bps: u32, cap: i64) -> Vec<Event> {
        self.ok(Command::SetFeeSchedule(FeeSchedule { bps, cap, fee_account: FEE }))
    }

    pub fn set_limits(&mut self, account: AccountId, limits: AccountLimits) -> Vec<Event> {
        self.ok(Command::SetAccountLimits { account, limits })
    }

    /// Starts the expected events of the next command from the engine's current state.
    pub fn expect(&self) -> Expect {
        let cash = self.engine.accounts().map(|a| (a.id, a.cash)).collect();
        let pos = self
            .engine
            .positions()
            .map(|p| {
                ((p.account, p.token), PosState { holdings: p.holdings, mis_qty: p.mis_qty, mis_value: p.mis_value })
            })
            .collect();
        Expect {
            events: Vec::new(),
            cash,
            pos,
            next_trade_id: self.trades + 1,
            fees: self.fees,
            risk: self.engine.limits().risk_enabled,
        }
    }

    // ----- views ------------------------------------------------------------------------------

    pub fn account(&self, id: AccountId) -> engine_core::AccountView {
        self.engine.account(id).unwrap_or_else(|| panic!("account {id} not found"))
    }

    pub fn position(&self, account: AccountId, token: Token) -> engine_core::PositionView {
        self.engine.position(account, token).unwrap_or_else(|| panic!("no position ({account}, {token})"))
    }

    pub fn order(&self, id: OrderId) -> engine_core::OrderView {
        self.engine.order(id).unwrap_or_else(|| panic!("order {id} not open"))
    }

    pub fn is_open(&self, id: OrderId) -> bool {
        self.engine.order(id).is_some()
    }

    pub fn ltp(&self, token: Token) -> Price {
        self.engine.instrument(token).expect("instrument").last_price
    }

    /// All levels of one side, best first, as `(price, qty, orders)`.
    pub fn book(&mut self, token: Token, side: Side) -> Vec<(Price, Qty, u32)> {
        let n = self.engine.depth(token, side, &mut self.depth_buf);
        self.depth_buf[..n].iter().map(|l| (l.price, l.qty, l.orders)).collect()
    }

    /// `(qty, orders)` of one level; `(0, 0)` when the level is empty.
    pub fn level_at(&mut self, token: Token, side: Side, price: Price) -> (Qty, u32) {
        self.book(token, side).into_iter().find(|l| l.0 == price).map(|l| (l.1, l.2)).unwrap_or((0, 0))
    }

    /// The last `BookLevel` emitted for each level must match the book after the command.
    fn check_levels(&mut self, events: &[Event]) {
        let mut last: BTreeMap<(Token, u8, Price), (Qty, u32)> = BTreeMap::new();
        for e in events {
            if let Event::BookLevel { token, side, price, qty, orders } = *e {
                last.insert((token, side.as_u8(), price), (qty, orders));
            }
        }
        for ((token, side, price), got) in last {
            let side = Side::from_u8(side).expect("side");
            let book = self.level_at(token, side, price);
            assert_eq!(
                got, book,
                "last BookLevel of {token}/{side:?}/{price} disagrees with depth(); events: {events:?}"
            );
        }
    }

    /// Σ cash + Σ mis_value over every account.
    pub fn total_cash(&self) -> i64 {
        let cash: i64 = self.engine.accounts().map(|a| a.cash).sum();
        let mis: i64 = self.engine.positions().map(|p| p.mis_value).sum();
        cash + mis
    }

    /// Σ holdings + Σ mis_qty over every account, for one instrument.
    pub fn total_shares(&self, token: Token) -> Qty {
        self.engine.positions().filter(|p| p.token == token).map(|p| p.holdings + p.mis_qty).sum()
    }

    /// `cash - reserved - margin == available` and `reserved` is the sum of its orders' reservations.
    pub fn check_account_sums(&self, id: AccountId) {
        let a = self.account(id);
        assert_eq!(a.available, a.cash - a.reserved - a.margin, "available of {id}");
        let reserved: i64 = self.engine.open_orders().filter(|o| o.account == id).map(|o| o.reserved_cash).sum();
        assert_eq!(a.reserved, reserved, "reserved of {id}");
        let margin: i64 = self.engine.positions().filter(|p| p.account == id).map(|p| p.mis_margin).sum();
        assert_eq!(a.margin, margin, "margin of {id}");
        let open = self.engine.open_orders().filter(|o| o.account == id).count() as u32;
        assert_eq!(a.open_orders, open, "open_orders of {id}");
    }

    pub fn status(&self, id: AccountId) -> AccountStatus {
        self.account(id).status
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}
