//! Black-box tests of every order type and validity, asserting exact event sequences
//! (docs/engine-semantics.md, "Matching" and "Cancel, mass cancel, halt, session, square-off").

mod common;

use common::*;
use engine_core::Side::{Buy, Sell};
use engine_core::{
    AccountStatus, CancelReason, Command, CommandKind, Event, InstrumentStatus, NewOrder, OrderType, Product,
    RejectReason, Validity,
};

// ---------------------------------------------------------------------------------------------
// LIMIT
// ---------------------------------------------------------------------------------------------

#[test]
fn order_ids_start_at_one_and_rejections_do_not_use_one() {
    let mut f = Fixture::new();
    let bad = limit(A, Buy, 0, 10);
    assert_eq!(f.place(bad), vec![place_rejected(&bad, RejectReason::InvalidPrice)]);
    let o1 = limit(A, Buy, 149_000, 10);
    assert_eq!(f.place(o1), vec![accepted(1, &o1), level(INFY, Buy, 149_000, 10, 1), risk(A, 10 * 149_000, 0)]);
    let o2 = limit(B, Buy, 149_000, 5);
    assert_eq!(f.place(o2), vec![accepted(2, &o2), level(INFY, Buy, 149_000, 15, 2), risk(B, 5 * 149_000, 0)]);
}

#[test]
fn limit_orders_rest_and_report_their_level() {
    let mut f = Fixture::new();
    let o1 = limit(A, Buy, 149_000, 10);
    assert_eq!(f.place(o1), vec![accepted(1, &o1), level(INFY, Buy, 149_000, 10, 1), risk(A, 10 * 149_000, 0)]);
    let o2 = limit(B, Buy, 149_000, 5);
    assert_eq!(f.place(o2), vec![accepted(2, &o2), level(INFY, Buy, 149_000, 15, 2), risk(B, 5 * 149_000, 0)]);
    let o3 = limit(C, Buy, 149_500, 7);
    assert_eq!(f.place(o3), vec![accepted(3, &o3), level(INFY, Buy, 149_500, 7, 1), risk(C, 7 * 149_500, 0)]);
    let o4 = limit(D, Sell, 150_000, 3);
    assert_eq!(f.place(o4), vec![accepted(4, &o4), level(INFY, Sell, 150_000, 3, 1)]);

    assert_eq!(f.book(INFY, Buy), vec![(149_500, 7, 1), (149_000, 15, 2)]);
    assert_eq!(f.book(INFY, Sell), vec![(150_000, 3, 1)]);
    let v = f.order(1);
    assert_eq!((v.qty, v.filled, v.visible, v.triggered), (10, 0, 10, true));
    assert_eq!(f.ltp(INFY), INFY_REF, "no trade yet: ltp is the reference price");
}

#[test]
fn crossing_limit_takes_best_price_then_time_at_maker_prices() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_000, 10)); // 1
    f.place_ok(limit(B, Buy, 149_000, 5)); // 2
    f.place_ok(limit(C, Buy, 149_500, 7)); // 3
    f.place_ok(limit(D, Sell, 150_000, 3)); // 4

    // Sells 20 down to 149_000: C's better bid first, then A before B (time), all at maker prices.
    let t = limit(D, Sell, 149_000, 20);
    let exp = f
        .expect()
        .accepted(5, &t)
        .fill(INFY, 149_500, 7, Sell, cnc(3, C, 0), cnc(5, D, 13))
        .level(INFY, Buy, 149_500, 0, 0)
        .fill(INFY, 149_000, 10, Sell, cnc(1, A, 0), cnc(5, D, 3))
        .level(INFY, Buy, 149_000, 5, 1)
        .fill(INFY, 149_000, 3, Sell, cnc(2, B, 2), cnc(5, D, 0))
        .level(INFY, Buy, 149_000, 2, 1)
        // The buyers' reservations shrink; D's CNC sells block no cash.
        .risk(C, 0, 0)
        .risk(A, 0, 0)
        .risk(B, 2 * 149_000, 0)
        .done();
    assert_eq!(f.place(t), exp);
    assert_eq!(f.ltp(INFY), 149_000);
    assert!(!f.is_open(1) && !f.is_open(3) && !f.is_open(5));
    assert_eq!(f.order(2).filled, 3);
    assert_eq!(f.book(INFY, Buy), vec![(149_000, 2, 1)]);
}

#[test]
fn aggressive_buy_trades_at_the_resting_prices() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_500, 10)); // 1
    f.place_ok(limit(C, Sell, 150_000, 10)); // 2
    f.place_ok(limit(D, Sell, 150_000, 5)); // 3
    let t = limit(A, Buy, 151_000, 20);
    let exp = f
        .expect()
        .accepted(4, &t)
        .fill(INFY, 150_000, 10, Buy, cnc(4, A, 10), cnc(2, C, 0))
        .level(INFY, Sell, 150_000, 5, 1)
        .fill(INFY, 150_000, 5, Buy, cnc(4, A, 5), cnc(3, D, 0))
        .level(INFY, Sell, 150_000, 0, 0)
        .fill(INFY, 150_500, 5, Buy, cnc(4, A, 0), cnc(1, B, 5))
        .level(INFY, Sell, 150_500, 5, 1)
        .done();
    assert_eq!(f.place(t), exp);
    assert_eq!(f.ltp(INFY), 150_500);
}

#[test]
fn partially_filled_limit_rests_its_remainder() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_000, 4)); // 1
    f.place_ok(limit(B, Sell, 150_500, 6)); // 2
    let t = limit(A, Buy, 150_000, 10);
    let exp = f
        .expect()
        .accepted(3, &t)
        .fill(INFY, 150_000, 4, Buy, cnc(3, A, 6), cnc(1, B, 0))
        .level(INFY, Sell, 150_000, 0, 0)
        .level(INFY, Buy, 150_000, 6, 1)
        .risk(A, 6 * 150_000, 0)
        .done();
    assert_eq!(f.place(t), exp);
    let v = f.order(3);
    assert_eq!((v.qty, v.filled, v.visible, v.remaining()), (10, 4, 6, 6));
    assert_eq!(f.book(INFY, Buy), vec![(150_000, 6, 1)]);
    assert_eq!(f.book(INFY, Sell), vec![(150_500, 6, 1)]);
}

