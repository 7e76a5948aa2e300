//! Modify: checks, priority rules and events (docs/engine-semantics.md, "Modify").

mod common;

use common::*;
use engine_core::Side::{Buy, Sell};
use engine_core::{AccountLimits, Command, Event, RejectReason};

/// `events` is `Modified` followed only by `BookLevel`s of one level, the last one `(qty, orders)`,
/// and then `risk`, the account's new blocked cash.
fn assert_modified_then_level(events: &[Event], modified_event: Event, price: i64, qty: i64, orders: u32, risk: Event) {
    assert_eq!(events.last(), Some(&risk), "events: {events:?}");
    let events = &events[..events.len() - 1];
    assert_eq!(events.first(), Some(&modified_event), "events: {events:?}");
    assert!(events.len() >= 2, "a BookLevel must follow Modified: {events:?}");
    for e in &events[1..] {
        assert!(
            matches!(e, Event::BookLevel { token: INFY, side: Buy, price: p, .. } if *p == price),
            "unexpected event after Modified: {e:?} in {events:?}"
        );
    }
    assert_eq!(events.last(), Some(&level(INFY, Buy, price, qty, orders)));
}

#[test]
fn price_change_loses_priority() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_000, 10)); // 1
    f.place_ok(limit(B, Buy, 149_500, 10)); // 2
    assert_eq!(
        f.modify(A, 1, 149_500, 10, 0),
        vec![
            modified(1, A, 149_500, 10, 0, 10, false),
            level(INFY, Buy, 149_000, 0, 0),
            level(INFY, Buy, 149_500, 20, 2),
            risk(A, 10 * 149_500, 0),
        ]
    );
    // B was first at 149_500 and stays first.
    let t = limit(C, Sell, 149_500, 10);
    let exp = f
        .expect()
        .accepted(3, &t)
        .fill(INFY, 149_500, 10, Sell, cnc(2, B, 0), cnc(3, C, 0))
        .level(INFY, Buy, 149_500, 10, 1)
        .risk(B, 0, 0)
        .done();
    assert_eq!(f.place(t), exp);
    assert!(f.is_open(1));
}

#[test]
fn price_change_back_to_the_same_level_still_goes_to_the_back() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_000, 10)); // 1
    f.place_ok(limit(B, Buy, 149_000, 10)); // 2
    f.ok(Command::Modify(engine_core::ModifyOrder {
        client_ref: 1,
        account: A,
        order_id: 1,
        price: 148_500,
        qty: 10,
        trigger: 0,
    }));
    assert_eq!(
        f.modify(A, 1, 149_000, 10, 0),
        vec![
            modified(1, A, 149_000, 10, 0, 10, false),
            level(INFY, Buy, 148_500, 0, 0),
            level(INFY, Buy, 149_000, 20, 2),
            risk(A, 10 * 149_000, 0),
        ]
    );
    let t = limit(C, Sell, 149_000, 10);
    let exp = f
        .expect()
        .accepted(3, &t)
        .fill(INFY, 149_000, 10, Sell, cnc(2, B, 0), cnc(3, C, 0))
        .level(INFY, Buy, 149_000, 10, 1)
        .risk(B, 0, 0)
        .done();
    assert_eq!(f.place(t), exp);
}

#[test]
fn price_change_reenters_as_a_taker_and_can_trade() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_000, 10)); // 1
    f.place_ok(limit(B, Sell, 150_000, 4)); // 2
    f.place_ok(limit(C, Sell, 150_500, 10)); // 3
    let exp = f
        .expect()
        .push(modified(1, A, 150_000, 10, 0, 10, false))
        .level(INFY, Buy, 149_000, 0, 0)
        .fill(INFY, 150_000, 4, Buy, cnc(1, A, 6), cnc(2, B, 0))
        .level(INFY, Sell, 150_000, 0, 0)
        .level(INFY, Buy, 150_000, 6, 1)
        .risk(A, 6 * 150_000, 0)
        .done();
    assert_eq!(f.modify(A, 1, 150_000, 10, 0), exp);
    let v = f.order(1);
    assert_eq!((v.price, v.qty, v.filled, v.visible), (150_000, 10, 4, 6));
    assert_eq!(f.ltp(INFY), 150_000);
    // Reservation follows the new price for the remaining 6.
    assert_eq!(v.reserved_cash, 6 * 150_000);
    f.check_account_sums(A);
}

