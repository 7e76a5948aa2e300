//! Pre-trade risk, reservations, settlement, fees and conservation
//! (docs/engine-semantics.md, "Reservations", "Settlement", "Accounts and funds").
//! The numbers here are written out by hand, independent of the fixture's `Expect` arithmetic.

mod common;

use common::*;
use engine_core::Side::{Buy, Sell};
use engine_core::{
    AccountLimits, AccountStatus, BalanceReason, CancelReason, Command, CommandKind, Event, FeeSchedule,
    HoldingsReason, InstrumentSpec, InstrumentStatus, Limits, Product, RejectReason, Trade,
};

#[allow(clippy::too_many_arguments)]
fn trade(
    trade_id: u64,
    price: i64,
    qty: i64,
    aggressor: engine_core::Side,
    buy: (u64, u32, Product, i64, i64),
    sell: (u64, u32, Product, i64, i64),
) -> Event {
    // (order, account, product, fee, remaining)
    Event::Trade(Trade {
        trade_id,
        token: INFY,
        price,
        qty,
        aggressor,
        buy_order: buy.0,
        sell_order: sell.0,
        buy_account: buy.1,
        sell_account: sell.1,
        buy_product: buy.2,
        sell_product: sell.2,
        buy_fee: buy.3,
        sell_fee: sell.3,
        buy_remaining: buy.4,
        sell_remaining: sell.4,
    })
}

const CNC: Product = Product::Cnc;
const MIS: Product = Product::Mis;

// ---------------------------------------------------------------------------------------------
// Set-up events
// ---------------------------------------------------------------------------------------------

#[test]
fn setup_commands_emit_the_documented_events() {
    let mut f = Fixture::bare(Limits::small());
    assert!(!f.engine.session_open());
    assert_eq!(
        f.apply(Command::AddInstrument(infy_spec())),
        vec![Event::InstrumentAdded { spec: infy_spec(), band_low: INFY_LOW, band_high: INFY_HIGH }]
    );
    assert_eq!(
        f.apply(Command::AddInstrument(tcs_spec())),
        vec![Event::InstrumentAdded { spec: tcs_spec(), band_low: TCS_LOW, band_high: TCS_HIGH }]
    );
    let i = f.engine.instrument(INFY).unwrap();
    assert_eq!(
        (i.symbol, i.tick, i.lot, i.band_low, i.band_high, i.reference_price, i.mis_leverage, i.status, i.last_price),
        (sym("INFY"), 5, 1, INFY_LOW, INFY_HIGH, INFY_REF, 5, InstrumentStatus::Active, INFY_REF)
    );
    assert_eq!(f.engine.instruments().map(|i| i.token).collect::<Vec<_>>(), vec![INFY, TCS]);
    assert_eq!(f.apply(Command::OpenSession), vec![Event::SessionOpened]);
    assert!(f.engine.session_open());

    let limits = AccountLimits { order_value_max: 5, open_orders_max: 6, position_max: 7, mis_leverage: 8 };
    assert_eq!(
        f.apply(Command::CreateAccount { account: A, limits }),
        vec![Event::AccountCreated { account: A, limits }]
    );
    let a = f.account(A);
    assert_eq!(
        (a.status, a.limits, a.cash, a.reserved, a.margin, a.available, a.open_orders),
        (AccountStatus::Inactive, limits, 0, 0, 0, 0, 0)
    );
    assert_eq!(
        f.apply(Command::ActivateAccount { account: A }),
        vec![Event::AccountStatusChanged { account: A, status: AccountStatus::Active }]
    );
    let limits = AccountLimits::default();
    assert_eq!(
        f.apply(Command::SetAccountLimits { account: A, limits }),
        vec![Event::AccountLimitsSet { account: A, limits }]
    );
    assert_eq!(f.account(A).limits, limits);
    assert_eq!(
        f.apply(Command::Deposit { client_ref: 0, account: A, amount: 1_000 }),
        vec![balance(A, 1_000, 1_000, BalanceReason::Deposit)]
    );
    assert_eq!(
        f.apply(Command::Deposit { client_ref: 0, account: A, amount: 500 }),
        vec![balance(A, 500, 1_500, BalanceReason::Deposit)]
    );
    assert_eq!(
        f.apply(Command::Withdraw { client_ref: 0, account: A, amount: 200 }),
        vec![balance(A, -200, 1_300, BalanceReason::Withdrawal)]
    );
    assert!(f.engine.position(A, INFY).is_none());
    assert_eq!(
        f.apply(Command::DepositHoldings { account: A, token: INFY, qty: 40 }),
        vec![holdings(A, INFY, 40, 40, HoldingsReason::Deposit)]
    );
    assert_eq!(
        f.apply(Command::WithdrawHoldings { account: A, token: INFY, qty: 15 }),
        vec![holdings(A, INFY, -15, 25, HoldingsReason::Withdrawal)]
    );
    let p = f.position(A, INFY);
    assert_eq!((p.holdings, p.holdings_reserved, p.mis_qty, p.mis_value, p.mis_margin), (25, 0, 0, 0, 0));
    assert_eq!(f.apply(Command::CloseSession), vec![Event::SessionClosed]);
}

