//! `orderbook-rs` 0.15.3: a concurrent book (crossbeam skip lists, DashMap). Used single-threaded:
//! `add_limit_order_with_result` (GTC / IOC; the result carries the fills), `update_order(
//! UpdatePrice)` for moves (native: cancel and re-add inside the crate), `cancel_order`. The book
//! runs on a `StubClock`, so it reads no wall clock. An IOC that leaves a remainder returns
//! `Err(InsufficientLiquidity)` by design; that is counted as an IOC outcome, not a reject.

use std::sync::Arc;

use ::orderbook_rs::prelude::{Id, OrderBook, OrderBookError, Side as ObSide, StubClock, TimeInForce};
use pricelevel::{OrderUpdate, Price};

use super::{Adapter, Tally};
use crate::workload::{Op, Side, Workload};

pub struct OrderbookRs {
    book: OrderBook<()>,
    rejects: u64,
    ops_traded: u64,
}

impl std::fmt::Debug for OrderbookRs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderbookRs").field("rejects", &self.rejects).finish_non_exhaustive()
    }
}

/// Logical order index -> orderbook-rs id (ids are never reused, a move keeps its id).
#[inline]
fn id_of(order: u32) -> Id {
    Id::from_u64(order as u64 + 1)
}

impl Adapter for OrderbookRs {
    const NAME: &'static str = "orderbook-rs";
    const NOTES: &'static str = "orderbook-rs 0.15.3: add_limit_order_with_result (GTC/IOC), \
        update_order(UpdatePrice), cancel_order; StubClock. Native modify.";

    fn new(_workload: &Workload) -> Self {
        OrderbookRs { book: OrderBook::with_clock("BENCH", Arc::new(StubClock::new())), rejects: 0, ops_traded: 0 }
    }

    #[inline]
    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Place { order, side, price, qty, ioc, .. } => {
                let side = match side {
                    Side::Buy => ObSide::Buy,
                    Side::Sell => ObSide::Sell,
                };
                let tif = if ioc { TimeInForce::Ioc } else { TimeInForce::Gtc };
                match self.book.add_limit_order_with_result(id_of(order), price as u128, qty as u64, side, tif, None) {
                    Ok((_, trades)) => self.ops_traded += trades.is_some() as u64,
                    Err(OrderBookError::InsufficientLiquidity { available, .. }) if ioc => {
                        self.ops_traded += (available > 0) as u64
                    }
                    Err(_) => self.rejects += 1,
                }
            }
            Op::Cancel { order, .. } => {
                if !matches!(self.book.cancel_order(id_of(order)), Ok(Some(_))) {
                    self.rejects += 1;
                }
            }
            Op::Move { order, price, .. } => {
                let update = OrderUpdate::UpdatePrice { order_id: id_of(order), new_price: Price::new(price as u128) };
                if self.book.update_order(update).is_err() {
                    self.rejects += 1;
                }
            }
        }
    }

    fn tally(&self) -> Tally {
        Tally { rejects: Some(self.rejects), ops_traded: Some(self.ops_traded) }
    }
}