#[test]
fn price_change_through_the_book_trades_at_maker_prices() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Sell, 151_000, 10)); // 1
    f.place_ok(limit(B, Buy, 150_000, 3)); // 2
    f.place_ok(limit(C, Buy, 149_500, 3)); // 3
    let exp = f
        .expect()
        .push(modified(1, A, 149_000, 10, 0, 10, false))
        .level(INFY, Sell, 151_000, 0, 0)
        .fill(INFY, 150_000, 3, Sell, cnc(2, B, 0), cnc(1, A, 7))
        .level(INFY, Buy, 150_000, 0, 0)
        .fill(INFY, 149_500, 3, Sell, cnc(3, C, 0), cnc(1, A, 4))
        .level(INFY, Buy, 149_500, 0, 0)
        .push(level(INFY, Sell, 149_000, 4, 1))
        // A's CNC sell blocks no cash: only the buyers' reservations change.
        .risk(B, 0, 0)
        .risk(C, 0, 0)
        .done();
    assert_eq!(f.modify(A, 1, 149_000, 10, 0), exp);
}

#[test]
fn quantity_increase_loses_priority() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_000, 10)); // 1
    f.place_ok(limit(B, Buy, 149_000, 10)); // 2
    let ev = f.modify(A, 1, 149_000, 15, 0);
    assert_modified_then_level(
        &ev,
        modified(1, A, 149_000, 15, 0, 15, false),
        149_000,
        25,
        2,
        risk(A, 15 * 149_000, 0),
    );
    let t = limit(C, Sell, 149_000, 10);
    let exp = f
        .expect()
        .accepted(3, &t)
        .fill(INFY, 149_000, 10, Sell, cnc(2, B, 0), cnc(3, C, 0))
        .level(INFY, Buy, 149_000, 15, 1)
        .risk(B, 0, 0)
        .done();
    assert_eq!(f.place(t), exp);
}

#[test]
fn quantity_decrease_keeps_priority() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_000, 10)); // 1
    f.place_ok(limit(B, Buy, 149_000, 10)); // 2
    assert_eq!(f.account(A).reserved, 10 * 149_000);
    assert_eq!(
        f.modify(A, 1, 149_000, 6, 0),
        vec![modified(1, A, 149_000, 6, 0, 6, true), level(INFY, Buy, 149_000, 16, 2), risk(A, 6 * 149_000, 0)]
    );
    assert_eq!(f.account(A).reserved, 6 * 149_000);
    assert_eq!(f.position(A, INFY).open_buy_qty, 6);
    let t = limit(C, Sell, 149_000, 6);
    let exp = f
        .expect()
        .accepted(3, &t)
        .fill(INFY, 149_000, 6, Sell, cnc(1, A, 0), cnc(3, C, 0))
        .level(INFY, Buy, 149_000, 10, 1)
        .risk(A, 0, 0)
        .done();
    assert_eq!(f.place(t), exp);
}

#[test]
fn quantity_counts_the_filled_part() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_000, 10)); // 1
    f.place_ok(limit(C, Sell, 149_000, 4)); // 2: fills 4 of order 1
    assert_eq!(f.order(1).filled, 4);
    assert_eq!(f.modify(A, 1, 149_000, 4, 0), vec![modify_rejected(A, 1, RejectReason::InvalidModify)]);
    assert_eq!(f.modify(A, 1, 149_000, 3, 0), vec![modify_rejected(A, 1, RejectReason::InvalidModify)]);
    assert_eq!(
        f.modify(A, 1, 149_000, 8, 0),
        vec![modified(1, A, 149_000, 8, 0, 4, true), level(INFY, Buy, 149_000, 4, 1), risk(A, 4 * 149_000, 0)]
    );
    let v = f.order(1);
    assert_eq!((v.qty, v.filled, v.visible, v.reserved_cash), (8, 4, 4, 4 * 149_000));
}

#[test]
fn unchanged_modify_is_nothing_to_modify() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_000, 10)); // 1
    f.place_ok(stop_limit(A, Buy, 150_500, 151_000, 10)); // 2
    assert_eq!(f.modify(A, 1, 149_000, 10, 0), vec![modify_rejected(A, 1, RejectReason::NothingToModify)]);
    assert_eq!(f.modify(A, 2, 151_000, 10, 150_500), vec![modify_rejected(A, 2, RejectReason::NothingToModify)]);
}

