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
    AccountId, AccountStatus, BalanceReason, Book, CancelReason, Command, CommandKind, Engine, Event, FeeSchedule,
    HoldingsReason, InstrumentSpec, InstrumentStatus, LevelView, Limits, OrderId, OrderType, OrderView, Price, Product,
    Qty, RejectReason, Side, Token, Validity,
};

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

/// Counts of what a run exercised.
#[derive(Clone, Debug, Default)]
pub struct Coverage {
    pub commands: BTreeMap<CommandKind, u64>,
    pub events: BTreeMap<&'static str, u64>,
    pub rejects: BTreeMap<RejectReason, u64>,
    pub cancels: BTreeMap<CancelReason, u64>,
    pub balances: BTreeMap<BalanceReason, u64>,
    pub holdings: BTreeMap<HoldingsReason, u64>,
    pub accepted: BTreeMap<(OrderType, Validity, Product), u64>,
    pub disclosed_accepted: u64,
    pub post_only_accepted: u64,
    pub self_trade_cancels: u64,
    pub iceberg_trades: u64,
    pub commands_total: u64,
    /// Peaks of open orders and positions.
    pub open_orders_peak: usize,
    pub positions_peak: usize,
}

pub fn event_name(e: &Event) -> &'static str {
    match e {
        Event::InstrumentAdded { .. } => "InstrumentAdded",
        Event::SessionOpened => "SessionOpened",
        Event::SessionClosed => "SessionClosed",
        Event::InstrumentStatusChanged { .. } => "InstrumentStatusChanged",
        Event::AccountCreated { .. } => "AccountCreated",
        Event::AccountLimitsSet { .. } => "AccountLimitsSet",
        Event::AccountStatusChanged { .. } => "AccountStatusChanged",
        Event::FeeScheduleSet(_) => "FeeScheduleSet",
        Event::Rejected { .. } => "Rejected",
        Event::Accepted(_) => "Accepted",
        Event::Triggered { .. } => "Triggered",
        Event::Trade(_) => "Trade",
        Event::Modified { .. } => "Modified",
        Event::Cancelled { .. } => "Cancelled",
        Event::BalanceChanged { .. } => "BalanceChanged",
        Event::HoldingsChanged { .. } => "HoldingsChanged",
        Event::BookLevel { .. } => "BookLevel",
    }
}

impl Coverage {
    pub fn merge(&mut self, other: &Coverage) {
        fn add<K: Ord + Copy>(a: &mut BTreeMap<K, u64>, b: &BTreeMap<K, u64>) {
            for (k, v) in b {
                *a.entry(*k).or_default() += v;
            }
        }
        add(&mut self.commands, &other.commands);
        add(&mut self.events, &other.events);
        add(&mut self.rejects, &other.rejects);
        add(&mut self.cancels, &other.cancels);
        add(&mut self.balances, &other.balances);
        add(&mut self.holdings, &other.holdings);
        add(&mut self.accepted, &other.accepted);
        self.disclosed_accepted += other.disclosed_accepted;
        self.post_only_accepted += other.post_only_accepted;
        self.self_trade_cancels += other.self_trade_cancels;
        self.iceberg_trades += other.iceberg_trades;
        self.commands_total += other.commands_total;
        self.open_orders_peak = self.open_orders_peak.max(other.open_orders_peak);
        self.positions_peak = self.positions_peak.max(other.positions_peak);
    }

