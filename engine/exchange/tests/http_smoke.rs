//! A first walk through the gateway over real HTTP: log in, place, read, cancel.

use exchange::stack as support;

use support::{Stack, INFY};

fn form(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={}", v.replace(' ', "+"))).collect::<Vec<_>>().join("&")
}

fn post(url: &str, auth: Option<&str>, body: &str) -> (u16, serde_json::Value) {
    let mut req = ureq::post(url).set("Content-Type", "application/x-www-form-urlencoded");
    if let Some(a) = auth {
        req = req.set("Authorization", a);
    }
    let resp = match req.send_string(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    (resp.status(), resp.into_json().expect("json"))
}

fn get(url: &str, auth: &str) -> (u16, serde_json::Value) {
    let resp = match ureq::get(url).set("Authorization", auth).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    (resp.status(), resp.into_json().expect("json"))
}

#[test]
fn login_place_read_cancel() {
    let mut stack = Stack::start();
    stack.market();
    let t = stack.trader(&[], 10_000_000, &[(INFY, 10)]);
    let (s, v) = post(&stack.url("/api/login"), None, &form(&[("user_id", &t.user_id), ("password", &t.password)]));
    assert_eq!(s, 200, "{v}");
    let request_id = v["data"]["request_id"].as_str().unwrap().to_string();
    let (s, v) = post(
        &stack.url("/api/twofa"),
        None,
        &form(&[("user_id", &t.user_id), ("request_id", &request_id), ("twofa_value", &t.totp_now())]),
    );
    assert_eq!(s, 200, "{v}");
    let request_token = v["data"]["request_token"].as_str().unwrap().to_string();
    let checksum = gateway::checksum::checksum_hex(&t.api_key, &request_token, &t.api_secret);
    let (s, v) = post(
        &stack.url("/session/token"),
        None,
        &form(&[("api_key", &t.api_key), ("request_token", &request_token), ("checksum", &checksum)]),
    );
    assert_eq!(s, 200, "{v}");
    let auth = format!("token {}:{}", t.api_key, v["data"]["access_token"].as_str().unwrap());

    let (s, v) = post(
        &stack.url("/orders/regular"),
        Some(&auth),
        &form(&[
            ("exchange", "NSE"),
            ("tradingsymbol", "INFY"),
            ("transaction_type", "BUY"),
            ("order_type", "LIMIT"),
            ("quantity", "5"),
            ("price", "1490.05"),
            ("product", "CNC"),
        ]),
    );
    assert_eq!(s, 200, "{v}");
    let order_id = v["data"]["order_id"].as_str().unwrap().to_string();
    let (s, v) = get(&stack.url("/orders"), &auth);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["order_id"], order_id.as_str());
    assert_eq!(v["data"][0]["status"], "OPEN");
    assert_eq!(v["data"][0]["price"], serde_json::json!(1490.05));

    let resp = ureq::delete(&stack.url(&format!("/orders/regular/{order_id}"))).set("Authorization", &auth).call();
    let v: serde_json::Value = resp.expect("cancel").into_json().expect("json");
    assert_eq!(v["data"]["order_id"], order_id.as_str());
    let (_, v) = get(&stack.url(&format!("/orders/{order_id}")), &auth);
    let history = v["data"].as_array().unwrap();
    assert_eq!(history.last().unwrap()["status"], "CANCELLED", "{v}");
    stack.stop();
}