#[test]
fn band_is_rounded_inwards_to_the_tick_and_is_at_least_one_tick() {
    let mut f = Fixture::bare(Limits::small());
    // 100_000 +- 7.77%: 92_230 rounds up to 92_300, 107_770 down to 107_700 on a 100 tick.
    let spec = InstrumentSpec {
        token: 7,
        symbol: sym("X"),
        tick: 100,
        lot: 1,
        band_bps: 777,
        reference_price: 100_000,
        mis_leverage: 1,
    };
    assert_eq!(
        f.apply(Command::AddInstrument(spec)),
        vec![Event::InstrumentAdded { spec, band_low: 92_300, band_high: 107_700 }]
    );
    // A 99.99% band: 1_000 - 999.9 rounds up to one tick, 1_999.9 down to 1_995.
    let spec = InstrumentSpec {
        token: 8,
        symbol: sym("Y"),
        tick: 5,
        lot: 1,
        band_bps: 9_999,
        reference_price: 1_000,
        mis_leverage: 1,
    };
    assert_eq!(
        f.apply(Command::AddInstrument(spec)),
        vec![Event::InstrumentAdded { spec, band_low: 5, band_high: 1_995 }]
    );
}

// ---------------------------------------------------------------------------------------------
// CNC reservations
// ---------------------------------------------------------------------------------------------

#[test]
fn cnc_buy_reserves_price_plus_fee_per_share_and_cancel_releases_it() {
    let mut f = Fixture::new();
    f.set_fees(10, 0);
    f.place_ok(limit(A, Buy, 150_000, 10)); // 1: 150_000 + 150 per share
    let o = f.order(1);
    assert_eq!((o.reserve_per_share, o.reserved_cash), (150_150, 1_501_500));
    let a = f.account(A);
    assert_eq!((a.cash, a.reserved, a.margin, a.available, a.open_orders), (CASH, 1_501_500, 0, CASH - 1_501_500, 1));
    assert_eq!(f.position(A, INFY).open_buy_qty, 10);

    f.place_ok(limit(A, Buy, 150_005, 10)); // 2: fee_ps = ceil(150.005) = 151
    let o = f.order(2);
    assert_eq!((o.reserve_per_share, o.reserved_cash), (150_156, 1_501_560));
    assert_eq!(f.account(A).reserved, 1_501_500 + 1_501_560);

    assert_eq!(
        f.cancel(A, 1),
        vec![cancelled(1, A, INFY, 10, CancelReason::User), level(INFY, Buy, 150_000, 0, 0), risk(A, 1_501_560, 0)]
    );
    let a = f.account(A);
    assert_eq!((a.reserved, a.available, a.open_orders), (1_501_560, CASH - 1_501_560, 1));
    f.cancel(A, 2);
    let a = f.account(A);
    assert_eq!((a.cash, a.reserved, a.available, a.open_orders), (CASH, 0, CASH, 0));
    assert_eq!(f.position(A, INFY).open_buy_qty, 0);
}

#[test]
fn fill_settles_cash_holdings_and_fees_and_releases_the_reservation() {
    let mut f = Fixture::new();
    f.set_fees(10, 0);
    f.place_ok(limit(A, Buy, 150_000, 10)); // 1
    let available_before = f.account(A).available;
    let o = limit(B, Sell, 149_000, 4);
    // 4 at the maker's 150_000: notional 600_000, fee 600 a side.
    assert_eq!(
        f.place(o),
        vec![
            accepted(2, &o),
            trade(1, 150_000, 4, Sell, (1, A, CNC, 600, 6), (2, B, CNC, 600, 0)),
            holdings(A, INFY, 4, HOLD + 4, HoldingsReason::Trade),
            balance(A, -600_600, CASH - 600_600, BalanceReason::TradeSettlement),
            holdings(B, INFY, -4, HOLD - 4, HoldingsReason::Trade),
            balance(B, 599_400, CASH + 599_400, BalanceReason::TradeSettlement),
            balance(FEE, 1_200, 1_200, BalanceReason::Fee),
            level(INFY, Buy, 150_000, 6, 1),
            // The fill released 4 shares' reservation; B's CNC sell blocked no cash.
            risk(A, 6 * 150_150, 0),
        ]
    );
    let a = f.account(A);
    assert_eq!((a.cash, a.reserved), (CASH - 600_600, 6 * 150_150));
    assert!(a.available >= available_before, "a fill never lowers available");
    let p = f.position(B, INFY);
    assert_eq!((p.holdings, p.holdings_reserved, p.open_sell_qty), (HOLD - 4, 0, 0));
    assert_eq!(f.account(FEE).cash, 1_200);
    assert_eq!(f.total_cash(), 4 * CASH);
    for id in [A, B] {
        f.check_account_sums(id);
    }
}