#[test]
fn trigger_of_an_untriggered_stop_can_be_modified() {
    let mut f = Fixture::new();
    f.place_ok(stop_limit(A, Buy, 150_500, 151_000, 10)); // 1
                                                          // Not in the book: no BookLevel.
    assert_eq!(f.modify(A, 1, 151_000, 10, 150_750), vec![modified(1, A, 151_000, 10, 150_750, 10, false)]);
    assert_eq!(f.order(1).trigger, 150_750);
    // Quantity decrease with the same trigger keeps priority (and releases cash).
    assert_eq!(
        f.modify(A, 1, 151_000, 8, 150_750),
        vec![modified(1, A, 151_000, 8, 150_750, 8, true), risk(A, 8 * 151_000, 0)]
    );

    // Place rules for the trigger apply.
    assert_eq!(f.modify(A, 1, 151_000, 8, 150_000), vec![modify_rejected(A, 1, RejectReason::TriggerAlreadyHit)]);
    assert_eq!(f.modify(A, 1, 151_000, 8, 151_500), vec![modify_rejected(A, 1, RejectReason::InvalidTrigger)]);
    assert_eq!(f.modify(A, 1, 151_000, 8, 150_502), vec![modify_rejected(A, 1, RejectReason::TickSizeViolation)]);
    assert_eq!(f.modify(A, 1, 151_000, 8, 0), vec![modify_rejected(A, 1, RejectReason::InvalidTrigger)]);

    // A trade at the old trigger no longer triggers it.
    f.place_ok(limit(B, Sell, 150_500, 5)); // 2
    f.place_ok(limit(C, Buy, 150_500, 5)); // 3
    assert!(!f.order(1).triggered);
    // A trade at the new trigger does.
    f.place_ok(limit(B, Sell, 150_750, 5)); // 4
    let t = limit(C, Buy, 150_750, 5);
    let exp = f
        .expect()
        .accepted(5, &t)
        .fill(INFY, 150_750, 5, Buy, cnc(5, C, 0), cnc(4, B, 0))
        .level(INFY, Sell, 150_750, 0, 0)
        .triggered(1, INFY, 150_750)
        .level(INFY, Buy, 151_000, 8, 1)
        .done();
    assert_eq!(f.place(t), exp);
}

#[test]
fn stop_market_trigger_modify() {
    let mut f = Fixture::new();
    f.place_ok(stop_market(A, Sell, 149_000, 10)); // 1
    assert_eq!(f.modify(A, 1, 0, 10, 149_500), vec![modified(1, A, 0, 10, 149_500, 10, false)]);
    assert_eq!(f.modify(A, 1, 0, 10, 150_000), vec![modify_rejected(A, 1, RejectReason::TriggerAlreadyHit)]);
    assert_eq!(f.modify(A, 1, 5, 10, 149_500), vec![modify_rejected(A, 1, RejectReason::InvalidPrice)]);
    assert_eq!(f.modify(A, 1, 0, 10, 134_995), vec![modify_rejected(A, 1, RejectReason::PriceOutOfBand)]);
}

#[test]
fn trigger_on_a_non_stop_order_is_invalid_modify() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_000, 10)); // 1
    assert_eq!(f.modify(A, 1, 149_000, 10, 149_000), vec![modify_rejected(A, 1, RejectReason::InvalidModify)]);
    assert_eq!(f.modify(A, 1, 149_000, 5, 148_000), vec![modify_rejected(A, 1, RejectReason::InvalidModify)]);
}

#[test]
fn triggered_stop_keeps_its_trigger() {
    let mut f = Fixture::new();
    f.place_ok(stop_limit(A, Buy, 150_500, 150_500, 10)); // 1
    f.place_ok(limit(B, Sell, 150_500, 5)); // 2
    f.place_ok(limit(C, Buy, 150_500, 5)); // 3: trades, triggers 1, which rests at 150_500
    assert!(f.order(1).triggered);
    assert_eq!(f.book(INFY, Buy), vec![(150_500, 10, 1)]);
    assert_eq!(f.modify(A, 1, 150_500, 10, 151_000), vec![modify_rejected(A, 1, RejectReason::InvalidModify)]);
    // The current trigger is accepted; priority is kept on a decrease.
    assert_eq!(
        f.modify(A, 1, 150_500, 8, 150_500),
        vec![modified(1, A, 150_500, 8, 150_500, 8, true), level(INFY, Buy, 150_500, 8, 1), risk(A, 8 * 150_500, 0)]
    );
    // And 0 means "unchanged".
    let ev = f.modify(A, 1, 150_500, 7, 0);
    assert!(
        matches!(ev.first(), Some(Event::Modified { order_id: 1, qty: 7, remaining: 7, priority_kept: true, .. })),
        "{ev:?}"
    );
    assert_eq!(ev[ev.len() - 2..], [level(INFY, Buy, 150_500, 7, 1), risk(A, 7 * 150_500, 0)]);
}

