//! One scenario per `RejectReason`, each producing exactly that reason. Where it is cheap, the
//! command also breaks a later check of the documented order, so the scenario pins the order too.
//!
//! `scenario` matches on the reason without a wildcard: a new variant does not compile until it
//! has a scenario, and `every_reject_reason_has_a_working_scenario` runs all of `RejectReason::ALL`.

mod common;

use common::*;
use engine_core::Side::{Buy, Sell};
use engine_core::{
    AccountLimits, BalanceReason, Command, CommandKind, Event, FeeSchedule, InstrumentSpec, Limits, NewOrder,
    OrderType, RejectReason,
};

/// The events of the scenario's last command and the one `Rejected` event it must be.
type Outcome = (Vec<Event>, Event);

fn place(f: &mut Fixture, o: NewOrder, reason: RejectReason) -> Outcome {
    (f.place(o), place_rejected(&o, reason))
}

fn plain(kind: CommandKind, reason: RejectReason) -> Event {
    rejected(kind, reason, 0, 0, 0)
}

fn spec3() -> InstrumentSpec {
    InstrumentSpec {
        token: 3,
        symbol: sym("WIPRO"),
        tick: 5,
        lot: 1,
        band_bps: 1000,
        reference_price: 50_000,
        mis_leverage: 5,
    }
}

