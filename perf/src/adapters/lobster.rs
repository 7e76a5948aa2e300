//! `lobster` 0.7.0: `OrderBook::execute(OrderType)` with Limit and Cancel. It has no IOC and no
//! modify: an IOC is a limit order whose rested remainder is cancelled at once, and a move is a
//! cancel plus a new limit order for the remaining quantity under a new id. Its cancel always
//! answers `Canceled`, so it cannot report rejects.

use ::lobster::{OrderBook, OrderEvent, OrderType, Side as LobSide};

use super::{Adapter, Tally};
use crate::workload::{Op, Side, Workload};

#[derive(Debug)]
pub struct Lobster {
    book: OrderBook,
    /// Logical order index -> lobster id (a move gets a fresh one).
    ids: Vec<u128>,
    next_id: u128,
    ops_traded: u64,
}

impl Lobster {
    /// Places a limit order; returns whether it traded and whether a remainder rested.
    #[inline]
    fn limit(&mut self, order: u32, side: Side, price: u32, qty: u32) -> (bool, bool) {
        self.next_id += 1;
        let id = self.next_id;
        self.ids[order as usize] = id;
        let side = match side {
            Side::Buy => LobSide::Bid,
            Side::Sell => LobSide::Ask,
        };
        match self.book.execute(OrderType::Limit { id, side, qty: qty as u64, price: price as u64 }) {
            OrderEvent::Placed { .. } => (false, true),
            OrderEvent::PartiallyFilled { .. } => (true, true),
            OrderEvent::Filled { .. } => (true, false),
            _ => (false, false),
        }
    }

    #[inline]
    fn cancel(&mut self, order: u32) {
        let id = self.ids[order as usize];
        self.book.execute(OrderType::Cancel { id });
    }
}

impl Adapter for Lobster {
    const NAME: &'static str = "lobster";
    const NOTES: &'static str = "lobster 0.7.0: execute(Limit | Cancel). No IOC: limit + cancel of \
        the rested remainder. No modify: cancel + new limit for the remaining qty, new id. Cannot report rejects.";

    fn new(workload: &Workload) -> Self {
        Lobster { book: OrderBook::default(), ids: vec![0; workload.orders_total as usize], next_id: 0, ops_traded: 0 }
    }

    #[inline]
    fn apply(&mut self, op: &Op) {
        let traded = match *op {
            Op::Place { order, side, price, qty, ioc, .. } => {
                let (traded, rested) = self.limit(order, side, price, qty);
                if ioc && rested {
                    self.cancel(order);
                }
                traded
            }
            Op::Cancel { order, .. } => {
                self.cancel(order);
                false
            }
            Op::Move { order, side, price, remaining, .. } => {
                self.cancel(order);
                self.limit(order, side, price, remaining).0
            }
        };
        self.ops_traded += traded as u64;
    }

    fn tally(&self) -> Tally {
        Tally { rejects: None, ops_traded: Some(self.ops_traded) }
    }
}
