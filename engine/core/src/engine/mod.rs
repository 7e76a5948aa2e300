//! The state machine: `apply` dispatches one command; the sibling modules hold the behaviour.
//!
//! - `admin`: instruments, session, accounts, funds, fee schedule.
//! - `orders`: place, modify, cancel, mass cancel, square-off.
//! - `matching`: the taker loop, settlement, stop triggers.
//! - `risk`: reservation and margin arithmetic.
//! - `snapshot`: canonical serialization, state hash, restore.

mod admin;
mod matching;
mod orders;
mod risk;
mod snapshot;
mod state;
mod views;

pub use snapshot::SnapshotError;

use crate::book::{Book, Link};
use crate::command::{Command, CommandKind, FeeSchedule};
use crate::event::{Event, EventSink, RejectReason};
use crate::idmap::IdMap;
use crate::ladder::LadderBook;
use crate::limits::Limits;
use crate::types::{AccountId, OrderId};
use state::{Account, Instrument, Order, Position};

/// The exchange's deterministic state machine. `B` is the price-time structure behind every
/// instrument: the fast `LadderBook`, or a reference book in differential tests.
#[derive(Debug, Clone)]
pub struct Engine<B: Book = LadderBook> {
    limits: Limits,
    session_open: bool,
    fees: FeeSchedule,
    next_order_id: OrderId,
    next_trade_id: u64,
    last_seq: u64,
    instruments: Vec<Instrument<B>>,
    /// token -> index into `instruments`.
    tokens: IdMap,
    accounts: Vec<Account>,
    positions: Vec<Position>,
    /// `Position::key(account, instrument)` -> slot.
    position_index: IdMap,
    /// Free position slots; the last one is used next.
    position_free: Vec<u32>,
    orders: Vec<Order>,
    links: Vec<Link>,
    /// order id -> slot.
    order_index: IdMap,
    order_free: Vec<u32>,
    /// Slots collected for a bulk cancel; capacity `orders_max`.
    scratch: Vec<u32>,
    /// Accounts whose `reserved` or `margin` the current command may have changed, in the order
    /// first touched, with their values before; capacity `accounts_max`. Empty between commands.
    touched: Vec<state::Touched>,
}