#[test]
fn fees_are_capped_per_fill_and_side() {
    let mut f = Fixture::new();
    f.set_fees(10, 1_000);
    f.place_ok(limit(B, Sell, 150_000, 11)); // 1
    let o = limit(A, Buy, 150_000, 10);
    // Notional 1_500_000: 1_500 capped at 1_000.
    assert_eq!(
        f.place(o),
        vec![
            accepted(2, &o),
            trade(1, 150_000, 10, Buy, (2, A, CNC, 1_000, 0), (1, B, CNC, 1_000, 1)),
            holdings(A, INFY, 10, HOLD + 10, HoldingsReason::Trade),
            balance(A, -1_501_000, CASH - 1_501_000, BalanceReason::TradeSettlement),
            holdings(B, INFY, -10, HOLD - 10, HoldingsReason::Trade),
            balance(B, 1_499_000, CASH + 1_499_000, BalanceReason::TradeSettlement),
            balance(FEE, 2_000, 2_000, BalanceReason::Fee),
            level(INFY, Sell, 150_000, 1, 1),
        ]
    );
    // A small fill stays under the cap: 150_000 * 10 / 10_000 = 150.
    let o = limit(A, Buy, 150_000, 1);
    assert_eq!(
        f.place(o),
        vec![
            accepted(3, &o),
            trade(2, 150_000, 1, Buy, (3, A, CNC, 150, 0), (1, B, CNC, 150, 0)),
            holdings(A, INFY, 1, HOLD + 11, HoldingsReason::Trade),
            balance(A, -150_150, CASH - 1_651_150, BalanceReason::TradeSettlement),
            holdings(B, INFY, -1, HOLD - 11, HoldingsReason::Trade),
            balance(B, 149_850, CASH + 1_648_850, BalanceReason::TradeSettlement),
            balance(FEE, 300, 2_300, BalanceReason::Fee),
            level(INFY, Sell, 150_000, 0, 0),
        ]
    );
    assert_eq!(f.total_cash(), 4 * CASH);
}

#[test]
fn fee_is_rounded_up() {
    let mut f = Fixture::new();
    f.set_fees(3, 0);
    f.place_ok(limit(B, Sell, 150_005, 1)); // 1
    let o = limit(A, Buy, 150_005, 1);
    // 150_005 * 3 / 10_000 = 45.0015 -> 46.
    let ev = f.place(o);
    assert_eq!(ev[1], trade(1, 150_005, 1, Buy, (2, A, CNC, 46, 0), (1, B, CNC, 46, 0)));
    assert_eq!(f.account(FEE).cash, 92);
}

#[test]
fn market_buy_reserves_at_the_band_high() {
    let mut f = Fixture::new();
    f.set_fees(10, 0);
    // Exactly 10 shares at band_high + fee_ps(band_high) = 165_000 + 165.
    f.open_account(5, AccountLimits::default(), 10 * 165_165);
    f.place_ok(limit(B, Sell, 150_000, 20)); // 1
    let o = market(5, Buy, 11);
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::InsufficientFunds)]);
    let o = market(5, Buy, 10);
    assert_eq!(
        f.place(o),
        vec![
            accepted(2, &o),
            trade(1, 150_000, 10, Buy, (2, 5, CNC, 1_500, 0), (1, B, CNC, 1_500, 10)),
            holdings(5, INFY, 10, 10, HoldingsReason::Trade),
            balance(5, -1_501_500, 150_150, BalanceReason::TradeSettlement),
            holdings(B, INFY, -10, HOLD - 10, HoldingsReason::Trade),
            balance(B, 1_498_500, CASH + 1_498_500, BalanceReason::TradeSettlement),
            balance(FEE, 3_000, 3_000, BalanceReason::Fee),
            level(INFY, Sell, 150_000, 10, 1),
        ]
    );
    let a = f.account(5);
    assert_eq!((a.cash, a.reserved, a.available), (150_150, 0, 150_150));

    // Stops: SL-M buys reserve at band_high, SL buys at their limit price.
    f.place_ok(stop_market(A, Buy, 150_500, 2)); // 3
    assert_eq!((f.order(3).reserve_per_share, f.order(3).reserved_cash), (165_165, 330_330));
    f.place_ok(stop_limit(A, Buy, 150_500, 151_000, 2)); // 4
    assert_eq!((f.order(4).reserve_per_share, f.order(4).reserved_cash), (151_151, 302_302));
    assert_eq!(f.account(A).reserved, 330_330 + 302_302);
}

#[test]
fn exactly_the_available_cash_is_enough() {
    let mut f = Fixture::new();
    f.open_account(5, AccountLimits::default(), 1_500_000);
    f.place_ok(limit(5, Buy, 150_000, 10));
    assert_eq!(f.account(5).available, 0);
    let o = limit(5, Buy, INFY_LOW, 1);
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::InsufficientFunds)]);
    // Sells of CNC holdings need no cash.
    f.ok(Command::DepositHoldings { account: 5, token: INFY, qty: 3 });
    f.place_ok(limit(5, Sell, 151_000, 3));
}

