//! The taker loop, settlement of fills, stop triggers and order retirement.

use super::orders::emit_level;
use super::risk;
use super::state::{touch, Place};
use super::Engine;
use crate::book::Book;
use crate::event::{BalanceReason, CancelReason, Event, EventSink, HoldingsReason, Trade};
use crate::types::{Product, Qty, Side, Validity};

impl<B: Book> Engine<B> {
    /// Matches the order in `slot` against the opposite side, then rests or cancels what is left.
    pub(super) fn run_taker(&mut self, slot: u32, out: &mut impl EventSink) {
        let taker = self.orders[slot as usize];
        let index = taker.instrument;
        let opposite = taker.side.opposite();
        let limit = if taker.is_market() { None } else { Some(self.instruments[index as usize].level_of(taker.price)) };
        if taker.validity == Validity::Fok && self.fillable(slot, limit) < taker.remaining() {
            return self.cancel_open(slot, CancelReason::FokUnfilled, out);
        }
        loop {
            let remaining = self.orders[slot as usize].remaining();
            if remaining == 0 {
                break;
            }
            let ins = &self.instruments[index as usize];
            let Some(level) = ins.book.best(opposite) else { break };
            if let Some(limit) = limit {
                let crosses = match taker.side {
                    Side::Buy => level <= limit,
                    Side::Sell => level >= limit,
                };
                if !crosses {
                    break;
                }
            }
            let maker = ins.book.front(&self.links, opposite, level).expect("a non-empty best level");
            if self.orders[maker as usize].account == taker.account {
                self.cancel_open(maker, CancelReason::SelfTrade, out);
                continue;
            }
            let qty = remaining.min(self.orders[maker as usize].visible);
            self.fill(slot, maker, level, qty, out);
        }
        let o = &mut self.orders[slot as usize];
        if o.remaining() == 0 {
            return self.retire(slot);
        }
        let reason = match (o.validity, o.is_market()) {
            (Validity::Ioc, _) => CancelReason::IocRemainder,
            (Validity::Fok, _) => CancelReason::FokUnfilled,
            (_, true) => CancelReason::MarketRemainder,
            (_, false) => {
                o.place = Place::Book;
                o.visible = o.display_qty();
                let (side, visible) = (o.side, o.visible);
                let ins = &mut self.instruments[index as usize];
                let level = ins.level_of(o.price);
                ins.book.push_back(&mut self.links, side, level, slot, visible);
                return emit_level(ins, side, level, out);
            }
        };
        self.cancel_open(slot, reason, out);
    }

    /// Quantity the taker in `slot` could trade now: other accounts' remaining quantity (hidden
    /// iceberg parts included) at crossing levels.
    fn fillable(&self, slot: u32, limit: Option<u32>) -> Qty {
        let taker = &self.orders[slot as usize];
        let need = taker.remaining();
        let book = &self.instruments[taker.instrument as usize].book;
        let side = taker.side.opposite();
        let mut total: Qty = 0;
        let mut level = book.best(side);
        while let Some(lv) = level {
            if let Some(limit) = limit {
                let crosses = match taker.side {
                    Side::Buy => lv <= limit,
                    Side::Sell => lv >= limit,
                };
                if !crosses {
                    break;
                }
            }
            book.visit_level(&self.links, side, lv, |maker| {
                let m = &self.orders[maker as usize];
                if m.account != taker.account {
                    total += m.remaining();
                }
                total < need
            });
            if total >= need {
                break;
            }
            level = book.next_level(side, lv);
        }
        total
    }

    /// One fill of `qty` between the taker and the maker at the front of `level`.
    fn fill(&mut self, taker: u32, maker: u32, level: u32, qty: Qty, out: &mut impl EventSink) {
        let index = self.orders[taker as usize].instrument;
        let ins = &mut self.instruments[index as usize];
        let price = ins.price_of(level);
        ins.last_price = price;
        let token = ins.token;
        let t = &mut self.orders[taker as usize];
        t.filled += qty;
        let aggressor = t.side;
        let m = &mut self.orders[maker as usize];
        m.filled += qty;
        m.visible -= qty;
        let maker_side = m.side;
        ins.book.adjust_qty(maker_side, level, -qty);
        if m.remaining() == 0 {
            ins.book.remove(&mut self.links, maker_side, level, maker, 0);
            m.place = Place::Working;
        } else if m.visible == 0 {
            ins.book.remove(&mut self.links, maker_side, level, maker, 0);
            m.visible = m.display_qty();
            ins.book.push_back(&mut self.links, maker_side, level, maker, m.visible);
        }
        let (buy, sell) = if aggressor == Side::Buy { (taker, maker) } else { (maker, taker) };
        let (b, s) = (self.orders[buy as usize], self.orders[sell as usize]);
        let (buy_fee, sell_fee) = if self.limits.risk_enabled {
            let notional = qty * price;
            (risk::fee(&self.fees, notional), risk::fee(&self.fees, notional))
        } else {
            (0, 0)
        };
        out.emit(Event::Trade(Trade {
            trade_id: self.next_trade_id,
            token,
            price,
            qty,
            aggressor,
            buy_order: b.id,
            sell_order: s.id,
            buy_account: b.account,
            sell_account: s.account,
            buy_product: b.product,
            sell_product: s.product,
            buy_fee,
            sell_fee,
            buy_remaining: b.remaining(),
            sell_remaining: s.remaining(),
        }));
        self.next_trade_id += 1;
        if self.limits.risk_enabled {
            self.settle(buy, qty, price, buy_fee, out);
            self.settle(sell, qty, price, sell_fee, out);
            if buy_fee + sell_fee != 0 {
                let fee_account = self.fees.fee_account;
                let a = &mut self.accounts[fee_account as usize];
                a.cash += buy_fee + sell_fee;
                out.emit(Event::BalanceChanged {
                    account: fee_account,
                    delta: buy_fee + sell_fee,
                    cash: a.cash,
                    reason: BalanceReason::Fee,
                    client_ref: 0,
                });
            }
        }
        emit_level(&self.instruments[index as usize], maker_side, level, out);
        if self.orders[maker as usize].remaining() == 0 {
            self.retire(maker);
        }
    }

