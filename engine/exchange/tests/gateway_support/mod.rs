//! Shared by the gateway's end-to-end tests (`http_auth`, `http_input`, `http_limits`,
//! `http_smoke`, `order_notes`, `ticker`): raw HTTP requests whatever their status, Kite's error
//! envelope, and sessions made through the users library at any moment (past ones included).
//! The stack and its fixtures are `exchange::stack`.

#![allow(dead_code)] // each test file uses a part of it

use std::collections::BTreeSet;
use std::time::Duration;

use exchange::stack::{claims, Stack, Trader};
use gateway::server::{GatewayConfig, RateConfig};
use serde_json::Value;
use services_users::Role;

/// The gateway's defaults, on any free port, with rate limits too high to matter (for tests
/// that are not about rate limits).
pub fn unlimited() -> GatewayConfig {
    let many = 1_000_000;
    GatewayConfig {
        listen: "127.0.0.1:0".into(),
        rate_limits: RateConfig { orders: many, quote: many, historical: many, other: many },
        ..GatewayConfig::default()
    }
}

// ------------------------------------------------------------------------------------- HTTP

/// An HTTP answer, whatever its status.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub retry_after: Option<String>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The `data` of a success (status 200, JSON, `{"status":"success","data":..}`).
    pub fn data(&self) -> Value {
        assert_eq!(self.status, 200, "{}", self.body);
        assert_eq!(self.content_type.as_deref(), Some("application/json"), "{}", self.body);
        let v = self.json();
        assert_eq!(v["status"], "success", "{}", self.body);
        v["data"].clone()
    }

    /// Checks Kite's error envelope (`Content-Type: application/json`, exactly the keys
    /// `status` = "error", `message`, `error_type`, `data` = null) and returns the message.
    pub fn error(&self, status: u16, error_type: &str) -> String {
        assert_eq!((self.status, self.error_type().as_deref()), (status, Some(error_type)), "{}", self.body);
        assert_eq!(self.content_type.as_deref(), Some("application/json"), "{}", self.body);
        let v = self.json();
        let object = v.as_object().unwrap_or_else(|| panic!("not an object: {}", self.body));
        let keys: BTreeSet<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["data", "error_type", "message", "status"]), "{}", self.body);
        assert_eq!(v["status"], "error", "{}", self.body);
        assert_eq!(v["data"], Value::Null, "{}", self.body);
        let message = v["message"].as_str().unwrap_or_else(|| panic!("no message: {}", self.body));
        assert!(!message.is_empty(), "{}", self.body);
        message.to_string()
    }

    /// [`Reply::error`] with the exact message.
    pub fn expect_error(&self, status: u16, error_type: &str, message: &str) {
        assert_eq!(self.error(status, error_type), message, "{}", self.body);
    }

    /// `error_type` of a JSON error body, if it is one.
    pub fn error_type(&self) -> Option<String> {
        let v: Value = serde_json::from_str(&self.body).ok()?;
        Some(v.get("error_type")?.as_str()?.to_string())
    }
}

/// An HTTP/1.1 client (keep-alive) for one gateway.
pub struct Client {
    agent: ureq::Agent,
    pub base: String,
}

pub const FORM: &str = "application/x-www-form-urlencoded";

impl Client {
    pub fn new(stack: &Stack) -> Client {
        Client::at(&stack.url(""))
    }

    pub fn at(base: &str) -> Client {
        Client { agent: ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build(), base: base.to_string() }
    }

    /// Sends a request; a body is sent when `content_type` is given.
    pub fn send(&self, method: &str, path: &str, auth: Option<&str>, content_type: Option<&str>, body: &[u8]) -> Reply {
        let mut req = self.agent.request(&method.to_ascii_uppercase(), &format!("{}{path}", self.base));
        if let Some(a) = auth {
            req = req.set("Authorization", a);
        }
        let result = match content_type {
            Some(ct) => req.set("Content-Type", ct).send_bytes(body),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        Reply {
            status: resp.status(),
            content_type: resp.header("Content-Type").map(str::to_string),
            retry_after: resp.header("Retry-After").map(str::to_string),
            body: resp.into_string().expect("body"),
        }
    }

    pub fn get(&self, path: &str, auth: Option<&str>) -> Reply {
        self.send("GET", path, auth, None, b"")
    }

    pub fn delete(&self, path: &str, auth: Option<&str>) -> Reply {
        self.send("DELETE", path, auth, None, b"")
    }

    /// A form-encoded request.
    pub fn form(&self, method: &str, path: &str, auth: Option<&str>, body: &str) -> Reply {
        self.send(method, path, auth, Some(FORM), body.as_bytes())
    }
}

/// `application/x-www-form-urlencoded` of `pairs`.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        let mut out = String::new();
        for b in text.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    };
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

/// A DAY LIMIT CNC order on NSE.
pub fn limit_order(symbol: &str, side: &str, quantity: u32, price: &str) -> String {
    let quantity = quantity.to_string();
    form(&[
        ("exchange", "NSE"),
        ("tradingsymbol", symbol),
        ("transaction_type", side),
        ("order_type", "LIMIT"),
        ("quantity", &quantity),
        ("price", price),
        ("product", "CNC"),
    ])
}

// ---------------------------------------------------------------------------------- sessions

/// `Authorization` header value of a session.
pub fn auth(t: &Trader, access_token: &str) -> String {
    format!("token {}:{access_token}", t.api_key)
}

/// Logs `t` in through the users library as if at `now` (password, the TOTP of `now`, then the
/// session); returns the access token. Each TOTP step is good once per user, so each session of
/// a user needs its own `now` (30 s apart), later than any step the user used before.
pub fn session_at(stack: &mut Stack, t: &Trader, now: u64) -> String {
    let code = services_users::totp::code_for(&t.totp_secret, now).expect("totp");
    let request_id = stack.users.login(&t.user_id, &t.password, now).expect("login");
    let request_token = stack.users.twofa(&t.user_id, &request_id, &code, now).expect("twofa");
    let checksum = services_users::session_checksum(&t.api_key, &request_token, &t.api_secret);
    stack.users.create_session(&t.api_key, &request_token, &checksum, now).expect("session").access_token
}

/// A session of `t` now; `nth` (0, 1, ...) picks a distinct TOTP step for each session of
/// the same user.
pub fn session(stack: &mut Stack, t: &Trader, nth: u64) -> String {
    session_at(stack, t, services_users::unix_now() + 30 * nth)
}

/// [`Stack::user_at`] 5 minutes ago, with its KYC submitted and waiting for review.
/// `n` makes its PAN distinct.
pub fn user_pending_kyc(stack: &mut Stack, user_id: &str, n: u32) -> Trader {
    let now = services_users::unix_now();
    let t = stack.user_at(Some(user_id), now - 300);
    let me = claims(user_id, &[Role::Trader]);
    stack.users.submit_kyc(&me, user_id, &format!("PQRST{n:04}K"), now).expect("submit kyc");
    t
}