#[test]
fn cnc_sell_reserves_holdings() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Sell, 151_000, 300)); // 1
    let p = f.position(A, INFY);
    assert_eq!((p.holdings, p.holdings_reserved, p.open_sell_qty), (HOLD, 300, 300));
    let a = f.account(A);
    assert_eq!((a.reserved, a.available, f.order(1).reserved_cash), (0, CASH, 0));

    let o = limit(A, Sell, 152_000, 701);
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::InsufficientHoldings)]);
    f.place_ok(limit(A, Sell, 152_000, 700)); // 2
    assert_eq!(f.position(A, INFY).holdings_reserved, 1_000);
    let o = market(A, Sell, 1);
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::InsufficientHoldings)]);
    assert_eq!(
        f.apply(Command::WithdrawHoldings { account: A, token: INFY, qty: 1 }),
        vec![rejected(CommandKind::WithdrawHoldings, RejectReason::InsufficientHoldings, 0, A, 0)]
    );

    f.place_ok(limit(B, Buy, 151_000, 100)); // 3: fills 100 of order 1
    let p = f.position(A, INFY);
    assert_eq!((p.holdings, p.holdings_reserved, p.open_sell_qty), (900, 900, 900));
    assert_eq!(f.account(A).cash, CASH + 100 * 151_000);

    f.cancel(A, 2);
    assert_eq!(f.position(A, INFY).holdings_reserved, 200);
    assert_eq!(
        f.apply(Command::WithdrawHoldings { account: A, token: INFY, qty: 700 }),
        vec![holdings(A, INFY, -700, 200, HoldingsReason::Withdrawal)]
    );
    assert_eq!(
        f.apply(Command::WithdrawHoldings { account: A, token: INFY, qty: 1 }),
        vec![rejected(CommandKind::WithdrawHoldings, RejectReason::InsufficientHoldings, 0, A, 0)]
    );
}

// ---------------------------------------------------------------------------------------------
// MIS
// ---------------------------------------------------------------------------------------------

#[test]
fn mis_reservation_is_max_of_price_and_reference_over_leverage_plus_fee() {
    let mut f = Fixture::new();
    let rps = |f: &Fixture, id| f.order(id).reserve_per_share;
    f.place_ok(limit(A, Buy, 150_000, 10).mis()); // 1
    assert_eq!((rps(&f, 1), f.order(1).reserved_cash), (30_000, 300_000));
    f.place_ok(limit(A, Buy, 140_000, 10).mis()); // 2: the reference dominates
    assert_eq!(rps(&f, 2), 30_000);
    f.place_ok(limit(A, Buy, 152_000, 10).mis()); // 3
    assert_eq!(rps(&f, 3), 30_400);
    f.place_ok(limit(A, Sell, 158_000, 10).mis()); // 4: every MIS sell at band_high
    assert_eq!(rps(&f, 4), 33_000);
    f.place_ok(limit(B, Buy, 100_000, 10).token(TCS).mis()); // 5: TCS leverage 4
    assert_eq!(rps(&f, 5), 25_000);
    assert_eq!(f.account(A).reserved, 300_000 + 300_000 + 304_000 + 330_000);
    // MIS orders need no holdings and do not reserve any.
    assert_eq!(f.position(A, INFY).holdings_reserved, 0);

    // The account's leverage overrides the instrument's; the division rounds up.
    f.set_limits(C, AccountLimits { mis_leverage: 7, ..Default::default() });
    f.place_ok(limit(C, Buy, 150_000, 1).mis()); // 6: ceil(150_000 / 7) = 21_429
    assert_eq!(rps(&f, 6), 21_429);
    f.set_fees(10, 0);
    f.place_ok(limit(C, Buy, 152_000, 1).mis()); // 7: ceil(152_000 / 7) + 152
    assert_eq!(rps(&f, 7), 21_715 + 152);
    f.place_ok(limit(C, Sell, 158_000, 1).mis()); // 8: ceil(165_000 / 7) + fee_ps(165_000)
    assert_eq!(rps(&f, 8), 23_572 + 165);
    f.place_ok(limit(C, Buy, 140_000, 1).mis()); // 9: max(rp, ref) for the margin, fee on rp
    assert_eq!(rps(&f, 9), 21_429 + 140);
    for id in [A, B, C] {
        f.check_account_sums(id);
    }
}

#[test]
fn mis_fill_turns_the_reservation_into_position_margin() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 152_000, 10)); // 1
    let o = limit(A, Buy, 152_000, 10).mis();
    assert_eq!(
        f.place(o),
        vec![
            accepted(2, &o),
            trade(1, 152_000, 10, Buy, (2, A, MIS, 0, 0), (1, B, CNC, 0, 0)),
            holdings(B, INFY, -10, HOLD - 10, HoldingsReason::Trade),
            balance(B, 1_520_000, CASH + 1_520_000, BalanceReason::TradeSettlement),
            level(INFY, Sell, 152_000, 0, 0),
            risk(A, 0, 300_000),
        ]
    );
    let p = f.position(A, INFY);
    // Margin is on the reference price, not the trade price.
    assert_eq!((p.holdings, p.mis_qty, p.mis_value, p.mis_margin), (HOLD, 10, -1_520_000, 300_000));
    let a = f.account(A);
    assert_eq!((a.cash, a.reserved, a.margin, a.available), (CASH, 0, 300_000, CASH - 300_000));
    f.check_account_sums(A);
    // Σ cash + Σ mis_value is conserved.
    assert_eq!(f.total_cash(), 4 * CASH);
    assert_eq!(f.total_shares(INFY), 4 * HOLD);
}

