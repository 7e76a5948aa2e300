//! Invariant checks on an `Engine`, from its events and its public views only.
//!
//! `Checker::observe(cmd, events)` follows the event stream: it keeps shadow copies of what the
//! events say (cash, holdings, MIS positions, open orders, book levels, last prices, totals
//! deposited and withdrawn) and checks the rules of docs/engine-semantics.md that one command's
//! events must obey (ids, trade settlement sequence, fees). `Checker::check(engine)` then compares
//! the engine's views with the shadows and with each other (conservation, reservations, depth).
//! Both return `Err(description)`; the caller adds the seed and command index.

use std::collections::{BTreeMap, BTreeSet};

use engine_core::{
    AccountId, AccountStatus, BalanceReason, CancelReason, Command, Event, FeeSchedule, HoldingsReason, InstrumentSpec,
    LevelView, Limits, OrderId, OrderType, Price, Product, Qty, Side, Token, Validity,
};

mod state;
mod trade;

pub use super::coverage::{event_name, Coverage};

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

#[derive(Clone, Copy, Debug)]
struct ShadowOrder {
    account: AccountId,
    token: Token,
    side: Side,
    order_type: OrderType,
    validity: Validity,
    product: Product,
    price: Price,
    trigger: Price,
    qty: Qty,
    filled: Qty,
    disclosed: Qty,
    post_only: bool,
    triggered: bool,
    /// Fee-schedule epoch and the account's limits epoch when accepted; `modified` once modified.
    fee_epoch: u64,
    limits_epoch: u64,
    modified: bool,
    /// Time priority: set when accepted, triggered, or modified without keeping priority.
    prio: u64,
}

impl ShadowOrder {
    fn remaining(&self) -> Qty {
        self.qty - self.filled
    }
}

#[derive(Clone, Copy, Debug)]
struct InstInfo {
    spec: InstrumentSpec,
    band_low: Price,
    band_high: Price,
}

fn fee_of(schedule: &FeeSchedule, notional: i64) -> i64 {
    let fee = (notional as i128 * schedule.bps as i128 + 9_999) / 10_000;
    let fee = fee as i64;
    if schedule.cap > 0 {
        fee.min(schedule.cap)
    } else {
        fee
    }
}

fn ceil_div(a: i64, b: i64) -> i64 {
    (a + b - 1) / b
}

#[derive(Clone, Debug)]
pub struct Checker {
    limits: Limits,
    risk: bool,
    cash_in: i128,
    shares_in: BTreeMap<Token, i128>,
    cash: BTreeMap<AccountId, i64>,
    holdings: BTreeMap<(AccountId, Token), Qty>,
    /// (mis_qty, mis_value) per position, from trades.
    mis: BTreeMap<(AccountId, Token), (Qty, i64)>,
    orders: BTreeMap<OrderId, ShadowOrder>,
    levels: BTreeMap<(Token, Side, Price), (Qty, u32)>,
    ltp: BTreeMap<Token, Price>,
    insts: BTreeMap<Token, InstInfo>,
    /// Tokens in the order the instruments were added.
    insts_order: Vec<Token>,
    status: BTreeMap<AccountId, AccountStatus>,
    limits_epoch: BTreeMap<AccountId, u64>,
    fee: FeeSchedule,
    fee_epoch: u64,
    session_open: bool,
    next_order_id: OrderId,
    last_trade_id: u64,
    prio_clock: u64,
    /// Accounts that traded MIS or had a position converted: their cash may go negative.
    mis_touched: BTreeSet<AccountId>,
    /// Accounts with open orders when fees or their leverage changed: reservations may be stale.
    funds_exempt: BTreeSet<AccountId>,
    /// Accounts whose MIS leverage changed while they had MIS positions: margins may be stale
    /// until those positions go flat.
    margin_stale: BTreeSet<AccountId>,
    /// Each account's MIS leverage override.
    lev: BTreeMap<AccountId, u32>,
    /// (reserved, margin) of each account as last reported by `AccountRisk`.
    reported_risk: BTreeMap<AccountId, (i64, i64)>,
    /// The last non-zero funds `client_ref` each account applied, from `BalanceChanged`.
    funds_ref: BTreeMap<AccountId, u64>,
    pub coverage: Coverage,
    depth_buf: Vec<LevelView>,
}