#[test]
fn gtc_limit_behaves_like_day_while_the_session_is_open() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_000, 4)); // 1
    let t = limit(A, Buy, 150_000, 10).gtc();
    let exp = f
        .expect()
        .accepted(2, &t)
        .fill(INFY, 150_000, 4, Buy, cnc(2, A, 6), cnc(1, B, 0))
        .level(INFY, Sell, 150_000, 0, 0)
        .level(INFY, Buy, 150_000, 6, 1)
        .risk(A, 6 * 150_000, 0)
        .done();
    assert_eq!(f.place(t), exp);
}

// ---------------------------------------------------------------------------------------------
// MARKET
// ---------------------------------------------------------------------------------------------

#[test]
fn market_buy_sweeps_levels_and_cancels_its_remainder() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_000, 10)); // 1
    f.place_ok(limit(C, Sell, 150_500, 10)); // 2
    let t = market(A, Buy, 25);
    let exp = f
        .expect()
        .accepted(3, &t)
        .fill(INFY, 150_000, 10, Buy, cnc(3, A, 15), cnc(1, B, 0))
        .level(INFY, Sell, 150_000, 0, 0)
        .fill(INFY, 150_500, 10, Buy, cnc(3, A, 5), cnc(2, C, 0))
        .level(INFY, Sell, 150_500, 0, 0)
        .cancelled(3, A, INFY, 5, CancelReason::MarketRemainder)
        .done();
    assert_eq!(f.place(t), exp);
    assert!(!f.is_open(3));
    let a = f.account(A);
    assert_eq!((a.reserved, a.open_orders), (0, 0));
    assert_eq!(f.position(A, INFY).open_buy_qty, 0);
}

#[test]
fn market_sell_fully_filled_has_no_remainder_event() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Buy, 149_500, 3)); // 1
    f.place_ok(limit(C, Buy, 149_000, 10)); // 2
    let t = market(A, Sell, 8);
    let exp = f
        .expect()
        .accepted(3, &t)
        .fill(INFY, 149_500, 3, Sell, cnc(1, B, 0), cnc(3, A, 5))
        .level(INFY, Buy, 149_500, 0, 0)
        .fill(INFY, 149_000, 5, Sell, cnc(2, C, 5), cnc(3, A, 0))
        .level(INFY, Buy, 149_000, 5, 1)
        .risk(B, 0, 0)
        .risk(C, 5 * 149_000, 0)
        .done();
    assert_eq!(f.place(t), exp);
    assert_eq!(f.position(A, INFY).holdings_reserved, 0);
}

#[test]
fn market_order_on_an_empty_side_is_cancelled_whole() {
    let mut f = Fixture::new();
    let t = market(A, Sell, 10);
    assert_eq!(f.place(t), vec![accepted(1, &t), cancelled(1, A, INFY, 10, CancelReason::MarketRemainder)]);
    let t = market(A, Buy, 10).gtc();
    assert_eq!(f.place(t), vec![accepted(2, &t), cancelled(2, A, INFY, 10, CancelReason::MarketRemainder)]);
    let p = f.position(A, INFY);
    assert_eq!((p.holdings, p.holdings_reserved, p.open_sell_qty, p.open_buy_qty), (HOLD, 0, 0, 0));
    assert_eq!(f.account(A).available, CASH);
}

#[test]
fn market_ioc_remainder_is_an_ioc_remainder() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_000, 4)); // 1
    let t = market(A, Buy, 10).ioc();
    let exp = f
        .expect()
        .accepted(2, &t)
        .fill(INFY, 150_000, 4, Buy, cnc(2, A, 6), cnc(1, B, 0))
        .level(INFY, Sell, 150_000, 0, 0)
        .cancelled(2, A, INFY, 6, CancelReason::IocRemainder)
        .done();
    assert_eq!(f.place(t), exp);
}

// ---------------------------------------------------------------------------------------------
// IOC and FOK
// ---------------------------------------------------------------------------------------------

#[test]
fn ioc_limit_fills_what_crosses_and_cancels_the_rest() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_000, 4)); // 1
    f.place_ok(limit(C, Sell, 150_500, 5)); // 2
    let t = limit(A, Buy, 150_000, 10).ioc();
    let exp = f
        .expect()
        .accepted(3, &t)
        .fill(INFY, 150_000, 4, Buy, cnc(3, A, 6), cnc(1, B, 0))
        .level(INFY, Sell, 150_000, 0, 0)
        .cancelled(3, A, INFY, 6, CancelReason::IocRemainder)
        .done();
    assert_eq!(f.place(t), exp);
    assert_eq!(f.book(INFY, Buy), vec![]);
    assert_eq!(f.book(INFY, Sell), vec![(150_500, 5, 1)]);
}

#[test]
fn ioc_that_does_not_cross_is_cancelled_whole() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_500, 5)); // 1
    let t = limit(A, Buy, 150_000, 10).ioc();
    assert_eq!(f.place(t), vec![accepted(2, &t), cancelled(2, A, INFY, 10, CancelReason::IocRemainder)]);
    assert_eq!(f.account(A).reserved, 0);
}

#[test]
fn fok_without_enough_crossing_quantity_has_no_effect() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_000, 5)); // 1
    f.place_ok(limit(C, Sell, 150_500, 5)); // 2
    f.place_ok(limit(D, Sell, 151_000, 10)); // 3: beyond the FOK limit, does not count
    let before_book = f.book(INFY, Sell);
    let before_a = f.account(A);
    let before_orders: Vec<_> = f.engine.open_orders().collect();

    let t = limit(A, Buy, 150_500, 12).fok();
    assert_eq!(f.place(t), vec![accepted(4, &t), cancelled(4, A, INFY, 12, CancelReason::FokUnfilled)]);

    assert_eq!(f.book(INFY, Sell), before_book);
    assert_eq!(f.account(A), before_a);
    assert_eq!(f.engine.open_orders().collect::<Vec<_>>(), before_orders);
    assert_eq!(f.ltp(INFY), INFY_REF);
    assert_eq!(f.position(A, INFY).open_buy_qty, 0);
}

#[test]
fn fok_fills_completely_across_levels() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_000, 5)); // 1
    f.place_ok(limit(C, Sell, 150_500, 5)); // 2
    let t = limit(A, Buy, 150_500, 10).fok();
    let exp = f
        .expect()
        .accepted(3, &t)
        .fill(INFY, 150_000, 5, Buy, cnc(3, A, 5), cnc(1, B, 0))
        .level(INFY, Sell, 150_000, 0, 0)
        .fill(INFY, 150_500, 5, Buy, cnc(3, A, 0), cnc(2, C, 0))
        .level(INFY, Sell, 150_500, 0, 0)
        .done();
    assert_eq!(f.place(t), exp);
}