#[test]
fn mis_margin_rounds_up_on_the_whole_position() {
    let mut f = Fixture::new();
    f.open_account(5, AccountLimits { mis_leverage: 7, ..Default::default() }, 100_000_000);
    f.place_ok(limit(B, Sell, 150_000, 3)); // 1
    f.place_ok(limit(5, Buy, 150_000, 3).mis()); // 2
                                                 // ceil(3 * 150_000 / 7) = ceil(64_285.7) = 64_286 (the order reserved 3 * 21_429 = 64_287).
    assert_eq!(f.position(5, INFY).mis_margin, 64_286);
    let a = f.account(5);
    assert_eq!((a.margin, a.reserved, a.available), (64_286, 0, 100_000_000 - 64_286));
}

#[test]
fn mis_round_trip_settles_into_cash_when_flat() {
    let mut f = Fixture::new();
    f.set_fees(10, 0);
    f.place_ok(limit(B, Sell, 150_000, 10)); // 1
    let o = limit(A, Buy, 150_000, 10).mis();
    assert_eq!(
        f.place(o),
        vec![
            accepted(2, &o),
            trade(1, 150_000, 10, Buy, (2, A, MIS, 1_500, 0), (1, B, CNC, 1_500, 0)),
            balance(A, -1_500, CASH - 1_500, BalanceReason::Fee),
            holdings(B, INFY, -10, HOLD - 10, HoldingsReason::Trade),
            balance(B, 1_498_500, CASH + 1_498_500, BalanceReason::TradeSettlement),
            balance(FEE, 3_000, 3_000, BalanceReason::Fee),
            level(INFY, Sell, 150_000, 0, 0),
            risk(A, 0, 300_000),
        ]
    );
    f.place_ok(limit(C, Buy, 151_000, 10)); // 3
    let o = limit(A, Sell, 151_000, 10).mis();
    // Fee 1_510 a side; A's position goes flat with mis_value +10_000.
    assert_eq!(
        f.place(o),
        vec![
            accepted(4, &o),
            trade(2, 151_000, 10, Sell, (3, C, CNC, 1_510, 0), (4, A, MIS, 1_510, 0)),
            holdings(C, INFY, 10, HOLD + 10, HoldingsReason::Trade),
            balance(C, -1_511_510, CASH - 1_511_510, BalanceReason::TradeSettlement),
            balance(A, -1_510, CASH - 3_010, BalanceReason::Fee),
            balance(A, 10_000, CASH + 6_990, BalanceReason::MisSettlement),
            balance(FEE, 3_020, 6_020, BalanceReason::Fee),
            level(INFY, Buy, 151_000, 0, 0),
            // The taker A first (its margin is released), then the buyer C.
            risk(A, 0, 0),
            risk(C, 0, 0),
        ]
    );
    let p = f.position(A, INFY);
    assert_eq!((p.holdings, p.mis_qty, p.mis_value, p.mis_margin), (HOLD, 0, 0, 0));
    let a = f.account(A);
    assert_eq!((a.cash, a.margin, a.reserved, a.available), (CASH + 6_990, 0, 0, CASH + 6_990));
    assert_eq!(f.total_cash(), 4 * CASH);
}

#[test]
fn mis_short_round_trip_at_a_loss() {
    let mut f = Fixture::new();
    f.place_ok(limit(B, Buy, 150_000, 5)); // 1
    f.place_ok(limit(A, Sell, 150_000, 5).mis()); // 2: A short 5
    let p = f.position(A, INFY);
    assert_eq!((p.mis_qty, p.mis_value, p.mis_margin), (-5, 750_000, 150_000));
    assert_eq!(f.account(A).cash, CASH);
    f.place_ok(limit(C, Sell, 151_000, 5)); // 3
    let o = limit(A, Buy, 151_000, 5).mis();
    assert_eq!(
        f.place(o),
        vec![
            accepted(4, &o),
            trade(2, 151_000, 5, Buy, (4, A, MIS, 0, 0), (3, C, CNC, 0, 0)),
            balance(A, -5_000, CASH - 5_000, BalanceReason::MisSettlement),
            holdings(C, INFY, -5, HOLD - 5, HoldingsReason::Trade),
            balance(C, 755_000, CASH + 755_000, BalanceReason::TradeSettlement),
            level(INFY, Sell, 151_000, 0, 0),
            risk(A, 0, 0),
        ]
    );
    assert!(f.engine.position(A, INFY).is_some_and(|p| p.mis_qty == 0 && p.mis_margin == 0));
}