fn scenario(reason: RejectReason) -> Outcome {
    use RejectReason as R;
    match reason {
        R::UnknownInstrument => {
            // Inactive account: the instrument is checked before the account status.
            let mut f = Fixture::new();
            f.ok(Command::CreateAccount { account: 5, limits: AccountLimits::default() });
            place(&mut f, limit(5, Buy, 0, 0).token(99), reason)
        }
        R::DuplicateInstrument => {
            let mut f = Fixture::new();
            let spec = InstrumentSpec { symbol: sym("OTHER"), ..infy_spec() };
            (f.apply(Command::AddInstrument(spec)), plain(CommandKind::AddInstrument, reason))
        }
        R::InstrumentTableFull => {
            let mut f = Fixture::with_limits(Limits { instruments_max: 2, ..Limits::small() });
            (f.apply(Command::AddInstrument(spec3())), plain(CommandKind::AddInstrument, reason))
        }
        R::InvalidInstrumentSpec => {
            let mut f = Fixture::new();
            let spec = InstrumentSpec { lot: 0, ..spec3() };
            (f.apply(Command::AddInstrument(spec)), plain(CommandKind::AddInstrument, reason))
        }
        R::BandTooWide => {
            // INFY spans exactly 6_001 levels and fits; 45_000..55_000 at tick 5 would be 2_001.
            let mut f = Fixture::with_limits(Limits { levels_per_book_max: 6_001, ..Limits::small() });
            let spec = InstrumentSpec { reference_price: 200_000, ..spec3() }; // 8_001 levels
            (f.apply(Command::AddInstrument(spec)), plain(CommandKind::AddInstrument, reason))
        }
        R::SessionClosed => {
            let mut f = Fixture::new();
            f.ok(Command::CloseSession);
            place(&mut f, limit(A, Buy, 0, 0), reason)
        }
        R::SessionAlreadyOpen => {
            let mut f = Fixture::new();
            (f.apply(Command::OpenSession), plain(CommandKind::OpenSession, reason))
        }
        R::InstrumentHalted => {
            let mut f = Fixture::new();
            f.ok(Command::Halt { token: INFY });
            place(&mut f, limit(A, Buy, 0, 0), reason)
        }
        R::InstrumentNotHalted => {
            let mut f = Fixture::new();
            (f.apply(Command::Resume { token: INFY }), plain(CommandKind::Resume, reason))
        }
        R::UnknownAccount => {
            let mut f = Fixture::new();
            place(&mut f, limit(50, Buy, 150_000, 10).token(99), reason)
        }
        R::DuplicateAccount => {
            let mut f = Fixture::new();
            let ev = f.apply(Command::CreateAccount { account: A, limits: AccountLimits::default() });
            (ev, rejected(CommandKind::CreateAccount, reason, 0, A, 0))
        }
        R::AccountIdOutOfRange => {
            let mut f = Fixture::new();
            let max = Limits::small().accounts_max;
            place(&mut f, limit(max, Buy, 0, 0).token(99), reason)
        }
        R::AccountNotActive => {
            // Checked before the session.
            let mut f = Fixture::new();
            f.ok(Command::CreateAccount { account: 5, limits: AccountLimits::default() });
            f.ok(Command::Deposit { client_ref: 0, account: 5, amount: CASH });
            f.ok(Command::CloseSession);
            place(&mut f, limit(5, Buy, 150_000, 10), reason)
        }
        R::AccountStatusUnchanged => {
            let mut f = Fixture::new();
            (f.apply(Command::ActivateAccount { account: A }), rejected(CommandKind::ActivateAccount, reason, 0, A, 0))
        }
        R::InvalidAmount => {
            let mut f = Fixture::new();
            (
                f.apply(Command::Deposit { client_ref: 0, account: A, amount: 0 }),
                rejected(CommandKind::Deposit, reason, 0, A, 0),
            )
        }
        R::InsufficientFunds => {
            // 6_667 * 150_000 = 1_000_050_000 > CASH.
            let mut f = Fixture::new();
            place(&mut f, limit(A, Buy, 150_000, 6_667), reason)
        }
        R::InsufficientHoldings => {
            let mut f = Fixture::new();
            place(&mut f, limit(A, Sell, 150_000, HOLD + 1), reason)
        }
        R::InvalidQuantity => {
            let mut f = Fixture::new();
            place(&mut f, limit(A, Buy, 0, 0).disclosed(-1), reason)
        }
        R::LotSizeViolation => {
            let mut f = Fixture::new();
            place(&mut f, limit(A, Buy, 100_003, 15).token(TCS).disclosed(20), reason)
        }
        R::TickSizeViolation => {
            let mut f = Fixture::new();
            place(&mut f, limit(A, Buy, 150_003, 10).with(|o| o.trigger = 5), reason)
        }
        R::InvalidPrice => {
            let mut f = Fixture::new();
            place(&mut f, limit(A, Buy, 0, 10).with(|o| o.trigger = 5), reason)
        }
        R::PriceOutOfBand => {
            let mut f = Fixture::new();
            place(&mut f, limit(A, Buy, INFY_HIGH + 5, 10).with(|o| o.trigger = 5), reason)
        }
        R::InvalidTrigger => {
            let mut f = Fixture::new();
            f.place_ok(limit(B, Sell, 150_000, 10));
            // Also post-only and crossing: the trigger is checked first.
            place(&mut f, limit(A, Buy, 150_000, 10).post_only().with(|o| o.trigger = 150_000), reason)
        }
        R::TriggerAlreadyHit => {
            // ltp = reference = 150_000; also more than the account can pay.
            let mut f = Fixture::new();
            place(&mut f, stop_limit(A, Buy, 150_000, 150_000, 10_000), reason)
        }
        R::InvalidDisclosedQuantity => {
            // Disclosed with MARKET is also an invalid combination, checked later.
            let mut f = Fixture::new();
            place(&mut f, market(A, Buy, 10).disclosed(20), reason)
        }
        R::InvalidOrderCombination => {
            // MARKET with a price is also invalid, checked later.
            let mut f = Fixture::new();
            place(&mut f, market(A, Buy, 10).disclosed(5).with(|o| o.price = 123), reason)
        }
        R::PostOnlyWouldCross => {
            // Also more than the account can pay: post-only is checked first.
            let mut f = Fixture::new();
            f.place_ok(limit(B, Sell, 150_000, 10));
            place(&mut f, limit(A, Buy, 150_000, 10_000).post_only(), reason)
        }
        R::OrderValueLimitExceeded => {
            // Also at the open-orders limit: the value is checked first.
            let mut f = Fixture::new();
            f.set_limits(A, AccountLimits { order_value_max: 1_000_000, open_orders_max: 1, ..Default::default() });
            f.place_ok(limit(A, Buy, 149_000, 1));
            place(&mut f, limit(A, Buy, 150_000, 10), reason)
        }
        R::OpenOrdersLimitExceeded => {
            // Also above the position limit: open orders are checked first.
            let mut f = Fixture::new();
            f.set_limits(A, AccountLimits { open_orders_max: 1, position_max: 5, ..Default::default() });
            f.place_ok(limit(A, Sell, 151_000, 1));
            place(&mut f, limit(A, Buy, 150_000, 10), reason)
        }
        R::PositionLimitExceeded => {
            // 1_000 held + 10_000 > 1_005; also more than the account can pay.
            let mut f = Fixture::new();
            f.set_limits(A, AccountLimits { position_max: 1_005, ..Default::default() });
            place(&mut f, limit(A, Buy, 150_000, 10_000), reason)
        }
        R::OrderTableFull => {
            let mut f = Fixture::with_limits(Limits { orders_max: 2, ..Limits::small() });
            f.place_ok(limit(A, Buy, 149_000, 1));
            f.place_ok(limit(B, Buy, 149_000, 1));
            place(&mut f, limit(C, Buy, 149_000, 1), reason)
        }
        R::PositionTableFull => {
            // The fixture fills all 8 positions; account 5 has none. Also a CNC sell without holdings.
            let mut f = Fixture::with_limits(Limits { positions_max: 8, ..Limits::small() });
            f.open_account(5, AccountLimits::default(), CASH);
            place(&mut f, limit(5, Sell, 150_000, 10), reason)
        }
        R::UnknownOrder => {
            let mut f = Fixture::new();
            (f.cancel(A, 999), cancel_rejected(A, 999, reason))
        }
        R::NotOrderOwner => {
            let mut f = Fixture::new();
            let id = f.place_ok(limit(A, Buy, 149_000, 10));
            (f.cancel(B, id), cancel_rejected(B, id, reason))
        }
        R::InvalidModify => {
            let mut f = Fixture::new();
            let id = f.place_ok(limit(A, Buy, 149_000, 10));
            f.place_ok(limit(C, Sell, 149_000, 4));
            (f.modify(A, id, 0, 4, 0), modify_rejected(A, id, reason))
        }
        R::NothingToModify => {
            let mut f = Fixture::new();
            let id = f.place_ok(limit(A, Buy, 149_000, 10));
            (f.modify(A, id, 149_000, 10, 0), modify_rejected(A, id, reason))
        }
        R::ValueOverflow => {
            // 10^14 * 150_000 does not fit in i64.
            let mut f = Fixture::new();
            place(&mut f, limit(A, Buy, 150_000, 100_000_000_000_000), reason)
        }
        R::InvalidFeeSchedule => {
            let mut f = Fixture::new();
            let ev = f.apply(Command::SetFeeSchedule(FeeSchedule { bps: 10_001, cap: 0, fee_account: 0 }));
            (ev, plain(CommandKind::SetFeeSchedule, reason))
        }
        R::SessionAlreadyClosed => {
            let mut f = Fixture::new();
            f.ok(Command::CloseSession);
            (f.apply(Command::CloseSession), plain(CommandKind::CloseSession, reason))
        }
        R::InvalidLimits => {
            let mut f = Fixture::new();
            let limits = AccountLimits { position_max: -1, ..Default::default() };
            (
                f.apply(Command::CreateAccount { account: 5, limits }),
                rejected(CommandKind::CreateAccount, reason, 0, 5, 0),
            )
        }
        R::DuplicateRequest => {
            // Deposits and withdrawals share one client_ref sequence per account; the duplicate
            // is checked before the amount.
            let mut f = Fixture::new();
            f.ok(Command::Deposit { client_ref: 5, account: A, amount: 100 });
            (
                f.apply(Command::Withdraw { client_ref: 5, account: A, amount: 0 }),
                rejected(CommandKind::Withdraw, reason, 5, A, 0),
            )
        }
    }
}