impl Checker {
    pub fn new(limits: Limits) -> Self {
        Checker {
            limits,
            risk: limits.risk_enabled,
            cash_in: 0,
            shares_in: BTreeMap::new(),
            cash: BTreeMap::new(),
            holdings: BTreeMap::new(),
            mis: BTreeMap::new(),
            orders: BTreeMap::new(),
            levels: BTreeMap::new(),
            ltp: BTreeMap::new(),
            insts: BTreeMap::new(),
            insts_order: Vec::new(),
            status: BTreeMap::new(),
            limits_epoch: BTreeMap::new(),
            fee: FeeSchedule::default(),
            fee_epoch: 0,
            session_open: false,
            next_order_id: 1,
            last_trade_id: 0,
            prio_clock: 0,
            mis_touched: BTreeSet::new(),
            funds_exempt: BTreeSet::new(),
            margin_stale: BTreeSet::new(),
            lev: BTreeMap::new(),
            reported_risk: BTreeMap::new(),
            funds_ref: BTreeMap::new(),
            coverage: Coverage::default(),
            depth_buf: vec![LevelView::default(); limits.levels_per_book_max as usize + 1],
        }
    }

    fn tick_prio(&mut self) -> u64 {
        self.prio_clock += 1;
        self.prio_clock
    }

    /// Quantity of resting orders of other accounts that an incoming order would cross.
    fn crossable(&self, account: AccountId, token: Token, side: Side, limit: Option<Price>) -> Qty {
        self.orders
            .values()
            .filter(|o| o.token == token && o.side == side.opposite() && o.triggered && o.account != account)
            .filter(|o| match (limit, side) {
                (None, _) => true,
                (Some(l), Side::Buy) => o.price <= l,
                (Some(l), Side::Sell) => o.price >= l,
            })
            .map(|o| o.remaining())
            .sum()
    }

    /// What the incoming order of `cmd` must fill as a taker, from the state before the command:
    /// all crossing quantity of other accounts up to its size (FOK: all or nothing).
    fn expected_taker_fill(&self, cmd: &Command) -> Option<(Side, Qty)> {
        match *cmd {
            Command::Place(o) if !o.order_type.is_stop() && !o.post_only => {
                let limit = if o.order_type == OrderType::Limit { Some(o.price) } else { None };
                let available = self.crossable(o.account, o.token, o.side, limit);
                let fill = match o.validity {
                    Validity::Fok if available < o.qty => 0,
                    _ => available.min(o.qty),
                };
                Some((o.side, fill))
            }
            Command::Modify(m) => {
                let o = self.orders.get(&m.order_id)?;
                if m.account != o.account || !o.triggered || m.price == o.price {
                    return None;
                }
                let remaining = m.qty - o.filled;
                Some((o.side, self.crossable(o.account, o.token, o.side, Some(m.price)).min(remaining.max(0))))
            }
            _ => None,
        }
    }

