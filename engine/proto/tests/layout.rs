//! Golden bytes: the wire layout is pinned here, so it cannot drift without a failing test.

mod common;

use engine_core::{Command, Event};
use engine_proto::{
    decode_command, decode_event, encode_command, encode_event, COMMAND_LEN_MAX, COMMAND_TEMPLATES, EVENT_LEN_MAX,
    EVENT_TEMPLATES,
};

#[rustfmt::skip]
const PLACE: [u8; 61] = [
    // header: block_length 53, template 15 (Place), schema 1, version 1
    53, 0,  15, 0,  1, 0,  1, 0,
    // client_ref u64 0x0102030405060708
    0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
    // price i64 150_005 = 0x249F5
    0xF5, 0x49, 0x02, 0, 0, 0, 0, 0,
    // trigger i64 -2
    0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    // qty i64 100
    100, 0, 0, 0, 0, 0, 0, 0,
    // disclosed i64 10
    10, 0, 0, 0, 0, 0, 0, 0,
    // account u32 7
    7, 0, 0, 0,
    // token u32 408_065 = 0x63A01
    0x01, 0x3A, 0x06, 0,
    // side Sell, order_type StopLimit, validity Gtc, product Mis, post_only true
    1, 2, 3, 1, 1,
];

#[test]
fn place_has_the_documented_bytes() {
    let cmd = Command::Place(common::sample_order());
    let mut buf = [0u8; COMMAND_LEN_MAX];
    let len = encode_command(&cmd, &mut buf).unwrap();
    assert_eq!(&buf[..len], &PLACE[..]);
    assert_eq!(decode_command(&PLACE), Ok(cmd));
}

#[rustfmt::skip]
const BOOK_LEVEL: [u8; 33] = [
    // header: block_length 25, template 17 (BookLevel), schema 2, version 1
    25, 0,  17, 0,  2, 0,  1, 0,
    // price i64 150_000 = 0x249F0
    0xF0, 0x49, 0x02, 0, 0, 0, 0, 0,
    // qty i64 0
    0, 0, 0, 0, 0, 0, 0, 0,
    // token u32 408_065
    0x01, 0x3A, 0x06, 0,
    // orders u32 0
    0, 0, 0, 0,
    // side Sell
    1,
];

#[test]
fn book_level_has_the_documented_bytes() {
    let event = Event::BookLevel { token: 408_065, side: engine_core::Side::Sell, price: 150_000, qty: 0, orders: 0 };
    let mut buf = [0u8; EVENT_LEN_MAX];
    let len = encode_event(&event, &mut buf).unwrap();
    assert_eq!(&buf[..len], &BOOK_LEVEL[..]);
    assert_eq!(decode_event(&BOOK_LEVEL), Ok(event));
}

#[rustfmt::skip]
const WITHDRAW: [u8; 28] = [
    // header: block_length 20, template 11 (Withdraw), schema 1, version 1
    20, 0,  11, 0,  1, 0,  1, 0,
    // client_ref u64 0x0102030405060708
    0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
    // amount i64 150_000 = 0x249F0
    0xF0, 0x49, 0x02, 0, 0, 0, 0, 0,
    // account u32 7
    7, 0, 0, 0,
];

#[test]
fn withdraw_has_the_documented_bytes() {
    let cmd = Command::Withdraw { client_ref: 0x0102_0304_0506_0708, account: 7, amount: 150_000 };
    let mut buf = [0u8; COMMAND_LEN_MAX];
    let len = encode_command(&cmd, &mut buf).unwrap();
    assert_eq!(&buf[..len], &WITHDRAW[..]);
    assert_eq!(decode_command(&WITHDRAW), Ok(cmd));
}

#[rustfmt::skip]
const BALANCE_CHANGED: [u8; 37] = [
    // header: block_length 29, template 15 (BalanceChanged), schema 2, version 1
    29, 0,  15, 0,  2, 0,  1, 0,
    // delta i64 -2
    0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    // cash i64 150_000
    0xF0, 0x49, 0x02, 0, 0, 0, 0, 0,
    // client_ref u64 9
    9, 0, 0, 0, 0, 0, 0, 0,
    // account u32 7
    7, 0, 0, 0,
    // reason Withdrawal
    2,
];

