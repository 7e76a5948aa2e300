//! engine-core: the exchange's deterministic state machine.
//!
//! `Engine::apply(seq, ts_ns, &command, &mut sink)` is the whole interface: commands in, events
//! out. No I/O, no clock, no threads, no hash-order iteration, and no allocation after
//! `Engine::new(limits)`. The same commands give the same events and the same `state_hash()`
//! on any machine, in any replay.

pub mod command;
pub mod event;
pub mod limits;
pub mod types;

pub use command::{AccountLimits, Command, CommandKind, FeeSchedule, InstrumentSpec, ModifyOrder, NewOrder};
pub use event::{
    Accepted, BalanceReason, CancelReason, CountingSink, Event, EventSink, HoldingsReason, RejectReason, Trade,
};
pub use limits::Limits;
pub use types::{
    AccountId, AccountStatus, InstrumentStatus, OrderId, OrderType, Price, Product, Qty, Side, Symbol, Token, Validity,
};

mod bitset;
pub mod book;
pub mod engine;
mod idmap;
pub mod ladder;
pub mod view;

pub use book::{Book, LevelState, Link};
pub use engine::{Engine, SnapshotError};
pub use ladder::LadderBook;
pub use view::{AccountView, InstrumentView, LevelView, OrderView, PositionView};