    /// Mass cancels, halts and the close cancel bids best to worst, then asks, then buy stops,
    /// then sell stops, each level front to back (the close: instruments in the order added).
    fn check_cancel_order(&self, cmd: &Command, events: &[Event]) -> Result<(), String> {
        let (tokens, day_only): (Vec<Token>, bool) = match *cmd {
            Command::MassCancelInstrument { token } | Command::Halt { token } => (vec![token], false),
            Command::CloseSession => (self.insts_order.clone(), true),
            _ => return Ok(()),
        };
        // (instrument rank, group, price key) must not decrease; within a book level without
        // icebergs, time priority must increase.
        let key = |o: &ShadowOrder| {
            let rank = tokens.iter().position(|&t| t == o.token).unwrap_or(usize::MAX);
            let (group, price) = match (o.triggered, o.side) {
                (true, Side::Buy) => (0, -o.price),
                (true, Side::Sell) => (1, o.price),
                (false, Side::Buy) => (2, 0),
                (false, Side::Sell) => (3, 0),
            };
            (rank, group, price)
        };
        let expected: BTreeSet<OrderId> = self
            .orders
            .iter()
            .filter(|(_, o)| tokens.contains(&o.token) && (!day_only || o.validity == Validity::Day))
            .map(|(&id, _)| id)
            .collect();
        let mut got: Vec<OrderId> = Vec::new();
        for e in events {
            if let Event::Cancelled { order_id, .. } = e {
                got.push(*order_id);
            }
        }
        let got_set: BTreeSet<OrderId> = got.iter().copied().collect();
        ensure!(got_set == expected, "{cmd:?} cancelled {got:?}, the open orders were {expected:?}");
        for pair in got.windows(2) {
            let (a, b) = (self.orders[&pair[0]], self.orders[&pair[1]]);
            let (ka, kb) = (key(&a), key(&b));
            ensure!(ka <= kb, "{cmd:?} cancelled {} ({a:?}) before {} ({b:?})", pair[0], pair[1]);
            let iceberg_level = self.orders.values().any(|o| {
                o.token == a.token && o.side == a.side && o.triggered && o.price == a.price && o.disclosed > 0
            });
            if ka == kb && a.triggered && !iceberg_level {
                ensure!(a.prio < b.prio, "{cmd:?} cancelled {} before {} which is ahead in time", pair[0], pair[1]);
            }
        }
        Ok(())
    }

    fn accounts_with_orders(&self) -> BTreeSet<AccountId> {
        self.orders.values().map(|o| o.account).collect()
    }