#[test]
fn only_the_owner_may_modify_an_open_order() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_000, 10)); // 1
    assert_eq!(f.modify(B, 1, 149_500, 10, 0), vec![modify_rejected(B, 1, RejectReason::NotOrderOwner)]);
    assert_eq!(f.modify(A, 99, 149_500, 10, 0), vec![modify_rejected(A, 99, RejectReason::UnknownOrder)]);
    // Cancelled and filled orders are not open.
    f.ok(Command::Cancel { client_ref: 1, account: A, order_id: 1 });
    assert_eq!(f.modify(A, 1, 149_500, 10, 0), vec![modify_rejected(A, 1, RejectReason::UnknownOrder)]);
    f.place_ok(limit(B, Sell, 150_000, 5)); // 2
    f.place_ok(limit(A, Buy, 150_000, 5)); // 3: fills 2
    assert_eq!(f.modify(B, 2, 150_500, 5, 0), vec![modify_rejected(B, 2, RejectReason::UnknownOrder)]);
    assert_eq!(f.cancel(A, 3), vec![cancel_rejected(A, 3, RejectReason::UnknownOrder)]);
    // Cancel checks ownership too.
    f.place_ok(limit(C, Buy, 149_000, 1)); // 4
    assert_eq!(f.cancel(D, 4), vec![cancel_rejected(D, 4, RejectReason::NotOrderOwner)]);
}

#[test]
fn modify_check_order() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_000, 10).gtc()); // 1
    f.place_ok(limit(A, Buy, 99_000, 20).token(TCS)); // 2
                                                      // NotOrderOwner comes before every validation.
    assert_eq!(f.modify(B, 1, 0, 0, 7), vec![modify_rejected(B, 1, RejectReason::NotOrderOwner)]);
    // Validation, in order.
    assert_eq!(f.modify(A, 1, 0, 0, 7), vec![modify_rejected(A, 1, RejectReason::InvalidQuantity)]);
    assert_eq!(f.modify(A, 2, 0, 15, 7), vec![modify_rejected(A, 2, RejectReason::LotSizeViolation)]);
    assert_eq!(f.modify(A, 1, 0, 12, 7), vec![modify_rejected(A, 1, RejectReason::InvalidPrice)]);
    assert_eq!(f.modify(A, 1, 149_001, 12, 7), vec![modify_rejected(A, 1, RejectReason::TickSizeViolation)]);
    assert_eq!(f.modify(A, 1, 165_005, 12, 7), vec![modify_rejected(A, 1, RejectReason::PriceOutOfBand)]);
    assert_eq!(f.modify(A, 1, 134_995, 12, 7), vec![modify_rejected(A, 1, RejectReason::PriceOutOfBand)]);
    assert_eq!(f.modify(A, 1, 165_000, 12, 7), vec![modify_rejected(A, 1, RejectReason::InvalidModify)]);
    // Session closed: after ownership, before validation.
    f.ok(Command::CloseSession);
    assert_eq!(f.modify(B, 1, 0, 0, 7), vec![modify_rejected(B, 1, RejectReason::NotOrderOwner)]);
    assert_eq!(f.modify(A, 1, 0, 0, 7), vec![modify_rejected(A, 1, RejectReason::SessionClosed)]);
    assert_eq!(f.modify(A, 1, 149_500, 10, 0), vec![modify_rejected(A, 1, RejectReason::SessionClosed)]);
}

#[test]
fn halt_removes_orders_so_modify_finds_none() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_000, 10).gtc()); // 1
    f.ok(Command::Halt { token: INFY });
    assert_eq!(f.modify(A, 1, 149_500, 10, 0), vec![modify_rejected(A, 1, RejectReason::UnknownOrder)]);
}

#[test]
fn iceberg_modify_keeps_disclosed_within_the_remainder() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_000, 100).disclosed(20)); // 1
    assert_eq!(f.modify(A, 1, 149_000, 10, 0), vec![modify_rejected(A, 1, RejectReason::InvalidDisclosedQuantity)]);
    f.place_ok(limit(B, Sell, 149_000, 5)); // 2: fills 5, remaining 95, visible 15
    assert_eq!(f.modify(A, 1, 149_000, 24, 0), vec![modify_rejected(A, 1, RejectReason::InvalidDisclosedQuantity)]);
    let ev = f.modify(A, 1, 149_000, 25, 0);
    assert_eq!(ev.first(), Some(&modified(1, A, 149_000, 25, 0, 20, true)));
    let v = f.order(1);
    assert_eq!((v.qty, v.filled, v.remaining()), (25, 5, 20));
    assert!(v.visible <= 20 && v.visible > 0);
}