#[test]
fn fok_counts_only_other_accounts_quantity() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Sell, 150_000, 5)); // 1: A's own
    f.place_ok(limit(B, Sell, 150_000, 5)); // 2
                                            // Only B's 5 count for A's FOK of 10: unfilled, and A's own order is left alone.
    let t = limit(A, Buy, 150_000, 10).fok();
    assert_eq!(f.place(t), vec![accepted(3, &t), cancelled(3, A, INFY, 10, CancelReason::FokUnfilled)]);
    assert!(f.is_open(1));
    assert_eq!(f.book(INFY, Sell), vec![(150_000, 10, 2)]);

    // 5 is covered: matching cancels A's own maker (self-trade) and fills against B.
    let t = limit(A, Buy, 150_000, 5).fok();
    let exp = f
        .expect()
        .accepted(4, &t)
        .cancelled(1, A, INFY, 5, CancelReason::SelfTrade)
        .level(INFY, Sell, 150_000, 5, 1)
        .fill(INFY, 150_000, 5, Buy, cnc(4, A, 0), cnc(2, B, 0))
        .level(INFY, Sell, 150_000, 0, 0)
        .done();
    assert_eq!(f.place(t), exp);
}

#[test]
fn fok_counts_hidden_iceberg_quantity() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_000, 30).disclosed(10)); // 1: shows 10 of 30
    assert_eq!(f.book(INFY, Sell), vec![(150_000, 10, 1)]);

    let t = limit(A, Buy, 150_000, 31).fok();
    assert_eq!(f.place(t), vec![accepted(2, &t), cancelled(2, A, INFY, 31, CancelReason::FokUnfilled)]);

    let t = limit(A, Buy, 150_000, 25).fok();
    let exp = f
        .expect()
        .accepted(3, &t)
        .fill(INFY, 150_000, 10, Buy, cnc(3, A, 15), cnc(1, B, 20))
        .level(INFY, Sell, 150_000, 10, 1)
        .fill(INFY, 150_000, 10, Buy, cnc(3, A, 5), cnc(1, B, 10))
        .level(INFY, Sell, 150_000, 10, 1)
        .fill(INFY, 150_000, 5, Buy, cnc(3, A, 0), cnc(1, B, 5))
        .level(INFY, Sell, 150_000, 5, 1)
        .done();
    assert_eq!(f.place(t), exp);
    let v = f.order(1);
    assert_eq!((v.filled, v.visible), (25, 5));
}

#[test]
fn market_fok_is_checked_against_the_whole_side() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_000, 5)); // 1
    f.place_ok(limit(C, Sell, 160_000, 5)); // 2
    let t = market(A, Buy, 11).fok();
    assert_eq!(f.place(t), vec![accepted(3, &t), cancelled(3, A, INFY, 11, CancelReason::FokUnfilled)]);
    let t = market(A, Buy, 10).fok();
    let exp = f
        .expect()
        .accepted(4, &t)
        .fill(INFY, 150_000, 5, Buy, cnc(4, A, 5), cnc(1, B, 0))
        .level(INFY, Sell, 150_000, 0, 0)
        .fill(INFY, 160_000, 5, Buy, cnc(4, A, 0), cnc(2, C, 0))
        .level(INFY, Sell, 160_000, 0, 0)
        .done();
    assert_eq!(f.place(t), exp);
}

// ---------------------------------------------------------------------------------------------
// SL and SL-M
// ---------------------------------------------------------------------------------------------

#[test]
fn stop_orders_are_accepted_but_not_in_the_book() {
    let mut f = Fixture::new();
    let o1 = stop_limit(A, Buy, 150_500, 151_000, 10);
    assert_eq!(f.place(o1), vec![accepted(1, &o1), risk(A, 10 * 151_000, 0)]);
    let o2 = stop_market(B, Sell, 149_500, 10);
    assert_eq!(f.place(o2), vec![accepted(2, &o2)], "a CNC sell blocks holdings, not cash");
    assert_eq!(f.book(INFY, Buy), vec![]);
    assert_eq!(f.book(INFY, Sell), vec![]);
    for id in [1, 2] {
        let v = f.order(id);
        assert!(!v.triggered, "order {id} must not be triggered");
        assert_eq!(v.visible, 0);
    }
    // Resting limit orders that trade nothing do not trigger anything.
    f.place_ok(limit(C, Buy, 150_000, 5));
    assert!(!f.order(1).triggered && !f.order(2).triggered);
}

#[test]
fn stop_limit_triggers_on_a_trade_at_its_trigger_and_rests_as_limit() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_500, 5)); // 1
    f.place_ok(limit(C, Sell, 151_000, 10)); // 2
    f.place_ok(stop_limit(A, Buy, 150_500, 150_500, 10)); // 3
                                                          // A trade below the trigger does not trigger it.
    f.place_ok(limit(C, Sell, 150_250, 1)); // 4
    let t = limit(D, Buy, 150_250, 1);
    let exp = f
        .expect()
        .accepted(5, &t)
        .fill(INFY, 150_250, 1, Buy, cnc(5, D, 0), cnc(4, C, 0))
        .level(INFY, Sell, 150_250, 0, 0)
        .done();
    assert_eq!(f.place(t), exp);
    assert!(!f.order(3).triggered);

    let t = limit(D, Buy, 150_500, 5);
    let exp = f
        .expect()
        .accepted(6, &t)
        .fill(INFY, 150_500, 5, Buy, cnc(6, D, 0), cnc(1, B, 0))
        .level(INFY, Sell, 150_500, 0, 0)
        .triggered(3, INFY, 150_500)
        .level(INFY, Buy, 150_500, 10, 1)
        .done();
    assert_eq!(f.place(t), exp);
    let v = f.order(3);
    assert!(v.triggered);
    assert_eq!((v.visible, v.order_type), (10, OrderType::StopLimit));
}

#[test]
fn stop_market_triggers_and_runs_as_market() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_500, 5)); // 1
    f.place_ok(limit(C, Sell, 151_000, 4)); // 2
    f.place_ok(stop_market(A, Buy, 150_500, 10)); // 3
    let t = limit(D, Buy, 150_500, 5);
    let exp = f
        .expect()
        .accepted(4, &t)
        .fill(INFY, 150_500, 5, Buy, cnc(4, D, 0), cnc(1, B, 0))
        .level(INFY, Sell, 150_500, 0, 0)
        .triggered(3, INFY, 150_500)
        .fill(INFY, 151_000, 4, Buy, cnc(3, A, 6), cnc(2, C, 0))
        .level(INFY, Sell, 151_000, 0, 0)
        .cancelled(3, A, INFY, 6, CancelReason::MarketRemainder)
        .risk(A, 0, 0)
        .done();
    assert_eq!(f.place(t), exp);
    assert_eq!(f.ltp(INFY), 151_000);
    assert_eq!(f.account(A).reserved, 0);
}