    /// Follows one command's events: updates the shadows and checks per-event rules.
    pub fn observe(&mut self, cmd: &Command, events: &[Event]) -> Result<(), String> {
        self.coverage.commands_total += 1;
        *self.coverage.commands.entry(cmd.kind()).or_default() += 1;
        let rejected = events.iter().any(|e| matches!(e, Event::Rejected { .. }));
        if rejected && !matches!(cmd, Command::SquareOffMis { .. }) {
            ensure!(events.len() == 1, "a rejected command emitted more than the rejection: {events:?}");
        }
        if !rejected {
            self.expect_effect(cmd, events)?;
            self.check_cancel_order(cmd, events)?;
            if let Some((side, fill)) = self.expected_taker_fill(cmd) {
                let id = match (cmd, events.first()) {
                    (Command::Modify(m), _) => m.order_id,
                    (_, Some(Event::Accepted(a))) => a.order_id,
                    _ => return Err(format!("accepted placement without Accepted first: {events:?}")),
                };
                let filled: Qty = events
                    .iter()
                    .filter_map(|e| match e {
                        Event::Trade(t) if t.aggressor == side && (t.buy_order == id || t.sell_order == id) => {
                            Some(t.qty)
                        }
                        _ => None,
                    })
                    .sum();
                ensure!(
                    filled == fill,
                    "order {id} filled {filled} as a taker, but the book held {fill} to fill it (crossing \
                     quantity of other accounts, FOK all or nothing)"
                );
                if let Command::Place(o) = cmd {
                    if o.validity == Validity::Fok && fill == 0 {
                        ensure!(
                            matches!(
                                events,
                                [Event::Accepted(_), Event::Cancelled { reason: CancelReason::FokUnfilled, .. }]
                            ),
                            "unfilled FOK must be Accepted then Cancelled{{FokUnfilled}} and nothing else: {events:?}"
                        );
                    }
                }
            }
        }
        self.check_risk_events(events)?;
        let mut i = 0;
        while i < events.len() {
            let event = events[i];
            *self.coverage.events.entry(event_name(&event)).or_default() += 1;
            match event {
                Event::Rejected { kind, reason, client_ref, .. } => {
                    *self.coverage.rejects.entry(reason).or_default() += 1;
                    ensure!(kind == cmd.kind(), "rejection kind {kind:?} for a {:?} command", cmd.kind());
                    let expected_ref = match cmd {
                        Command::Place(o) => o.client_ref,
                        Command::Modify(m) => m.client_ref,
                        Command::Cancel { client_ref, .. } => *client_ref,
                        Command::Deposit { client_ref, .. } | Command::Withdraw { client_ref, .. } => *client_ref,
                        _ => 0,
                    };
                    ensure!(client_ref == expected_ref, "rejection client_ref {client_ref} != {expected_ref}");
                }
                Event::InstrumentAdded { spec: added, band_low, band_high } => {
                    let Command::AddInstrument(spec) = *cmd else {
                        return Err(format!("InstrumentAdded for {cmd:?}"));
                    };
                    ensure!(spec == added, "InstrumentAdded {added:?} for {spec:?}");
                    let width = spec.reference_price as i128 * spec.band_bps as i128 / 10_000;
                    let exact = spec.reference_price as i128 * spec.band_bps as i128 % 10_000 == 0;
                    if exact {
                        let low = spec.reference_price - width as i64;
                        let low = (ceil_div(low, spec.tick) * spec.tick).max(spec.tick);
                        let high = spec.reference_price + width as i64;
                        let high = high.div_euclid(spec.tick) * spec.tick;
                        ensure!(
                            (band_low, band_high) == (low, high),
                            "band of {spec:?}: got [{band_low}, {band_high}], docs say [{low}, {high}]"
                        );
                    }
                    self.insts.insert(spec.token, InstInfo { spec, band_low, band_high });
                    self.insts_order.push(spec.token);
                    self.ltp.insert(spec.token, spec.reference_price);
                    self.shares_in.entry(spec.token).or_default();
                }
                Event::SessionOpened => self.session_open = true,
                Event::SessionClosed => self.session_open = false,
                Event::InstrumentStatusChanged { .. } => {}
                Event::AccountCreated { account, limits } => {
                    self.lev.insert(account, limits.mis_leverage);
                    self.cash.insert(account, 0);
                    self.status.insert(account, AccountStatus::Inactive);
                    self.limits_epoch.insert(account, 0);
                }
                Event::AccountLimitsSet { account, limits } => {
                    if let Command::SetAccountLimits { limits: asked, .. } = cmd {
                        ensure!(limits == *asked, "AccountLimitsSet {limits:?} for asked {asked:?}");
                    }
                    let old = self.lev.insert(account, limits.mis_leverage).unwrap_or(0);
                    if old != limits.mis_leverage {
                        // Reservations and margins computed with the old leverage may stay as they are.
                        *self.limits_epoch.entry(account).or_default() += 1;
                        if self.orders.values().any(|o| o.account == account) {
                            self.funds_exempt.insert(account);
                        }
                        if self.mis.keys().any(|&(a, _)| a == account) {
                            self.margin_stale.insert(account);
                        }
                    }
                }
                Event::AccountStatusChanged { account, status } => {
                    self.status.insert(account, status);
                }
                Event::FeeScheduleSet(fee) => {
                    let raised =
                        fee.bps > self.fee.bps || (self.fee.cap > 0 && (fee.cap == 0 || fee.cap > self.fee.cap));
                    if raised {
                        let with_orders = self.accounts_with_orders();
                        self.funds_exempt.extend(with_orders);
                    }
                    if fee.bps != self.fee.bps {
                        self.fee_epoch += 1;
                    }
                    self.fee = fee;
                }
                Event::Accepted(a) => {
                    ensure!(
                        a.order_id == self.next_order_id,
                        "Accepted order id {} but the next id is {}",
                        a.order_id,
                        self.next_order_id
                    );
                    self.next_order_id += 1;
                    match cmd {
                        Command::Place(o) => {
                            let echo = (
                                o.client_ref,
                                o.account,
                                o.token,
                                o.side,
                                o.order_type,
                                o.validity,
                                o.product,
                                o.price,
                                o.trigger,
                                o.qty,
                                o.disclosed,
                                o.post_only,
                            );
                            let got = (
                                a.client_ref,
                                a.account,
                                a.token,
                                a.side,
                                a.order_type,
                                a.validity,
                                a.product,
                                a.price,
                                a.trigger,
                                a.qty,
                                a.disclosed,
                                a.post_only,
                            );
                            ensure!(echo == got, "Accepted {a:?} does not echo {o:?}");
                        }
                        Command::SquareOffMis { token } => {
                            ensure!(
                                a.token == *token
                                    && a.order_type == OrderType::Market
                                    && a.validity == Validity::Ioc
                                    && a.product == Product::Mis
                                    && a.client_ref == 0,
                                "square-off order {a:?}"
                            );
                            let (mis_qty, _) = self.mis.get(&(a.account, a.token)).copied().unwrap_or_default();
                            let closing = if mis_qty > 0 { Side::Sell } else { Side::Buy };
                            ensure!(
                                mis_qty != 0 && a.qty == mis_qty.abs() && a.side == closing,
                                "square-off order {a:?} for a MIS position of {mis_qty}"
                            );
                        }
                        _ => return Err(format!("Accepted {a:?} for {cmd:?}")),
                    }
                    *self.coverage.accepted.entry((a.order_type, a.validity, a.product)).or_default() += 1;
                    self.coverage.disclosed_accepted += u64::from(a.disclosed > 0);
                    self.coverage.post_only_accepted += u64::from(a.post_only);
                    let prio = self.tick_prio();
                    self.orders.insert(
                        a.order_id,
                        ShadowOrder {
                            account: a.account,
                            token: a.token,
                            side: a.side,
                            order_type: a.order_type,
                            validity: a.validity,
                            product: a.product,
                            price: a.price,
                            trigger: a.trigger,
                            qty: a.qty,
                            filled: 0,
                            disclosed: a.disclosed,
                            post_only: a.post_only,
                            triggered: !a.order_type.is_stop(),
                            fee_epoch: self.fee_epoch,
                            limits_epoch: self.limits_epoch.get(&a.account).copied().unwrap_or(0),
                            modified: false,
                            prio,
                        },
                    );
                }
                Event::Triggered { order_id, token, last_price } => {
                    let o = self.orders.get_mut(&order_id).ok_or(format!("Triggered unknown order {order_id}"))?;
                    ensure!(o.order_type.is_stop() && !o.triggered, "Triggered {order_id} that is not a pending stop");
                    ensure!(o.token == token, "Triggered {order_id} with token {token}");
                    let ltp = self.ltp[&token];
                    ensure!(last_price == ltp, "Triggered last_price {last_price} but the last trade was at {ltp}");
                    let hit = match o.side {
                        Side::Buy => o.trigger <= ltp,
                        Side::Sell => o.trigger >= ltp,
                    };
                    ensure!(hit, "Triggered {order_id} ({:?} trigger {}) at last price {ltp}", o.side, o.trigger);
                    let o = *o;
                    // Buy stops first (lowest trigger, then time), then sell stops (highest, then time).
                    let first = self
                        .orders
                        .iter()
                        .filter(|(_, s)| s.token == token && s.order_type.is_stop() && !s.triggered)
                        .filter(|(_, s)| match s.side {
                            Side::Buy => s.trigger <= ltp,
                            Side::Sell => s.trigger >= ltp,
                        })
                        .min_by_key(|(_, s)| match s.side {
                            Side::Buy => (0, s.trigger, s.prio),
                            Side::Sell => (1, -s.trigger, s.prio),
                        })
                        .map(|(&id, _)| id);
                    ensure!(
                        first == Some(order_id),
                        "Triggered {order_id} ({:?} trigger {}) but order {first:?} comes first at last price {ltp}",
                        o.side,
                        o.trigger
                    );
                    let prio = self.tick_prio();
                    let o = self.orders.get_mut(&order_id).expect("order");
                    o.triggered = true;
                    o.prio = prio;
                }
                Event::Trade(t) => {
                    self.on_trade(cmd, events, i, &t)?;
                }
                Event::Modified { order_id, account, price, qty, trigger, remaining, priority_kept, .. } => {
                    let prio = self.tick_prio();
                    let o = self.orders.get_mut(&order_id).ok_or(format!("Modified unknown order {order_id}"))?;
                    let keeps = price == o.price && qty <= o.qty && trigger == o.trigger;
                    ensure!(
                        priority_kept == keeps,
                        "Modified {order_id}: priority_kept {priority_kept} for {o:?} -> price {price} qty {qty} \
                         trigger {trigger}"
                    );
                    if !priority_kept {
                        o.prio = prio;
                    }
                    ensure!(o.account == account, "Modified {order_id}: account {account}");
                    ensure!(
                        remaining == qty - o.filled,
                        "Modified {order_id}: remaining {remaining} != {qty} - filled"
                    );
                    if let Command::Modify(m) = cmd {
                        ensure!(m.order_id == order_id && m.qty == qty, "Modified {order_id} does not echo {m:?}");
                    }
                    o.price = price;
                    o.qty = qty;
                    o.trigger = trigger;
                    o.modified = true;
                }
                Event::Cancelled { order_id, account, token, remaining, reason } => {
                    *self.coverage.cancels.entry(reason).or_default() += 1;
                    let o = self.orders.remove(&order_id).ok_or(format!("Cancelled unknown order {order_id}"))?;
                    ensure!(
                        o.account == account && o.token == token && o.remaining() == remaining && remaining > 0,
                        "Cancelled {order_id} (account {account}, token {token}, remaining {remaining}) but the \
                         order is {o:?}"
                    );
                }
                Event::BalanceChanged { account, delta, cash, reason, client_ref } => {
                    *self.coverage.balances.entry(reason).or_default() += 1;
                    let expected_ref = match (reason, cmd) {
                        (
                            BalanceReason::Deposit | BalanceReason::Withdrawal,
                            Command::Deposit { client_ref, .. } | Command::Withdraw { client_ref, .. },
                        ) => *client_ref,
                        _ => 0,
                    };
                    ensure!(
                        client_ref == expected_ref,
                        "BalanceChanged client_ref {client_ref}, expected {expected_ref}"
                    );
                    if client_ref != 0 {
                        let last = self.funds_ref.insert(account, client_ref).unwrap_or(0);
                        ensure!(client_ref > last, "funds client_ref {client_ref} applied after {last}");
                    }
                    let shadow = self.cash.get_mut(&account).ok_or(format!("BalanceChanged of unknown {account}"))?;
                    *shadow += delta;
                    ensure!(
                        *shadow == cash,
                        "BalanceChanged {account}: delta {delta} gives {shadow}, event says {cash}"
                    );
                    match reason {
                        BalanceReason::Deposit => {
                            ensure!(delta > 0, "deposit delta {delta}");
                            self.cash_in += delta as i128;
                        }
                        BalanceReason::Withdrawal => {
                            ensure!(delta < 0, "withdrawal delta {delta}");
                            self.cash_in += delta as i128;
                        }
                        _ => {}
                    }
                }
                Event::HoldingsChanged { account, token, delta, holdings, reason } => {
                    *self.coverage.holdings.entry(reason).or_default() += 1;
                    let shadow = self.holdings.entry((account, token)).or_default();
                    *shadow += delta;
                    ensure!(
                        *shadow == holdings,
                        "HoldingsChanged {account}/{token}: delta {delta} gives {shadow}, event says {holdings}"
                    );
                    match reason {
                        HoldingsReason::Deposit | HoldingsReason::Withdrawal => {
                            *self.shares_in.entry(token).or_default() += delta as i128;
                        }
                        HoldingsReason::MisConversion => {
                            self.mis_touched.insert(account);
                            let (mis_qty, mis_value) = self.mis.remove(&(account, token)).unwrap_or_default();
                            ensure!(delta == mis_qty, "MisConversion of {delta} shares, MIS position was {mis_qty}");
                            let next = events.get(i + 1).copied();
                            match next {
                                Some(Event::BalanceChanged {
                                    account: a,
                                    delta: d,
                                    reason: BalanceReason::MisConversion,
                                    ..
                                }) => {
                                    ensure!(
                                        a == account && d == mis_value,
                                        "MisConversion balance {next:?}, MIS value was {mis_value}"
                                    );
                                }
                                _ => ensure!(
                                    mis_value == 0,
                                    "HoldingsChanged{{MisConversion}} not followed by BalanceChanged{{MisConversion}} \
                                     of {mis_value}: {next:?}"
                                ),
                            }
                        }
                        HoldingsReason::Trade => {}
                    }
                }
                Event::AccountRisk { account, reserved, margin } => {
                    let before = self.reported_risk.insert(account, (reserved, margin)).unwrap_or((0, 0));
                    ensure!(
                        before != (reserved, margin),
                        "AccountRisk {account} ({reserved}, {margin}) repeats what was last reported"
                    );
                    ensure!(reserved >= 0 && margin >= 0, "AccountRisk {account}: negative ({reserved}, {margin})");
                }
                Event::BookLevel { token, side, price, qty, orders } => {
                    ensure!(
                        qty >= 0 && (qty == 0) == (orders == 0),
                        "BookLevel {token} {side:?} {price}: {qty}/{orders}"
                    );
                    if orders == 0 {
                        self.levels.remove(&(token, side, price));
                    } else {
                        self.levels.insert((token, side, price), (qty, orders));
                    }
                }
            }
            i += 1;
        }
        Ok(())
    }

