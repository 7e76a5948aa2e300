//! `matchcore` 0.4.0: `OrderBook::execute(&Command)` with Submit (limit GTC / IOC), Amend (a
//! `LimitOrderPatch` with the new price) and Cancel. Order ids are the sequence numbers of their
//! submit commands; sequence numbers must run 0, 1, 2, ...
//!
//! Caveat, found while building this benchmark: matchcore 0.4.0 matches a crossing limit order
//! (submit or amend) with no price limit (`match_order(.., None, ..)` in `submit_crossable_order`
//! and `amend_limit_order`), so a remainder walks the book past the order's price. The workload's
//! takers never exceed the liquidity within their limit, so this never shows here; the test below
//! pins the behaviour so a fixed release is noticed.

use ::matchcore::{
    AmendCmd, AmendPatch, CancelCmd, Command, CommandKind, CommandMeta, CommandOutcome, CommandReport, LimitOrder,
    LimitOrderPatch, NewOrder, OrderBook, OrderFlags, OrderId, OrderKind, Price, Quantity, QuantityPolicy,
    SequenceNumber, Side as McSide, SubmitCmd, TimeInForce, Timestamp,
};

use super::{Adapter, Tally};
use crate::workload::{Op, Side, Workload};

#[derive(Debug)]
pub struct Matchcore {
    book: OrderBook,
    next_seq: u64,
    /// Logical order index -> matchcore id.
    ids: Vec<OrderId>,
    rejects: u64,
    ops_traded: u64,
}

impl Matchcore {
    #[inline]
    fn execute(&mut self, kind: CommandKind) -> CommandOutcome {
        let seq = self.next_seq;
        self.next_seq += 1;
        let meta = CommandMeta { sequence_number: SequenceNumber(seq), timestamp: Timestamp(seq) };
        self.book.execute(&Command { meta, kind })
    }
}

impl Adapter for Matchcore {
    const NAME: &'static str = "matchcore";
    const NOTES: &'static str = "matchcore 0.4.0: execute(Command) with Submit (limit GTC/IOC), \
        Amend (LimitOrderPatch::with_price), Cancel. Native modify.";

    fn new(workload: &Workload) -> Self {
        Matchcore {
            book: OrderBook::new("BENCH"),
            next_seq: 0,
            ids: vec![OrderId(u64::MAX); workload.orders_total as usize],
            rejects: 0,
            ops_traded: 0,
        }
    }

    #[inline]
    fn apply(&mut self, op: &Op) {
        let outcome = match *op {
            Op::Place { order, side, price, qty, ioc, .. } => {
                self.ids[order as usize] = OrderId(self.next_seq);
                let side = match side {
                    Side::Buy => McSide::Buy,
                    Side::Sell => McSide::Sell,
                };
                let tif = if ioc { TimeInForce::Ioc } else { TimeInForce::Gtc };
                let limit = LimitOrder::new(
                    Price(price as u64),
                    QuantityPolicy::Standard { quantity: Quantity(qty as u64) },
                    OrderFlags::new(side, false, tif),
                );
                self.execute(CommandKind::Submit(SubmitCmd { order: NewOrder::Limit(limit) }))
            }
            Op::Cancel { order, .. } => {
                let cancel = CancelCmd { order_id: self.ids[order as usize], order_kind: OrderKind::Limit };
                self.execute(CommandKind::Cancel(cancel))
            }
            Op::Move { order, price, .. } => {
                let patch = AmendPatch::Limit(LimitOrderPatch::new().with_price(Price(price as u64)));
                self.execute(CommandKind::Amend(AmendCmd { order_id: self.ids[order as usize], patch }))
            }
        };
        match &outcome {
            CommandOutcome::Rejected(_) => self.rejects += 1,
            CommandOutcome::Applied(CommandReport::Submit(effects) | CommandReport::Amend(effects)) => {
                let traded = effects.target_order().match_result().is_some_and(|m| !m.trades().is_empty());
                self.ops_traded += traded as u64;
            }
            CommandOutcome::Applied(CommandReport::Cancel) => {}
        }
    }

    fn tally(&self) -> Tally {
        Tally { rejects: Some(self.rejects), ops_traded: Some(self.ops_traded) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submit(book: &mut OrderBook, seq: u64, side: McSide, price: u64, qty: u64) -> CommandOutcome {
        let limit = LimitOrder::new(
            Price(price),
            QuantityPolicy::Standard { quantity: Quantity(qty) },
            OrderFlags::new(side, false, TimeInForce::Gtc),
        );
        let meta = CommandMeta { sequence_number: SequenceNumber(seq), timestamp: Timestamp(seq) };
        book.execute(&Command { meta, kind: CommandKind::Submit(SubmitCmd { order: NewOrder::Limit(limit) }) })
    }

    /// Pins matchcore 0.4.0's behaviour: a buy limited at 100 also takes the ask at 105. If this
    /// fails, matchcore honours limit prices and the workload could let takers leave remainders.
    #[test]
    fn matchcore_crossing_limit_order_ignores_its_price() {
        let mut book = OrderBook::new("T");
        submit(&mut book, 0, McSide::Sell, 100, 10);
        submit(&mut book, 1, McSide::Sell, 105, 10);
        let CommandOutcome::Applied(CommandReport::Submit(effects)) = submit(&mut book, 2, McSide::Buy, 100, 20) else {
            panic!("submit applied");
        };
        let matched = effects.target_order().match_result().expect("matched");
        assert_eq!(matched.executed_quantity(), Quantity(20));
        assert_eq!(matched.last_trade_price(), Some(Price(105)));
    }
}
