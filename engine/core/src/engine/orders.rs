//! Place, modify, cancel, mass cancel and MIS square-off.

use super::risk;
use super::state::{touch, Instrument, Order, Place};
use super::{reject, Engine};
use crate::book::Book;
use crate::command::{CommandKind as K, ModifyOrder, NewOrder};
use crate::event::{Accepted, BalanceReason, CancelReason, Event, EventSink, HoldingsReason, RejectReason as R};
use crate::types::{
    AccountId, AccountStatus, InstrumentStatus, OrderId, OrderType, Price, Product, Qty, Side, Token, Validity,
};

impl<B: Book> Engine<B> {
    pub(super) fn place(&mut self, cmd: &NewOrder, out: &mut impl EventSink) {
        match self.check_place(cmd) {
            Err(reason) => reject(out, K::Place, reason, cmd.client_ref, cmd.account, 0),
            Ok((index, reserve_per_share)) => {
                let slot = self.accept(cmd, index, reserve_per_share, out);
                if cmd.order_type.is_stop() {
                    self.park_stop(slot);
                } else {
                    self.run_taker(slot, out);
                    self.process_stops(index, out);
                }
            }
        }
    }

    /// Every check of docs/engine-semantics.md "Place", in order. Returns the instrument index
    /// and the reservation per share.
    fn check_place(&self, cmd: &NewOrder) -> Result<(u32, i64), R> {
        let account = self.account_checked(cmd.account)?;
        let index = self.instrument_index(cmd.token).ok_or(R::UnknownInstrument)?;
        let ins = &self.instruments[index as usize];
        if account.status != AccountStatus::Active {
            return Err(R::AccountNotActive);
        }
        if !self.session_open {
            return Err(R::SessionClosed);
        }
        if ins.status == InstrumentStatus::Halted {
            return Err(R::InstrumentHalted);
        }
        check_qty(ins, cmd.qty)?;
        if cmd.disclosed < 0 || cmd.disclosed > cmd.qty || cmd.disclosed % ins.lot != 0 {
            return Err(R::InvalidDisclosedQuantity);
        }
        let market = matches!(cmd.order_type, OrderType::Market | OrderType::StopMarket);
        let immediate = matches!(cmd.validity, Validity::Ioc | Validity::Fok);
        if cmd.disclosed > 0 && (market || immediate) {
            return Err(R::InvalidOrderCombination);
        }
        if cmd.post_only && (cmd.order_type != OrderType::Limit || immediate) {
            return Err(R::InvalidOrderCombination);
        }
        check_price(ins, cmd.order_type, cmd.price)?;
        check_trigger(ins, cmd.side, cmd.order_type, cmd.price, cmd.trigger)?;
        if cmd.post_only && self.would_cross(ins, cmd.side, cmd.price) {
            return Err(R::PostOnlyWouldCross);
        }
        let mut reserve_per_share = 0;
        if self.limits.risk_enabled {
            let rp = risk::reserve_price(cmd.side, cmd.order_type, cmd.product, cmd.price, ins.band_high);
            let leverage = self.leverage(cmd.account, ins);
            reserve_per_share = risk::reserve_per_share(&self.fees, cmd.side, cmd.product, rp, ins.reference, leverage);
            self.check_exposure(cmd.account, index, cmd.side, cmd.product, cmd.qty, rp, cmd.qty, reserve_per_share)?;
        }
        if self.order_free.is_empty() {
            return Err(R::OrderTableFull);
        }
        Ok((index, reserve_per_share))
    }