#[test]
fn mis_flat_at_zero_pnl_has_no_settlement_event() {
    let mut f = Fixture::new();
    f.open_account(5, AccountLimits::default(), 10_000_000);
    f.place_ok(limit(B, Sell, 150_000, 5)); // 1
    f.place_ok(limit(5, Buy, 150_000, 5).mis()); // 2
    f.place_ok(limit(C, Buy, 150_000, 5)); // 3
    let o = limit(5, Sell, 150_000, 5).mis();
    assert_eq!(
        f.place(o),
        vec![
            accepted(4, &o),
            trade(2, 150_000, 5, Sell, (3, C, CNC, 0, 0), (4, 5, MIS, 0, 0)),
            holdings(C, INFY, 5, HOLD + 5, HoldingsReason::Trade),
            balance(C, -750_000, CASH - 750_000, BalanceReason::TradeSettlement),
            level(INFY, Buy, 150_000, 0, 0),
            risk(5, 0, 0),
            risk(C, 0, 0),
        ]
    );
    // Every field is zero: the position is freed.
    assert!(f.engine.position(5, INFY).is_none());
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

#[test]
fn order_value_limit_uses_the_reserve_price() {
    let mut f = Fixture::new();
    f.set_limits(A, AccountLimits { order_value_max: 1_500_000, ..Default::default() });
    f.place_ok(limit(A, Buy, 150_000, 10)); // 1: exactly the limit
    let o = limit(A, Buy, 150_005, 10);
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::OrderValueLimitExceeded)]);
    // MARKET buys are valued at band_high: 10 * 165_000.
    let o = market(A, Buy, 10);
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::OrderValueLimitExceeded)]);
    let o = stop_market(A, Buy, 150_500, 10);
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::OrderValueLimitExceeded)]);
    f.place_ok(market(A, Buy, 9)); // 9 * 165_000 = 1_485_000
                                   // MIS sells too, whatever their limit price (A's bid is cancelled first: no self-trade).
    f.cancel(A, 1);
    let o = limit(A, Sell, 140_000, 10).mis();
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::OrderValueLimitExceeded)]);
    f.place_ok(limit(A, Sell, 140_000, 9).mis());
}

#[test]
fn open_orders_limit_counts_resting_orders_and_stops() {
    let mut f = Fixture::new();
    f.set_limits(A, AccountLimits { open_orders_max: 2, ..Default::default() });
    f.place_ok(limit(A, Buy, 149_000, 1)); // 1
    f.place_ok(stop_market(A, Buy, 151_000, 1)); // 2
    assert_eq!(f.account(A).open_orders, 2);
    for o in [limit(A, Buy, 149_000, 1), market(A, Buy, 1), stop_market(A, Sell, 149_000, 1)] {
        assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::OpenOrdersLimitExceeded)]);
    }
    f.cancel(A, 2);
    f.place_ok(limit(A, Buy, 149_000, 1)); // 3
                                           // Other accounts are not affected.
    f.place_ok(limit(B, Buy, 149_000, 1));
    f.place_ok(limit(B, Buy, 149_000, 1));
    f.place_ok(limit(B, Buy, 149_000, 1));
}

#[test]
fn position_limit_counts_holdings_mis_and_open_orders() {
    let mut f = Fixture::new();
    f.open_account(5, AccountLimits { position_max: 10, ..Default::default() }, 100_000_000);
    f.place_ok(limit(5, Buy, 149_000, 6)); // 1: open buys 6
    let o = limit(5, Buy, 149_000, 5);
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::PositionLimitExceeded)]);
    f.place_ok(limit(5, Buy, 149_000, 4)); // 2: 10
                                           // Open buys do not offset sells: -(0 + 0 - 0 - 10) = 10.
    f.place_ok(limit(5, Sell, 151_000, 10).mis()); // 3
    let o = limit(5, Sell, 151_000, 1).mis();
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::PositionLimitExceeded)]);
    f.ok(Command::MassCancelAccount { account: 5 });

    // A filled MIS position counts: long 4, so at most 6 more may be bought.
    f.place_ok(limit(B, Sell, 150_000, 4)); // 4
    f.place_ok(limit(5, Buy, 150_000, 4).mis()); // 5: fills
    assert_eq!(f.position(5, INFY).mis_qty, 4);
    let o = limit(5, Buy, 149_000, 7).mis();
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::PositionLimitExceeded)]);
    f.place_ok(limit(5, Buy, 149_000, 6).mis());
    // And a sell may go to -10: -(4 - 0 - 14) = 10.
    f.place_ok(limit(5, Sell, 152_000, 14).mis());

    // Holdings count: A holds 1_000.
    f.set_limits(A, AccountLimits { position_max: HOLD, ..Default::default() });
    let o = limit(A, Buy, 149_000, 1);
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::PositionLimitExceeded)]);
    f.place_ok(limit(A, Sell, 151_000, HOLD));
}