    pub fn summary(&self) -> String {
        let mut s = format!("coverage over {} commands\n", self.commands_total);
        s += &format!("  commands: {:?}\n", self.commands);
        s += &format!("  events:   {:?}\n", self.events);
        s += &format!("  rejects ({} distinct): {:?}\n", self.rejects.len(), self.rejects);
        s += &format!("  cancels:  {:?}\n", self.cancels);
        s += &format!("  balances: {:?}\n", self.balances);
        s += &format!("  holdings: {:?}\n", self.holdings);
        s += &format!("  accepted (type, validity, product): {} combinations\n", self.accepted.len());
        s += &format!(
            "  accepted with disclosed qty: {}, post-only: {}, iceberg trades: {}\n",
            self.disclosed_accepted, self.post_only_accepted, self.iceberg_trades
        );
        s += &format!("  peak open orders: {}, peak positions: {}\n", self.open_orders_peak, self.positions_peak);
        s
    }
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

#[derive(Debug)]
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
                        _ => client_ref,
                    };
                    ensure!(client_ref == expected_ref, "rejection client_ref {client_ref} != {expected_ref}");
                }
                Event::InstrumentAdded { token, band_low, band_high } => {
                    let Command::AddInstrument(spec) = *cmd else {
                        return Err(format!("InstrumentAdded for {cmd:?}"));
                    };
                    ensure!(spec.token == token, "InstrumentAdded token {token} for {spec:?}");
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
                    self.insts.insert(token, InstInfo { spec, band_low, band_high });
                    self.ltp.insert(token, spec.reference_price);
                    self.shares_in.entry(token).or_default();
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
                Event::BalanceChanged { account, delta, cash, reason } => {
                    *self.coverage.balances.entry(reason).or_default() += 1;
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
            Command::Deposit { account, amount } | Command::Withdraw { account, amount } if self.risk => {
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

    fn on_trade(&mut self, cmd: &Command, events: &[Event], i: usize, t: &engine_core::Trade) -> Result<(), String> {
        ensure!(t.trade_id > self.last_trade_id, "trade id {} after {}", t.trade_id, self.last_trade_id);
        self.last_trade_id = t.trade_id;
        let info = *self.insts.get(&t.token).ok_or(format!("trade in unknown instrument {}", t.token))?;
        ensure!(t.qty > 0 && t.qty % info.spec.lot == 0, "trade qty {} (lot {})", t.qty, info.spec.lot);
        ensure!(
            t.price >= info.band_low && t.price <= info.band_high && t.price % info.spec.tick == 0,
            "trade price {} outside the band or the grid",
            t.price
        );
        ensure!(t.buy_account != t.sell_account, "self-trade: {t:?}");
        let buy = *self.orders.get(&t.buy_order).ok_or(format!("trade with unknown buy order: {t:?}"))?;
        let sell = *self.orders.get(&t.sell_order).ok_or(format!("trade with unknown sell order: {t:?}"))?;
        ensure!(
            buy.side == Side::Buy && sell.side == Side::Sell && buy.token == t.token && sell.token == t.token,
            "trade {t:?} between {buy:?} and {sell:?}"
        );
        ensure!(
            buy.account == t.buy_account
                && sell.account == t.sell_account
                && buy.product == t.buy_product
                && sell.product == t.sell_product,
            "trade {t:?} accounts or products differ from the orders"
        );
        ensure!(buy.triggered && sell.triggered, "trade with an untriggered stop: {t:?}");
        ensure!(
            t.buy_remaining == buy.remaining() - t.qty && t.sell_remaining == sell.remaining() - t.qty,
            "trade {t:?} remaining does not match the orders ({} and {} before)",
            buy.remaining(),
            sell.remaining()
        );
        let (maker, taker) = match t.aggressor {
            Side::Buy => (sell, buy),
            Side::Sell => (buy, sell),
        };
        ensure!(maker.order_type.has_limit_price() && maker.price == t.price, "trade {t:?} not at the maker's price");
        // The maker is the best resting order of its side: best price, then time (levels holding
        // an iceberg are skipped: refills move it back without an event).
        let maker_id = if t.aggressor == Side::Buy { t.sell_order } else { t.buy_order };
        let maker_side = t.aggressor.opposite();
        let resting =
            || self.orders.iter().filter(move |(_, o)| o.token == t.token && o.side == maker_side && o.triggered);
        let better = resting().find(|(_, o)| match maker_side {
            Side::Buy => o.price > t.price,
            Side::Sell => o.price < t.price,
        });
        ensure!(better.is_none(), "trade {t:?} at {} while {better:?} rests at a better price", t.price);
        let level = || resting().filter(|(_, o)| o.price == t.price);
        if level().all(|(_, o)| o.disclosed == 0) {
            let first = level().min_by_key(|(_, o)| o.prio).map(|(&id, _)| id);
            ensure!(first == Some(maker_id), "trade {t:?}: order {first:?} is ahead of the maker {maker_id} in time");
        }
        if taker.order_type.has_limit_price() {
            let crosses = match t.aggressor {
                Side::Buy => taker.price >= t.price,
                Side::Sell => taker.price <= t.price,
            };
            ensure!(crosses, "trade {t:?} beyond the taker's limit {}", taker.price);
        }
        if maker.disclosed > 0 {
            self.coverage.iceberg_trades += 1;
        }
        let notional = t.qty * t.price;
        let (buy_fee, sell_fee) =
            if self.risk { (fee_of(&self.fee, notional), fee_of(&self.fee, notional)) } else { (0, 0) };
        ensure!(
            (t.buy_fee, t.sell_fee) == (buy_fee, sell_fee),
            "trade fees ({}, {}), schedule {:?} gives {buy_fee} each",
            t.buy_fee,
            t.sell_fee,
            self.fee
        );
        // Expected settlement sequence (docs: Matching).
        let mut expected: Vec<Event> = Vec::new();
        if self.risk {
            let mut cash: BTreeMap<AccountId, i64> = BTreeMap::new();
            for account in [t.buy_account, t.sell_account, self.fee.fee_account] {
                cash.insert(account, self.cash.get(&account).copied().unwrap_or(0));
            }
            let sides =
                [(t.buy_account, t.buy_product, 1i64, t.buy_fee), (t.sell_account, t.sell_product, -1i64, t.sell_fee)];
            for (account, product, sign, fee) in sides {
                match product {
                    Product::Cnc => {
                        let h = self.holdings.get(&(account, t.token)).copied().unwrap_or(0) + sign * t.qty;
                        expected.push(Event::HoldingsChanged {
                            account,
                            token: t.token,
                            delta: sign * t.qty,
                            holdings: h,
                            reason: HoldingsReason::Trade,
                        });
                        let delta = -sign * notional - fee;
                        let c = cash.get_mut(&account).expect("cash");
                        *c += delta;
                        expected.push(Event::BalanceChanged {
                            account,
                            delta,
                            cash: *c,
                            reason: BalanceReason::TradeSettlement,
                        });
                    }
                    Product::Mis => {
                        self.mis_touched.insert(account);
                        let c = cash.get_mut(&account).expect("cash");
                        if fee != 0 {
                            *c -= fee;
                            expected.push(Event::BalanceChanged {
                                account,
                                delta: -fee,
                                cash: *c,
                                reason: BalanceReason::Fee,
                            });
                        }
                        let pos = self.mis.entry((account, t.token)).or_default();
                        pos.0 += sign * t.qty;
                        pos.1 -= sign * notional;
                        if pos.0 == 0 {
                            let value = pos.1;
                            pos.1 = 0;
                            if value != 0 {
                                *c += value;
                                expected.push(Event::BalanceChanged {
                                    account,
                                    delta: value,
                                    cash: *c,
                                    reason: BalanceReason::MisSettlement,
                                });
                            }
                        }
                        if *pos == (0, 0) {
                            self.mis.remove(&(account, t.token));
                        }
                    }
                }
            }
            let fees = t.buy_fee + t.sell_fee;
            if fees != 0 {
                let c = cash.get_mut(&self.fee.fee_account).expect("cash");
                *c += fees;
                expected.push(Event::BalanceChanged {
                    account: self.fee.fee_account,
                    delta: fees,
                    cash: *c,
                    reason: BalanceReason::Fee,
                });
            }
        }
        let got = events.get(i + 1..i + 1 + expected.len()).unwrap_or(&[]);
        ensure!(
            got == expected.as_slice(),
            "settlement of {t:?}:\n  expected {expected:?}\n  got      {got:?}\n  (command {cmd:?})"
        );
        let level = events.get(i + 1 + expected.len());
        let maker_side = t.aggressor.opposite();
        ensure!(
            matches!(level, Some(Event::BookLevel { token, side, price, .. })
                if *token == t.token && *side == maker_side && *price == t.price),
            "trade {t:?} not followed (after settlement) by the maker's BookLevel: {level:?}"
        );
        // Fills.
        for (id, remaining) in [(t.buy_order, t.buy_remaining), (t.sell_order, t.sell_remaining)] {
            if remaining == 0 {
                self.orders.remove(&id);
            } else {
                self.orders.get_mut(&id).expect("order").filled += t.qty;
            }
        }
        self.ltp.insert(t.token, t.price);
        Ok(())
    }

    /// Checks the engine's state against the shadows and against itself.
    pub fn check<B: Book>(&mut self, engine: &Engine<B>) -> Result<(), String> {
        let risk = self.risk;
        // Instruments.
        let insts: Vec<_> = engine.instruments().collect();
        ensure!(insts.len() == self.insts.len(), "{} instruments, events added {}", insts.len(), self.insts.len());
        ensure!(engine.session_open() == self.session_open, "session_open {}", engine.session_open());
        for inst in &insts {
            let info = self.insts.get(&inst.token).ok_or(format!("instrument {} never added", inst.token))?;
            ensure!(
                (inst.band_low, inst.band_high, inst.tick, inst.lot, inst.reference_price)
                    == (info.band_low, info.band_high, info.spec.tick, info.spec.lot, info.spec.reference_price),
                "instrument {inst:?} differs from its spec {info:?}"
            );
            ensure!(
                inst.last_price == self.ltp[&inst.token],
                "instrument {inst:?}: last trade was {}",
                self.ltp[&inst.token]
            );
        }
        let halted: BTreeSet<Token> =
            insts.iter().filter(|i| i.status == InstrumentStatus::Halted).map(|i| i.token).collect();

        // Orders against the shadow.
        let orders: Vec<OrderView> = engine.open_orders().collect();
        ensure!(
            orders.len() == self.orders.len(),
            "{} open orders, the events leave {} open",
            orders.len(),
            self.orders.len()
        );
        ensure!(orders.len() <= self.limits.orders_max as usize, "more open orders than orders_max");
        self.coverage.open_orders_peak = self.coverage.open_orders_peak.max(orders.len());
        let mut per_account: BTreeMap<AccountId, (i64, u32)> = BTreeMap::new();
        // (holdings_reserved, open_buy_qty, open_sell_qty) per position.
        let mut per_position: BTreeMap<(AccountId, Token), (Qty, Qty, Qty)> = BTreeMap::new();
        let mut per_level: BTreeMap<(Token, Side, Price), (Qty, u32)> = BTreeMap::new();
        let fee_bps = self.fee.bps as i64;
        let fee_ps = |p: i64| ceil_div(p * fee_bps, 10_000);
        for o in &orders {
            let s = self.orders.get(&o.order_id).ok_or(format!("open order {o:?} unknown to the events"))?;
            let view = (
                o.account,
                o.token,
                o.side,
                o.order_type,
                o.validity,
                o.product,
                o.price,
                o.trigger,
                o.qty,
                o.filled,
                (o.disclosed, o.post_only, o.triggered),
            );
            let shadow = (
                s.account,
                s.token,
                s.side,
                s.order_type,
                s.validity,
                s.product,
                s.price,
                s.trigger,
                s.qty,
                s.filled,
                (s.disclosed, s.post_only, s.triggered),
            );
            ensure!(view == shadow, "order {o:?} differs from what the events say: {s:?}");
            let remaining = o.remaining();
            ensure!(remaining > 0, "open order {o:?} with nothing remaining");
            ensure!(!halted.contains(&o.token), "open order {o:?} in a halted instrument");
            ensure!(
                self.session_open || o.validity != Validity::Day,
                "DAY order {o:?} open while the session is closed"
            );
            if o.triggered {
                ensure!(
                    o.order_type.has_limit_price() && matches!(o.validity, Validity::Day | Validity::Gtc),
                    "resting order {o:?} is not a DAY/GTC limit"
                );
                ensure!(o.visible > 0 && o.visible <= remaining, "resting order {o:?}: visible out of range");
                ensure!(o.disclosed == 0 || o.visible <= o.disclosed, "resting order {o:?}: visible above disclosed");
                let e = per_level.entry((o.token, o.side, o.price)).or_default();
                e.0 += o.visible;
                e.1 += 1;
            } else {
                ensure!(o.order_type.is_stop() && o.visible == 0, "untriggered order {o:?} shows quantity");
                let ltp = self.ltp[&o.token];
                let hit = match o.side {
                    Side::Buy => o.trigger <= ltp,
                    Side::Sell => o.trigger >= ltp,
                };
                ensure!(!hit, "stop {o:?} left untriggered at last price {ltp}");
            }
            if risk {
                ensure!(
                    o.reserved_cash == remaining * o.reserve_per_share,
                    "order {o:?}: reserved_cash != remaining * reserve_per_share"
                );
                let info = self.insts[&o.token];
                let acct = engine.account(o.account).ok_or(format!("order {o:?} of an unknown account"))?;
                let eligible = !s.modified
                    && s.fee_epoch == self.fee_epoch
                    && s.limits_epoch == self.limits_epoch.get(&o.account).copied().unwrap_or(0);
                if eligible {
                    let rp = match (o.side, o.product, o.order_type.has_limit_price()) {
                        (Side::Buy, _, true) => o.price,
                        (Side::Buy, _, false) | (Side::Sell, Product::Mis, _) => info.band_high,
                        (Side::Sell, Product::Cnc, _) => 0,
                    };
                    let lev =
                        if acct.limits.mis_leverage != 0 { acct.limits.mis_leverage } else { info.spec.mis_leverage };
                    let rps = match (o.side, o.product) {
                        (Side::Buy, Product::Cnc) => rp + fee_ps(rp),
                        (Side::Sell, Product::Cnc) => 0,
                        (_, Product::Mis) => ceil_div(rp.max(info.spec.reference_price), lev as i64) + fee_ps(rp),
                    };
                    ensure!(
                        o.reserve_per_share == rps,
                        "order {o:?}: reserve_per_share {} but the docs give {rps} (fee {:?}, leverage {lev})",
                        o.reserve_per_share,
                        self.fee
                    );
                }
                let a = per_account.entry(o.account).or_default();
                a.0 += o.reserved_cash;
                a.1 += 1;
                let p = per_position.entry((o.account, o.token)).or_default();
                if o.side == Side::Sell && o.product == Product::Cnc {
                    p.0 += remaining;
                }
                match o.side {
                    Side::Buy => p.1 += remaining,
                    Side::Sell => p.2 += remaining,
                }
            }
        }

        // Book depth against the orders and against the BookLevel events.
        for inst in &insts {
            let mut best = [None, None];
            for (k, side) in [Side::Buy, Side::Sell].into_iter().enumerate() {
                let n = engine.depth(inst.token, side, &mut self.depth_buf);
                let levels = &self.depth_buf[..n];
                best[k] = levels.first().map(|l| l.price);
                let expected: Vec<(Price, Qty, u32)> = {
                    let range = per_level.range((inst.token, side, Price::MIN)..=(inst.token, side, Price::MAX));
                    let mut v: Vec<_> = range.map(|(&(_, _, p), &(q, c))| (p, q, c)).collect();
                    if side == Side::Buy {
                        v.reverse();
                    }
                    v
                };
                let got: Vec<(Price, Qty, u32)> = levels.iter().map(|l| (l.price, l.qty, l.orders)).collect();
                ensure!(
                    got == expected,
                    "depth {} {side:?} {got:?}\n  but the open orders give {expected:?}",
                    inst.token
                );
                for &(price, qty, count) in &got {
                    let shadow = self.levels.get(&(inst.token, side, price)).copied();
                    ensure!(
                        shadow == Some((qty, count)),
                        "depth {} {side:?} {price}: {qty}/{count}, the last BookLevel said {shadow:?}",
                        inst.token
                    );
                }
                let shadow_count = self.levels.keys().filter(|(t, s, _)| *t == inst.token && *s == side).count();
                ensure!(
                    shadow_count == got.len(),
                    "BookLevel events leave {shadow_count} levels on {} {side:?}, depth has {}",
                    inst.token,
                    got.len()
                );
            }
            if let [Some(bid), Some(ask)] = best {
                ensure!(bid < ask, "crossed book in {}: bid {bid} >= ask {ask}", inst.token);
            }
        }

        // Accounts.
        let mut cash_total: i128 = 0;
        let mut margin_by_account: BTreeMap<AccountId, i64> = BTreeMap::new();
        let mut shares: BTreeMap<Token, i128> = BTreeMap::new();
        let positions: Vec<_> = engine.positions().collect();
        if risk {
            ensure!(positions.len() <= self.limits.positions_max as usize, "more positions than positions_max");
            self.coverage.positions_peak = self.coverage.positions_peak.max(positions.len());
            let mut seen: BTreeSet<(AccountId, Token)> = BTreeSet::new();
            for p in &positions {
                let key = (p.account, p.token);
                ensure!(seen.insert(key), "two positions for {key:?}");
                let (reserved, buy, sell) = per_position.remove(&key).unwrap_or_default();
                ensure!(
                    (p.holdings_reserved, p.open_buy_qty, p.open_sell_qty) == (reserved, buy, sell),
                    "position {p:?}: the open orders give holdings_reserved {reserved}, buys {buy}, sells {sell}"
                );
                ensure!(
                    p.holdings != 0
                        || p.holdings_reserved != 0
                        || p.mis_qty != 0
                        || p.mis_value != 0
                        || p.mis_margin != 0
                        || p.open_buy_qty != 0
                        || p.open_sell_qty != 0,
                    "position {p:?} is all zero but not freed"
                );
                let holdings = self.holdings.get(&key).copied().unwrap_or(0);
                ensure!(p.holdings == holdings, "position {p:?}: HoldingsChanged events give {holdings}");
                let mis = self.mis.get(&key).copied().unwrap_or_default();
                ensure!((p.mis_qty, p.mis_value) == mis, "position {p:?}: the trades give MIS (qty, value) {mis:?}");
                let info = self.insts[&p.token];
                if !self.margin_stale.contains(&p.account) {
                    let acct = engine.account(p.account).ok_or(format!("position {p:?} of an unknown account"))?;
                    let lev =
                        if acct.limits.mis_leverage != 0 { acct.limits.mis_leverage } else { info.spec.mis_leverage };
                    let margin = ceil_div(p.mis_qty.abs() * info.spec.reference_price, lev as i64);
                    ensure!(p.mis_margin == margin, "position {p:?}: mis_margin, docs give {margin} (leverage {lev})");
                }
                *margin_by_account.entry(p.account).or_default() += p.mis_margin;
                cash_total += p.mis_value as i128;
                *shares.entry(p.token).or_default() += (p.holdings + p.mis_qty) as i128;
            }
            ensure!(per_position.is_empty(), "open orders without a position: {per_position:?}");
            let with_mis: BTreeSet<AccountId> =
                positions.iter().filter(|p| p.mis_qty != 0).map(|p| p.account).collect();
            self.margin_stale.retain(|a| with_mis.contains(a));
            for (key, &h) in &self.holdings {
                ensure!(h == 0 || seen.contains(key), "holdings {h} of {key:?} but no position");
            }
        }
        let accounts: Vec<_> = engine.accounts().collect();
        ensure!(accounts.len() == self.cash.len(), "{} accounts, events created {}", accounts.len(), self.cash.len());
        ensure!(accounts.windows(2).all(|w| w[0].id < w[1].id), "accounts() not ascending");
        for a in &accounts {
            let status = self.status.get(&a.id).copied();
            ensure!(status == Some(a.status), "account {a:?}: the events say status {status:?}");
            if !risk {
                continue;
            }
            ensure!(
                a.available == a.cash - a.reserved - a.margin,
                "account {a:?}: available != cash - reserved - margin"
            );
            let shadow = self.cash.get(&a.id).copied().unwrap_or(0);
            ensure!(a.cash == shadow, "account {a:?}: BalanceChanged events give cash {shadow}");
            let (reserved, count) = per_account.remove(&a.id).unwrap_or_default();
            ensure!(
                a.reserved == reserved && a.open_orders == count,
                "account {a:?}: its open orders reserve {reserved} in {count} orders"
            );
            let margin = margin_by_account.remove(&a.id).unwrap_or(0);
            ensure!(a.margin == margin, "account {a:?}: its positions' mis_margin add up to {margin}");
            ensure!(a.status == AccountStatus::Active || count == 0, "account {a:?} is not active but has open orders");
            if !self.mis_touched.contains(&a.id) && !self.funds_exempt.contains(&a.id) {
                ensure!(a.cash >= 0 && a.available >= 0, "account {a:?} (never traded MIS) went below zero");
            }
            cash_total += a.cash as i128;
        }
        if risk {
            ensure!(per_account.is_empty(), "open orders of unknown accounts: {per_account:?}");
            ensure!(margin_by_account.is_empty(), "positions of unknown accounts: {margin_by_account:?}");
            ensure!(
                cash_total == self.cash_in,
                "cash not conserved: sum of cash + mis_value = {cash_total}, deposits - withdrawals = {}",
                self.cash_in
            );
            for (token, &shares_in) in &self.shares_in {
                let held = shares.get(token).copied().unwrap_or(0);
                ensure!(
                    held == shares_in,
                    "shares of {token} not conserved: holdings + mis_qty = {held}, deposited - withdrawn = {shares_in}"
                );
            }
        }
        Ok(())
    }
}
