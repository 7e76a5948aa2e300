//! Bad input over real HTTP: each request is answered with Kite's error envelope (JSON, a
//! 400 with the exception that fits and a message that names what is wrong), and none of them
//! reaches the engine.

mod gateway_support;

use engine_core::{CommandKind, Event};
use exchange::stack::{Stack, INFY};
use gateway_support::{auth, form, limit_order, session, Client, Reply, FORM};

/// A valid order with `changes` applied: a value replaces the field's, "" removes the field.
fn order(changes: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("exchange", "NSE"),
        ("tradingsymbol", "INFY"),
        ("transaction_type", "BUY"),
        ("order_type", "LIMIT"),
        ("quantity", "1"),
        ("product", "CNC"),
        ("price", "1400"),
    ];
    for &(k, v) in changes {
        pairs.retain(|(key, _)| *key != k);
        if !v.is_empty() {
            pairs.push((k, v));
        }
    }
    form(&pairs)
}

/// How a case's message is checked.
enum Message {
    Exact(&'static str),
    Prefix(&'static str),
}

struct Case {
    what: String,
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    error_type: &'static str,
    message: Message,
}

fn case(what: &str, method: &'static str, path: &str, body: &str, error_type: &'static str, message: Message) -> Case {
    Case {
        what: what.to_string(),
        method,
        path: path.to_string(),
        content_type: (method != "GET").then_some(FORM),
        body: body.as_bytes().to_vec(),
        status: 400,
        error_type,
        message,
    }
}

fn input(what: &str, method: &'static str, path: &str, body: &str, message: Message) -> Case {
    case(what, method, path, body, "InputException", message)
}

fn place(what: &str, body: &str, message: Message) -> Case {
    input(what, "POST", "/orders/regular", body, message)
}

fn cases() -> Vec<Case> {
    use Message::{Exact, Prefix};
    let mut cases = Vec::new();
    // Each required order field, left out.
    for (field, message) in [
        ("tradingsymbol", "Missing `tradingsymbol`."),
        ("exchange", "Missing `exchange`."),
        ("transaction_type", "Missing `transaction_type`."),
        ("order_type", "Missing `order_type`."),
        ("quantity", "Missing `quantity`."),
        ("product", "Missing `product`."),
        ("price", "Missing `price` (LIMIT and SL orders need one)."),
    ] {
        cases.push(place(&format!("no {field}"), &order(&[(field, "")]), Exact(message)));
    }
    cases.push(place(
        "SL without trigger_price",
        &order(&[("order_type", "SL")]),
        Exact("Missing `trigger_price` (SL and SL-M orders need one)."),
    ));
    cases.push(place("an empty body", "", Exact("Missing `tradingsymbol`.")));
    // Quantities.
    for (quantity, message) in [
        ("-5", "Invalid `quantity` `-5`: it should be greater than 0."),
        ("0", "Invalid `quantity` `0`: it should be greater than 0."),
        ("abc", "Invalid `quantity` `abc`: it should be a whole number."),
        ("1.5", "Invalid `quantity` `1.5`: it should be a whole number."),
        ("1e3", "Invalid `quantity` `1e3`: it should be a whole number."),
        ("99999999999999999999", "Invalid `quantity` `99999999999999999999`: it is too large."),
    ] {
        cases.push(place(&format!("quantity {quantity}"), &order(&[("quantity", quantity)]), Exact(message)));
    }
    // Prices.
    for (price, message) in [
        (
            "1400.03",
            "Tick size for this script is 0.05. Kindly enter trigger price / price in the multiple of tick size for this script",
        ),
        ("1400.055", "Invalid `price` `1400.055`: it has more than two decimal places."),
        ("1400.000", "Invalid `price` `1400.000`: it has more than two decimal places."),
        ("-1400", "Invalid `price` `-1400`: it should not be negative."),
        ("abc", "Invalid `price` `abc`: it must be a plain decimal number of rupees such as 1522.5."),
        ("0", "Invalid `price` `0`: it should be greater than 0 for LIMIT and SL orders."),
    ] {
        cases.push(place(&format!("price {price}"), &order(&[("price", price)]), Exact(message)));
    }
    cases.push(place(
        "a price on a MARKET order",
        &order(&[("order_type", "MARKET")]),
        Exact("`price` is not allowed for MARKET and SL-M orders: leave it out or send 0."),
    ));
    cases.push(place(
        "a trigger off the tick grid",
        &order(&[("order_type", "SL"), ("trigger_price", "1399.99")]),
        Prefix("Tick size for this script is 0.05."),
    ));
    // Names the exchange does not know.
    cases.push(place(
        "unknown symbol",
        &order(&[("tradingsymbol", "NOPE")]),
        Exact("Invalid `tradingsymbol`: no instrument `NOPE` on NSE."),
    ));
    cases.push(place(
        "a symbol of another exchange",
        &order(&[("exchange", "BSE")]),
        Exact("Invalid `tradingsymbol`: no instrument `INFY` on BSE."),
    ));
    cases.push(place(
        "unknown exchange",
        &order(&[("exchange", "NYSE")]),
        Exact("Invalid `exchange` `NYSE`: use NSE or BSE."),
    ));
    cases.push(place(
        "unknown side",
        &order(&[("transaction_type", "HOLD")]),
        Exact("Invalid `transaction_type` `HOLD`: use BUY or SELL."),
    ));
    cases.push(place(
        "unknown order type",
        &order(&[("order_type", "STOP")]),
        Exact("Invalid `order_type` `STOP`: use LIMIT, MARKET, SL or SL-M."),
    ));
    cases.push(place(
        "product NRML",
        &order(&[("product", "NRML")]),
        Prefix("Product `NRML` (carry-forward for futures and options) is not supported."),
    ));
    cases.push(place(
        "unknown validity",
        &order(&[("validity", "GTC")]),
        Exact("Invalid `validity` `GTC`: use DAY or IOC."),
    ));
    cases.push(place(
        "a tag too long",
        &order(&[("tag", "abcdefghijklmnopqrstu")]),
        Exact("Invalid `tag` `abcdefghijklmnopqrstu`: it should be at most 20 letters, digits, `_` or `-`."),
    ));
    cases.push(place(
        "disclosed more than the quantity",
        &order(&[("disclosed_quantity", "2")]),
        Exact("Invalid `disclosed_quantity` `2`: it should not be more than `quantity`."),
    ));
    cases.push(input(
        "unknown variety",
        "POST",
        "/orders/bogus",
        &order(&[]),
        Exact("Invalid variety `bogus`. Supported varieties: regular, iceberg."),
    ));
    cases.push(input(
        "variety amo",
        "POST",
        "/orders/amo",
        &order(&[]),
        Prefix("After market orders (variety `amo`) are not supported"),
    ));
    cases.push(input(
        "an iceberg without legs",
        "POST",
        "/orders/iceberg",
        &order(&[("quantity", "10")]),
        Exact("Missing `iceberg_legs` (iceberg orders need 2 to 10 legs)."),
    ));
    // Malformed forms.
    let valid = order(&[]);
    cases.push(place(
        "a bad percent-escape in a value",
        &valid.replace("tradingsymbol=INFY", "tradingsymbol=IN%ZZFY"),
        Exact("Malformed form: bad percent-escape in the value of `tradingsymbol`"),
    ));
    cases.push(place(
        "a truncated percent-escape",
        &format!("{valid}&tag=a%4"),
        Exact("Malformed form: bad percent-escape in the value of `tag`"),
    ));
    cases.push(place(
        "a bad percent-escape in a name",
        &format!("{valid}&t%G1g=x"),
        Exact("Malformed form: bad percent-escape in field name `t%G1g`"),
    ));
    cases.push(place(
        "bytes that are not UTF-8",
        &format!("{valid}&tag=%FF"),
        Exact("Value of `tag` is not valid UTF-8"),
    ));
    cases.push(place(
        "a duplicate key",
        &format!("{valid}&quantity=2"),
        Exact("Field `quantity` is given more than once"),
    ));
    cases.push(place("an empty pair", &valid.replace('&', "&&"), Exact("Malformed form: empty field at position 2")));
    cases.push(place("a trailing &", &format!("{valid}&"), Exact("Malformed form: empty field at position 8")));
    cases.push(place("a field without =", &format!("{valid}&tag"), Exact("Malformed form: field `tag` has no `=`")));
    cases.push(place(
        "a nameless field",
        &format!("={valid}"),
        Exact("Malformed form: field at position 1 has no name"),
    ));
    let json = r#"{"exchange":"NSE","tradingsymbol":"INFY","transaction_type":"BUY","order_type":"LIMIT","quantity":1,"product":"CNC","price":1400}"#;
    cases.push(Case {
        content_type: Some("application/json"),
        ..place(
            "a JSON body",
            json,
            Exact("Unsupported Content-Type `application/json`: send the parameters form-encoded (application/x-www-form-urlencoded)."),
        )
    });
    cases.push(place("a JSON body sent as a form", json, Prefix("Malformed form: field `{\"exchange\":\"NSE\"")));
    cases.push(place(
        "a body over 64 KiB",
        &format!("{valid}&tag={}", "a".repeat(64 * 1024)),
        Exact("The request body is too large: at most 65536 bytes are accepted."),
    ));
    // Orders that do not exist (or ids that cannot be any).
    let not_open = "Order not found, or it is no longer open (complete, cancelled or rejected).";
    cases.push(case(
        "modify an unknown order",
        "PUT",
        "/orders/regular/987654321",
        "price=1400",
        "OrderException",
        Exact(not_open),
    ));
    cases.push(case(
        "cancel an unknown order",
        "DELETE",
        "/orders/regular/987654321",
        "",
        "OrderException",
        Exact(not_open),
    ));
    let not_found = "Order 987654321 not found in today's order book.";
    cases.push(case("history of an unknown order", "GET", "/orders/987654321", "", "OrderException", Exact(not_found)));
    cases.push(case(
        "trades of an unknown order",
        "GET",
        "/orders/987654321/trades",
        "",
        "OrderException",
        Exact(not_found),
    ));
    for (method, path) in [
        ("PUT", "/orders/regular/abc"),
        ("DELETE", "/orders/regular/-1"),
        ("GET", "/orders/0"),
        ("GET", "/orders/1x/trades"),
    ] {
        cases.push(input(&format!("order id of {path}"), method, path, "", Prefix("Invalid `order_id` `")));
    }
    // Quotes, instruments, candles, margins.
    for path in ["/quote", "/quote/ohlc", "/quote/ltp"] {
        cases.push(input(
            &format!("{path} without i"),
            "GET",
            path,
            "",
            Exact("Missing `i`: name instruments as `i=NSE:INFY`."),
        ));
    }
    cases.push(input(
        "a quote with a bad escape",
        "GET",
        "/quote?i=NSE%3",
        "",
        Exact("Malformed form: bad percent-escape in the value of `i`"),
    ));
    let infy = INFY.token();
    let day = "?from=2024-01-01&to=2024-01-02";
    for (what, path, message) in [
        (
            "interval 2minute",
            format!("/instruments/historical/{infy}/2minute{day}"),
            "Invalid interval `2minute`: use minute, 5minute, 15minute or day.",
        ),
        (
            "interval 3minute",
            format!("/instruments/historical/{infy}/3minute{day}"),
            "Interval `3minute` is not kept: use minute, 5minute, 15minute or day.",
        ),
        (
            "month 13",
            format!("/instruments/historical/{infy}/day?from=2024-13-01&to=2024-12-31"),
            "Invalid `from` `2024-13-01`: use `yyyy-mm-dd hh:mm:ss`.",
        ),
        (
            "February 30",
            format!("/instruments/historical/{infy}/day?from=2024-01-01&to=2024-02-30"),
            "Invalid `to` `2024-02-30`: use `yyyy-mm-dd hh:mm:ss`.",
        ),
        (
            "an hour 24",
            format!("/instruments/historical/{infy}/minute?from=2024-01-01+24:00:00&to=2024-01-02"),
            "Invalid `from` `2024-01-01 24:00:00`: use `yyyy-mm-dd hh:mm:ss`.",
        ),
        ("no to", format!("/instruments/historical/{infy}/day?from=2024-01-01"), "Missing `to`."),
        (
            "to before from",
            format!("/instruments/historical/{infy}/day?from=2024-01-02&to=2024-01-01"),
            "`to` is before `from`.",
        ),
        ("an unknown token", format!("/instruments/historical/12345/day{day}"), "Unknown instrument token 12345."),
        ("a symbol for a token", format!("/instruments/historical/INFY/day{day}"), "Invalid instrument token `INFY`."),
        ("an unknown segment", "/user/margins/fno".to_string(), "Invalid segment `fno`: use equity or commodity."),
        ("an unknown exchange", "/instruments/NYSE".to_string(), "Invalid exchange `NYSE`."),
        (
            "user_id twice",
            "/orders?user_id=AB1234&user_id=AB1234".to_string(),
            "Field `user_id` is given more than once",
        ),
    ] {
        cases.push(input(what, "GET", &path, "", Exact(message)));
    }
    cases
}

fn check(case: &Case, r: &Reply) {
    let what = format!("{} ({} {}): {}", case.what, case.method, case.path, r.body);
    assert_eq!((r.status, r.error_type().as_deref()), (case.status, Some(case.error_type)), "{what}");
    let message = r.error(case.status, case.error_type);
    match case.message {
        Message::Exact(m) => assert_eq!(message, m, "{what}"),
        Message::Prefix(p) => assert!(message.starts_with(p), "{what}"),
    }
}

fn order_events(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .filter(|e| match e {
            Event::Accepted(_) | Event::Modified { .. } | Event::Cancelled { .. } | Event::Trade(_) => true,
            Event::Rejected { kind, .. } => {
                matches!(kind, CommandKind::Place | CommandKind::Modify | CommandKind::Cancel)
            }
            _ => false,
        })
        .copied()
        .collect()
}

#[test]
fn bad_input_is_refused_and_places_nothing() {
    let mut stack = Stack::start_with(gateway_support::unlimited());
    bad_input_is_refused_and_places_nothing_on(&mut stack);
    stack.stop();
}

fn bad_input_is_refused_and_places_nothing_on(stack: &mut Stack) {
    stack.market();
    let trader = stack.trader(&[], 10_000_000, &[(INFY, 10)]);
    let a = auth(&trader, &session(stack, &trader, 0));
    let c = Client::new(stack);

    let cases = cases();
    assert!(cases.len() >= 70, "{}", cases.len());
    for case in &cases {
        let r = c.send(case.method, &case.path, Some(&a), case.content_type, &case.body);
        check(case, &r);
    }

    // Nothing reached the engine, and the gateway's view holds nothing for the trader.
    assert_eq!(c.get("/orders", Some(&a)).data(), serde_json::json!([]));
    assert_eq!(c.get("/trades", Some(&a)).data(), serde_json::json!([]));
    let none = order_events(&stack.published_events());
    assert!(none.is_empty(), "{none:?}");

    // The same scan sees an order that is placed (with a charset in the content type, as some
    // clients send it).
    let r = c.send(
        "POST",
        "/orders/regular",
        Some(&a),
        Some("application/x-www-form-urlencoded; charset=UTF-8"),
        limit_order("INFY", "BUY", 1, "1400").as_bytes(),
    );
    let order_id: u64 = r.data()["order_id"].as_str().expect("order_id").parse().expect("a number");
    let seen = order_events(&stack.published_events());
    assert!(matches!(seen.as_slice(), [Event::Accepted(a)] if a.order_id == order_id), "{seen:?}");
    assert_eq!(c.get("/orders", Some(&a)).data().as_array().map(Vec::len), Some(1));
}