#[test]
fn ioc_stop_market_remainder_is_ioc_remainder() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_500, 5)); // 1
    f.place_ok(stop_market(A, Buy, 150_500, 10).ioc()); // 2
    let t = limit(D, Buy, 150_500, 5);
    let exp = f
        .expect()
        .accepted(3, &t)
        .fill(INFY, 150_500, 5, Buy, cnc(3, D, 0), cnc(1, B, 0))
        .level(INFY, Sell, 150_500, 0, 0)
        .triggered(2, INFY, 150_500)
        .cancelled(2, A, INFY, 10, CancelReason::IocRemainder)
        .risk(A, 0, 0)
        .done();
    assert_eq!(f.place(t), exp);
}

#[test]
fn sell_stop_triggers_when_the_price_falls_to_its_trigger() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Buy, 149_500, 5)); // 1
    f.place_ok(limit(C, Buy, 149_000, 10)); // 2
    f.place_ok(stop_market(A, Sell, 149_500, 8)); // 3
    let t = limit(D, Sell, 149_500, 5);
    let exp = f
        .expect()
        .accepted(4, &t)
        .fill(INFY, 149_500, 5, Sell, cnc(1, B, 0), cnc(4, D, 0))
        .level(INFY, Buy, 149_500, 0, 0)
        .triggered(3, INFY, 149_500)
        .fill(INFY, 149_000, 8, Sell, cnc(2, C, 2), cnc(3, A, 0))
        .level(INFY, Buy, 149_000, 2, 1)
        .risk(B, 0, 0)
        .risk(C, 2 * 149_000, 0)
        .done();
    assert_eq!(f.place(t), exp);
}

#[test]
fn buy_stops_trigger_lowest_trigger_first_then_in_time_order() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_500, 5)); // 1
    f.place_ok(limit(C, Sell, 151_000, 10)); // 2
    f.place_ok(stop_limit(A, Buy, 150_500, 150_500, 1)); // 3
    f.place_ok(stop_limit(B, Buy, 150_250, 150_250, 2)); // 4
    f.place_ok(stop_limit(C, Buy, 150_250, 150_250, 3)); // 5
    f.place_ok(stop_limit(D, Buy, 150_750, 150_750, 4)); // 6: not reached
    let t = limit(D, Buy, 150_500, 5);
    let exp = f
        .expect()
        .accepted(7, &t)
        .fill(INFY, 150_500, 5, Buy, cnc(7, D, 0), cnc(1, B, 0))
        .level(INFY, Sell, 150_500, 0, 0)
        .triggered(4, INFY, 150_500)
        .level(INFY, Buy, 150_250, 2, 1)
        .triggered(5, INFY, 150_500)
        .level(INFY, Buy, 150_250, 5, 2)
        .triggered(3, INFY, 150_500)
        .level(INFY, Buy, 150_500, 1, 1)
        .done();
    assert_eq!(f.place(t), exp);
    assert!(!f.order(6).triggered);
}

#[test]
fn sell_stops_trigger_highest_trigger_first_then_in_time_order() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Buy, 149_500, 5)); // 1
    f.place_ok(limit(C, Buy, 149_000, 10)); // 2
    f.place_ok(stop_limit(A, Sell, 149_500, 149_500, 1)); // 3
    f.place_ok(stop_limit(B, Sell, 149_750, 149_750, 2)); // 4
    f.place_ok(stop_limit(C, Sell, 149_750, 149_750, 3)); // 5
    f.place_ok(stop_limit(D, Sell, 149_250, 149_250, 4)); // 6: not reached
    let t = limit(D, Sell, 149_500, 5);
    let exp = f
        .expect()
        .accepted(7, &t)
        .fill(INFY, 149_500, 5, Sell, cnc(1, B, 0), cnc(7, D, 0))
        .level(INFY, Buy, 149_500, 0, 0)
        .triggered(4, INFY, 149_500)
        .level(INFY, Sell, 149_750, 2, 1)
        .triggered(5, INFY, 149_500)
        .level(INFY, Sell, 149_750, 5, 2)
        .triggered(3, INFY, 149_500)
        .level(INFY, Sell, 149_500, 1, 1)
        .risk(B, 0, 0)
        .done();
    assert_eq!(f.place(t), exp);
    assert!(!f.order(6).triggered);
}

#[test]
fn triggered_stops_cascade_within_one_command() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_500, 2)); // 1
    f.place_ok(limit(C, Sell, 151_000, 3)); // 2
    f.place_ok(limit(D, Sell, 151_500, 4)); // 3
    f.place_ok(stop_market(A, Buy, 150_500, 3)); // 4
    f.place_ok(stop_market(B, Buy, 151_000, 4)); // 5
    let t = limit(D, Buy, 150_500, 2);
    let exp = f
        .expect()
        .accepted(6, &t)
        .fill(INFY, 150_500, 2, Buy, cnc(6, D, 0), cnc(1, B, 0))
        .level(INFY, Sell, 150_500, 0, 0)
        .triggered(4, INFY, 150_500)
        .fill(INFY, 151_000, 3, Buy, cnc(4, A, 0), cnc(2, C, 0))
        .level(INFY, Sell, 151_000, 0, 0)
        .triggered(5, INFY, 151_000)
        .fill(INFY, 151_500, 4, Buy, cnc(5, B, 0), cnc(3, D, 0))
        .level(INFY, Sell, 151_500, 0, 0)
        // The SL-M buys reserved at band_high until they filled.
        .risk(B, 0, 0)
        .risk(A, 0, 0)
        .done();
    assert_eq!(f.place(t), exp);
    assert_eq!(f.ltp(INFY), 151_500);
    assert_eq!(f.engine.open_orders().count(), 0);
}

