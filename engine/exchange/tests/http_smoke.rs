//! A first walk through the gateway over real HTTP: log in, place, read, cancel.

mod gateway_support;

use exchange::stack::{Stack, INFY};
use gateway_support::{form, Client};

#[test]
fn login_place_read_cancel() {
    let mut stack = Stack::start();
    stack.market();
    let t = stack.trader(&[], 10_000_000, &[(INFY, 10)]);
    let c = Client::new(&stack);
    let v = c.form("POST", "/api/login", None, &form(&[("user_id", &t.user_id), ("password", &t.password)])).data();
    let request_id = v["request_id"].as_str().unwrap().to_string();
    let twofa = form(&[("user_id", &t.user_id), ("request_id", &request_id), ("twofa_value", &t.totp_now())]);
    let v = c.form("POST", "/api/twofa", None, &twofa).data();
    let request_token = v["request_token"].as_str().unwrap().to_string();
    let checksum = gateway::checksum::checksum_hex(&t.api_key, &request_token, &t.api_secret);
    let session = form(&[("api_key", &t.api_key), ("request_token", &request_token), ("checksum", &checksum)]);
    let v = c.form("POST", "/session/token", None, &session).data();
    let auth = format!("token {}:{}", t.api_key, v["access_token"].as_str().unwrap());

    let order = form(&[
        ("exchange", "NSE"),
        ("tradingsymbol", "INFY"),
        ("transaction_type", "BUY"),
        ("order_type", "LIMIT"),
        ("quantity", "5"),
        ("price", "1490.05"),
        ("product", "CNC"),
    ]);
    let v = c.form("POST", "/orders/regular", Some(&auth), &order).data();
    let order_id = v["order_id"].as_str().unwrap().to_string();
    let v = c.get("/orders", Some(&auth)).data();
    assert_eq!(v[0]["order_id"], order_id.as_str());
    assert_eq!(v[0]["status"], "OPEN");
    assert_eq!(v[0]["price"], serde_json::json!(1490.05));

    let v = c.delete(&format!("/orders/regular/{order_id}"), Some(&auth)).data();
    assert_eq!(v["order_id"], order_id.as_str());
    let v = c.get(&format!("/orders/{order_id}"), Some(&auth)).data();
    let history = v.as_array().unwrap();
    assert_eq!(history.last().unwrap()["status"], "CANCELLED", "{v}");
    stack.stop();
}
