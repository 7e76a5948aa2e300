//! `obcore` 0.1.6: `Evaluator::eval(&book, Op)` computes instructions, `OrderBook::apply` commits
//! them. It has insert and delete only, so a move is a delete plus an insert of the remaining
//! quantity under a new id. The evaluator is reset after every message, as its docs ask between
//! independent batches.

use ::obcore::{Evaluator, Instruction, Msg, Op as ObOp, OrderBook, OrderInterface, TIF};

use super::{Adapter, Tally};
use crate::workload::{Op, Side, Workload};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BenchOrder {
    id: u64,
    is_buy: bool,
    price: u64,
    quantity: u64,
    remaining: u64,
    tif: TIF,
    owner: u64,
}

impl OrderInterface for BenchOrder {
    type I = u64;
    type N = u64;
    type O = u64;

    fn id(&self) -> &u64 {
        &self.id
    }
    fn is_buy(&self) -> bool {
        self.is_buy
    }
    fn price(&self) -> u64 {
        self.price
    }
    fn quantity(&self) -> u64 {
        self.quantity
    }
    fn remaining(&self) -> u64 {
        self.remaining
    }
    fn fill(&mut self, quantity: u64) {
        self.remaining -= quantity;
    }
    fn owner(&self) -> &u64 {
        &self.owner
    }
    fn tif(&self) -> TIF {
        self.tif
    }
}

pub struct Obcore {
    book: OrderBook<BenchOrder>,
    eval: Evaluator<BenchOrder>,
    /// Logical order index -> obcore id (a move gets a fresh one).
    ids: Vec<u64>,
    next_id: u64,
    rejects: u64,
    ops_traded: u64,
}

impl std::fmt::Debug for Obcore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Obcore").field("orders", &self.book.len()).finish_non_exhaustive()
    }
}

impl Obcore {
    /// Evaluates and applies one obcore op; returns whether it traded.
    #[inline]
    fn run(&mut self, op: ObOp<BenchOrder>) -> bool {
        let mut traded = false;
        for instruction in self.eval.eval(&self.book, op) {
            match &instruction {
                Instruction::Fill(..) => traded = true,
                Instruction::NoOp(_, Msg::OrderNotFound | Msg::OrderAlreadyExists) => self.rejects += 1,
                _ => {}
            }
            self.book.apply(instruction);
        }
        self.eval.reset();
        traded
    }

    #[inline]
    fn insert(&mut self, order: u32, account: u32, side: Side, price: u32, qty: u32, tif: TIF) -> bool {
        self.next_id += 1;
        self.ids[order as usize] = self.next_id;
        let order = BenchOrder {
            id: self.next_id,
            is_buy: side == Side::Buy,
            price: price as u64,
            quantity: qty as u64,
            remaining: qty as u64,
            tif,
            owner: account as u64,
        };
        self.run(ObOp::Insert(order))
    }
}

impl Adapter for Obcore {
    const NAME: &'static str = "obcore";
    const NOTES: &'static str = "obcore 0.1.6: eval + apply per message (evaluator reset each time). \
        No modify: a move is emulated as delete + insert of the remaining qty under a new id.";

    fn new(workload: &Workload) -> Self {
        Obcore {
            book: OrderBook::default(),
            eval: Evaluator::default(),
            ids: vec![0; workload.orders_total as usize],
            next_id: 0,
            rejects: 0,
            ops_traded: 0,
        }
    }

    #[inline]
    fn apply(&mut self, op: &Op) {
        let traded = match *op {
            Op::Place { order, account, side, price, qty, ioc } => {
                self.insert(order, account, side, price, qty, if ioc { TIF::IOC } else { TIF::GTC })
            }
            Op::Cancel { order, .. } => self.run(ObOp::Delete(self.ids[order as usize])),
            Op::Move { order, account, side, price, remaining, .. } => {
                self.run(ObOp::Delete(self.ids[order as usize]));
                self.insert(order, account, side, price, remaining, TIF::GTC)
            }
        };
        self.ops_traded += traded as u64;
    }

    fn tally(&self) -> Tally {
        Tally { rejects: Some(self.rejects), ops_traded: Some(self.ops_traded) }
    }
}
