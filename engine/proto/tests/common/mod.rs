//! Strategies and samples shared by the codec tests.
#![allow(dead_code)] // each test file uses a different part

use engine_core::{
    Accepted, AccountLimits, AccountStatus, BalanceReason, CancelReason, Command, CommandKind, Event, FeeSchedule,
    HoldingsReason, InstrumentSpec, InstrumentStatus, ModifyOrder, NewOrder, OrderType, Product, RejectReason, Side,
    Symbol, Trade, Validity,
};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// 1024 cases by default; `PROPTEST_CASES` raises or lowers it.
pub fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    Config { cases, ..Config::default() }
}

pub fn wide_i64() -> impl Strategy<Value = i64> {
    prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0), Just(-1), Just(1), any::<i64>()]
}

pub fn wide_u64() -> impl Strategy<Value = u64> {
    prop_oneof![Just(u64::MAX), Just(0), Just(1), any::<u64>()]
}

pub fn wide_u32() -> impl Strategy<Value = u32> {
    prop_oneof![Just(u32::MAX), Just(0), Just(1), any::<u32>()]
}

pub fn one_of<E: Copy + core::fmt::Debug + 'static>(all: &'static [E]) -> impl Strategy<Value = E> {
    prop::sample::select(all)
}

/// Any valid symbol: 1 to 16 printable ASCII bytes, NUL-padded.
pub fn symbol() -> impl Strategy<Value = Symbol> {
    prop::collection::vec(0x21u8..=0x7e, 1..=Symbol::LEN_MAX).prop_map(|text| {
        let mut raw = [0u8; Symbol::LEN_MAX];
        for (dst, src) in raw.iter_mut().zip(text) {
            *dst = src;
        }
        Symbol(raw)
    })
}

pub fn limits() -> impl Strategy<Value = AccountLimits> {
    (wide_i64(), wide_u32(), wide_i64(), wide_u32()).prop_map(
        |(order_value_max, open_orders_max, position_max, mis_leverage)| AccountLimits {
            order_value_max,
            open_orders_max,
            position_max,
            mis_leverage,
        },
    )
}

pub fn fees() -> impl Strategy<Value = FeeSchedule> {
    (wide_u32(), wide_i64(), wide_u32()).prop_map(|(bps, cap, fee_account)| FeeSchedule { bps, cap, fee_account })
}

pub fn instrument() -> impl Strategy<Value = InstrumentSpec> {
    (wide_u32(), symbol(), wide_i64(), wide_i64(), wide_u32(), wide_i64(), wide_u32()).prop_map(
        |(token, symbol, tick, lot, band_bps, reference_price, mis_leverage)| InstrumentSpec {
            token,
            symbol,
            tick,
            lot,
            band_bps,
            reference_price,
            mis_leverage,
        },
    )
}

pub fn new_order() -> impl Strategy<Value = NewOrder> {
    (
        (wide_u64(), wide_u32(), wide_u32()),
        (one_of(Side::ALL), one_of(OrderType::ALL), one_of(Validity::ALL), one_of(Product::ALL)),
        (wide_i64(), wide_i64(), wide_i64(), wide_i64(), any::<bool>()),
    )
        .prop_map(
            |(
                (client_ref, account, token),
                (side, order_type, validity, product),
                (price, trigger, qty, disclosed, post_only),
            )| NewOrder {
                client_ref,
                account,
                token,
                side,
                order_type,
                validity,
                product,
                price,
                trigger,
                qty,
                disclosed,
                post_only,
            },
        )
}

pub fn modify_order() -> impl Strategy<Value = ModifyOrder> {
    (wide_u64(), wide_u32(), wide_u64(), wide_i64(), wide_i64(), wide_i64()).prop_map(
        |(client_ref, account, order_id, price, qty, trigger)| ModifyOrder {
            client_ref,
            account,
            order_id,
            price,
            qty,
            trigger,
        },
    )
}