#[test]
fn withdrawal_is_limited_to_available() {
    let mut f = Fixture::new();
    f.place_ok(limit(A, Buy, 150_000, 10)); // reserves 1_500_000
    let available = f.account(A).available;
    assert_eq!(available, CASH - 1_500_000);
    assert_eq!(
        f.apply(Command::Withdraw { client_ref: 0, account: A, amount: available + 1 }),
        vec![rejected(CommandKind::Withdraw, RejectReason::InsufficientFunds, 0, A, 0)]
    );
    assert_eq!(
        f.apply(Command::Withdraw { client_ref: 0, account: A, amount: available }),
        vec![balance(A, -available, 1_500_000, BalanceReason::Withdrawal)]
    );
    let a = f.account(A);
    assert_eq!((a.cash, a.reserved, a.available), (1_500_000, 1_500_000, 0));
    let o = limit(A, Buy, INFY_LOW, 1);
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::InsufficientFunds)]);

    // MIS margin blocks withdrawals too.
    let mut f = Fixture::new();
    f.place_ok(limit(B, Sell, 150_000, 10));
    f.place_ok(limit(A, Buy, 150_000, 10).mis());
    assert_eq!(f.account(A).available, CASH - 300_000);
    assert_eq!(
        f.apply(Command::Withdraw { client_ref: 0, account: A, amount: CASH - 299_999 }),
        vec![rejected(CommandKind::Withdraw, RejectReason::InsufficientFunds, 0, A, 0)]
    );
    f.ok(Command::Withdraw { client_ref: 0, account: A, amount: CASH - 300_000 });
    assert_eq!(f.account(A).available, 0);
}

#[test]
fn withdrawal_allowed_while_suspended() {
    let mut f = Fixture::new();
    f.ok(Command::SuspendAccount { account: A });
    assert_eq!(
        f.apply(Command::Withdraw { client_ref: 0, account: A, amount: 10 }),
        vec![balance(A, -10, CASH - 10, BalanceReason::Withdrawal)]
    );
    assert_eq!(
        f.apply(Command::DepositHoldings { account: A, token: INFY, qty: 5 }),
        vec![holdings(A, INFY, 5, HOLD + 5, HoldingsReason::Deposit)]
    );
}

#[test]
fn positions_are_freed_when_every_field_is_zero() {
    let mut f = Fixture::new();
    f.open_account(5, AccountLimits::default(), 10_000_000);
    assert!(f.engine.position(5, INFY).is_none());
    let id = f.place_ok(limit(5, Buy, 149_000, 10));
    assert_eq!(f.position(5, INFY).open_buy_qty, 10);
    f.cancel(5, id);
    assert!(f.engine.position(5, INFY).is_none());
    f.ok(Command::DepositHoldings { account: 5, token: TCS, qty: 20 });
    f.ok(Command::WithdrawHoldings { account: 5, token: TCS, qty: 20 });
    assert!(f.engine.position(5, TCS).is_none());
}

#[test]
fn fee_schedule_is_set_and_changes_the_next_fills() {
    let mut f = Fixture::new();
    let s = FeeSchedule { bps: 20, cap: 500, fee_account: FEE };
    assert_eq!(f.apply(Command::SetFeeSchedule(s)), vec![Event::FeeScheduleSet(s)]);
    assert_eq!(f.engine.fee_schedule(), s);
    f.place_ok(limit(B, Sell, 100_000, 10).token(TCS));
    let ev = f.place(limit(A, Buy, 100_000, 10).token(TCS));
    assert!(ev.contains(&balance(FEE, 1_000, 1_000, BalanceReason::Fee)), "{ev:?}");
    let s = FeeSchedule { bps: 0, cap: 0, fee_account: FEE };
    f.ok(Command::SetFeeSchedule(s));
    f.place_ok(limit(B, Sell, 100_000, 10).token(TCS));
    let ev = f.place(limit(A, Buy, 100_000, 10).token(TCS));
    assert!(!ev.iter().any(|e| matches!(e, Event::BalanceChanged { reason: BalanceReason::Fee, .. })), "{ev:?}");
    assert_eq!(f.account(FEE).cash, 1_000);
}

// ---------------------------------------------------------------------------------------------
// Conservation
// ---------------------------------------------------------------------------------------------