    /// Risk checks 12-17 for an order of total `qty` whose open quantity grows by `added`
    /// and whose reservation grows by `added_cash`... expressed through `reserve_per_share`.
    #[allow(clippy::too_many_arguments)]
    fn check_exposure(
        &self,
        account: AccountId,
        index: u32,
        side: Side,
        product: Product,
        qty: Qty,
        rp: Price,
        added: Qty,
        reserve_per_share: i64,
    ) -> Result<(), R> {
        self.check_exposure_delta(
            account,
            index,
            side,
            product,
            qty,
            rp,
            added,
            added as i128 * reserve_per_share as i128,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn check_exposure_delta(
        &self,
        account: AccountId,
        index: u32,
        side: Side,
        product: Product,
        qty: Qty,
        rp: Price,
        added: Qty,
        added_cash: i128,
    ) -> Result<(), R> {
        let a = &self.accounts[account as usize];
        let value = risk::notional(qty, rp).ok_or(R::ValueOverflow)?;
        if a.limits.order_value_max > 0 && value > a.limits.order_value_max {
            return Err(R::OrderValueLimitExceeded);
        }
        if a.limits.open_orders_max > 0 && added == qty && a.open_orders >= a.limits.open_orders_max {
            return Err(R::OpenOrdersLimitExceeded);
        }
        let position = self
            .position_index
            .get(super::state::Position::key(account, index))
            .map(|slot| self.positions[slot as usize]);
        let (net, open_buy, open_sell, free_holdings) = position
            .map(|p| (p.holdings + p.mis_qty, p.open_buy, p.open_sell, p.holdings - p.holdings_reserved))
            .unwrap_or((0, 0, 0, 0));
        if a.limits.position_max > 0 && added > 0 {
            let worst = match side {
                Side::Buy => net as i128 + open_buy as i128 + added as i128,
                Side::Sell => -(net as i128 - open_sell as i128 - added as i128),
            };
            if worst > a.limits.position_max as i128 {
                return Err(R::PositionLimitExceeded);
            }
        }
        if position.is_none() && !self.position_available(account, index) {
            return Err(R::PositionTableFull);
        }
        if product == Product::Cnc && side == Side::Sell && added > free_holdings {
            return Err(R::InsufficientHoldings);
        }
        if added_cash > 0 && added_cash > a.available() as i128 {
            return Err(R::InsufficientFunds);
        }
        Ok(())
    }

    /// Takes an order slot, books the reservations and emits `Accepted`.
    fn accept(&mut self, cmd: &NewOrder, index: u32, reserve_per_share: i64, out: &mut impl EventSink) -> u32 {
        let slot = self.order_free.pop().expect("checked: a free order slot");
        let order_id = self.next_order_id;
        self.next_order_id += 1;
        let mut position = u32::MAX;
        if self.limits.risk_enabled {
            position = self.position_slot(cmd.account, index).expect("checked: a position slot");
            let p = &mut self.positions[position as usize];
            match cmd.side {
                Side::Buy => p.open_buy += cmd.qty,
                Side::Sell => p.open_sell += cmd.qty,
            }
            if cmd.product == Product::Cnc && cmd.side == Side::Sell {
                p.holdings_reserved += cmd.qty;
            }
            let a = &mut self.accounts[cmd.account as usize];
            touch(&mut self.touched, a, cmd.account);
            a.reserved += cmd.qty * reserve_per_share;
            a.open_orders += 1;
        }
        self.orders[slot as usize] = Order {
            id: order_id,
            client_ref: cmd.client_ref,
            account: cmd.account,
            instrument: index,
            position,
            side: cmd.side,
            order_type: cmd.order_type,
            validity: cmd.validity,
            product: cmd.product,
            post_only: cmd.post_only,
            triggered: !cmd.order_type.is_stop(),
            place: Place::Working,
            price: cmd.price,
            trigger: cmd.trigger,
            qty: cmd.qty,
            filled: 0,
            visible: 0,
            disclosed: cmd.disclosed,
            reserve_per_share,
        };
        self.order_index.insert(order_id, slot);
        out.emit(Event::Accepted(Accepted {
            order_id,
            client_ref: cmd.client_ref,
            account: cmd.account,
            token: cmd.token,
            side: cmd.side,
            order_type: cmd.order_type,
            validity: cmd.validity,
            product: cmd.product,
            price: cmd.price,
            trigger: cmd.trigger,
            qty: cmd.qty,
            disclosed: cmd.disclosed,
            post_only: cmd.post_only,
        }));
        slot
    }

    /// Puts an untriggered stop at the back of its trigger level.
    pub(super) fn park_stop(&mut self, slot: u32) {
        let o = &mut self.orders[slot as usize];
        o.place = Place::Stop;
        let ins = &mut self.instruments[o.instrument as usize];
        let level = ins.level_of(o.trigger);
        ins.stops.push_back(&mut self.links, o.side.opposite(), level, slot, o.remaining());
    }

    pub(super) fn modify(&mut self, cmd: &ModifyOrder, out: &mut impl EventSink) {
        let (slot, reserve_per_share) = match self.check_modify(cmd) {
            Ok(checked) => checked,
            Err(reason) => return reject(out, K::Modify, reason, cmd.client_ref, cmd.account, cmd.order_id),
        };
        let o = self.orders[slot as usize];
        let index = o.instrument;
        let trigger = if cmd.trigger == 0 { o.trigger } else { cmd.trigger };
        let priority_kept = cmd.price == o.price && cmd.qty <= o.qty && trigger == o.trigger;
        let remaining = cmd.qty - o.filled;
        let delta = remaining - o.remaining();
        if self.limits.risk_enabled {
            let a = &mut self.accounts[o.account as usize];
            touch(&mut self.touched, a, o.account);
            a.reserved += remaining * reserve_per_share - o.remaining() * o.reserve_per_share;
            let p = &mut self.positions[o.position as usize];
            match o.side {
                Side::Buy => p.open_buy += delta,
                Side::Sell => p.open_sell += delta,
            }
            if o.product == Product::Cnc && o.side == Side::Sell {
                p.holdings_reserved += delta;
            }
        }
        let ins = &mut self.instruments[index as usize];
        let token = ins.token;
        {
            let order = &mut self.orders[slot as usize];
            order.reserve_per_share = reserve_per_share;
            out.emit(Event::Modified {
                order_id: o.id,
                client_ref: cmd.client_ref,
                account: o.account,
                price: cmd.price,
                qty: cmd.qty,
                trigger,
                remaining,
                priority_kept,
            });
        }
        match o.place {
            Place::Stop => {
                let old_level = ins.level_of(o.trigger);
                let order = &mut self.orders[slot as usize];
                order.price = cmd.price;
                order.qty = cmd.qty;
                order.trigger = trigger;
                if priority_kept {
                    ins.stops.adjust_qty(o.side.opposite(), old_level, delta);
                } else {
                    ins.stops.remove(&mut self.links, o.side.opposite(), old_level, slot, o.remaining());
                    let new_level = ins.level_of(trigger);
                    ins.stops.push_back(&mut self.links, o.side.opposite(), new_level, slot, remaining);
                }
            }
            _ => {
                let level = ins.level_of(o.price);
                if priority_kept {
                    let visible = o.visible.min(remaining);
                    ins.book.adjust_qty(o.side, level, visible - o.visible);
                    let order = &mut self.orders[slot as usize];
                    order.qty = cmd.qty;
                    order.visible = visible;
                    emit_level(ins, o.side, level, out);
                } else if cmd.price == o.price {
                    ins.book.remove(&mut self.links, o.side, level, slot, o.visible);
                    let order = &mut self.orders[slot as usize];
                    order.qty = cmd.qty;
                    order.visible = order.display_qty();
                    let visible = order.visible;
                    ins.book.push_back(&mut self.links, o.side, level, slot, visible);
                    emit_level(ins, o.side, level, out);
                } else {
                    ins.book.remove(&mut self.links, o.side, level, slot, o.visible);
                    emit_level(ins, o.side, level, out);
                    let order = &mut self.orders[slot as usize];
                    order.qty = cmd.qty;
                    order.price = cmd.price;
                    order.visible = 0;
                    order.place = Place::Working;
                    let _ = token;
                    self.run_taker(slot, out);
                    self.process_stops(index, out);
                }
            }
        }
    }

    /// The modify checks; returns the order's slot and its reservation per share at the new price.
    fn check_modify(&self, cmd: &ModifyOrder) -> Result<(u32, i64), R> {
        let slot = self.order_index.get(cmd.order_id).ok_or(R::UnknownOrder)?;
        let o = &self.orders[slot as usize];
        if o.account != cmd.account {
            return Err(R::NotOrderOwner);
        }
        let ins = &self.instruments[o.instrument as usize];
        if !self.session_open {
            return Err(R::SessionClosed);
        }
        if ins.status == InstrumentStatus::Halted {
            return Err(R::InstrumentHalted);
        }
        check_qty(ins, cmd.qty)?;
        if cmd.qty <= o.filled {
            return Err(R::InvalidModify);
        }
        if o.disclosed > cmd.qty - o.filled {
            return Err(R::InvalidDisclosedQuantity);
        }
        check_price(ins, o.order_type, cmd.price)?;
        let trigger = if o.place == Place::Stop {
            check_trigger(ins, o.side, o.order_type, cmd.price, cmd.trigger)?;
            cmd.trigger
        } else if cmd.trigger == 0 || cmd.trigger == o.trigger {
            o.trigger
        } else {
            return Err(R::InvalidModify);
        };
        if cmd.price == o.price && cmd.qty == o.qty && trigger == o.trigger {
            return Err(R::NothingToModify);
        }
        if o.post_only && cmd.price != o.price && self.would_cross(ins, o.side, cmd.price) {
            return Err(R::PostOnlyWouldCross);
        }
        if !self.limits.risk_enabled {
            return Ok((slot, o.reserve_per_share));
        }
        let rp = risk::reserve_price(o.side, o.order_type, o.product, cmd.price, ins.band_high);
        let rps =
            risk::reserve_per_share(&self.fees, o.side, o.product, rp, ins.reference, self.leverage(o.account, ins));
        let remaining = cmd.qty - o.filled;
        let added_cash = remaining as i128 * rps as i128 - o.remaining() as i128 * o.reserve_per_share as i128;
        let added = remaining - o.remaining();
        self.check_exposure_delta(o.account, o.instrument, o.side, o.product, cmd.qty, rp, added, added_cash)?;
        Ok((slot, rps))
    }

    pub(super) fn cancel(&mut self, client_ref: u64, account: AccountId, order_id: OrderId, out: &mut impl EventSink) {
        let Some(slot) = self.order_index.get(order_id) else {
            return reject(out, K::Cancel, R::UnknownOrder, client_ref, account, order_id);
        };
        if self.orders[slot as usize].account != account {
            return reject(out, K::Cancel, R::NotOrderOwner, client_ref, account, order_id);
        }
        self.cancel_open(slot, CancelReason::User, out);
    }

    pub(super) fn mass_cancel_account(&mut self, account: AccountId, out: &mut impl EventSink) {
        if let Err(reason) = self.account_checked(account) {
            return reject(out, K::MassCancelAccount, reason, 0, account, 0);
        }
        self.cancel_account_orders(account, CancelReason::MassCancel, out);
    }

    pub(super) fn mass_cancel_instrument(&mut self, token: Token, out: &mut impl EventSink) {
        let Some(index) = self.instrument_index(token) else {
            return reject(out, K::MassCancelInstrument, R::UnknownInstrument, 0, 0, 0);
        };
        self.cancel_instrument_orders(index, CancelReason::MassCancel, out, |_| true);
    }

    /// Cancels an account's open orders in arena order.
    pub(super) fn cancel_account_orders(&mut self, account: AccountId, reason: CancelReason, out: &mut impl EventSink) {
        for slot in 0..self.orders.len() as u32 {
            let o = &self.orders[slot as usize];
            if o.account == account && matches!(o.place, Place::Book | Place::Stop) {
                self.cancel_open(slot, reason, out);
            }
        }
    }

    /// Cancels the instrument's open orders that pass `filter`: bids best to worst, asks, buy
    /// stops, sell stops; each level front to back.
    pub(super) fn cancel_instrument_orders(
        &mut self,
        index: u32,
        reason: CancelReason,
        out: &mut impl EventSink,
        filter: impl Fn(&Order) -> bool,
    ) {
        let mut scratch = core::mem::take(&mut self.scratch);
        scratch.clear();
        let ins = &self.instruments[index as usize];
        for (stops, side) in [(false, Side::Buy), (false, Side::Sell), (true, Side::Sell), (true, Side::Buy)] {
            let book = if stops { &ins.stops } else { &ins.book };
            let mut level = book.best(side);
            while let Some(lv) = level {
                book.visit_level(&self.links, side, lv, |slot| {
                    if filter(&self.orders[slot as usize]) {
                        scratch.push(slot);
                    }
                    true
                });
                level = book.next_level(side, lv);
            }
        }
        for &slot in &scratch {
            self.cancel_open(slot, reason, out);
        }
        scratch.clear();
        self.scratch = scratch;
    }

    /// Removes an open order from its book, emits `Cancelled` (then `BookLevel` if it was in the
    /// book) and releases what it held.
    pub(super) fn cancel_open(&mut self, slot: u32, reason: CancelReason, out: &mut impl EventSink) {
        let o = self.orders[slot as usize];
        let ins = &mut self.instruments[o.instrument as usize];
        let cancelled =
            Event::Cancelled { order_id: o.id, account: o.account, token: ins.token, remaining: o.remaining(), reason };
        match o.place {
            Place::Book => {
                let level = ins.level_of(o.price);
                ins.book.remove(&mut self.links, o.side, level, slot, o.visible);
                out.emit(cancelled);
                emit_level(ins, o.side, level, out);
            }
            Place::Stop => {
                let level = ins.level_of(o.trigger);
                ins.stops.remove(&mut self.links, o.side.opposite(), level, slot, o.remaining());
                out.emit(cancelled);
            }
            Place::Working => out.emit(cancelled),
            Place::Free => return,
        }
        self.retire(slot);
    }

    pub(super) fn square_off(&mut self, token: Token, out: &mut impl EventSink) {
        let Some(index) = self.instrument_index(token) else {
            return reject(out, K::SquareOffMis, R::UnknownInstrument, 0, 0, 0);
        };
        if !self.session_open {
            return reject(out, K::SquareOffMis, R::SessionClosed, 0, 0, 0);
        }
        self.cancel_instrument_orders(index, CancelReason::SquareOff, out, |o| o.product == Product::Mis);
        for pslot in 0..self.positions.len() as u32 {
            let p = self.positions[pslot as usize];
            if !p.live || p.instrument != index || p.mis_qty == 0 {
                continue;
            }
            if !self.order_free.is_empty() {
                let cmd = NewOrder {
                    client_ref: 0,
                    account: p.account,
                    token,
                    side: if p.mis_qty > 0 { Side::Sell } else { Side::Buy },
                    order_type: OrderType::Market,
                    validity: Validity::Ioc,
                    product: Product::Mis,
                    price: 0,
                    trigger: 0,
                    qty: p.mis_qty.abs(),
                    disclosed: 0,
                    post_only: false,
                };
                let slot = self.accept(&cmd, index, 0, out);
                self.run_taker(slot, out);
            }
            self.convert_to_delivery(pslot, out);
        }
        self.process_stops(index, out);
    }

    /// Turns what is left of an MIS position into delivery holdings.
    fn convert_to_delivery(&mut self, pslot: u32, out: &mut impl EventSink) {
        let p = self.positions[pslot as usize];
        if !p.live || p.mis_qty == 0 {
            return;
        }
        let token = self.instruments[p.instrument as usize].token;
        let pos = &mut self.positions[pslot as usize];
        pos.holdings += p.mis_qty;
        pos.mis_qty = 0;
        pos.mis_value = 0;
        pos.mis_margin = 0;
        let holdings = pos.holdings;
        let a = &mut self.accounts[p.account as usize];
        touch(&mut self.touched, a, p.account);
        a.margin -= p.mis_margin;
        a.cash += p.mis_value;
        let cash = a.cash;
        out.emit(Event::HoldingsChanged {
            account: p.account,
            token,
            delta: p.mis_qty,
            holdings,
            reason: HoldingsReason::MisConversion,
        });
        if p.mis_value != 0 {
            out.emit(Event::BalanceChanged {
                account: p.account,
                delta: p.mis_value,
                cash,
                reason: BalanceReason::MisConversion,
                client_ref: 0,
            });
        }
        self.release_position_if_empty(pslot);
    }

    /// Whether a limit order at `price` on `side` would trade against the opposite best.
    fn would_cross(&self, ins: &Instrument<B>, side: Side, price: Price) -> bool {
        let level = ins.level_of(price);
        match ins.book.best(side.opposite()) {
            None => false,
            Some(best) => match side {
                Side::Buy => best <= level,
                Side::Sell => best >= level,
            },
        }
    }

    pub(super) fn leverage(&self, account: AccountId, ins: &Instrument<B>) -> u32 {
        let own = self.accounts[account as usize].limits.mis_leverage;
        if own > 0 {
            own
        } else {
            ins.mis_leverage
        }
    }
}

pub(super) fn emit_level<B: Book>(ins: &Instrument<B>, side: Side, level: u32, out: &mut impl EventSink) {
    let state = ins.book.level(side, level);
    out.emit(Event::BookLevel {
        token: ins.token,
        side,
        price: ins.price_of(level),
        qty: state.qty,
        orders: state.orders,
    });
}

fn check_qty<B>(ins: &Instrument<B>, qty: Qty) -> Result<(), R> {
    if qty <= 0 {
        return Err(R::InvalidQuantity);
    }
    if qty % ins.lot != 0 {
        return Err(R::LotSizeViolation);
    }
    Ok(())
}

fn check_price<B>(ins: &Instrument<B>, order_type: OrderType, price: Price) -> Result<(), R> {
    if order_type.has_limit_price() {
        if price <= 0 {
            return Err(R::InvalidPrice);
        }
        if !ins.on_grid(price) {
            return Err(R::TickSizeViolation);
        }
        if !ins.in_band(price) {
            return Err(R::PriceOutOfBand);
        }
    } else if price != 0 {
        return Err(R::InvalidPrice);
    }
    Ok(())
}

fn check_trigger<B>(
    ins: &Instrument<B>,
    side: Side,
    order_type: OrderType,
    price: Price,
    trigger: Price,
) -> Result<(), R> {
    if !order_type.is_stop() {
        return if trigger == 0 { Ok(()) } else { Err(R::InvalidTrigger) };
    }
    if trigger <= 0 {
        return Err(R::InvalidTrigger);
    }
    if !ins.on_grid(trigger) {
        return Err(R::TickSizeViolation);
    }
    if !ins.in_band(trigger) {
        return Err(R::PriceOutOfBand);
    }
    if order_type == OrderType::StopLimit {
        let consistent = match side {
            Side::Buy => trigger <= price,
            Side::Sell => trigger >= price,
        };
        if !consistent {
            return Err(R::InvalidTrigger);
        }
    }
    let hit = match side {
        Side::Buy => trigger <= ins.last_price,
        Side::Sell => trigger >= ins.last_price,
    };
    if hit {
        return Err(R::TriggerAlreadyHit);
    }
    Ok(())
}
