//! The gateway's wire layer against the official `kiteconnect` Python client (PyPI), a client
//! no one here wrote.
//!
//! Ticker packets (ltp, quote, full), heartbeats and text messages go through
//! `KiteTicker._parse_binary` / `_parse_text_message`; HTTP requests the client builds are
//! decoded by this crate; HTTP responses this crate encodes are read back by the client's own
//! `_request`. Field by field, floats compared bit for bit.
//!
//! Needs `python3 -m pip install kiteconnect` (scripts/test installs it). Without it the test
//! fails when `CI=true` and is skipped otherwise.

use std::io::Write as _;
use std::process::Command;

use engine_core::{OrderType, Product, RejectReason, Side, Validity};
use gateway::checksum::verify_checksum;
use gateway::envelope::{
    reject_error, success, ApiError, ErrorType, RejectContext, CONTENT_TYPE_CSV, CONTENT_TYPE_JSON,
};
use gateway::format::{self, Candle, DepthLevel, EquityMargins, HoldingRecord, InstrumentRow, KeyedMap, OrderRecord};
use gateway::format::{PositionRecord, QuoteRecord, TradeRecord};
use gateway::kite::{instrument_token, Exchange, OrderStatus, Variety};
use gateway::orders::{parse_modify, parse_place, Instrument, OpenOrder};
use gateway::ticker::{self, DepthEntry, Mode, Tick};
use gateway::{Decimal, Form, FormLimits};
use serde_json::{json, Value};

/// 2024-01-15 09:15:00 IST.
const T0: i64 = 1_705_290_300;
const T0_NS: u64 = T0 as u64 * 1_000_000_000;
const INFY: u32 = 408_065;

fn tick() -> Tick {
    let mut t = Tick {
        token: INFY,
        last_price: 152_250,
        last_quantity: 4,
        average_price: 152_105,
        volume: 1_234_567,
        buy_quantity: 30_000,
        sell_quantity: 25_000,
        open: 151_000,
        high: 153_005,
        low: 150_500,
        close: 150_095,
        last_trade_time: (T0 - 1) as u32,
        oi: 0,
        oi_day_high: 0,
        oi_day_low: 0,
        exchange_timestamp: T0 as u32,
        ..Tick::default()
    };
    for i in 0..5 {
        let i64_ = i as i64;
        t.bids[i] = DepthEntry { quantity: 100 + i64_, price: 152_245 - 5 * i64_, orders: 1 + i as u32 };
        t.asks[i] = DepthEntry { quantity: 200 + i64_, price: 152_255 + 5 * i64_, orders: 60_000 + i as u32 };
    }
    t
}

/// The largest values the packets carry, on which signed and unsigned readers agree.
fn max_tick() -> Tick {
    let m = i64::from(i32::MAX);
    let d = DepthEntry { quantity: m, price: m, orders: 65_535 };
    Tick {
        token: u32::MAX,
        last_price: m,
        last_quantity: m,
        average_price: m,
        volume: m,
        buy_quantity: m,
        sell_quantity: m,
        open: m,
        high: m,
        low: m,
        close: m,
        last_trade_time: i32::MAX as u32,
        oi: m,
        oi_day_high: m,
        oi_day_low: m,
        exchange_timestamp: i32::MAX as u32,
        bids: [d; 5],
        asks: [d; 5],
    }
}

fn bits(v: &Value) -> u64 {
    v["bits"].as_u64().unwrap_or_else(|| panic!("expected a Python float, got {v}"))
}

/// A Python float equal to `paise / divisor` as the client computes it.
fn assert_price(v: &Value, paise: i64, divisor: f64, what: &str) {
    assert_eq!(bits(v), (paise as f64 / divisor).to_bits(), "{what}: {v} vs {paise}/{divisor}");
}