#[test]
fn stops_watch_only_their_own_instrument() {
    let mut f = Fixture::new();
    f.place_ok(stop_market(A, Buy, 150_500, 10)); // 1
    f.place_ok(limit(B, Sell, 105_000, 10).token(TCS)); // 2
    let t = limit(C, Buy, 105_000, 10).token(TCS);
    let exp = f
        .expect()
        .accepted(3, &t)
        .fill(TCS, 105_000, 10, Buy, cnc(3, C, 0), cnc(2, B, 0))
        .level(TCS, Sell, 105_000, 0, 0)
        .done();
    assert_eq!(f.place(t), exp);
    assert_eq!(f.ltp(TCS), 105_000);
    assert_eq!(f.ltp(INFY), INFY_REF);
    assert!(!f.order(1).triggered);
}

// ---------------------------------------------------------------------------------------------
// Validity DAY / GTC
// ---------------------------------------------------------------------------------------------

#[test]
fn close_session_expires_day_orders_and_keeps_gtc_orders() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 99_000, 10).token(TCS)); // 1: TCS, expires after INFY
    f.place_ok(limit(A, Buy, 149_000, 10)); // 2
    f.place_ok(limit(B, Buy, 149_000, 10).gtc()); // 3: stays
    f.place_ok(limit(C, Buy, 149_500, 5)); // 4
    f.place_ok(limit(D, Sell, 151_000, 5)); // 5
    f.place_ok(stop_limit(B, Buy, 152_000, 152_000, 3)); // 6
    f.place_ok(stop_market(C, Sell, 148_000, 2).gtc()); // 7: stays
    f.place_ok(stop_limit(D, Sell, 147_000, 147_000, 1)); // 8

    let ev = f.apply(Command::CloseSession);
    assert_eq!(
        without_levels(&ev),
        vec![
            cancelled(4, C, INFY, 5, CancelReason::Expired),
            cancelled(2, A, INFY, 10, CancelReason::Expired),
            cancelled(5, D, INFY, 5, CancelReason::Expired),
            cancelled(6, B, INFY, 3, CancelReason::Expired),
            cancelled(8, D, INFY, 1, CancelReason::Expired),
            cancelled(1, A, TCS, 10, CancelReason::Expired),
            Event::SessionClosed,
            // In the order the cancels touched the accounts; D's CNC sells blocked no cash, and
            // B keeps the reservation of its GTC bid.
            risk(C, 0, 0),
            risk(A, 0, 0),
            risk(B, 10 * 149_000, 0),
        ]
    );
    assert_eq!(ev.iter().rev().nth(3), Some(&Event::SessionClosed));
    assert!(!f.engine.session_open());
    let open: Vec<u64> = f.engine.open_orders().map(|o| o.order_id).collect();
    assert_eq!(open.len(), 2);
    assert!(f.is_open(3) && f.is_open(7));
    assert_eq!(f.book(INFY, Buy), vec![(149_000, 10, 1)]);
    assert_eq!(f.book(INFY, Sell), vec![]);
    assert_eq!(f.book(TCS, Buy), vec![]);
    for id in [A, C, D] {
        f.check_account_sums(id);
    }

    let o = limit(C, Sell, 149_000, 10);
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::SessionClosed)]);
    assert_eq!(f.apply(Command::OpenSession), vec![Event::SessionOpened]);
    // The GTC bid survived and still trades.
    let exp = f
        .expect()
        .accepted(9, &o)
        .fill(INFY, 149_000, 10, Sell, cnc(3, B, 0), cnc(9, C, 0))
        .level(INFY, Buy, 149_000, 0, 0)
        .risk(B, 0, 0)
        .done();
    assert_eq!(f.place(o), exp);
}

// ---------------------------------------------------------------------------------------------
// Disclosed quantity (iceberg)
// ---------------------------------------------------------------------------------------------

#[test]
fn iceberg_shows_only_its_disclosed_part_and_refills_at_the_back() {
    let mut f = Fixture::new();
    let o1 = limit(B, Sell, 150_000, 100).disclosed(20);
    assert_eq!(f.place(o1), vec![accepted(1, &o1), level(INFY, Sell, 150_000, 20, 1)]);
    let o2 = limit(C, Sell, 150_000, 30);
    assert_eq!(f.place(o2), vec![accepted(2, &o2), level(INFY, Sell, 150_000, 50, 2)]);

    // Takes B's visible 20: B refills 20 and goes behind C.
    let t = limit(A, Buy, 150_000, 20);
    let exp = f
        .expect()
        .accepted(3, &t)
        .fill(INFY, 150_000, 20, Buy, cnc(3, A, 0), cnc(1, B, 80))
        .level(INFY, Sell, 150_000, 50, 2)
        .done();
    assert_eq!(f.place(t), exp);
    let v = f.order(1);
    assert_eq!((v.filled, v.visible), (20, 20));

    let o4 = limit(D, Sell, 150_000, 5);
    assert_eq!(f.place(o4), vec![accepted(4, &o4), level(INFY, Sell, 150_000, 55, 3)]);

    // Queue is C(30), B(20 of 80), D(5). B's refill goes behind D.
    let t = limit(A, Buy, 150_000, 55);
    let exp = f
        .expect()
        .accepted(5, &t)
        .fill(INFY, 150_000, 30, Buy, cnc(5, A, 25), cnc(2, C, 0))
        .level(INFY, Sell, 150_000, 25, 2)
        .fill(INFY, 150_000, 20, Buy, cnc(5, A, 5), cnc(1, B, 60))
        .level(INFY, Sell, 150_000, 25, 2)
        .fill(INFY, 150_000, 5, Buy, cnc(5, A, 0), cnc(4, D, 0))
        .level(INFY, Sell, 150_000, 20, 1)
        .done();
    assert_eq!(f.place(t), exp);
    let v = f.order(1);
    assert_eq!((v.filled, v.visible, v.remaining()), (40, 20, 60));
    assert_eq!(f.book(INFY, Sell), vec![(150_000, 20, 1)]);
}

#[test]
fn iceberg_partly_used_keeps_its_place() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_000, 100).disclosed(20)); // 1
    f.place_ok(limit(C, Sell, 150_000, 30)); // 2
    let t = limit(A, Buy, 150_000, 15);
    let exp = f
        .expect()
        .accepted(3, &t)
        .fill(INFY, 150_000, 15, Buy, cnc(3, A, 0), cnc(1, B, 85))
        .level(INFY, Sell, 150_000, 35, 2)
        .done();
    assert_eq!(f.place(t), exp);
    // B still first with 5 visible.
    let t = limit(A, Buy, 150_000, 6);
    let exp = f
        .expect()
        .accepted(4, &t)
        .fill(INFY, 150_000, 5, Buy, cnc(4, A, 1), cnc(1, B, 80))
        .level(INFY, Sell, 150_000, 50, 2)
        .fill(INFY, 150_000, 1, Buy, cnc(4, A, 0), cnc(2, C, 29))
        .level(INFY, Sell, 150_000, 49, 2)
        .done();
    assert_eq!(f.place(t), exp);
}

