//! API stub: the real body lands shortly. Signatures here are the contract.
#![allow(unused_variables, dead_code)]

use crate::book::Book;
use crate::command::{Command, FeeSchedule};
use crate::event::EventSink;
use crate::ladder::LadderBook;
use crate::limits::Limits;
use crate::types::{AccountId, Side, Token};
use crate::view::{AccountView, InstrumentView, LevelView, OrderView, PositionView};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    Truncated,
    BadMagic,
    Version(u16),
    LimitsMismatch,
    Corrupt(&'static str),
}


#[derive(Debug)]
pub struct Engine<B: Book = LadderBook> {
    limits: Limits,
    book: core::marker::PhantomData<B>,
}

impl<B: Book> Engine<B> {
    pub fn new(limits: Limits) -> Self {
        Engine { limits, book: core::marker::PhantomData }
    }
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
    pub fn apply(&mut self, seq: u64, ts_ns: u64, cmd: &Command, out: &mut impl EventSink) {}
    pub fn state_hash(&self) -> u64 {
        0
    }
    pub fn snapshot(&self, out: &mut Vec<u8>) {}
    pub fn restore(limits: Limits, bytes: &[u8]) -> Result<Self, SnapshotError> {
        Err(SnapshotError::Truncated)
    }
    pub fn last_seq(&self) -> u64 {
        0
    }
    pub fn fee_schedule(&self) -> FeeSchedule {
        FeeSchedule::default()
    }
    pub fn account(&self, id: AccountId) -> Option<AccountView> {
        None
    }
    /// Ids of all created accounts, ascending.
    pub fn accounts(&self) -> impl Iterator<Item = AccountView> + '_ {
        core::iter::empty()
    }
    pub fn position(&self, account: AccountId, token: Token) -> Option<PositionView> {
        None
    }
    /// Every position, in table order.
    pub fn positions(&self) -> impl Iterator<Item = PositionView> + '_ {
        core::iter::empty()
    }
    /// Every open order (resting or untriggered stop), in arena order.
    pub fn open_orders(&self) -> impl Iterator<Item = OrderView> + '_ {
        core::iter::empty()
    }
    pub fn order(&self, order_id: u64) -> Option<OrderView> {
        None
    }
    pub fn instruments(&self) -> impl Iterator<Item = InstrumentView> + '_ {
        core::iter::empty()
    }
    pub fn instrument(&self, token: Token) -> Option<InstrumentView> {
        None
    }
    /// Fills `out` with the best levels on `side`, best first; returns how many.
    pub fn depth(&self, token: Token, side: Side, out: &mut [LevelView]) -> usize {
        0
    }
    pub fn session_open(&self) -> bool {
        false
    }
}