#[test]
fn cash_and_shares_are_conserved_over_a_session() {
    let mut f = Fixture::new();
    f.set_fees(7, 2_000);
    let mut net_cash = 4 * CASH;
    let mut net_infy = 4 * HOLD;
    let check = |f: &Fixture, net_cash: i64, net_infy: i64, step: &str| {
        assert_eq!(f.total_cash(), net_cash, "cash after {step}");
        assert_eq!(f.total_shares(INFY), net_infy, "INFY after {step}");
        assert_eq!(f.total_shares(TCS), 4 * HOLD, "TCS after {step}");
        for id in [A, B, C, D, FEE] {
            f.check_account_sums(id);
            assert!(f.account(id).available >= 0, "available of {id} after {step}");
        }
    };
    let steps: Vec<(&str, Command)> = vec![
        ("B sells CNC", Command::Place(limit(B, Sell, 150_000, 30))),
        ("A buys MIS", Command::Place(limit(A, Buy, 150_500, 12).mis())),
        ("C buys CNC", Command::Place(limit(C, Buy, 151_000, 25))),
        ("D iceberg sell", Command::Place(limit(D, Sell, 149_500, 40).disclosed(7))),
        ("C bids", Command::Place(limit(C, Buy, 149_000, 10))),
        ("A sells MIS at a loss", Command::Place(limit(A, Sell, 149_000, 20).mis())),
        ("B short MIS", Command::Place(limit(B, Sell, 149_000, 15).mis())),
        ("deposit", Command::Deposit { client_ref: 0, account: C, amount: 1_234_567 }),
        ("C market buy", Command::Place(market(C, Buy, 60))),
        ("withdraw", Command::Withdraw { client_ref: 0, account: D, amount: 7_654_321 }),
        ("D buys TCS", Command::Place(limit(D, Buy, 101_000, 30).token(TCS))),
        ("B sells TCS", Command::Place(limit(B, Sell, 100_000, 50).token(TCS))),
        ("A bid", Command::Place(limit(A, Buy, 148_000, 10).mis())),
        ("D offer", Command::Place(limit(D, Sell, 150_500, 10))),
        ("holdings in", Command::DepositHoldings { account: D, token: INFY, qty: 11 }),
        ("square-off", Command::SquareOffMis { token: INFY }),
        ("holdings out", Command::WithdrawHoldings { account: D, token: INFY, qty: 5 }),
        ("close", Command::CloseSession),
    ];
    for (step, cmd) in steps {
        let ev = f.apply(cmd);
        assert!(!ev.iter().any(|e| matches!(e, Event::Rejected { .. })), "{step}: {ev:?}");
        for e in &ev {
            if let Event::AccountRisk { account, reserved, margin } = *e {
                let a = f.account(account);
                assert_eq!((reserved, margin), (a.reserved, a.margin), "{step}: AccountRisk of {account}");
            }
        }
        match cmd {
            Command::Deposit { amount, .. } => net_cash += amount,
            Command::Withdraw { amount, .. } => net_cash -= amount,
            Command::DepositHoldings { qty, .. } => net_infy += qty,
            Command::WithdrawHoldings { qty, .. } => net_infy -= qty,
            _ => {}
        }
        check(&f, net_cash, net_infy, step);
    }
    assert!(f.account(FEE).cash > 0);
    // Everything intraday was squared off or converted.
    assert!(f.engine.positions().all(|p| p.mis_qty == 0 && p.mis_value == 0 && p.mis_margin == 0));
}

#[test]
fn fills_never_lower_the_makers_available() {
    let mut f = Fixture::new();
    f.set_fees(15, 0);
    f.place_ok(limit(A, Buy, 151_000, 7)); // CNC buy
    f.place_ok(limit(A, Buy, 149_000, 6).mis()); // MIS buy
    f.place_ok(limit(A, Sell, 152_000, 9).mis()); // MIS sell
    f.place_ok(limit(A, Sell, 153_000, 4)); // CNC sell
    for taker in [limit(B, Sell, 151_000, 3), limit(C, Sell, 149_000, 6), market(D, Buy, 9), limit(B, Buy, 153_000, 4)]
    {
        let before = f.account(A).available;
        let ev = f.place(taker);
        assert!(ev.iter().any(|e| matches!(e, Event::Trade(t) if t.buy_account == A || t.sell_account == A)), "{ev:?}");
        let after = f.account(A).available;
        assert!(after >= before, "{taker:?}: available {before} -> {after}");
        f.check_account_sums(A);
    }
}

// ---------------------------------------------------------------------------------------------
// Risk off
// ---------------------------------------------------------------------------------------------

#[test]
fn risk_off_matches_without_checks_settlement_or_fees() {
    let mut f = Fixture::bare(Limits { risk_enabled: false, ..Limits::small() });
    f.ok(Command::AddInstrument(infy_spec()));
    f.ok(Command::OpenSession);
    for account in [A, B, FEE] {
        f.ok(Command::CreateAccount { account, limits: AccountLimits::default() });
        f.ok(Command::ActivateAccount { account });
    }
    f.ok(Command::SetFeeSchedule(FeeSchedule { bps: 10, cap: 0, fee_account: FEE }));
    // No cash, no holdings: accepted anyway.
    let s = limit(B, Sell, 150_000, 10);
    assert_eq!(f.place(s), vec![accepted(1, &s), level(INFY, Sell, 150_000, 10, 1)]);
    let o = limit(A, Buy, 150_000, 4);
    assert_eq!(
        f.place(o),
        vec![
            accepted(2, &o),
            trade(1, 150_000, 4, Buy, (2, A, CNC, 0, 0), (1, B, CNC, 0, 6)),
            level(INFY, Sell, 150_000, 6, 1),
        ]
    );
    // Validation still applies.
    let o = limit(A, Buy, 150_003, 4);
    assert_eq!(f.place(o), vec![place_rejected(&o, RejectReason::TickSizeViolation)]);
    assert_eq!(f.account(A).cash, 0);
    assert_eq!(f.account(FEE).cash, 0);
}