#[test]
fn iceberg_taker_rests_with_its_disclosed_part() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_000, 15)); // 1
    let t = limit(A, Buy, 150_000, 50).disclosed(10);
    let exp = f
        .expect()
        .accepted(2, &t)
        .fill(INFY, 150_000, 15, Buy, cnc(2, A, 35), cnc(1, B, 0))
        .level(INFY, Sell, 150_000, 0, 0)
        .level(INFY, Buy, 150_000, 10, 1)
        .risk(A, 35 * 150_000, 0)
        .done();
    assert_eq!(f.place(t), exp);
    let v = f.order(2);
    assert_eq!((v.filled, v.visible, v.disclosed), (15, 10, 10));
}

// ---------------------------------------------------------------------------------------------
// Post-only
// ---------------------------------------------------------------------------------------------

#[test]
fn post_only_rests_when_it_does_not_cross_and_is_rejected_when_it_would() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_000, 10)); // 1
    let o = limit(A, Buy, 149_995, 10).post_only();
    assert_eq!(f.place(o), vec![accepted(2, &o), level(INFY, Buy, 149_995, 10, 1), risk(A, 10 * 149_995, 0)]);
    let o = limit(A, Buy, 150_000, 10).post_only();
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::PostOnlyWouldCross)]);
    let o = limit(C, Sell, 149_995, 10).post_only().gtc();
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::PostOnlyWouldCross)]);
    let o = limit(C, Sell, 150_000, 10).post_only().gtc();
    assert_eq!(f.place(o), vec![accepted(3, &o), level(INFY, Sell, 150_000, 20, 2)]);
    assert!(f.order(3).post_only);
    assert_eq!(f.ltp(INFY), INFY_REF);
}

// ---------------------------------------------------------------------------------------------
// Self-trade prevention
// ---------------------------------------------------------------------------------------------

#[test]
fn self_trade_cancels_the_resting_order_and_matching_continues() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Sell, 150_000, 10)); // 1: A's own
    f.place_ok(limit(B, Sell, 150_000, 10)); // 2
    f.place_ok(limit(A, Sell, 150_500, 5)); // 3: A's own
    f.place_ok(limit(C, Sell, 150_500, 5)); // 4
    let t = limit(A, Buy, 150_500, 20);
    let exp = f
        .expect()
        .accepted(5, &t)
        .cancelled(1, A, INFY, 10, CancelReason::SelfTrade)
        .level(INFY, Sell, 150_000, 10, 1)
        .fill(INFY, 150_000, 10, Buy, cnc(5, A, 10), cnc(2, B, 0))
        .level(INFY, Sell, 150_000, 0, 0)
        .cancelled(3, A, INFY, 5, CancelReason::SelfTrade)
        .level(INFY, Sell, 150_500, 5, 1)
        .fill(INFY, 150_500, 5, Buy, cnc(5, A, 5), cnc(4, C, 0))
        .level(INFY, Sell, 150_500, 0, 0)
        .level(INFY, Buy, 150_500, 5, 1)
        .risk(A, 5 * 150_500, 0)
        .done();
    assert_eq!(f.place(t), exp);
    let p = f.position(A, INFY);
    assert_eq!((p.holdings_reserved, p.open_sell_qty, p.open_buy_qty), (0, 0, 5));
    f.check_account_sums(A);
}

#[test]
fn self_trade_with_only_own_makers_leaves_the_taker_resting() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_500, 5)); // 1
    let t = limit(A, Sell, 149_500, 5);
    assert_eq!(
        f.place(t),
        vec![
            accepted(2, &t),
            cancelled(1, A, INFY, 5, CancelReason::SelfTrade),
            level(INFY, Buy, 149_500, 0, 0),
            level(INFY, Sell, 149_500, 5, 1),
            risk(A, 0, 0),
        ]
    );
    assert_eq!(f.ltp(INFY), INFY_REF);
}

// ---------------------------------------------------------------------------------------------
// Halt, mass cancel, suspension
// ---------------------------------------------------------------------------------------------

#[test]
fn halt_cancels_every_order_of_the_instrument_and_rejects_new_ones() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_000, 10).gtc()); // 1
    f.place_ok(limit(B, Buy, 149_500, 5)); // 2
    f.place_ok(limit(C, Sell, 150_500, 5)); // 3
    f.place_ok(stop_market(D, Buy, 151_000, 2)); // 4
    f.place_ok(limit(A, Buy, 99_000, 10).token(TCS)); // 5: other instrument

    let ev = f.apply(Command::Halt { token: INFY });
    assert_eq!(ev.first(), Some(&Event::InstrumentStatusChanged { token: INFY, status: InstrumentStatus::Halted }));
    assert_eq!(
        without_levels(&ev),
        vec![
            Event::InstrumentStatusChanged { token: INFY, status: InstrumentStatus::Halted },
            cancelled(2, B, INFY, 5, CancelReason::Halt),
            cancelled(1, A, INFY, 10, CancelReason::Halt),
            cancelled(3, C, INFY, 5, CancelReason::Halt),
            cancelled(4, D, INFY, 2, CancelReason::Halt),
            // A keeps its TCS bid; C's CNC sell blocked no cash.
            risk(B, 0, 0),
            risk(A, 10 * 99_000, 0),
            risk(D, 0, 0),
        ]
    );
    assert_eq!(f.engine.instrument(INFY).unwrap().status, InstrumentStatus::Halted);
    assert_eq!(f.book(INFY, Buy), vec![]);
    assert_eq!(f.book(INFY, Sell), vec![]);
    assert!(f.is_open(5));

    let o = limit(A, Buy, 149_000, 10);
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::InstrumentHalted)]);
    assert_eq!(
        f.apply(Command::Halt { token: INFY }),
        vec![rejected(CommandKind::Halt, RejectReason::InstrumentHalted, 0, 0, 0)]
    );
    // Other instruments still trade.
    f.place_ok(limit(B, Sell, 99_000, 10).token(TCS));

    assert_eq!(
        f.apply(Command::Resume { token: INFY }),
        vec![Event::InstrumentStatusChanged { token: INFY, status: InstrumentStatus::Active }]
    );
    assert_eq!(f.place(o), vec![accepted(7, &o), level(INFY, Buy, 149_000, 10, 1), risk(A, 10 * 149_000, 0)]);
}