/// A JSON rupee amount as Python's json.loads read it: an int for whole rupees, else a float
/// that is the double nearest the exact decimal.
fn assert_rupees(v: &Value, paise: i64, what: &str) {
    if let Some(i) = v.as_i64() {
        assert_eq!(i * 100, paise, "{what}: {v}");
    } else {
        assert_eq!(bits(v), (paise as f64 / 100.0).to_bits(), "{what}: {v} vs {paise} paise");
    }
}

fn check_quote_fields(d: &Value, t: &Tick, mode: &str) {
    assert_eq!(d["mode"], mode);
    assert_eq!(d["tradable"], true);
    assert_eq!(d["instrument_token"], t.token);
    assert_price(&d["last_price"], t.last_price, 100.0, "last_price");
    assert_eq!(d["last_traded_quantity"], t.last_quantity);
    assert_price(&d["average_traded_price"], t.average_price, 100.0, "average_traded_price");
    assert_eq!(d["volume_traded"], t.volume);
    assert_eq!(d["total_buy_quantity"], t.buy_quantity);
    assert_eq!(d["total_sell_quantity"], t.sell_quantity);
    assert_price(&d["ohlc"]["open"], t.open, 100.0, "open");
    assert_price(&d["ohlc"]["high"], t.high, 100.0, "high");
    assert_price(&d["ohlc"]["low"], t.low, 100.0, "low");
    assert_price(&d["ohlc"]["close"], t.close, 100.0, "close");
    let (last, close) = (t.last_price as f64 / 100.0, t.close as f64 / 100.0);
    assert_eq!(bits(&d["change"]), ((last - close) * 100.0 / close).to_bits(), "change");
}

fn check_full_fields(d: &Value, t: &Tick) {
    check_quote_fields(d, t, "full");
    assert_eq!(d["last_trade_time"]["epoch"], t.last_trade_time);
    assert_eq!(d["exchange_timestamp"]["epoch"], t.exchange_timestamp);
    assert_eq!(d["oi"], t.oi);
    assert_eq!(d["oi_day_high"], t.oi_day_high);
    assert_eq!(d["oi_day_low"], t.oi_day_low);
    for (side, levels) in [("buy", &t.bids), ("sell", &t.asks)] {
        let got = d["depth"][side].as_array().unwrap();
        assert_eq!(got.len(), 5, "{side}");
        for (g, l) in got.iter().zip(levels.iter()) {
            assert_eq!(g["quantity"], l.quantity, "{side}");
            assert_price(&g["price"], l.price, 100.0, side);
            assert_eq!(g["orders"], l.orders, "{side}");
        }
    }
}

fn order_record() -> OrderRecord<'static> {
    OrderRecord {
        order_id: 240_115_000_000_042,
        exchange_order_id: Some(42),
        placed_by: "AB1234",
        status: OrderStatus::Open,
        status_message: None,
        variety: Variety::Regular,
        exchange: Exchange::Nse,
        tradingsymbol: "INFY",
        instrument_token: INFY,
        order_type: OrderType::Limit,
        side: Side::Buy,
        validity: Validity::Day,
        product: Product::Cnc,
        quantity: 10,
        disclosed_quantity: 0,
        price: 152_250,
        trigger_price: 0,
        filled_quantity: 3,
        filled_value: 152_205 + 2 * 152_210,
        cancelled_quantity: 0,
        order_timestamp_ns: T0_NS,
        exchange_timestamp_ns: Some(T0_NS),
        exchange_update_timestamp_ns: Some(T0_NS + 5_000_000_000),
        modified: false,
        tag: Some("t1"),
        guid: None,
    }
}

fn quote_record() -> QuoteRecord {
    QuoteRecord {
        instrument_token: INFY,
        timestamp_ns: T0_NS,
        last_trade_time_ns: Some(T0_NS - 1_000_000_000),
        last_price: 152_250,
        last_quantity: 4,
        volume: 1_000,
        average_price: Decimal::average(1_000 * 152_105 + 7, 1_000),
        buy_quantity: 300,
        sell_quantity: 200,
        open: 151_000,
        high: 153_000,
        low: 150_500,
        close: 150_095,
        lower_circuit_limit: 120_080,
        upper_circuit_limit: 180_110,
        bids: vec![DepthLevel { price: 152_245, quantity: 100, orders: 2 }],
        asks: vec![DepthLevel { price: 152_255, quantity: 50, orders: 1 }],
    }
}

