//! Instruments, the session, accounts, funds and the fee schedule.

use super::state::{Account, Instrument};
use super::{reject, Engine};
use crate::book::Book;
use crate::command::{AccountLimits, CommandKind as K, FeeSchedule, InstrumentSpec};
use crate::event::{BalanceReason, CancelReason, Event, EventSink, HoldingsReason, RejectReason as R};
use crate::types::{AccountId, AccountStatus, InstrumentStatus, Qty, Token};

impl<B: Book> Engine<B> {
    pub(super) fn add_instrument(&mut self, spec: &InstrumentSpec, out: &mut impl EventSink) {
        let fail = |out: &mut _, reason| reject(out, K::AddInstrument, reason, 0, 0, 0);
        if self.instrument_index(spec.token).is_some() || self.instruments.iter().any(|i| i.symbol == spec.symbol) {
            return fail(out, R::DuplicateInstrument);
        }
        if self.instruments.len() >= self.limits.instruments_max as usize {
            return fail(out, R::InstrumentTableFull);
        }
        let valid = spec.symbol.is_valid()
            && spec.tick > 0
            && spec.lot > 0
            && spec.reference_price > 0
            && spec.reference_price % spec.tick == 0
            && spec.band_bps > 0
            && spec.band_bps < 10_000
            && spec.mis_leverage >= 1
            && spec.reference_price.checked_mul(2).is_some();
        if !valid {
            return fail(out, R::InvalidInstrumentSpec);
        }
        let offset = (spec.reference_price as i128 * spec.band_bps as i128 / 10_000) as i64;
        let low = spec.reference_price - offset;
        let band_low = ((low + spec.tick - 1) / spec.tick * spec.tick).max(spec.tick);
        let band_high = (spec.reference_price + offset) / spec.tick * spec.tick;
        let levels = (band_high - band_low) / spec.tick + 1;
        if levels > self.limits.levels_per_book_max as i64 {
            return fail(out, R::BandTooWide);
        }
        let index = self.instruments.len() as u32;
        // Sizing a new book is the one allocation after construction, on an admin command.
        self.instruments.push(Instrument {
            token: spec.token,
            symbol: spec.symbol,
            tick: spec.tick,
            lot: spec.lot,
            band_bps: spec.band_bps,
            band_low,
            band_high,
            reference: spec.reference_price,
            mis_leverage: spec.mis_leverage,
            status: InstrumentStatus::Active,
            last_price: spec.reference_price,
            book: B::with_levels(levels as u32),
            stops: B::with_levels(levels as u32),
        });
        self.tokens.insert(spec.token as u64, index);
        out.emit(Event::InstrumentAdded { spec: *spec, band_low, band_high });
    }

    pub(super) fn open_session(&mut self, out: &mut impl EventSink) {
        if self.session_open {
            return reject(out, K::OpenSession, R::SessionAlreadyOpen, 0, 0, 0);
        }
        self.session_open = true;
        out.emit(Event::SessionOpened);
    }

    pub(super) fn close_session(&mut self, out: &mut impl EventSink) {
        if !self.session_open {
            return reject(out, K::CloseSession, R::SessionAlreadyClosed, 0, 0, 0);
        }
        for index in 0..self.instruments.len() as u32 {
            self.cancel_instrument_orders(index, CancelReason::Expired, out, |o| o.validity == crate::Validity::Day);
        }
        self.session_open = false;
        out.emit(Event::SessionClosed);
    }

    pub(super) fn halt(&mut self, token: Token, out: &mut impl EventSink) {
        let Some(index) = self.instrument_index(token) else {
            return reject(out, K::Halt, R::UnknownInstrument, 0, 0, 0);
        };
        let instrument = &mut self.instruments[index as usize];
        if instrument.status == InstrumentStatus::Halted {
            return reject(out, K::Halt, R::InstrumentHalted, 0, 0, 0);
        }
        instrument.status = InstrumentStatus::Halted;
        out.emit(Event::InstrumentStatusChanged { token, status: InstrumentStatus::Halted });
        self.cancel_instrument_orders(index, CancelReason::Halt, out, |_| true);
    }