fn check(reason: RejectReason) {
    let (events, expected) = scenario(reason);
    assert!(
        matches!(expected, Event::Rejected { reason: r, .. } if r == reason),
        "scenario for {reason:?} expects {expected:?}"
    );
    assert_eq!(events, vec![expected], "scenario for {reason:?}");
}

#[test]
fn every_reject_reason_has_a_working_scenario() {
    let mut failed = Vec::new();
    for &reason in RejectReason::ALL {
        let (events, expected) = scenario(reason);
        let ok = matches!(expected, Event::Rejected { reason: r, .. } if r == reason) && events == vec![expected];
        if !ok {
            failed.push(format!("{reason:?}: expected [{expected:?}], got {events:?}"));
        }
    }
    assert!(failed.is_empty(), "reasons not produced as specified:\n{}", failed.join("\n"));
    // The wire enum and the list agree (a variant missing from ALL would escape the loop above).
    for value in 0..=u8::MAX {
        if let Some(r) = RejectReason::from_u8(value) {
            assert!(RejectReason::ALL.contains(&r), "{r:?} missing from ALL");
        }
    }
}

macro_rules! reject_tests {
    ($($name:ident => $reason:ident,)+) => {
        $(
            #[test]
            fn $name() {
                check(RejectReason::$reason);
            }
        )+

        #[test]
        fn one_named_test_per_reason() {
            let named = [$(RejectReason::$reason),+];
            for reason in RejectReason::ALL {
                assert!(named.contains(reason), "{reason:?} has no named test");
            }
            assert_eq!(named.len(), RejectReason::ALL.len());
        }
    };
}