impl<B: Book> Engine<B> {
    /// Allocates every table to its limit. Nothing on the order path allocates after this.
    pub fn new(limits: Limits) -> Self {
        let orders_max = limits.orders_max as usize;
        let positions_max = limits.positions_max as usize;
        Engine {
            limits,
            session_open: false,
            fees: FeeSchedule::default(),
            next_order_id: 1,
            next_trade_id: 1,
            last_seq: 0,
            instruments: Vec::with_capacity(limits.instruments_max as usize),
            tokens: IdMap::with_capacity(limits.instruments_max as usize),
            accounts: vec![Account::NONE; limits.accounts_max as usize],
            positions: vec![Position::NONE; positions_max],
            position_index: IdMap::with_capacity(positions_max),
            position_free: (0..limits.positions_max).rev().collect(),
            orders: vec![Order::NONE; orders_max],
            links: vec![Link::DETACHED; orders_max],
            order_index: IdMap::with_capacity(orders_max),
            order_free: (0..limits.orders_max).rev().collect(),
            scratch: Vec::with_capacity(orders_max),
            touched: Vec::with_capacity(limits.accounts_max as usize),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Applies one command. `seq` and `ts_ns` come from the sequencer; the engine never reads a
    /// clock. Every outcome, rejections included, is written to `out`. No rule depends on the
    /// time yet, so it is not part of the state (or its hash).
    pub fn apply(&mut self, seq: u64, _ts_ns: u64, cmd: &Command, out: &mut impl EventSink) {
        self.last_seq = seq;
        match *cmd {
            Command::AddInstrument(spec) => self.add_instrument(&spec, out),
            Command::OpenSession => self.open_session(out),
            Command::CloseSession => self.close_session(out),
            Command::Halt { token } => self.halt(token, out),
            Command::Resume { token } => self.resume(token, out),
            Command::CreateAccount { account, limits } => self.create_account(account, limits, out),
            Command::SetAccountLimits { account, limits } => self.set_account_limits(account, limits, out),
            Command::ActivateAccount { account } => self.activate_account(account, out),
            Command::SuspendAccount { account } => self.suspend_account(account, out),
            Command::Deposit { client_ref, account, amount } => self.deposit(client_ref, account, amount, out),
            Command::Withdraw { client_ref, account, amount } => self.withdraw(client_ref, account, amount, out),
            Command::DepositHoldings { account, token, qty } => self.deposit_holdings(account, token, qty, out),
            Command::WithdrawHoldings { account, token, qty } => self.withdraw_holdings(account, token, qty, out),
            Command::SetFeeSchedule(fees) => self.set_fee_schedule(fees, out),
            Command::Place(order) => self.place(&order, out),
            Command::Modify(modify) => self.modify(&modify, out),
            Command::Cancel { client_ref, account, order_id } => self.cancel(client_ref, account, order_id, out),
            Command::MassCancelAccount { account } => self.mass_cancel_account(account, out),
            Command::MassCancelInstrument { token } => self.mass_cancel_instrument(token, out),
            Command::SquareOffMis { token } => self.square_off(token, out),
        }
        if !self.touched.is_empty() {
            self.report_risk(out);
        }
    }

    /// Emits `AccountRisk` for each touched account whose `reserved` or `margin` differs from
    /// what was last reported, in the order the accounts were first touched, and clears the list.
    /// The values last reported are the ones before the command (`state::Touched`).
    fn report_risk(&mut self, out: &mut impl EventSink) {
        for t in &self.touched {
            let a = &mut self.accounts[t.account as usize];
            a.touched = false;
            if a.reserved != t.reserved || a.margin != t.margin {
                out.emit(Event::AccountRisk { account: t.account, reserved: a.reserved, margin: a.margin });
            }
        }
        self.touched.clear();
    }

    /// Seq of the last applied command.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    pub fn fee_schedule(&self) -> FeeSchedule {
        self.fees
    }

    pub fn session_open(&self) -> bool {
        self.session_open
    }

    // ---- shared helpers -------------------------------------------------------------------

    #[inline]
    fn instrument_index(&self, token: u32) -> Option<u32> {
        self.tokens.get(token as u64)
    }

    /// The account if it exists, else the rejection reason.
    #[inline]
    fn account_checked(&self, account: AccountId) -> Result<&Account, RejectReason> {
        match self.accounts.get(account as usize) {
            None => Err(RejectReason::AccountIdOutOfRange),
            Some(a) if !a.created => Err(RejectReason::UnknownAccount),
            Some(a) => Ok(a),
        }
    }

    /// Existing position slot, or a new one; `None` when the table is full.
    fn position_slot(&mut self, account: AccountId, instrument: u32) -> Option<u32> {
        let key = Position::key(account, instrument);
        if let Some(slot) = self.position_index.get(key) {
            return Some(slot);
        }
        let slot = self.position_free.pop()?;
        self.positions[slot as usize] = Position { live: true, account, instrument, ..Position::NONE };
        self.position_index.insert(key, slot);
        Some(slot)
    }

    /// Whether a position exists or could be created.
    fn position_available(&self, account: AccountId, instrument: u32) -> bool {
        !self.position_free.is_empty() || self.position_index.get(Position::key(account, instrument)).is_some()
    }

    /// Frees a position that holds nothing.
    fn release_position_if_empty(&mut self, slot: u32) {
        let p = self.positions[slot as usize];
        if p.live && p.is_empty() {
            self.position_index.remove(Position::key(p.account, p.instrument));
            self.positions[slot as usize] = Position::NONE;
            self.position_free.push(slot);
        }
    }
}

#[inline]
fn reject(
    out: &mut impl EventSink,
    kind: CommandKind,
    reason: RejectReason,
    client_ref: u64,
    account: AccountId,
    order_id: OrderId,
) {
    out.emit(Event::Rejected { kind, reason, client_ref, account, order_id });
}
