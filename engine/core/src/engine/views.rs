//! Read-only views for services, tests and invariant checks.

use super::state::{Order, Place, Position};
use super::Engine;
use crate::book::Book;
use crate::types::{AccountId, OrderId, Side, Token};
use crate::view::{AccountView, InstrumentView, LevelView, OrderView, PositionView};

impl<B: Book> Engine<B> {
    pub fn account(&self, id: AccountId) -> Option<AccountView> {
        let a = self.accounts.get(id as usize).filter(|a| a.created)?;
        Some(AccountView {
            id,
            status: a.status,
            limits: a.limits,
            cash: a.cash,
            reserved: a.reserved,
            margin: a.margin,
            available: a.available(),
            open_orders: a.open_orders,
            funds_ref: a.funds_ref,
        })
    }

    /// Every created account, by ascending id.
    pub fn accounts(&self) -> impl Iterator<Item = AccountView> + '_ {
        (0..self.accounts.len() as u32).filter_map(|id| self.account(id))
    }

    pub fn position(&self, account: AccountId, token: Token) -> Option<PositionView> {
        let index = self.instrument_index(token)?;
        let slot = self.position_index.get(Position::key(account, index))?;
        Some(self.position_view(&self.positions[slot as usize]))
    }

    /// Every position, in table order.
    pub fn positions(&self) -> impl Iterator<Item = PositionView> + '_ {
        self.positions.iter().filter(|p| p.live).map(|p| self.position_view(p))
    }

    fn position_view(&self, p: &Position) -> PositionView {
        PositionView {
            account: p.account,
            token: self.instruments[p.instrument as usize].token,
            holdings: p.holdings,
            holdings_reserved: p.holdings_reserved,
            mis_qty: p.mis_qty,
            mis_value: p.mis_value,
            mis_margin: p.mis_margin,
            open_buy_qty: p.open_buy,
            open_sell_qty: p.open_sell,
        }
    }

    /// Every open order (resting, or a stop waiting for its trigger), in arena order.
    pub fn open_orders(&self) -> impl Iterator<Item = OrderView> + '_ {
        self.orders.iter().filter(|o| matches!(o.place, Place::Book | Place::Stop)).map(|o| self.order_view(o))
    }

    pub fn order(&self, order_id: OrderId) -> Option<OrderView> {
        let slot = self.order_index.get(order_id)?;
        Some(self.order_view(&self.orders[slot as usize]))
    }

    fn order_view(&self, o: &Order) -> OrderView {
        OrderView {
            order_id: o.id,
            client_ref: o.client_ref,
            account: o.account,
            token: self.instruments[o.instrument as usize].token,
            side: o.side,
            order_type: o.order_type,
            validity: o.validity,
            product: o.product,
            price: o.price,
            trigger: o.trigger,
            qty: o.qty,
            filled: o.filled,
            disclosed: o.disclosed,
            visible: o.visible,
            post_only: o.post_only,
            triggered: o.triggered,
            reserved_cash: o.remaining() * o.reserve_per_share,
            reserve_per_share: o.reserve_per_share,
        }
    }

    /// Instruments in the order they were added.
    pub fn instruments(&self) -> impl Iterator<Item = InstrumentView> + '_ {
        self.instruments.iter().map(|i| InstrumentView {
            token: i.token,
            symbol: i.symbol,
            tick: i.tick,
            lot: i.lot,
            band_low: i.band_low,
            band_high: i.band_high,
            reference_price: i.reference,
            mis_leverage: i.mis_leverage,
            status: i.status,
            last_price: i.last_price,
        })
    }

    pub fn instrument(&self, token: Token) -> Option<InstrumentView> {
        let index = self.instrument_index(token)?;
        self.instruments().nth(index as usize)
    }

    /// Fills `out` with the best levels on `side`, best first; returns how many.
    pub fn depth(&self, token: Token, side: Side, out: &mut [LevelView]) -> usize {
        let Some(index) = self.instrument_index(token) else { return 0 };
        let ins = &self.instruments[index as usize];
        let mut n = 0;
        let mut level = ins.book.best(side);
        while let (Some(lv), true) = (level, n < out.len()) {
            let state = ins.book.level(side, lv);
            out[n] = LevelView { price: ins.price_of(lv), qty: state.qty, orders: state.orders };
            n += 1;
            level = ins.book.next_level(side, lv);
        }
        n
    }
}