reject_tests! {
    reject_unknown_instrument => UnknownInstrument,
    reject_duplicate_instrument => DuplicateInstrument,
    reject_instrument_table_full => InstrumentTableFull,
    reject_invalid_instrument_spec => InvalidInstrumentSpec,
    reject_band_too_wide => BandTooWide,
    reject_session_closed => SessionClosed,
    reject_session_already_open => SessionAlreadyOpen,
    reject_instrument_halted => InstrumentHalted,
    reject_instrument_not_halted => InstrumentNotHalted,
    reject_unknown_account => UnknownAccount,
    reject_duplicate_account => DuplicateAccount,
    reject_account_id_out_of_range => AccountIdOutOfRange,
    reject_account_not_active => AccountNotActive,
    reject_account_status_unchanged => AccountStatusUnchanged,
    reject_invalid_amount => InvalidAmount,
    reject_insufficient_funds => InsufficientFunds,
    reject_insufficient_holdings => InsufficientHoldings,
    reject_invalid_quantity => InvalidQuantity,
    reject_lot_size_violation => LotSizeViolation,
    reject_tick_size_violation => TickSizeViolation,
    reject_invalid_price => InvalidPrice,
    reject_price_out_of_band => PriceOutOfBand,
    reject_invalid_trigger => InvalidTrigger,
    reject_trigger_already_hit => TriggerAlreadyHit,
    reject_invalid_disclosed_quantity => InvalidDisclosedQuantity,
    reject_invalid_order_combination => InvalidOrderCombination,
    reject_post_only_would_cross => PostOnlyWouldCross,
    reject_order_value_limit_exceeded => OrderValueLimitExceeded,
    reject_open_orders_limit_exceeded => OpenOrdersLimitExceeded,
    reject_position_limit_exceeded => PositionLimitExceeded,
    reject_order_table_full => OrderTableFull,
    reject_position_table_full => PositionTableFull,
    reject_unknown_order => UnknownOrder,
    reject_not_order_owner => NotOrderOwner,
    reject_invalid_modify => InvalidModify,
    reject_nothing_to_modify => NothingToModify,
    reject_value_overflow => ValueOverflow,
    reject_invalid_fee_schedule => InvalidFeeSchedule,
    reject_session_already_closed => SessionAlreadyClosed,
    reject_invalid_limits => InvalidLimits,
    reject_duplicate_request => DuplicateRequest,
}

// ---------------------------------------------------------------------------------------------
// More cases of the place checks
// ---------------------------------------------------------------------------------------------

fn reason_of(events: &[Event]) -> Option<RejectReason> {
    match events {
        [Event::Rejected { reason, .. }] => Some(*reason),
        _ => None,
    }
}

/// Places each order on a fresh fixture and expects exactly its rejection.
fn expect_place_rejections(cases: &[(NewOrder, RejectReason)]) {
    for (o, reason) in cases {
        let mut f = Fixture::new();
        assert_eq!(f.place(*o), vec![place_rejected(o, *reason)], "order {o:?}");
    }
}

#[test]
fn price_rules_per_order_type() {
    use RejectReason as R;
    expect_place_rejections(&[
        (limit(A, Buy, -5, 10), R::InvalidPrice),
        (market(A, Buy, 10).with(|o| o.price = 150_000), R::InvalidPrice),
        (stop_market(A, Buy, 150_500, 10).with(|o| o.price = 150_500), R::InvalidPrice),
        (stop_limit(A, Buy, 150_500, 0, 10), R::InvalidPrice),
        (stop_limit(A, Buy, 150_500, 150_501, 10), R::TickSizeViolation),
        (limit(A, Sell, INFY_LOW - 5, 10), R::PriceOutOfBand),
        (stop_limit(A, Sell, 149_000, INFY_LOW - 5, 10), R::PriceOutOfBand),
        (limit(A, Buy, 100_000, 10).token(TCS).with(|o| o.price = TCS_HIGH + 5), R::PriceOutOfBand),
    ]);
    // The band edges themselves are inside.
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, INFY_LOW, 1));
    f.place_ok(limit(A, Sell, INFY_HIGH, 1));
}