#[test]
fn mass_cancel_account_cancels_only_that_account_in_arena_order() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_000, 10)); // 1
    f.place_ok(limit(A, Sell, 101_000, 10).token(TCS)); // 2
    f.place_ok(stop_limit(A, Buy, 151_000, 151_000, 1)); // 3
    f.place_ok(limit(B, Buy, 149_000, 5)); // 4
    f.place_ok(limit(A, Sell, 150_500, 5)); // 5
    f.ok(Command::Cancel { client_ref: 1, account: A, order_id: 2 });
    f.place_ok(limit(A, Buy, 148_000, 1)); // 6: may reuse order 2's slot

    let expected: Vec<Event> = f
        .engine
        .open_orders()
        .filter(|o| o.account == A)
        .map(|o| cancelled(o.order_id, A, o.token, o.remaining(), CancelReason::MassCancel))
        .collect();
    let mut ids: Vec<u64> = f.engine.open_orders().filter(|o| o.account == A).map(|o| o.order_id).collect();
    ids.sort();
    assert_eq!(ids, vec![1, 3, 5, 6]);

    let ev = f.apply(Command::MassCancelAccount { account: A });
    let expected: Vec<Event> = expected.into_iter().chain([risk(A, 0, 0)]).collect();
    assert_eq!(without_levels(&ev), expected);
    assert_eq!(f.engine.open_orders().map(|o| o.order_id).collect::<Vec<_>>(), vec![4]);
    assert_eq!(f.book(INFY, Buy), vec![(149_000, 5, 1)]);
    assert_eq!(f.book(INFY, Sell), vec![]);
    let a = f.account(A);
    assert_eq!((a.reserved, a.open_orders, a.available), (0, 0, CASH));
}

#[test]
fn mass_cancel_instrument_goes_bids_asks_buy_stops_sell_stops() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_000, 10)); // 1
    f.place_ok(limit(B, Buy, 149_500, 5)); // 2
    f.place_ok(limit(C, Buy, 149_000, 3)); // 3
    f.place_ok(limit(D, Sell, 151_000, 4)); // 4
    f.place_ok(limit(A, Sell, 150_500, 2)); // 5
    f.place_ok(stop_limit(B, Buy, 152_000, 152_000, 1)); // 6
    f.place_ok(stop_market(C, Sell, 148_000, 1)); // 7
    f.place_ok(limit(D, Buy, 99_000, 10).token(TCS)); // 8
    let ev = f.apply(Command::MassCancelInstrument { token: INFY });
    let r = CancelReason::MassCancel;
    assert_eq!(
        without_levels(&ev),
        vec![
            cancelled(2, B, INFY, 5, r),
            cancelled(1, A, INFY, 10, r),
            cancelled(3, C, INFY, 3, r),
            cancelled(5, A, INFY, 2, r),
            cancelled(4, D, INFY, 4, r),
            cancelled(6, B, INFY, 1, r),
            cancelled(7, C, INFY, 1, r),
            risk(B, 0, 0),
            risk(A, 0, 0),
            risk(C, 0, 0),
        ]
    );
    assert_eq!(f.engine.open_orders().map(|o| o.order_id).collect::<Vec<_>>(), vec![8]);
    assert_eq!(f.book(INFY, Buy), vec![]);
    assert_eq!(f.book(INFY, Sell), vec![]);
}

#[test]
fn suspending_an_account_cancels_its_orders() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_000, 10)); // 1
    f.place_ok(limit(A, Buy, 99_000, 10).token(TCS)); // 2
    f.place_ok(limit(B, Buy, 149_000, 5)); // 3
    f.place_ok(stop_market(A, Sell, 148_000, 5)); // 4
    let expected_cancels: Vec<Event> = f
        .engine
        .open_orders()
        .filter(|o| o.account == A)
        .map(|o| cancelled(o.order_id, A, o.token, o.remaining(), CancelReason::AccountSuspended))
        .collect();
    assert_eq!(expected_cancels.len(), 3);

    let ev = f.apply(Command::SuspendAccount { account: A });
    let mut expected = vec![Event::AccountStatusChanged { account: A, status: AccountStatus::Suspended }];
    expected.extend(expected_cancels);
    expected.push(risk(A, 0, 0));
    assert_eq!(ev.first(), expected.first());
    assert_eq!(without_levels(&ev), expected);
    assert_eq!(f.status(A), AccountStatus::Suspended);
    assert_eq!(f.engine.open_orders().map(|o| o.order_id).collect::<Vec<_>>(), vec![3]);
    assert_eq!(f.book(INFY, Buy), vec![(149_000, 5, 1)]);

    let o = limit(A, Buy, 149_000, 1);
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::AccountNotActive)]);
    assert_eq!(
        f.apply(Command::Deposit { client_ref: 0, account: A, amount: 5 }),
        vec![balance(A, 5, CASH + 5, engine_core::BalanceReason::Deposit)]
    );
    assert_eq!(
        f.apply(Command::ActivateAccount { account: A }),
        vec![Event::AccountStatusChanged { account: A, status: AccountStatus::Active }]
    );
    f.place_ok(o);
}

#[test]
fn cancel_emits_user_cancel_and_level() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 149_000, 10)); // 1
    f.place_ok(limit(B, Buy, 149_000, 5)); // 2
    f.place_ok(stop_market(A, Buy, 151_000, 5)); // 3
    assert_eq!(
        f.cancel(A, 1),
        vec![cancelled(1, A, INFY, 10, CancelReason::User), level(INFY, Buy, 149_000, 5, 1), risk(A, 5 * INFY_HIGH, 0)]
    );
    // An untriggered stop is not in the book: no level.
    assert_eq!(f.cancel(A, 3), vec![cancelled(3, A, INFY, 5, CancelReason::User), risk(A, 0, 0)]);
    assert_eq!(f.cancel(A, 1), vec![cancel_rejected(A, 1, RejectReason::UnknownOrder)]);
    // Allowed while halted is moot (halt cancels); allowed while the session is closed.
    f.place_ok(limit(B, Buy, 149_000, 5).gtc()); // 4
    f.ok(Command::CloseSession);
    assert_eq!(
        f.cancel(B, 4),
        vec![cancelled(4, B, INFY, 5, CancelReason::User), level(INFY, Buy, 149_000, 0, 0), risk(B, 0, 0)]
    );
}