/// Any valid command: every variant, every enum value, extreme integers.
pub fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        instrument().prop_map(Command::AddInstrument),
        Just(Command::OpenSession),
        Just(Command::CloseSession),
        wide_u32().prop_map(|token| Command::Halt { token }),
        wide_u32().prop_map(|token| Command::Resume { token }),
        (wide_u32(), limits()).prop_map(|(account, limits)| Command::CreateAccount { account, limits }),
        (wide_u32(), limits()).prop_map(|(account, limits)| Command::SetAccountLimits { account, limits }),
        wide_u32().prop_map(|account| Command::ActivateAccount { account }),
        wide_u32().prop_map(|account| Command::SuspendAccount { account }),
        (wide_u64(), wide_u32(), wide_i64()).prop_map(|(client_ref, account, amount)| Command::Deposit {
            client_ref,
            account,
            amount
        }),
        (wide_u64(), wide_u32(), wide_i64()).prop_map(|(client_ref, account, amount)| Command::Withdraw {
            client_ref,
            account,
            amount
        }),
        (wide_u32(), wide_u32(), wide_i64()).prop_map(|(account, token, qty)| Command::DepositHoldings {
            account,
            token,
            qty
        }),
        (wide_u32(), wide_u32(), wide_i64()).prop_map(|(account, token, qty)| Command::WithdrawHoldings {
            account,
            token,
            qty
        }),
        fees().prop_map(Command::SetFeeSchedule),
        new_order().prop_map(Command::Place),
        modify_order().prop_map(Command::Modify),
        (wide_u64(), wide_u32(), wide_u64()).prop_map(|(client_ref, account, order_id)| Command::Cancel {
            client_ref,
            account,
            order_id
        }),
        wide_u32().prop_map(|account| Command::MassCancelAccount { account }),
        wide_u32().prop_map(|token| Command::MassCancelInstrument { token }),
        wide_u32().prop_map(|token| Command::SquareOffMis { token }),
    ]
}

pub fn accepted() -> impl Strategy<Value = Accepted> {
    (wide_u64(), new_order()).prop_map(|(order_id, o)| Accepted {
        order_id,
        client_ref: o.client_ref,
        account: o.account,
        token: o.token,
        side: o.side,
        order_type: o.order_type,
        validity: o.validity,
        product: o.product,
        price: o.price,
        trigger: o.trigger,
        qty: o.qty,
        disclosed: o.disclosed,
        post_only: o.post_only,
    })
}

pub fn trade() -> impl Strategy<Value = Trade> {
    (
        (wide_u64(), wide_u32(), wide_i64(), wide_i64(), one_of(Side::ALL)),
        (wide_u64(), wide_u64(), wide_u32(), wide_u32(), one_of(Product::ALL), one_of(Product::ALL)),
        (wide_i64(), wide_i64(), wide_i64(), wide_i64()),
    )
        .prop_map(
            |(
                (trade_id, token, price, qty, aggressor),
                (buy_order, sell_order, buy_account, sell_account, buy_product, sell_product),
                (buy_fee, sell_fee, buy_remaining, sell_remaining),
            )| Trade {
                trade_id,
                token,
                price,
                qty,
                aggressor,
                buy_order,
                sell_order,
                buy_account,
                sell_account,
                buy_product,
                sell_product,
                buy_fee,
                sell_fee,
                buy_remaining,
                sell_remaining,
            },
        )
}