#[test]
fn trigger_rules() {
    use RejectReason as R;
    expect_place_rejections(&[
        (stop_limit(A, Buy, 0, 151_000, 10), R::InvalidTrigger),
        (stop_market(A, Buy, -5, 10), R::InvalidTrigger),
        (stop_market(A, Buy, 150_502, 10), R::TickSizeViolation),
        (stop_market(A, Buy, INFY_HIGH + 5, 10), R::PriceOutOfBand),
        (stop_market(A, Sell, INFY_LOW - 5, 10), R::PriceOutOfBand),
        (stop_limit(A, Buy, 151_005, 151_000, 10), R::InvalidTrigger),
        (stop_limit(A, Sell, 148_995, 149_000, 10), R::InvalidTrigger),
        (stop_market(A, Buy, 150_000, 10), R::TriggerAlreadyHit),
        (stop_market(A, Buy, 149_000, 10), R::TriggerAlreadyHit),
        (stop_market(A, Sell, 150_000, 10), R::TriggerAlreadyHit),
        (stop_limit(A, Sell, 150_500, 150_500, 10), R::TriggerAlreadyHit),
        (market(A, Buy, 10).with(|o| o.trigger = 150_000), R::InvalidTrigger),
    ]);
    // TriggerAlreadyHit follows the last traded price, not the reference.
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 151_000, 1));
    f.place_ok(limit(C, Buy, 151_000, 1));
    assert_eq!(f.ltp(INFY), 151_000);
    let o = stop_market(A, Buy, 150_500, 10);
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::TriggerAlreadyHit)]);
    let o = stop_market(A, Buy, 151_000, 10);
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::TriggerAlreadyHit)]);
    f.place_ok(stop_market(A, Buy, 151_005, 10));
    f.place_ok(stop_market(A, Sell, 150_995, 10));
}

#[test]
fn disclosed_and_combination_rules() {
    use RejectReason as R;
    expect_place_rejections(&[
        (limit(A, Buy, 150_000, 10).disclosed(-1), R::InvalidDisclosedQuantity),
        (limit(A, Buy, 150_000, 10).disclosed(11), R::InvalidDisclosedQuantity),
        (limit(A, Buy, 100_000, 20).token(TCS).disclosed(15), R::InvalidDisclosedQuantity),
        (stop_market(A, Buy, 150_500, 10).disclosed(5), R::InvalidOrderCombination),
        (limit(A, Buy, 149_000, 10).ioc().disclosed(5), R::InvalidOrderCombination),
        (limit(A, Buy, 149_000, 10).fok().disclosed(5), R::InvalidOrderCombination),
        (limit(A, Buy, 149_000, 10).ioc().post_only(), R::InvalidOrderCombination),
        (limit(A, Buy, 149_000, 10).fok().post_only(), R::InvalidOrderCombination),
        (market(A, Buy, 10).post_only(), R::InvalidOrderCombination),
        (stop_limit(A, Buy, 150_500, 151_000, 10).post_only(), R::InvalidOrderCombination),
        (stop_market(A, Buy, 150_500, 10).post_only().gtc(), R::InvalidOrderCombination),
    ]);
    // Disclosed is fine on LIMIT and SL with DAY/GTC, and equal to qty is allowed.
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_000, 10).disclosed(10));
    f.place_ok(stop_limit(A, Buy, 150_500, 151_000, 10).disclosed(5).gtc());
    f.place_ok(limit(A, Buy, 99_000, 20).token(TCS).disclosed(10));
}

#[test]
fn quantity_rules() {
    use RejectReason as R;
    expect_place_rejections(&[
        (limit(A, Buy, 150_000, 0), R::InvalidQuantity),
        (limit(A, Buy, 150_000, -10), R::InvalidQuantity),
        (limit(A, Buy, 100_000, 5).token(TCS), R::LotSizeViolation),
        (market(A, Sell, 25).token(TCS), R::LotSizeViolation),
    ]);
}