// ---------------------------------------------------------------------------------------------
// MIS square-off
// ---------------------------------------------------------------------------------------------

fn square_off_order(account: engine_core::AccountId, side: engine_core::Side, qty: i64) -> NewOrder {
    NewOrder {
        client_ref: 0,
        account,
        token: INFY,
        side,
        order_type: OrderType::Market,
        validity: Validity::Ioc,
        product: Product::Mis,
        price: 0,
        trigger: 0,
        qty,
        disclosed: 0,
        post_only: false,
    }
}

#[test]
fn square_off_closes_what_the_book_absorbs_and_converts_the_rest() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_000, 10)); // 1
    f.place_ok(limit(A, Buy, 150_000, 10).mis()); // 2: A long 10 MIS
    f.place_ok(limit(C, Buy, 149_500, 4)); // 3
    f.place_ok(limit(D, Buy, 149_000, 3)); // 4
    f.place_ok(limit(A, Buy, 148_000, 5).mis()); // 5: MIS, cancelled
    f.place_ok(limit(B, Sell, 152_000, 2).mis()); // 6: MIS, cancelled
    f.place_ok(limit(C, Sell, 152_500, 1)); // 7: CNC, stays
    let p = f.position(A, INFY);
    assert_eq!((p.mis_qty, p.mis_value, p.mis_margin), (10, -1_500_000, 300_000));

    let mut x = f.expect();
    let ev = f.apply(Command::SquareOffMis { token: INFY });
    let split = ev.iter().position(|e| matches!(e, Event::Accepted(_))).expect("square-off order accepted");
    assert_eq!(
        without_levels(&ev[..split]),
        vec![cancelled(5, A, INFY, 5, CancelReason::SquareOff), cancelled(6, B, INFY, 2, CancelReason::SquareOff)]
    );
    let so = square_off_order(A, Sell, 10);
    // mis_value after the fills: -1_500_000 + 4 * 149_500 + 3 * 149_000 = -455_000.
    let exp = x
        .accepted(8, &so)
        .fill(INFY, 149_500, 4, Sell, cnc(3, C, 0), mis(8, A, 6))
        .level(INFY, Buy, 149_500, 0, 0)
        .fill(INFY, 149_000, 3, Sell, cnc(4, D, 0), mis(8, A, 3))
        .level(INFY, Buy, 149_000, 0, 0)
        .cancelled(8, A, INFY, 3, CancelReason::IocRemainder)
        .push(holdings(A, INFY, 3, HOLD + 3, engine_core::HoldingsReason::MisConversion))
        .push(balance(A, -455_000, CASH - 455_000, engine_core::BalanceReason::MisConversion))
        // A's MIS bid and margin, B's MIS offer, C's and D's filled bids.
        .risk(A, 0, 0)
        .risk(B, 0, 0)
        .risk(C, 0, 0)
        .risk(D, 0, 0)
        .done();
    assert_eq!(ev[split..].to_vec(), exp);

    let p = f.position(A, INFY);
    assert_eq!((p.holdings, p.mis_qty, p.mis_value, p.mis_margin), (HOLD + 3, 0, 0, 0));
    let a = f.account(A);
    assert_eq!((a.cash, a.margin, a.reserved, a.open_orders), (CASH - 455_000, 0, 0, 0));
    assert_eq!(f.engine.open_orders().map(|o| o.order_id).collect::<Vec<_>>(), vec![7]);
    assert_eq!(f.total_cash(), 4 * CASH);
    assert_eq!(f.total_shares(INFY), 4 * HOLD);
}

#[test]
fn square_off_closes_longs_and_shorts_in_position_table_order() {
    let mut f = Fixture::new();
    f.place_ok(limit(C, Sell, 150_000, 10)); // 1
    f.place_ok(limit(A, Buy, 150_000, 10).mis()); // 2: A long 10
    f.place_ok(limit(D, Buy, 150_000, 5)); // 3
    f.place_ok(limit(B, Sell, 150_000, 5).mis()); // 4: B short 5
    f.place_ok(limit(D, Buy, 151_000, 10)); // 5
    f.place_ok(limit(C, Sell, 151_500, 5)); // 6
    let order: Vec<_> =
        f.engine.positions().filter(|p| p.token == INFY && p.mis_qty != 0).map(|p| (p.account, p.mis_qty)).collect();
    assert_eq!(order.len(), 2);

    let mut x = f.expect();
    let mut released = Vec::new();
    for (next_id, (account, mis_qty)) in (7..).zip(order) {
        if account == A {
            assert_eq!(mis_qty, 10);
            let so = square_off_order(A, Sell, 10);
            // Profit 10 * 1_000 settles as MisSettlement.
            x.accepted(next_id, &so)
                .fill(INFY, 151_000, 10, Sell, cnc(5, D, 0), mis(next_id, A, 0))
                .level(INFY, Buy, 151_000, 0, 0);
            // A's margin, then D's filled bid.
            released.extend([A, D]);
        } else {
            assert_eq!((account, mis_qty), (B, -5));
            let so = square_off_order(B, Buy, 5);
            // Loss 5 * 1_500.
            x.accepted(next_id, &so)
                .fill(INFY, 151_500, 5, Buy, mis(next_id, B, 0), cnc(6, C, 0))
                .level(INFY, Sell, 151_500, 0, 0);
            // B's margin; C's CNC offer blocked no cash.
            released.push(B);
        }
    }
    for account in released {
        x.risk(account, 0, 0);
    }
    let exp = x.done();
    assert!(exp.contains(&balance(A, 10_000, CASH + 10_000, engine_core::BalanceReason::MisSettlement)));
    assert!(exp.contains(&balance(B, -7_500, CASH - 7_500, engine_core::BalanceReason::MisSettlement)));
    assert_eq!(f.apply(Command::SquareOffMis { token: INFY }), exp);
    for acct in [A, B] {
        let p = f.position(acct, INFY);
        assert_eq!((p.holdings, p.mis_qty, p.mis_value, p.mis_margin), (HOLD, 0, 0, 0));
        assert_eq!(f.account(acct).margin, 0);
    }
    assert_eq!(f.total_cash(), 4 * CASH);
}

#[test]
fn square_off_needs_an_open_session() {
    let mut f = Fixture::new();
    f.ok(Command::CloseSession);
    assert_eq!(
        f.apply(Command::SquareOffMis { token: INFY }),
        vec![rejected(CommandKind::SquareOffMis, RejectReason::SessionClosed, 0, 0, 0)]
    );
}