    pub(super) fn resume(&mut self, token: Token, out: &mut impl EventSink) {
        let Some(index) = self.instrument_index(token) else {
            return reject(out, K::Resume, R::UnknownInstrument, 0, 0, 0);
        };
        let instrument = &mut self.instruments[index as usize];
        if instrument.status != InstrumentStatus::Halted {
            return reject(out, K::Resume, R::InstrumentNotHalted, 0, 0, 0);
        }
        instrument.status = InstrumentStatus::Active;
        out.emit(Event::InstrumentStatusChanged { token, status: InstrumentStatus::Active });
    }

    pub(super) fn create_account(&mut self, account: AccountId, limits: AccountLimits, out: &mut impl EventSink) {
        let Some(slot) = self.accounts.get_mut(account as usize) else {
            return reject(out, K::CreateAccount, R::AccountIdOutOfRange, 0, account, 0);
        };
        if slot.created {
            return reject(out, K::CreateAccount, R::DuplicateAccount, 0, account, 0);
        }
        if !limits_valid(&limits) {
            return reject(out, K::CreateAccount, R::InvalidLimits, 0, account, 0);
        }
        *slot = Account { created: true, limits, ..Account::NONE };
        out.emit(Event::AccountCreated { account, limits });
    }

    pub(super) fn set_account_limits(&mut self, account: AccountId, limits: AccountLimits, out: &mut impl EventSink) {
        if let Err(reason) = self.account_checked(account) {
            return reject(out, K::SetAccountLimits, reason, 0, account, 0);
        }
        if !limits_valid(&limits) {
            return reject(out, K::SetAccountLimits, R::InvalidLimits, 0, account, 0);
        }
        self.accounts[account as usize].limits = limits;
        out.emit(Event::AccountLimitsSet { account, limits });
    }

    pub(super) fn activate_account(&mut self, account: AccountId, out: &mut impl EventSink) {
        match self.account_checked(account) {
            Err(reason) => reject(out, K::ActivateAccount, reason, 0, account, 0),
            Ok(a) if a.status == AccountStatus::Active => {
                reject(out, K::ActivateAccount, R::AccountStatusUnchanged, 0, account, 0)
            }
            Ok(_) => {
                self.accounts[account as usize].status = AccountStatus::Active;
                out.emit(Event::AccountStatusChanged { account, status: AccountStatus::Active });
            }
        }
    }

    pub(super) fn suspend_account(&mut self, account: AccountId, out: &mut impl EventSink) {
        match self.account_checked(account) {
            Err(reason) => reject(out, K::SuspendAccount, reason, 0, account, 0),
            Ok(a) if a.status == AccountStatus::Suspended => {
                reject(out, K::SuspendAccount, R::AccountStatusUnchanged, 0, account, 0)
            }
            Ok(_) => {
                self.accounts[account as usize].status = AccountStatus::Suspended;
                out.emit(Event::AccountStatusChanged { account, status: AccountStatus::Suspended });
                self.cancel_account_orders(account, CancelReason::AccountSuspended, out);
            }
        }
    }

    pub(super) fn deposit(&mut self, client_ref: u64, account: AccountId, amount: i64, out: &mut impl EventSink) {
        if let Err(reason) = self.check_funds(client_ref, account, amount) {
            return reject(out, K::Deposit, reason, client_ref, account, 0);
        }
        let a = &mut self.accounts[account as usize];
        let Some(cash) = a.cash.checked_add(amount) else {
            return reject(out, K::Deposit, R::ValueOverflow, client_ref, account, 0);
        };
        a.cash = cash;
        if client_ref != 0 {
            a.funds_ref = client_ref;
        }
        out.emit(Event::BalanceChanged { account, delta: amount, cash, reason: BalanceReason::Deposit, client_ref });
    }