#[test]
fn account_checks_come_before_everything() {
    let mut f = Fixture::new();
    // Suspended account, closed session, bad order: AccountNotActive.
    f.ok(Command::SuspendAccount { account: A });
    f.ok(Command::CloseSession);
    let o = limit(A, Buy, 1, 0);
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::AccountNotActive)]);
    // Unknown account wins over unknown instrument and everything else.
    let o = limit(7, Buy, 1, 0).token(42);
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::UnknownAccount)]);
}

#[test]
fn session_is_checked_before_the_halt() {
    let mut f = Fixture::new();
    f.ok(Command::Halt { token: INFY });
    f.ok(Command::CloseSession);
    let o = limit(A, Buy, 150_000, 10);
    assert_eq!(reason_of(&f.place(o)), Some(RejectReason::SessionClosed));
}

#[test]
fn risk_checks_are_after_validation() {
    // An order that is both invalid and unaffordable gets the validation reason.
    let mut f = Fixture::new();
    let o = limit(A, Buy, 150_003, 1_000_000);
    assert_eq!(reason_of(&f.place(o)), Some(RejectReason::TickSizeViolation));
    let o = NewOrder { order_type: OrderType::Market, price: 0, ..limit(A, Buy, 0, 1_000_000) };
    assert_eq!(reason_of(&f.place(o)), Some(RejectReason::InsufficientFunds));
}

// ---------------------------------------------------------------------------------------------
// Non-order commands
// ---------------------------------------------------------------------------------------------

#[test]
fn account_command_rejections() {
    let mut f = Fixture::new();
    let max = Limits::small().accounts_max;
    assert_eq!(
        f.apply(Command::CreateAccount { account: max, limits: AccountLimits::default() }),
        vec![rejected(CommandKind::CreateAccount, RejectReason::AccountIdOutOfRange, 0, max, 0)]
    );
    for limits in [
        AccountLimits { order_value_max: -1, ..Default::default() },
        AccountLimits { position_max: -1, ..Default::default() },
    ] {
        assert_eq!(
            f.apply(Command::CreateAccount { account: 6, limits }),
            vec![rejected(CommandKind::CreateAccount, RejectReason::InvalidLimits, 0, 6, 0)]
        );
    }
    assert!(f.engine.account(6).is_none());
    assert_eq!(
        f.apply(Command::ActivateAccount { account: 6 }),
        vec![rejected(CommandKind::ActivateAccount, RejectReason::UnknownAccount, 0, 6, 0)]
    );
    assert_eq!(
        f.apply(Command::SuspendAccount { account: 6 }),
        vec![rejected(CommandKind::SuspendAccount, RejectReason::UnknownAccount, 0, 6, 0)]
    );
    f.ok(Command::SuspendAccount { account: A });
    assert_eq!(
        f.apply(Command::SuspendAccount { account: A }),
        vec![rejected(CommandKind::SuspendAccount, RejectReason::AccountStatusUnchanged, 0, A, 0)]
    );
}

#[test]
fn funds_command_rejections() {
    let mut f = Fixture::new();
    let r = |kind, reason, account| vec![rejected(kind, reason, 0, account, 0)];
    assert_eq!(
        f.apply(Command::Deposit { client_ref: 0, account: A, amount: -1 }),
        r(CommandKind::Deposit, RejectReason::InvalidAmount, A)
    );
    assert_eq!(
        f.apply(Command::Withdraw { client_ref: 0, account: A, amount: 0 }),
        r(CommandKind::Withdraw, RejectReason::InvalidAmount, A)
    );
    assert_eq!(
        f.apply(Command::Deposit { client_ref: 0, account: A, amount: i64::MAX }),
        r(CommandKind::Deposit, RejectReason::ValueOverflow, A)
    );
    assert_eq!(
        f.apply(Command::Withdraw { client_ref: 0, account: A, amount: CASH + 1 }),
        r(CommandKind::Withdraw, RejectReason::InsufficientFunds, A)
    );
    assert_eq!(
        f.apply(Command::Deposit { client_ref: 0, account: 77, amount: 5 }),
        r(CommandKind::Deposit, RejectReason::UnknownAccount, 77)
    );
    assert_eq!(
        f.apply(Command::DepositHoldings { account: A, token: INFY, qty: 0 }),
        r(CommandKind::DepositHoldings, RejectReason::InvalidQuantity, A)
    );
    assert_eq!(
        f.apply(Command::DepositHoldings { account: A, token: 99, qty: 5 }),
        r(CommandKind::DepositHoldings, RejectReason::UnknownInstrument, A)
    );
    assert_eq!(
        f.apply(Command::WithdrawHoldings { account: A, token: INFY, qty: -3 }),
        r(CommandKind::WithdrawHoldings, RejectReason::InvalidQuantity, A)
    );
    assert_eq!(
        f.apply(Command::WithdrawHoldings { account: A, token: INFY, qty: HOLD + 1 }),
        r(CommandKind::WithdrawHoldings, RejectReason::InsufficientHoldings, A)
    );
    assert_eq!(f.account(A).cash, CASH);
    assert_eq!(f.position(A, INFY).holdings, HOLD);
}