    /// Moves cash, holdings or the MIS position of one side of a fill and releases the
    /// reservation the filled quantity held.
    fn settle(&mut self, slot: u32, qty: Qty, price: i64, fee: i64, out: &mut impl EventSink) {
        let o = self.orders[slot as usize];
        let ins = &self.instruments[o.instrument as usize];
        let (token, reference) = (ins.token, ins.reference);
        let leverage = self.leverage(o.account, ins);
        let notional = qty * price;
        let a = &mut self.accounts[o.account as usize];
        touch(&mut self.touched, a, o.account);
        let p = &mut self.positions[o.position as usize];
        a.reserved -= qty * o.reserve_per_share;
        match o.side {
            Side::Buy => p.open_buy -= qty,
            Side::Sell => p.open_sell -= qty,
        }
        match o.product {
            Product::Cnc => {
                let (shares, cash) = match o.side {
                    Side::Buy => (qty, -notional - fee),
                    Side::Sell => {
                        p.holdings_reserved -= qty;
                        (-qty, notional - fee)
                    }
                };
                p.holdings += shares;
                a.cash += cash;
                out.emit(Event::HoldingsChanged {
                    account: o.account,
                    token,
                    delta: shares,
                    holdings: p.holdings,
                    reason: HoldingsReason::Trade,
                });
                out.emit(Event::BalanceChanged {
                    account: o.account,
                    delta: cash,
                    cash: a.cash,
                    reason: BalanceReason::TradeSettlement,
                    client_ref: 0,
                });
            }
            Product::Mis => {
                match o.side {
                    Side::Buy => {
                        p.mis_qty += qty;
                        p.mis_value -= notional;
                    }
                    Side::Sell => {
                        p.mis_qty -= qty;
                        p.mis_value += notional;
                    }
                }
                if fee != 0 {
                    a.cash -= fee;
                    out.emit(Event::BalanceChanged {
                        account: o.account,
                        delta: -fee,
                        cash: a.cash,
                        reason: BalanceReason::Fee,
                        client_ref: 0,
                    });
                }
                if p.mis_qty == 0 && p.mis_value != 0 {
                    let pnl = p.mis_value;
                    p.mis_value = 0;
                    a.cash += pnl;
                    out.emit(Event::BalanceChanged {
                        account: o.account,
                        delta: pnl,
                        cash: a.cash,
                        reason: BalanceReason::MisSettlement,
                        client_ref: 0,
                    });
                }
                let margin = risk::mis_margin(p.mis_qty, reference, leverage);
                a.margin += margin - p.mis_margin;
                p.mis_margin = margin;
            }
        }
    }

    /// Triggers stops the last traded price has reached, one at a time, until none is left.
    pub(super) fn process_stops(&mut self, index: u32, out: &mut impl EventSink) {
        loop {
            let ins = &self.instruments[index as usize];
            let ltp_level = ins.level_of(ins.last_price);
            // Buy stops sit on the `Sell` side (lowest trigger first); sell stops on `Buy`.
            let next = match ins.stops.best(Side::Sell) {
                Some(level) if level <= ltp_level => Some((Side::Sell, level)),
                _ => match ins.stops.best(Side::Buy) {
                    Some(level) if level >= ltp_level => Some((Side::Buy, level)),
                    _ => None,
                },
            };
            let Some((side, level)) = next else { return };
            let slot = ins.stops.front(&self.links, side, level).expect("a non-empty stop level");
            let (token, last_price) = (ins.token, ins.last_price);
            let o = &mut self.orders[slot as usize];
            let remaining = o.remaining();
            o.triggered = true;
            o.place = Place::Working;
            let order_id = o.id;
            self.instruments[index as usize].stops.remove(&mut self.links, side, level, slot, remaining);
            out.emit(Event::Triggered { order_id, token, last_price });
            self.run_taker(slot, out);
        }
    }

    /// Releases what an order no longer needs and frees its slot.
    pub(super) fn retire(&mut self, slot: u32) {
        let o = self.orders[slot as usize];
        debug_assert!(o.place != Place::Free);
        if self.limits.risk_enabled {
            let remaining = o.remaining();
            let a = &mut self.accounts[o.account as usize];
            touch(&mut self.touched, a, o.account);
            a.reserved -= remaining * o.reserve_per_share;
            a.open_orders -= 1;
            let p = &mut self.positions[o.position as usize];
            match o.side {
                Side::Buy => p.open_buy -= remaining,
                Side::Sell => p.open_sell -= remaining,
            }
            if o.product == Product::Cnc && o.side == Side::Sell {
                p.holdings_reserved -= remaining;
            }
            self.release_position_if_empty(o.position);
        }
        self.order_index.remove(o.id);
        self.orders[slot as usize] = super::state::Order::NONE;
        self.links[slot as usize] = crate::book::Link::DETACHED;
        self.order_free.push(slot);
    }
}