    /// `AccountRisk` comes after every other event of the command, at most once per account, for
    /// accounts in the order they first appear as the account of an `Accepted`, `Modified`,
    /// `Cancelled` or `HoldingsChanged{MisConversion}` or as the buyer then the seller of a
    /// `Trade` (docs: "Blocked cash"). That each one differs from what was reported before is
    /// checked per event, and that none is missing by `check` (the views against the reports).
    fn check_risk_events(&self, events: &[Event]) -> Result<(), String> {
        let first = events.iter().position(|e| matches!(e, Event::AccountRisk { .. })).unwrap_or(events.len());
        let (body, tail) = events.split_at(first);
        ensure!(
            tail.iter().all(|e| matches!(e, Event::AccountRisk { .. })),
            "AccountRisk is not after every other event: {events:?}"
        );
        ensure!(self.risk || tail.is_empty(), "AccountRisk with risk off: {tail:?}");
        let mut order: Vec<AccountId> = Vec::new();
        let mut seen = |account: AccountId| {
            if !order.contains(&account) {
                order.push(account);
            }
        };
        for e in body {
            match *e {
                Event::Accepted(a) => seen(a.account),
                Event::Modified { account, .. } | Event::Cancelled { account, .. } => seen(account),
                Event::Trade(t) => {
                    seen(t.buy_account);
                    seen(t.sell_account);
                }
                Event::HoldingsChanged { account, reason: HoldingsReason::MisConversion, .. } => seen(account),
                _ => {}
            }
        }
        let mut next = 0;
        for e in tail {
            let Event::AccountRisk { account, .. } = *e else { unreachable!("checked above") };
            match order[next..].iter().position(|&a| a == account) {
                Some(k) => next += k + 1,
                None => {
                    return Err(format!(
                        "AccountRisk of {account} out of order or for an account the command did not touch \
                         (touched, in order: {order:?}): {tail:?}"
                    ))
                }
            }
        }
        Ok(())
    }