/// Any event: every variant, every enum value, extreme integers.
pub fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (instrument(), wide_i64(), wide_i64()).prop_map(|(spec, band_low, band_high)| Event::InstrumentAdded {
            spec,
            band_low,
            band_high
        }),
        Just(Event::SessionOpened),
        Just(Event::SessionClosed),
        (wide_u32(), one_of(InstrumentStatus::ALL))
            .prop_map(|(token, status)| Event::InstrumentStatusChanged { token, status }),
        (wide_u32(), limits()).prop_map(|(account, limits)| Event::AccountCreated { account, limits }),
        (wide_u32(), limits()).prop_map(|(account, limits)| Event::AccountLimitsSet { account, limits }),
        (wide_u32(), one_of(AccountStatus::ALL))
            .prop_map(|(account, status)| Event::AccountStatusChanged { account, status }),
        fees().prop_map(Event::FeeScheduleSet),
        (one_of(CommandKind::ALL), one_of(RejectReason::ALL), wide_u64(), wide_u32(), wide_u64()).prop_map(
            |(kind, reason, client_ref, account, order_id)| Event::Rejected {
                kind,
                reason,
                client_ref,
                account,
                order_id
            }
        ),
        accepted().prop_map(Event::Accepted),
        (wide_u64(), wide_u32(), wide_i64()).prop_map(|(order_id, token, last_price)| Event::Triggered {
            order_id,
            token,
            last_price
        }),
        trade().prop_map(Event::Trade),
        ((wide_u64(), wide_u64(), wide_u32()), (wide_i64(), wide_i64(), wide_i64(), wide_i64(), any::<bool>()))
            .prop_map(|((order_id, client_ref, account), (price, qty, trigger, remaining, priority_kept))| {
                Event::Modified { order_id, client_ref, account, price, qty, trigger, remaining, priority_kept }
            }),
        (wide_u64(), wide_u32(), wide_u32(), wide_i64(), one_of(CancelReason::ALL)).prop_map(
            |(order_id, account, token, remaining, reason)| Event::Cancelled {
                order_id,
                account,
                token,
                remaining,
                reason
            }
        ),
        (wide_u32(), wide_i64(), wide_i64(), one_of(BalanceReason::ALL), wide_u64()).prop_map(
            |(account, delta, cash, reason, client_ref)| Event::BalanceChanged {
                account,
                delta,
                cash,
                reason,
                client_ref
            }
        ),
        (wide_u32(), wide_u32(), wide_i64(), wide_i64(), one_of(HoldingsReason::ALL)).prop_map(
            |(account, token, delta, holdings, reason)| Event::HoldingsChanged {
                account,
                token,
                delta,
                holdings,
                reason
            }
        ),
        (wide_u32(), one_of(Side::ALL), wide_i64(), wide_i64(), wide_u32())
            .prop_map(|(token, side, price, qty, orders)| Event::BookLevel { token, side, price, qty, orders }),
        (wide_u32(), wide_i64(), wide_i64()).prop_map(|(account, reserved, margin)| Event::AccountRisk {
            account,
            reserved,
            margin
        }),
    ]
}

pub fn infy() -> Symbol {
    Symbol::new("INFY").expect("valid symbol")
}

pub fn sample_order() -> NewOrder {
    NewOrder {
        client_ref: 0x0102_0304_0506_0708,
        account: 7,
        token: 408_065,
        side: Side::Sell,
        order_type: OrderType::StopLimit,
        validity: Validity::Gtc,
        product: Product::Mis,
        price: 150_005,
        trigger: -2,
        qty: 100,
        disclosed: 10,
        post_only: true,
    }
}

/// One command of every variant.
pub fn sample_commands() -> Vec<Command> {
    let limits = AccountLimits { order_value_max: 1_000_000, open_orders_max: 50, position_max: -3, mis_leverage: 5 };
    vec![
        Command::AddInstrument(InstrumentSpec {
            token: 408_065,
            symbol: infy(),
            tick: 5,
            lot: 1,
            band_bps: 2000,
            reference_price: 150_000,
            mis_leverage: 5,
        }),
        Command::OpenSession,
        Command::CloseSession,
        Command::Halt { token: 1 },
        Command::Resume { token: u32::MAX },
        Command::CreateAccount { account: 3, limits },
        Command::SetAccountLimits { account: 3, limits: AccountLimits::default() },
        Command::ActivateAccount { account: 3 },
        Command::SuspendAccount { account: 4 },
        Command::Deposit { client_ref: u64::MAX, account: 3, amount: i64::MAX },
        Command::Withdraw { client_ref: 0, account: 3, amount: i64::MIN },
        Command::DepositHoldings { account: 3, token: 408_065, qty: 10 },
        Command::WithdrawHoldings { account: 3, token: 408_065, qty: -10 },
        Command::SetFeeSchedule(FeeSchedule { bps: 3, cap: 2000, fee_account: 0 }),
        Command::Place(sample_order()),
        Command::Modify(ModifyOrder { client_ref: 9, account: 3, order_id: 42, price: 150_010, qty: 50, trigger: 0 }),
        Command::Cancel { client_ref: 10, account: 3, order_id: 42 },
        Command::MassCancelAccount { account: 3 },
        Command::MassCancelInstrument { token: 408_065 },
        Command::SquareOffMis { token: 408_065 },
    ]
}

