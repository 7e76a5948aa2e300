//! An order's Kite `tag` and variety, which the engine does not carry, survive a restart of the
//! gateway: the gateway keeps them in its order notes database and attaches them again as it
//! replays the event log.

mod gateway_support;

use exchange::stack::{Stack, INFY};
use gateway_support::{auth, form, session, unlimited, Client};
use serde_json::Value;

/// `GET /orders` and every order's `GET /orders/{id}`.
fn orders_and_histories(c: &Client, auth: &str) -> (Value, Vec<Value>) {
    let orders = c.get("/orders", Some(auth)).data();
    let histories = orders
        .as_array()
        .expect("an array")
        .iter()
        .map(|o| c.get(&format!("/orders/{}", o["order_id"].as_str().expect("order_id")), Some(auth)).data())
        .collect();
    (orders, histories)
}

/// An order's variety and tag, as JSON shows them.
type Note = (String, Value);

/// The (variety, tag) of each order, and of each state in each order's history.
fn notes(orders: &Value, histories: &[Value]) -> (Vec<Note>, Vec<Vec<Note>>) {
    let note = |o: &Value| (o["variety"].as_str().expect("variety").to_string(), o["tag"].clone());
    let listed = orders.as_array().expect("an array").iter().map(note).collect();
    let history = histories.iter().map(|h| h.as_array().expect("an array").iter().map(note).collect()).collect();
    (listed, history)
}

#[test]
fn tags_and_varieties_survive_a_gateway_restart() {
    let mut stack = Stack::start_with(unlimited());
    stack.market();
    let t = stack.trader(&[], 100_000_000, &[]);
    let a = auth(&t, &session(&mut stack, &t, 0));
    let c = Client::new(&stack);
    let limit = |quantity: &str, price: &str, extra: &[(&str, &str)]| {
        let mut pairs = vec![
            ("exchange", "NSE"),
            ("tradingsymbol", INFY.symbol),
            ("transaction_type", "BUY"),
            ("order_type", "LIMIT"),
            ("quantity", quantity),
            ("price", price),
            ("product", "CNC"),
        ];
        pairs.extend_from_slice(extra);
        form(&pairs)
    };
    let place = |variety: &str, body: &str| {
        let v = c.form("POST", &format!("/orders/{variety}"), Some(&a), body).data();
        v["order_id"].as_str().expect("order_id").to_string()
    };

    let tagged = place("regular", &limit("2", "1400", &[("tag", "alpha_1")]));
    place("iceberg", &limit("10", "1401", &[("iceberg_legs", "2"), ("iceberg_quantity", "5"), ("tag", "ice-2")]));
    // Regular, though its disclosed quantity would make the events alone read it as iceberg.
    place("regular", &limit("10", "1402", &[("disclosed_quantity", "5")]));
    place("regular", &limit("1", "1403", &[]));
    // Refused by the engine (₹14 crore of cash needed): no order, and its note is dropped.
    let refused = c.form("POST", "/orders/regular", Some(&a), &limit("100000", "1404", &[("tag", "refused")]));
    refused.error(400, "MarginException");
    // A modification keeps the tag in the order's history.
    c.form("PUT", &format!("/orders/regular/{tagged}"), Some(&a), &form(&[("price", "1399.5")])).data();

    let (orders, histories) = orders_and_histories(&c, &a);
    let expected_orders = vec![
        ("regular".to_string(), Value::from("alpha_1")),
        ("iceberg".to_string(), Value::from("ice-2")),
        ("regular".to_string(), Value::Null),
        ("regular".to_string(), Value::Null),
    ];
    let (listed, history) = notes(&orders, &histories);
    assert_eq!(listed, expected_orders, "{orders}");
    assert_eq!(history[0], vec![expected_orders[0].clone(); 2], "{}", histories[0]);
    let notes_db = gateway::server::notes::db_path(&stack.data_dir());
    assert!(notes_db.exists(), "{} is missing", notes_db.display());

    stack.restart_gateway(&unlimited());
    let c = Client::new(&stack);
    let (orders_after, histories_after) = orders_and_histories(&c, &a);
    assert_eq!(notes(&orders_after, &histories_after), (listed, history), "{orders_after}");
    // Nothing else about the orders changes across the restart either.
    assert_eq!(orders_after, orders);
    assert_eq!(histories_after, histories);
    stack.stop();
}