    /// What an accepted command must have emitted, beyond per-event rules.
    fn expect_effect(&self, cmd: &Command, events: &[Event]) -> Result<(), String> {
        let has = |f: &dyn Fn(&Event) -> bool| events.iter().any(f);
        match *cmd {
            Command::Place(o) => {
                ensure!(
                    has(&|e| matches!(e, Event::Accepted(a) if a.client_ref == o.client_ref)),
                    "no Accepted for {o:?}"
                )
            }
            Command::Modify(m) => {
                ensure!(
                    matches!(events.first(), Some(Event::Modified { order_id, .. }) if *order_id == m.order_id),
                    "modify not answered by Modified first: {events:?}"
                )
            }
            Command::Cancel { order_id, .. } => ensure!(
                matches!(events.first(), Some(Event::Cancelled { order_id: id, reason: CancelReason::User, .. }) if *id == order_id),
                "cancel not answered by Cancelled{{User}}: {events:?}"
            ),
            Command::Deposit { account, amount, .. } | Command::Withdraw { account, amount, .. } if self.risk => {
                let sign = if matches!(cmd, Command::Deposit { .. }) { 1 } else { -1 };
                ensure!(
                    matches!(events, [Event::BalanceChanged { account: a, delta, .. }] if *a == account && *delta == sign * amount),
                    "{cmd:?} emitted {events:?}"
                )
            }
            _ => {}
        }
        Ok(())
    }
}