#[rustfmt::skip]
const ACCOUNT_RISK: [u8; 28] = [
    // header: block_length 20, template 18 (AccountRisk), schema 2, version 1
    20, 0,  18, 0,  2, 0,  1, 0,
    // reserved i64 150_000
    0xF0, 0x49, 0x02, 0, 0, 0, 0, 0,
    // margin i64 1
    1, 0, 0, 0, 0, 0, 0, 0,
    // account u32 7
    7, 0, 0, 0,
];

#[test]
fn funds_events_have_the_documented_bytes() {
    let cases: [(Event, &[u8]); 2] = [
        (
            Event::BalanceChanged {
                account: 7,
                delta: -2,
                cash: 150_000,
                reason: engine_core::BalanceReason::Withdrawal,
                client_ref: 9,
            },
            &BALANCE_CHANGED,
        ),
        (Event::AccountRisk { account: 7, reserved: 150_000, margin: 1 }, &ACCOUNT_RISK),
    ];
    for (event, bytes) in cases {
        let mut buf = [0u8; EVENT_LEN_MAX];
        let len = encode_event(&event, &mut buf).unwrap();
        assert_eq!(&buf[..len], bytes, "{event:?}");
        assert_eq!(decode_event(bytes), Ok(event));
    }
}

#[test]
fn session_commands_are_a_bare_header() {
    let mut buf = [0u8; COMMAND_LEN_MAX];
    let len = encode_command(&Command::OpenSession, &mut buf).unwrap();
    assert_eq!(&buf[..len], &[0, 0, 2, 0, 1, 0, 1, 0]);
}

#[test]
fn template_tables_are_pinned() {
    let commands: Vec<(u16, &str, u16)> = COMMAND_TEMPLATES.iter().map(|t| (t.id, t.name, t.block_length)).collect();
    assert_eq!(
        commands,
        [
            (1, "AddInstrument", 52),
            (2, "OpenSession", 0),
            (3, "CloseSession", 0),
            (4, "Halt", 4),
            (5, "Resume", 4),
            (6, "CreateAccount", 28),
            (7, "SetAccountLimits", 28),
            (8, "ActivateAccount", 4),
            (9, "SuspendAccount", 4),
            (10, "Deposit", 20),
            (11, "Withdraw", 20),
            (12, "DepositHoldings", 16),
            (13, "WithdrawHoldings", 16),
            (14, "SetFeeSchedule", 16),
            (15, "Place", 53),
            (16, "Modify", 44),
            (17, "Cancel", 20),
            (18, "MassCancelAccount", 4),
            (19, "MassCancelInstrument", 4),
            (20, "SquareOffMis", 4),
        ]
    );
    let events: Vec<(u16, &str, u16)> = EVENT_TEMPLATES.iter().map(|t| (t.id, t.name, t.block_length)).collect();
    assert_eq!(
        events,
        [
            (1, "InstrumentAdded", 68),
            (2, "SessionOpened", 0),
            (3, "SessionClosed", 0),
            (4, "InstrumentStatusChanged", 5),
            (5, "AccountCreated", 28),
            (6, "AccountLimitsSet", 28),
            (7, "AccountStatusChanged", 5),
            (8, "FeeScheduleSet", 16),
            (9, "Rejected", 22),
            (10, "Accepted", 61),
            (11, "Triggered", 20),
            (12, "Trade", 87),
            (13, "Modified", 53),
            (14, "Cancelled", 25),
            (15, "BalanceChanged", 29),
            (16, "HoldingsChanged", 25),
            (17, "BookLevel", 25),
            (18, "AccountRisk", 20),
        ]
    );
    assert_eq!(COMMAND_LEN_MAX, 61);
    assert_eq!(EVENT_LEN_MAX, 95);
}

#[test]
fn command_template_names_match_command_kinds() {
    for (template, kind) in COMMAND_TEMPLATES.iter().zip(engine_core::CommandKind::ALL) {
        assert_eq!(template.id, u16::from(kind.as_u8()));
        assert_eq!(template.name, format!("{kind:?}"));
    }
    assert_eq!(COMMAND_TEMPLATES.len(), engine_core::CommandKind::ALL.len());
}