#[test]
fn post_only_modify_that_would_cross_is_rejected() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_000, 10)); // 1
    f.place_ok(limit(A, Buy, 149_500, 10).post_only()); // 2
    assert_eq!(f.modify(A, 2, 150_000, 10, 0), vec![modify_rejected(A, 2, RejectReason::PostOnlyWouldCross)]);
    assert_eq!(f.modify(A, 2, 150_500, 10, 0), vec![modify_rejected(A, 2, RejectReason::PostOnlyWouldCross)]);
    assert_eq!(
        f.modify(A, 2, 149_995, 10, 0),
        vec![
            modified(2, A, 149_995, 10, 0, 10, false),
            level(INFY, Buy, 149_500, 0, 0),
            level(INFY, Buy, 149_995, 10, 1),
            risk(A, 10 * 149_995, 0),
        ]
    );
    assert_eq!(f.book(INFY, Sell), vec![(150_000, 10, 1)]);
}

#[test]
fn modify_needing_more_cash_than_available_is_insufficient_funds() {
    let mut f = Fixture::new();
    f.open_account(5, AccountLimits::default(), 1_500_000);
    f.place_ok(limit(5, Buy, 149_000, 10)); // 1: reserves 1_490_000, 10_000 left
    assert_eq!(f.account(5).available, 10_000);
    // Exactly the available cash.
    assert_eq!(
        f.modify(5, 1, 150_000, 10, 0),
        vec![
            modified(1, 5, 150_000, 10, 0, 10, false),
            level(INFY, Buy, 149_000, 0, 0),
            level(INFY, Buy, 150_000, 10, 1),
            risk(5, 10 * 150_000, 0),
        ]
    );
    assert_eq!(f.account(5).available, 0);
    assert_eq!(f.modify(5, 1, 150_005, 10, 0), vec![modify_rejected(5, 1, RejectReason::InsufficientFunds)]);
    assert_eq!(f.modify(5, 1, 150_000, 11, 0), vec![modify_rejected(5, 1, RejectReason::InsufficientFunds)]);
    // Decreases always pass and release cash.
    f.ok(Command::Modify(engine_core::ModifyOrder {
        client_ref: 3,
        account: 5,
        order_id: 1,
        price: 150_000,
        qty: 9,
        trigger: 0,
    }));
    assert_eq!(f.account(5).available, 150_000);
    f.check_account_sums(5);
}

#[test]
fn modify_applies_the_risk_checks_of_place() {
    let mut f = Fixture::new();
    f.set_limits(A, AccountLimits { order_value_max: 2_300_000, position_max: 1_015, ..AccountLimits::default() });
    f.place_ok(limit(A, Buy, 149_000, 10)); // 1
                                            // 16 * 149_000 = 2_384_000 > 2_300_000.
    assert_eq!(f.modify(A, 1, 149_000, 16, 0), vec![modify_rejected(A, 1, RejectReason::OrderValueLimitExceeded)]);
    // Position on the new totals: 1_000 held + 16 > 1_015.
    assert_eq!(f.modify(A, 1, 140_000, 16, 0), vec![modify_rejected(A, 1, RejectReason::PositionLimitExceeded)]);
    // 1_000 + 15 = 1_015: the order's old quantity is replaced, not added.
    let ev = f.modify(A, 1, 140_000, 15, 0);
    assert_eq!(ev.first(), Some(&modified(1, A, 140_000, 15, 0, 15, false)));

    // A CNC sell cannot grow beyond free holdings.
    f.place_ok(limit(B, Sell, 151_000, 990)); // 2
    assert_eq!(f.modify(B, 2, 151_000, 1_001, 0), vec![modify_rejected(B, 2, RejectReason::InsufficientHoldings)]);
    let ev = f.modify(B, 2, 151_000, 1_000, 0);
    assert_eq!(ev.first(), Some(&modified(2, B, 151_000, 1_000, 0, 1_000, false)));
}

#[test]
fn modified_order_that_fills_completely_is_gone() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_000, 5)); // 1
    f.place_ok(limit(B, Sell, 150_000, 5)); // 2
    let exp = f
        .expect()
        .push(modified(1, A, 150_000, 5, 0, 5, false))
        .level(INFY, Buy, 149_000, 0, 0)
        .fill(INFY, 150_000, 5, Buy, cnc(1, A, 0), cnc(2, B, 0))
        .level(INFY, Sell, 150_000, 0, 0)
        .risk(A, 0, 0)
        .done();
    assert_eq!(f.modify(A, 1, 150_000, 5, 0), exp);
    assert!(!f.is_open(1));
    assert_eq!(f.cancel(A, 1), vec![cancel_rejected(A, 1, RejectReason::UnknownOrder)]);
}