#[test]
fn funds_commands_are_deduplicated_by_client_ref() {
    let mut f = Fixture::new();
    let deposit = |client_ref, amount| Command::Deposit { client_ref, account: A, amount };
    let withdraw = |client_ref, amount| Command::Withdraw { client_ref, account: A, amount };
    let changed =
        |delta, cash, reason, client_ref| Event::BalanceChanged { account: A, delta, cash, reason, client_ref };
    let dup = |kind, client_ref| vec![rejected(kind, RejectReason::DuplicateRequest, client_ref, A, 0)];
    assert_eq!(f.account(A).funds_ref, 0);
    // Applied: the client_ref is echoed and becomes the account's last one.
    assert_eq!(f.apply(deposit(10, 500)), vec![changed(500, CASH + 500, BalanceReason::Deposit, 10)]);
    assert_eq!(f.account(A).funds_ref, 10);
    // The same request again, or an older one, changes nothing.
    assert_eq!(f.apply(deposit(10, 500)), dup(CommandKind::Deposit, 10));
    assert_eq!(f.apply(withdraw(3, 1)), dup(CommandKind::Withdraw, 3));
    assert_eq!(f.account(A).cash, CASH + 500);
    // A refusal for another reason echoes the client_ref and does not consume it.
    assert_eq!(
        f.apply(withdraw(11, CASH + 501)),
        vec![rejected(CommandKind::Withdraw, RejectReason::InsufficientFunds, 11, A, 0)]
    );
    assert_eq!(f.account(A).funds_ref, 10);
    assert_eq!(f.apply(withdraw(11, 200)), vec![changed(-200, CASH + 300, BalanceReason::Withdrawal, 11)]);
    // Gaps are allowed; 0 means "no deduplication" and leaves the last one alone.
    assert_eq!(f.apply(deposit(20, 1)), vec![changed(1, CASH + 301, BalanceReason::Deposit, 20)]);
    assert_eq!(f.apply(deposit(0, 1)), vec![changed(1, CASH + 302, BalanceReason::Deposit, 0)]);
    assert_eq!(f.apply(deposit(0, 1)), vec![changed(1, CASH + 303, BalanceReason::Deposit, 0)]);
    assert_eq!(f.account(A).funds_ref, 20);
    assert_eq!(f.apply(deposit(19, 1)), dup(CommandKind::Deposit, 19));
    // Each account has its own sequence.
    assert_eq!(
        f.apply(Command::Deposit { client_ref: 1, account: B, amount: 7 }),
        vec![Event::BalanceChanged {
            account: B,
            delta: 7,
            cash: CASH + 7,
            reason: BalanceReason::Deposit,
            client_ref: 1
        }]
    );
    // The last client_ref is state: it survives a snapshot and is part of the hash.
    let mut bytes = Vec::new();
    f.engine.snapshot(&mut bytes);
    let restored: engine_core::Engine = engine_core::Engine::restore(*f.engine.limits(), &bytes).expect("restore");
    assert_eq!(restored.account(A).expect("A").funds_ref, 20);
    assert_eq!(restored.state_hash(), f.engine.state_hash());
    let before = f.engine.state_hash();
    f.ok(deposit(21, 1));
    f.ok(withdraw(0, 1));
    assert_ne!(f.engine.state_hash(), before, "cash is back where it was, funds_ref is not");
}

#[test]
fn holdings_deposit_needs_a_free_position_slot() {
    let mut f = Fixture::with_limits(Limits { positions_max: 8, ..Limits::small() });
    f.open_account(5, AccountLimits::default(), 0);
    assert_eq!(
        f.apply(Command::DepositHoldings { account: 5, token: INFY, qty: 5 }),
        vec![rejected(CommandKind::DepositHoldings, RejectReason::PositionTableFull, 0, 5, 0)]
    );
    // Existing positions still take deposits.
    f.ok(Command::DepositHoldings { account: A, token: INFY, qty: 5 });
}