/// One event of every variant.
pub fn sample_events() -> Vec<Event> {
    let o = sample_order();
    vec![
        Event::InstrumentAdded {
            spec: InstrumentSpec {
                token: 408_065,
                symbol: infy(),
                tick: 5,
                lot: 1,
                band_bps: 2000,
                reference_price: 150_000,
                mis_leverage: 5,
            },
            band_low: 120_000,
            band_high: 180_000,
        },
        Event::SessionOpened,
        Event::SessionClosed,
        Event::InstrumentStatusChanged { token: 408_065, status: InstrumentStatus::Halted },
        Event::AccountCreated { account: 3, limits: AccountLimits::default() },
        Event::AccountLimitsSet {
            account: 3,
            limits: AccountLimits { order_value_max: 1, open_orders_max: 2, position_max: 3, mis_leverage: 4 },
        },
        Event::AccountStatusChanged { account: 3, status: AccountStatus::Suspended },
        Event::FeeScheduleSet(FeeSchedule { bps: 3, cap: 0, fee_account: 1 }),
        Event::Rejected {
            kind: CommandKind::Cancel,
            reason: RejectReason::UnknownOrder,
            client_ref: 10,
            account: 3,
            order_id: 42,
        },
        Event::Accepted(Accepted {
            order_id: 42,
            client_ref: o.client_ref,
            account: o.account,
            token: o.token,
            side: o.side,
            order_type: o.order_type,
            validity: o.validity,
            product: o.product,
            price: o.price,
            trigger: o.trigger,
            qty: o.qty,
            disclosed: o.disclosed,
            post_only: o.post_only,
        }),
        Event::Triggered { order_id: 42, token: 408_065, last_price: 149_995 },
        Event::Trade(Trade {
            trade_id: 1,
            token: 408_065,
            price: 150_000,
            qty: 10,
            aggressor: Side::Buy,
            buy_order: 43,
            sell_order: 42,
            buy_account: 4,
            sell_account: 3,
            buy_product: Product::Cnc,
            sell_product: Product::Mis,
            buy_fee: 45,
            sell_fee: 45,
            buy_remaining: 0,
            sell_remaining: 90,
        }),
        Event::Modified {
            order_id: 42,
            client_ref: 9,
            account: 3,
            price: 150_010,
            qty: 50,
            trigger: 0,
            remaining: 40,
            priority_kept: false,
        },
        Event::Cancelled { order_id: 42, account: 3, token: 408_065, remaining: 40, reason: CancelReason::SelfTrade },
        Event::BalanceChanged {
            account: 3,
            delta: -1_500_045,
            cash: 0,
            reason: BalanceReason::TradeSettlement,
            client_ref: 0,
        },
        Event::BalanceChanged { account: 3, delta: 500, cash: 500, reason: BalanceReason::Deposit, client_ref: 7 },
        Event::HoldingsChanged { account: 4, token: 408_065, delta: 10, holdings: 10, reason: HoldingsReason::Trade },
        Event::BookLevel { token: 408_065, side: Side::Sell, price: 150_000, qty: 0, orders: 0 },
        Event::AccountRisk { account: 3, reserved: 1_500_000, margin: 300_000 },
    ]
}