    pub(super) fn withdraw(&mut self, client_ref: u64, account: AccountId, amount: i64, out: &mut impl EventSink) {
        if let Err(reason) = self.check_funds(client_ref, account, amount) {
            return reject(out, K::Withdraw, reason, client_ref, account, 0);
        }
        let a = &mut self.accounts[account as usize];
        if amount > a.available() {
            return reject(out, K::Withdraw, R::InsufficientFunds, client_ref, account, 0);
        }
        a.cash -= amount;
        if client_ref != 0 {
            a.funds_ref = client_ref;
        }
        out.emit(Event::BalanceChanged {
            account,
            delta: -amount,
            cash: a.cash,
            reason: BalanceReason::Withdrawal,
            client_ref,
        });
    }

    /// The checks a deposit and a withdrawal share, in order: the account, the deduplication of
    /// `client_ref`, the amount.
    fn check_funds(&self, client_ref: u64, account: AccountId, amount: i64) -> Result<(), R> {
        let a = self.account_checked(account)?;
        if client_ref != 0 && client_ref <= a.funds_ref {
            return Err(R::DuplicateRequest);
        }
        if amount <= 0 {
            return Err(R::InvalidAmount);
        }
        Ok(())
    }

    pub(super) fn deposit_holdings(&mut self, account: AccountId, token: Token, qty: Qty, out: &mut impl EventSink) {
        self.move_holdings(K::DepositHoldings, account, token, qty, out);
    }

    pub(super) fn withdraw_holdings(&mut self, account: AccountId, token: Token, qty: Qty, out: &mut impl EventSink) {
        self.move_holdings(K::WithdrawHoldings, account, token, qty, out);
    }

    fn move_holdings(&mut self, kind: K, account: AccountId, token: Token, qty: Qty, out: &mut impl EventSink) {
        if let Err(reason) = self.account_checked(account) {
            return reject(out, kind, reason, 0, account, 0);
        }
        let Some(index) = self.instrument_index(token) else {
            return reject(out, kind, R::UnknownInstrument, 0, account, 0);
        };
        if qty <= 0 {
            return reject(out, kind, R::InvalidQuantity, 0, account, 0);
        }
        let withdraw = kind == K::WithdrawHoldings;
        if withdraw {
            let free = self
                .position_index
                .get(super::state::Position::key(account, index))
                .map(|slot| {
                    let p = &self.positions[slot as usize];
                    p.holdings - p.holdings_reserved
                })
                .unwrap_or(0);
            if qty > free {
                return reject(out, kind, R::InsufficientHoldings, 0, account, 0);
            }
        }
        let Some(slot) = self.position_slot(account, index) else {
            return reject(out, kind, R::PositionTableFull, 0, account, 0);
        };
        let p = &mut self.positions[slot as usize];
        let (delta, reason) = if withdraw {
            (-qty, HoldingsReason::Withdrawal)
        } else {
            match p.holdings.checked_add(qty) {
                Some(_) => (qty, HoldingsReason::Deposit),
                None => {
                    self.release_position_if_empty(slot);
                    return reject(out, kind, R::ValueOverflow, 0, account, 0);
                }
            }
        };
        p.holdings += delta;
        let holdings = p.holdings;
        self.release_position_if_empty(slot);
        out.emit(Event::HoldingsChanged { account, token, delta, holdings, reason });
    }

    pub(super) fn set_fee_schedule(&mut self, fees: FeeSchedule, out: &mut impl EventSink) {
        if fees.bps > 10_000 || fees.cap < 0 {
            return reject(out, K::SetFeeSchedule, R::InvalidFeeSchedule, 0, fees.fee_account, 0);
        }
        if let Err(reason) = self.account_checked(fees.fee_account) {
            return reject(out, K::SetFeeSchedule, reason, 0, fees.fee_account, 0);
        }
        self.fees = fees;
        out.emit(Event::FeeScheduleSet(fees));
    }
}

fn limits_valid(limits: &AccountLimits) -> bool {
    limits.order_value_max >= 0 && limits.position_max >= 0
}