fn ok_json(body: String) -> Value {
    json!({"status": 200, "content_type": CONTENT_TYPE_JSON, "body": body})
}

fn error_json(e: &ApiError) -> Value {
    json!({"status": e.status(), "content_type": CONTENT_TYPE_JSON, "body": e.body()})
}

#[test]
fn the_official_python_client_reads_what_the_gateway_writes() {
    let Some(py) = gateway::testkit::kite_python("kite_python_client") else { return };
    let dir = tempfile::tempdir().unwrap();

    // --- Binary ticks -------------------------------------------------------------------------
    let t = tick();
    let cds = Tick { token: instrument_token(Exchange::Cds, 1234).unwrap(), last_price: 8_312_345, ..Tick::default() };
    let index = Tick { token: (26_000 << 8) | 9, close: 0, ..tick() };
    let messages: Vec<Vec<u8>> = vec![
        ticker::encode_message(&[(t, Mode::Ltp), (t, Mode::Quote), (t, Mode::Full)]).unwrap(),
        ticker::HEARTBEAT.to_vec(),
        ticker::encode_message(&[(max_tick(), Mode::Full)]).unwrap(),
        ticker::encode_message(&[(cds, Mode::Ltp), (index, Mode::Quote)]).unwrap(),
        ticker::encode_message(&[]).unwrap(),
    ];
    let ticks_path = dir.path().join("ticks.bin");
    let mut file = std::fs::File::create(&ticks_path).unwrap();
    for m in &messages {
        file.write_all(&(m.len() as u32).to_be_bytes()).unwrap();
        file.write_all(m).unwrap();
    }
    drop(file);

    // --- Text messages and HTTP responses -------------------------------------------------
    let order = order_record();
    let mut complete = order_record();
    complete.status = OrderStatus::Complete;
    complete.filled_quantity = 10;
    complete.filled_value = 10 * 152_250;
    let ws_text = vec![
        ticker::order_update_message(&format::order_json(&complete)).unwrap(),
        ticker::error_message("Invalid mode"),
        ticker::text_message("hello"),
    ];

    let trade = TradeRecord {
        trade_id: 7,
        order_id: order.order_id,
        exchange_order_id: Some(42),
        exchange: Exchange::Nse,
        tradingsymbol: "INFY",
        instrument_token: INFY,
        product: Product::Cnc,
        side: Side::Buy,
        quantity: 3,
        price: 152_205,
        fill_timestamp_ns: T0_NS + 2_000_000_000,
        order_timestamp_ns: T0_NS,
    };
    let position = PositionRecord {
        tradingsymbol: "INFY",
        exchange: Exchange::Nse,
        instrument_token: INFY,
        product: Product::Mis,
        quantity: 5,
        overnight_quantity: 0,
        average_price: Decimal::average(15 * 150_005, 15),
        last_price: 151_005,
        close_price: 149_000,
        buy_quantity: 15,
        buy_value: 15 * 150_005,
        sell_quantity: 10,
        sell_value: 10 * 150_505,
        day_buy_quantity: 15,
        day_buy_value: 15 * 150_005,
        day_sell_quantity: 10,
        day_sell_value: 10 * 150_505,
        realised: 5_000,
        unrealised: 5_000,
        m2m: 10_000,
    };
    let holding = HoldingRecord {
        tradingsymbol: "IDEA",
        exchange: Exchange::Nse,
        instrument_token: 3_677_697,
        isin: "INE669E01016",
        quantity: 5,
        t1_quantity: 0,
        opening_quantity: 5,
        used_quantity: 0,
        cost_value: 4_233,
        last_price: 1_000,
        close_price: 995,
    };
    let margins = EquityMargins {
        cash: 10_000_005,
        opening_balance: 9_000_000,
        intraday_payin: 1_000_005,
        payout: 0,
        blocked: 1_522_500,
        mis_margin: 300_000,
        m2m_realised: 0,
        m2m_unrealised: -12_345,
    };
    let q = quote_record();
    let mm = QuoteRecord { instrument_token: 519_937, last_price: 290_005, ..quote_record() };
    let rows = [
        InstrumentRow {
            instrument_token: INFY,
            tradingsymbol: "INFY",
            name: "INFOSYS",
            last_price: 152_250,
            tick: 5,
            lot: 1,
            instrument_type: "EQ",
            exchange: Exchange::Nse,
        },
        InstrumentRow {
            instrument_token: 519_937,
            tradingsymbol: "M&M",
            name: "MAHINDRA & MAHINDRA, \"M&M\"",
            last_price: 0,
            tick: 10,
            lot: 1,
            instrument_type: "EQ",
            exchange: Exchange::Nse,
        },
    ];
    let candles = [
        Candle { start_secs: T0, open: 170_450, high: 170_500, low: 169_925, close: 170_280, volume: 2_499, oi: None },
        Candle { start_secs: T0 + 60, open: 170_280, high: 170_300, low: 170_005, close: 170_010, volume: 1, oi: None },
    ];
    let order_id = |id: u64| ok_json(success(&format::order_id_json(id)).unwrap());
    let session = json!({"user_id": "AB1234", "access_token": "acc355", "login_time": "2024-01-15 09:00:00"});
    let http = json!([
        {"name": "generate_session", "call": "generate_session", "response": ok_json(success(&session).unwrap())},
        {"name": "place_order", "call": "place_order", "response": order_id(order.order_id)},
        {"name": "place_iceberg", "call": "place_iceberg", "response": order_id(9)},
        {"name": "modify_order", "call": "modify_order", "response": order_id(42)},
        {"name": "cancel_order", "call": "cancel_order", "response": order_id(42)},
        {"name": "orders", "call": "orders", "response": ok_json(success(&[format::order_json(&order), format::order_json(&complete)]).unwrap())},
        {"name": "order_history", "call": "order_history", "response": ok_json(success(&[format::order_json(&order)]).unwrap())},
        {"name": "trades", "call": "trades", "response": ok_json(success(&[format::trade_json(&trade)]).unwrap())},
        {"name": "positions", "call": "positions", "response": ok_json(success(&format::positions_json(std::slice::from_ref(&position), std::slice::from_ref(&position))).unwrap())},
        {"name": "holdings", "call": "holdings", "response": ok_json(success(&[format::holding_json(&holding)]).unwrap())},
        {"name": "margins", "call": "margins", "response": ok_json(success(&format::margins_json(&margins)).unwrap())},
        {"name": "margins_equity", "call": "margins_equity", "response": ok_json(success(&format::segment_margins_json(&margins)).unwrap())},
        {"name": "quote", "call": "quote", "response": ok_json(success(&KeyedMap(vec![
            ("NSE:INFY".to_string(), format::quote_json(&q)), ("NSE:M&M".to_string(), format::quote_json(&mm))])).unwrap())},
        {"name": "ohlc", "call": "ohlc", "response": ok_json(success(&KeyedMap(vec![("NSE:INFY".to_string(), format::ohlc_json(&q))])).unwrap())},
        {"name": "ltp", "call": "ltp", "response": ok_json(success(&KeyedMap(vec![("NSE:INFY".to_string(), format::ltp_json(&q))])).unwrap())},
        {"name": "instruments", "call": "instruments", "response": {"status": 200, "content_type": CONTENT_TYPE_CSV, "body": format::instruments_csv(&rows)}},
        {"name": "historical", "call": "historical", "response": ok_json(success(&format::candles_json(&candles)).unwrap())},
        // Errors, one per exception type, through the client's own `_request`.
        {"name": "err_input", "call": "place_order", "response": error_json(&reject_error(RejectReason::TickSizeViolation, RejectContext { tick: Some(5), lot: None }))},
        {"name": "err_margin", "call": "place_order", "response": error_json(&reject_error(RejectReason::InsufficientFunds, RejectContext::default()))},
        {"name": "err_holding", "call": "place_order", "response": error_json(&reject_error(RejectReason::InsufficientHoldings, RejectContext::default()))},
        {"name": "err_order", "call": "cancel_order", "response": error_json(&reject_error(RejectReason::UnknownOrder, RejectContext::default()))},
        {"name": "err_user", "call": "place_order", "response": error_json(&reject_error(RejectReason::AccountNotActive, RejectContext::default()))},
        {"name": "err_token", "call": "orders", "response": error_json(&ApiError::new(ErrorType::TokenException, "Incorrect `api_key` or `access_token`."))},
        {"name": "err_permission", "call": "orders", "response": error_json(&ApiError::new(ErrorType::PermissionException, "Insufficient permission for that call."))},
        {"name": "err_rate", "call": "quote", "response": error_json(&ApiError::too_many_requests())},
        {"name": "err_network", "call": "orders", "response": error_json(&ApiError::new(ErrorType::NetworkException, "The exchange is unreachable."))},
        {"name": "err_data", "call": "orders", "response": error_json(&ApiError::new(ErrorType::DataException, "Bad data."))},
        {"name": "err_general", "call": "orders", "response": error_json(&ApiError::new(ErrorType::GeneralException, "Something went wrong."))},
    ]);
    let cases_path = dir.path().join("cases.json");
    std::fs::write(&cases_path, serde_json::to_vec(&json!({"ws_text": ws_text, "http": http})).unwrap()).unwrap();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/kite_client_check.py");
    let output = Command::new(&py).arg(script).arg(&cases_path).arg(&ticks_path).env("TZ", "UTC").output().unwrap();
    assert!(
        output.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_slice(&output.stdout).expect("the script prints JSON");
    eprintln!("kiteconnect {}", out["kiteconnect_version"]);

    // --- Ticks, field by field ------------------------------------------------------------------
    let ticks = out["ticks"].as_array().unwrap();
    assert_eq!(ticks.len(), messages.len());
    let first = ticks[0].as_array().unwrap();
    assert_eq!(first.len(), 3);
    assert_eq!(first[0]["mode"], "ltp");
    assert_eq!(first[0]["instrument_token"], INFY);
    assert_eq!(first[0]["tradable"], true);
    assert_price(&first[0]["last_price"], t.last_price, 100.0, "ltp last_price");
    assert_eq!(first[0].as_object().unwrap().len(), 4, "ltp fields: {}", first[0]);
    check_quote_fields(&first[1], &t, "quote");
    assert!(first[1].get("depth").is_none());
    check_full_fields(&first[2], &t);
    assert_eq!(ticks[1], json!([]), "heartbeat");
    let max = &ticks[2][0];
    check_full_fields(max, &max_tick());
    // Tokens carry their segment: a CDS token's price is read with CDS's divisor, an index
    // (segment 9) is not tradable.
    assert_price(&ticks[3][0]["last_price"], cds.last_price, 10_000_000.0, "cds divisor");
    assert_eq!(ticks[3][1]["tradable"], false);
    assert_eq!(ticks[3][1]["change"], 0, "zero close gives change 0");
    assert_eq!(ticks[4], json!([]), "empty message");

    // --- Text messages ------------------------------------------------------------------------
    let updates = out["order_updates"].as_array().unwrap();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["order_id"], "240115000000042");
    assert_eq!(updates[0]["status"], "COMPLETE");
    assert_eq!(updates[0]["pending_quantity"], 0);
    assert_eq!(out["ws_errors"], json!([[0, "Invalid mode"]]));

    // --- What the ticker client sends, parsed strictly --------------------------------------
    let sent: Vec<ticker::ClientMessage> = out["ws_sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| ticker::parse_client_message(m.as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(
        sent,
        [
            ticker::ClientMessage::Subscribe(vec![INFY, 738_561]),
            ticker::ClientMessage::SetMode(Mode::Full, vec![INFY]),
            ticker::ClientMessage::SetMode(Mode::Ltp, vec![738_561]),
            ticker::ClientMessage::Unsubscribe(vec![738_561]),
        ]
    );

    // --- HTTP requests as the client sends them ---------------------------------------------
    let h = &out["http"];
    let req = |name: &str| h[name]["request"].clone();
    let body_form =
        |name: &str| Form::decode(req(name)["body"].as_str().unwrap().as_bytes(), &FormLimits::default()).unwrap();
    let query_form = |name: &str| {
        let url = req(name)["url"].as_str().unwrap().to_string();
        let query = url.split_once('?').map(|(_, q)| q.to_string()).unwrap_or_default();
        Form::decode(query.as_bytes(), &FormLimits::default()).unwrap()
    };

    let session_req = req("generate_session");
    assert_eq!(session_req["method"], "POST");
    let f = body_form("generate_session");
    let checksum = f.get("checksum").unwrap().unwrap();
    assert!(verify_checksum("kitefront", "req123", "s3cret", checksum), "client checksum {checksum}");
    assert_eq!(f.get("request_token").unwrap(), Some("req123"));
    assert_eq!(h["generate_session"]["ok"]["access_token"], "acc355");

    let place = req("place_order");
    assert!(place["url"].as_str().unwrap().ends_with("/orders/regular"), "{place}");
    assert_eq!(place["headers"]["authorization"], "token kitefront:acc355");
    assert_eq!(place["headers"]["x-kite-version"], "3");
    assert_eq!(place["headers"]["content-type"], "application/x-www-form-urlencoded");
    let mm_instrument = Instrument { token: 519_937, tick: 5, lot: 1 };
    let lookup = |exchange: Exchange, symbol: &str| match (exchange, symbol) {
        (Exchange::Nse, "M&M") => Some(mm_instrument),
        (Exchange::Nse, "INFY") => Some(Instrument { token: INFY, tick: 5, lot: 1 }),
        _ => None,
    };
    let placed = parse_place("regular", &body_form("place_order"), &lookup, 3, 11).unwrap();
    assert_eq!(placed.tradingsymbol, "M&M");
    assert_eq!(placed.tag.as_deref(), Some("ab_12-x"));
    let o = placed.order;
    assert_eq!(
        (o.token, o.side, o.order_type, o.product, o.validity, o.qty, o.price, o.trigger),
        (519_937, Side::Buy, OrderType::StopLimit, Product::Mis, Validity::Day, 5, 152_250, 152_005)
    );
    assert_eq!(h["place_order"]["ok"], "240115000000042");

    let ice = parse_place("iceberg", &body_form("place_iceberg"), &lookup, 3, 12).unwrap();
    assert_eq!((ice.order.qty, ice.order.disclosed, ice.order.price, ice.order.side), (100, 25, 160_000, Side::Sell));

    let modify = req("modify_order");
    assert_eq!(modify["method"], "PUT");
    assert!(modify["url"].as_str().unwrap().ends_with("/orders/regular/42"));
    let open = OpenOrder {
        order_id: 42,
        variety: Variety::Regular,
        order_type: OrderType::Limit,
        validity: Validity::Day,
        price: 152_250,
        trigger: 0,
        qty: 10,
        disclosed: 0,
        instrument: Instrument { token: INFY, tick: 5, lot: 1 },
    };
    let m = parse_modify("regular", &body_form("modify_order"), &open, 3, 13).unwrap();
    assert_eq!((m.order_id, m.price, m.qty, m.trigger), (42, 153_000, 3, 0));
    assert_eq!(req("cancel_order")["method"], "DELETE");
    assert!(req("cancel_order")["url"].as_str().unwrap().ends_with("/orders/regular/42"));

    let quote_query = query_form("quote");
    assert_eq!(quote_query.all("i").collect::<Vec<_>>(), ["NSE:INFY", "NSE:M&M"]);
    let hist = query_form("historical");
    assert!(req("historical")["url"].as_str().unwrap().contains("/instruments/historical/408065/minute"));
    assert_eq!(hist.get("from").unwrap().and_then(format::parse_ist_datetime), Some(T0));
    assert_eq!(hist.get("to").unwrap().and_then(format::parse_ist_datetime), Some(T0 + 22_500));

    // --- HTTP responses as the client reads them --------------------------------------------
    let orders = h["orders"]["ok"].as_array().unwrap();
    assert_eq!(orders.len(), 2);
    let o0 = &orders[0];
    assert_eq!(o0["order_id"], "240115000000042");
    assert_eq!(o0["exchange_order_id"], "42");
    assert_eq!(o0["order_timestamp"]["datetime"], "2024-01-15T09:15:00", "parsed by the client as a datetime");
    assert_eq!(o0["exchange_timestamp"]["datetime"], "2024-01-15T09:15:00");
    assert_eq!(o0["status"], "OPEN");
    assert_eq!(o0["transaction_type"], "BUY");
    assert_rupees(&o0["price"], 152_250, "order price");
    assert_eq!(bits(&o0["average_price"]), 1522.0833_f64.to_bits(), "average of 3 fills to 4 decimals");
    assert_eq!((o0["filled_quantity"].clone(), o0["pending_quantity"].clone()), (json!(3), json!(7)));
    assert_eq!(orders[1]["status"], "COMPLETE");
    assert_rupees(&orders[1]["average_price"], 152_250, "complete average");
    assert_eq!(h["order_history"]["ok"][0]["order_id"], "240115000000042");

    let tr = &h["trades"]["ok"][0];
    assert_eq!(tr["trade_id"], "7");
    assert_rupees(&tr["average_price"], 152_205, "trade price");
    assert_eq!(tr["fill_timestamp"]["datetime"], "2024-01-15T09:15:02");

    let pos = &h["positions"]["ok"];
    for key in ["net", "day"] {
        let p = &pos[key][0];
        assert_eq!(p["quantity"], 5, "{key}");
        assert_rupees(&p["buy_price"], 150_005, "buy_price");
        assert_rupees(&p["sell_price"], 150_505, "sell_price");
        assert_rupees(&p["value"], 10 * 150_505 - 15 * 150_005, "value");
        assert_rupees(&p["pnl"], 10 * 150_505 - 15 * 150_005 + 5 * 151_005, "pnl");
        assert_rupees(&p["last_price"], 151_005, "last_price");
    }

    let hd = &h["holdings"]["ok"][0];
    assert_eq!(hd["tradingsymbol"], "IDEA");
    assert_eq!(bits(&hd["average_price"]), 8.466f64.to_bits());
    assert_rupees(&hd["pnl"], 767, "holding pnl");

    let eq = &h["margins"]["ok"]["equity"];
    assert_rupees(&eq["available"]["cash"], 10_000_005, "cash");
    assert_rupees(&eq["net"], 10_000_005 - 1_822_500, "net");
    assert_rupees(&eq["utilised"]["debits"], 1_822_500, "debits");
    assert_rupees(&eq["utilised"]["m2m_unrealised"], -12_345, "m2m_unrealised");
    assert_eq!(h["margins"]["ok"]["commodity"]["enabled"], false);
    assert_rupees(&h["margins_equity"]["ok"]["net"], 10_000_005 - 1_822_500, "segment net");

    let quote = &h["quote"]["ok"];
    let qi = &quote["NSE:INFY"];
    assert_eq!(qi["instrument_token"], INFY);
    assert_rupees(&qi["last_price"], 152_250, "quote last_price");
    assert_eq!(qi["timestamp"]["datetime"], "2024-01-15T09:15:00");
    assert_eq!(qi["last_trade_time"]["datetime"], "2024-01-15T09:14:59");
    assert_rupees(&qi["ohlc"]["close"], 150_095, "quote close");
    assert_rupees(&qi["net_change"], 152_250 - 150_095, "net_change");
    assert_rupees(&qi["depth"]["buy"][0]["price"], 152_245, "best bid");
    assert_eq!(qi["depth"]["sell"].as_array().unwrap().len(), 5);
    assert_rupees(&quote["NSE:M&M"]["last_price"], 290_005, "second key");
    assert_rupees(&h["ohlc"]["ok"]["NSE:INFY"]["ohlc"]["high"], 153_000, "ohlc high");
    assert_rupees(&h["ltp"]["ok"]["NSE:INFY"]["last_price"], 152_250, "ltp");

    let instruments = h["instruments"]["ok"].as_array().unwrap();
    assert_eq!(instruments.len(), 2);
    assert_eq!(instruments[0]["instrument_token"], INFY);
    assert_eq!(instruments[0]["exchange_token"], "1594");
    assert_eq!(bits(&instruments[0]["tick_size"]), 0.05f64.to_bits());
    assert_eq!(bits(&instruments[0]["last_price"]), 1522.5f64.to_bits());
    assert_eq!(bits(&instruments[0]["strike"]), 0f64.to_bits());
    assert_eq!(instruments[0]["lot_size"], 1);
    assert_eq!(instruments[0]["expiry"], "");
    assert_eq!((instruments[0]["segment"].clone(), instruments[0]["exchange"].clone()), (json!("NSE"), json!("NSE")));
    assert_eq!(instruments[1]["name"], "MAHINDRA & MAHINDRA, \"M&M\"");
    assert_eq!(instruments[1]["tradingsymbol"], "M&M");

    let hc = h["historical"]["ok"].as_array().unwrap();
    assert_eq!(hc.len(), 2);
    assert_eq!(hc[0]["date"]["epoch"], T0);
    assert_eq!(hc[0]["date"]["datetime"], "2024-01-15T09:15:00+05:30");
    assert_rupees(&hc[0]["open"], 170_450, "candle open");
    assert_rupees(&hc[0]["low"], 169_925, "candle low");
    assert_eq!(hc[0]["volume"], 2_499);
    assert_eq!(hc[1]["date"]["epoch"], T0 + 60);

    // --- Errors: the client's exception class and code ---------------------------------------
    // The Python client has classes for Token, Permission, Order, Input, Data, Network and
    // General exceptions; the others (User, Margin, Holding) fall back to GeneralException with
    // the HTTP status we send, exactly as against Kite itself.
    for (name, class, code) in [
        ("err_input", "InputException", 400),
        ("err_margin", "GeneralException", 400),
        ("err_holding", "GeneralException", 400),
        ("err_order", "OrderException", 400),
        ("err_user", "GeneralException", 403),
        ("err_token", "TokenException", 403),
        ("err_permission", "PermissionException", 403),
        ("err_rate", "NetworkException", 429),
        ("err_network", "NetworkException", 503),
        ("err_data", "DataException", 502),
        ("err_general", "GeneralException", 500),
    ] {
        assert_eq!(h[name]["exception"], class, "{name}: {}", h[name]);
        assert_eq!(h[name]["code"], code, "{name}");
    }
    assert_eq!(
        h["err_input"]["message"],
        "Tick size for this script is 0.05. Kindly enter trigger price / price in the multiple of tick size for this script"
    );
    assert_eq!(h["err_rate"]["message"], "Too many requests");
}