#[test]
fn fee_schedule_rejections() {
    let mut f = Fixture::new();
    assert_eq!(
        f.apply(Command::SetFeeSchedule(FeeSchedule { bps: 10, cap: -1, fee_account: 0 })),
        vec![plain(CommandKind::SetFeeSchedule, RejectReason::InvalidFeeSchedule)]
    );
    let ev = f.apply(Command::SetFeeSchedule(FeeSchedule { bps: 10, cap: 0, fee_account: 500 }));
    assert_eq!(reason_of(&ev), Some(RejectReason::UnknownAccount));
    assert_eq!(f.engine.fee_schedule(), FeeSchedule::default());
    let s = FeeSchedule { bps: 10_000, cap: 0, fee_account: FEE };
    assert_eq!(f.apply(Command::SetFeeSchedule(s)), vec![Event::FeeScheduleSet(s)]);
    assert_eq!(f.engine.fee_schedule(), s);
}

#[test]
fn instrument_command_rejections() {
    let mut f = Fixture::new();
    for spec in [
        InstrumentSpec { tick: 0, ..spec3() },
        InstrumentSpec { tick: -5, ..spec3() },
        InstrumentSpec { lot: -1, ..spec3() },
        InstrumentSpec { reference_price: 0, ..spec3() },
        InstrumentSpec { mis_leverage: 0, ..spec3() },
        InstrumentSpec { symbol: engine_core::Symbol::default(), ..spec3() },
    ] {
        assert_eq!(
            f.apply(Command::AddInstrument(spec)),
            vec![plain(CommandKind::AddInstrument, RejectReason::InvalidInstrumentSpec)],
            "{spec:?}"
        );
    }
    assert!(f.engine.instrument(3).is_none());
    assert_eq!(f.apply(Command::Halt { token: 99 }), vec![plain(CommandKind::Halt, RejectReason::UnknownInstrument)]);
    assert_eq!(
        f.apply(Command::Resume { token: 99 }),
        vec![plain(CommandKind::Resume, RejectReason::UnknownInstrument)]
    );
}

#[test]
fn reference_price_off_the_tick_grid_is_an_invalid_spec() {
    // `InstrumentSpec::reference_price` is documented as "on the tick grid".
    let mut f = Fixture::new();
    assert_eq!(
        f.apply(Command::AddInstrument(InstrumentSpec { reference_price: 50_003, ..spec3() })),
        vec![plain(CommandKind::AddInstrument, RejectReason::InvalidInstrumentSpec)]
    );
}

#[test]
fn band_exactly_at_the_level_limit_is_accepted() {
    // INFY spans (165_000 - 135_000) / 5 + 1 = 6_001 levels.
    let mut f = Fixture::bare(Limits { levels_per_book_max: 6_001, ..Limits::small() });
    assert_eq!(
        f.apply(Command::AddInstrument(infy_spec())),
        vec![Event::InstrumentAdded { spec: infy_spec(), band_low: INFY_LOW, band_high: INFY_HIGH }]
    );
    let mut f = Fixture::bare(Limits { levels_per_book_max: 6_000, ..Limits::small() });
    assert_eq!(
        f.apply(Command::AddInstrument(infy_spec())),
        vec![plain(CommandKind::AddInstrument, RejectReason::BandTooWide)]
    );
}

#[test]
fn rejected_place_changes_nothing() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_000, 10));
    let accounts: Vec<_> = f.engine.accounts().collect();
    let positions: Vec<_> = f.engine.positions().collect();
    let orders: Vec<_> = f.engine.open_orders().collect();
    for o in [
        limit(A, Buy, 150_000, 6_667),
        limit(A, Sell, 150_000, HOLD + 1),
        limit(A, Buy, 150_000, 10).post_only(),
        stop_market(A, Buy, 150_000, 10),
    ] {
        let ev = f.place(o);
        assert!(reason_of(&ev).is_some(), "{o:?}: {ev:?}");
    }
    assert_eq!(f.engine.accounts().collect::<Vec<_>>(), accounts);
    assert_eq!(f.engine.positions().collect::<Vec<_>>(), positions);
    assert_eq!(f.engine.open_orders().collect::<Vec<_>>(), orders);
    // The next accepted order gets id 2.
    assert_eq!(f.place_ok(limit(A, Buy, 149_000, 1)), 2);
}
