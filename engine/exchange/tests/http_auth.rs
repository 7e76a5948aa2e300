//! Who may call what, over real HTTP: every route the OpenAPI document lists (so a new route
//! cannot be left out) × every way a caller can be wrong (no token, a malformed header, a bad,
//! expired or logged-out token, another user's token on this user's resources, a role that
//! does not allow the call). Plus: every listed route is routed, and `GET /openapi.json` lists
//! each of them.

mod gateway_support;

use std::collections::BTreeSet;

use exchange::stack::{Stack, Trader, INFY, SBIN};
use gateway::server::openapi::{document, listed_routes};
use gateway_support::{auth, form, limit_order, session, session_at, user_pending_kyc, Client, Reply};
use services_users::Role;

const MISSING: &str = "Missing the `Authorization: token api_key:access_token` header.";
const MALFORMED: &str = "The `Authorization` header must be `token api_key:access_token`.";
const BAD: &str = "Incorrect `api_key` or `access_token`.";
const EXPIRED: &str = "The session has expired or was logged out. Log in again.";
const DENIED: &str = "Insufficient permission for that call.";

/// The routes that take no token: the login steps and the session itself.
const NO_TOKEN: [(&str, &str); 4] =
    [("post", "/api/login"), ("post", "/api/twofa"), ("post", "/session/token"), ("delete", "/session/token")];

/// Does the OpenAPI document ask for a token on this route?
fn documented_auth(method: &str, path: &str) -> bool {
    let security = &document()["paths"][path][method]["security"];
    let list = security.as_array().unwrap_or_else(|| panic!("{method} {path}: no security in the document"));
    !list.is_empty()
}

fn token_routes() -> Vec<(&'static str, &'static str)> {
    let routes: Vec<_> = listed_routes().into_iter().filter(|(m, p)| documented_auth(m, p)).collect();
    let open: BTreeSet<_> = listed_routes().into_iter().filter(|(m, p)| !documented_auth(m, p)).collect();
    assert_eq!(open, BTreeSet::from(NO_TOKEN), "only the login and session routes go without a token");
    routes
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Actor {
    /// The trader whose resources the calls are about.
    Owner,
    /// Another trader.
    Trader,
    Risk,
    Support,
    Admin,
}

const ACTORS: [Actor; 5] = [Actor::Owner, Actor::Trader, Actor::Risk, Actor::Support, Actor::Admin];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// 200 and Kite's success envelope (or the CSV of the instrument routes).
    Ok,
    /// 403 PermissionException.
    Denied,
    /// Allowed, but the engine refuses what was asked: (status, error_type).
    Refused(u16, &'static str),
}

/// The access matrix of the gateway, acting on the owner's resources (or exchange-wide). A
/// route missing here fails the test: decide who may call it first.
fn expected(method: &str, path: &str, actor: Actor) -> Expect {
    use Actor::*;
    use Expect::*;
    let only = |allowed: &[Actor]| if allowed.contains(&actor) { Ok } else { Denied };
    match (method, path) {
        // Reads of one user's resources: the user, and the staff roles, which read everyone's.
        (
            "get",
            "/user/profile"
            | "/user/margins"
            | "/user/margins/{segment}"
            | "/orders"
            | "/orders/{order_id}"
            | "/orders/{order_id}/trades"
            | "/trades"
            | "/portfolio/positions"
            | "/portfolio/holdings",
        ) => only(&[Owner, Risk, Support, Admin]),
        // Placing is for one's own account; risk and support never place.
        ("post", "/orders/{variety}") => only(&[Owner, Trader, Admin]),
        // Modify and cancel: only the order's owner, whatever the role (the engine takes a
        // modification or cancellation from the order's own account only).
        ("put" | "delete", "/orders/{variety}/{order_id}") => only(&[Owner]),
        // Market data: any session.
        (
            "get",
            "/quote"
            | "/quote/ohlc"
            | "/quote/ltp"
            | "/instruments"
            | "/instruments/{exchange}"
            | "/instruments/historical/{instrument_token}/{interval}",
        ) => Ok,
        // Admin routes: never a trader, even on their own resources.
        ("get", "/admin/kyc/{user_id}") => only(&[Risk, Support, Admin]),
        ("post", "/admin/kyc/{user_id}") => only(&[Admin]),
        ("post", "/admin/instruments") => only(&[Admin]),
        ("post", "/admin/instruments/{instrument_token}/{action}") => only(&[Risk, Admin]),
        ("put", "/admin/accounts/{user_id}/limits") => only(&[Risk, Admin]),
        // Allowed for admin; the session is already open, which the engine refuses.
        ("post", "/admin/session/{action}") => match actor {
            Admin => Refused(500, "GeneralException"),
            _ => Denied,
        },
        other => panic!("{other:?}: a route the authorization matrix does not know; add it to `expected`"),
    }
}

struct Fixture {
    owner: Trader,
    /// Open order of the owner that calls read and modify.
    order: String,
    /// Open order of the owner that cancels go to.
    order_to_cancel: String,
    /// A user whose KYC waits for review.
    pending: Trader,
}

/// The request a route gets in the matrix: (path with query, form body). `salt` makes the
/// modifications of each actor distinct.
fn request(method: &str, path: &str, fx: &Fixture, salt: usize) -> (String, String) {
    let owner = fx.owner.user_id.as_str();
    let (kyc_user, order) = match method {
        "post" => (fx.pending.user_id.as_str(), fx.order.as_str()),
        "delete" => (owner, fx.order_to_cancel.as_str()),
        _ => (owner, fx.order.as_str()),
    };
    let concrete = path
        .replace("{variety}", "regular")
        .replace("{order_id}", order)
        .replace("{segment}", "equity")
        .replace("{exchange}", "NSE")
        .replace("{instrument_token}", &if path.contains("historical") { INFY } else { SBIN }.token().to_string())
        .replace("{interval}", "day")
        .replace("{user_id}", if path.starts_with("/admin/kyc") { kyc_user } else { owner })
        .replace("{action}", if path.starts_with("/admin/session") { "open" } else { "halt" });
    let query = match path {
        "/user/profile"
        | "/user/margins"
        | "/user/margins/{segment}"
        | "/orders"
        | "/trades"
        | "/portfolio/positions"
        | "/portfolio/holdings" => format!("?user_id={owner}"),
        "/quote" | "/quote/ohlc" | "/quote/ltp" => "?i=NSE:INFY".to_string(),
        p if p.contains("historical") => "?from=2024-01-01&to=2024-01-02".to_string(),
        _ => String::new(),
    };
    let body = match (method, path) {
        ("post", "/orders/{variety}") => limit_order("INFY", "BUY", 1, "1400"),
        ("put", "/orders/{variety}/{order_id}") => form(&[("price", &format!("{}", 1401 + salt))]),
        ("post", "/admin/kyc/{user_id}") => form(&[("decision", "verify")]),
        ("post", "/admin/instruments") => form(&[
            ("tradingsymbol", "NEWCO"),
            ("exchange_token", "7777"),
            ("tick_size", "0.05"),
            ("lot_size", "1"),
            ("circuit_percent", "10"),
            ("reference_price", "100"),
        ]),
        ("put", "/admin/accounts/{user_id}/limits") => form(&[("open_orders_max", "500")]),
        _ => String::new(),
    };
    (concrete + &query, body)
}

fn send(c: &Client, method: &str, path_and_query: &str, auth: Option<&str>, body: &str) -> Reply {
    if method == "get" {
        c.get(path_and_query, auth)
    } else {
        c.form(method, path_and_query, auth, body)
    }
}

fn rupees(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// A token with one character of its signature changed.
fn tampered(token: &str) -> String {
    let at = token.rfind('.').expect("a JWT") + (token.len() - token.rfind('.').expect("a JWT")) / 2;
    let mut bytes = token.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ascii")
}

#[test]
fn authorization_matrix() {
    let mut stack = Stack::start_with(gateway_support::unlimited());
    authorization_matrix_on(&mut stack);
    stack.stop();
}

fn authorization_matrix_on(stack: &mut Stack) {
    stack.market();
    // A session two days old, long expired (Kite's sessions end at 06:00 IST the next day).
    let two_days_ago = services_users::unix_now() - 2 * 86_400;
    let old = stack.user_at(Some("EX0001"), two_days_ago - 600);
    let expired = auth(&old, &session_at(stack, &old, two_days_ago));
    let owner = stack.trader(&[], 10_000_000, &[(INFY, 10)]);
    let trader = stack.trader(&[], 10_000_000, &[]);
    let risk = stack.trader(&[Role::Risk], 0, &[]);
    let support = stack.trader(&[Role::Support], 0, &[]);
    let admin = stack.trader(&[Role::Admin], 10_000_000, &[]);
    let pending = user_pending_kyc(stack, "KY0001", 2);
    let owner_token = session(stack, &owner, 0);
    let owner_auth = auth(&owner, &owner_token);
    let trader_auth = auth(&trader, &session(stack, &trader, 0));
    let risk_auth = auth(&risk, &session(stack, &risk, 0));
    let support_auth = auth(&support, &session(stack, &support, 0));
    let admin_auth = auth(&admin, &session(stack, &admin, 0));
    let c = Client::new(stack);

    let place = |price: &str| {
        let data = c.form("post", "/orders/regular", Some(&owner_auth), &limit_order("INFY", "BUY", 1, price)).data();
        data["order_id"].as_str().expect("order_id").to_string()
    };
    let fx = Fixture { order: place("1390"), order_to_cancel: place("1395"), owner: owner.clone(), pending };
    let owner_orders = |c: &Client| c.get("/orders", Some(&owner_auth)).data().as_array().expect("orders").clone();
    assert_eq!(owner_orders(&c).len(), 2);

    // ---- a logged-out token is refused at once, and only its holder can log it out
    let second = session(stack, &trader, 1);
    let logged_out = auth(&trader, &second);
    c.get("/user/profile", Some(&logged_out)).data(); // verified, and cached by the gateway
    let logout = |api_key: &str| c.delete(&format!("/session/token?api_key={api_key}&access_token={second}"), None);
    logout(&owner.api_key).expect_error(403, "TokenException", BAD);
    assert_eq!(c.get("/user/profile", Some(&logged_out)).data()["user_id"], trader.user_id.as_str());
    assert_eq!(logout(&trader.api_key).data(), true);
    c.get("/user/profile", Some(&logged_out)).expect_error(403, "TokenException", EXPIRED);
    // The user's other session is still good.
    assert_eq!(c.get("/user/profile", Some(&trader_auth)).data()["user_id"], trader.user_id.as_str());

    // ---- every route that takes a token × every bad credential: TokenException, nothing done
    let key = &owner.api_key;
    let credentials: Vec<(&str, Option<String>, &str)> = vec![
        ("no header", None, MISSING),
        ("another scheme", Some(format!("Bearer {owner_token}")), MALFORMED),
        ("scheme alone", Some("token".into()), MALFORMED),
        ("no api_key", Some(format!("token {owner_token}")), MALFORMED),
        ("empty api_key", Some(format!("token :{owner_token}")), MALFORMED),
        ("empty access_token", Some(format!("token {key}:")), MALFORMED),
        ("not a token", Some(format!("token {key}:not-a-token")), BAD),
        ("tampered signature", Some(format!("token {key}:{}", tampered(&owner_token))), BAD),
        ("another user's api_key", Some(format!("token {}:{owner_token}", trader.api_key)), BAD),
        ("unknown api_key", Some(format!("token nosuchkey0:{owner_token}")), BAD),
        ("expired", Some(expired.clone()), EXPIRED),
        ("logged out", Some(logged_out.clone()), EXPIRED),
    ];
    let routes = token_routes();
    assert!(routes.len() >= 20, "{routes:?}");
    for &(method, path) in &routes {
        let (target, body) = request(method, path, &fx, 0);
        for (what, header, message) in &credentials {
            let r = send(&c, method, &target, header.as_deref(), &body);
            assert_eq!(r.error_type().as_deref(), Some("TokenException"), "{method} {target} with {what}: {}", r.body);
            r.expect_error(403, "TokenException", message);
        }
    }
    // The login and session routes take no token: a bad header changes nothing there.
    for (method, path) in NO_TOKEN {
        let missing = if path == "/session/token" { "Missing `api_key`." } else { "Missing `user_id`." };
        for (_, header, _) in &credentials {
            send(&c, method, path, header.as_deref(), "").expect_error(400, "InputException", missing);
        }
    }
    // Nothing happened: no order placed, modified or cancelled, no instrument added or halted.
    let orders = owner_orders(&c);
    assert_eq!(orders.len(), 2);
    assert!(orders.iter().all(|o| o["status"] == "OPEN" && rupees(&o["price"]) < 1401.0), "{orders:?}");
    let csv = c.get("/instruments", Some(&owner_auth));
    assert_eq!(csv.status, 200);
    assert!(csv.body.contains(",SBIN,") && !csv.body.contains("NEWCO"), "{}", csv.body);

    // ---- another user's resources and the roles
    let auth_of = |actor: Actor| match actor {
        Actor::Owner => owner_auth.as_str(),
        Actor::Trader => trader_auth.as_str(),
        Actor::Risk => risk_auth.as_str(),
        Actor::Support => support_auth.as_str(),
        Actor::Admin => admin_auth.as_str(),
    };
    let mut checked = 0;
    for &(method, path) in &routes {
        for (salt, actor) in ACTORS.into_iter().enumerate() {
            let (target, body) = request(method, path, &fx, salt);
            let r = send(&c, method, &target, Some(auth_of(actor)), &body);
            let what = format!("{actor:?}: {method} {target}: {}", r.body);
            match expected(method, path, actor) {
                Expect::Ok if path.starts_with("/instruments") && !path.contains("historical") => {
                    assert_eq!((r.status, r.content_type.as_deref()), (200, Some("text/csv")), "{what}");
                    assert!(r.body.starts_with("instrument_token,"), "{what}");
                }
                Expect::Ok => {
                    r.data();
                }
                Expect::Denied => r.expect_error(403, "PermissionException", DENIED),
                Expect::Refused(status, kind) => {
                    r.error(status, kind);
                }
            }
            if expected(method, path, actor) == Expect::Ok && target.ends_with("/halt") {
                let resume = target.replace("/halt", "/resume");
                assert_eq!(c.form("post", &resume, Some(auth_of(actor)), "").data(), true, "{what}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, routes.len() * ACTORS.len());

    // What the allowed calls did, and only they: one modification (the owner's), one
    // cancellation, one instrument, the KYC verified by the admin, SBIN trading again.
    let history = c.get(&format!("/orders/{}", fx.order), Some(&owner_auth)).data();
    let history = history.as_array().expect("history");
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(rupees(&history[1]["price"]), 1401.0, "{history:?}");
    let cancelled = c.get(&format!("/orders/{}", fx.order_to_cancel), Some(&owner_auth)).data();
    assert_eq!(cancelled.as_array().expect("history").last().expect("state")["status"], "CANCELLED");
    let csv = c.get("/instruments", Some(&support_auth)).body;
    assert_eq!(csv.lines().filter(|l| l.contains(",NEWCO,")).count(), 1, "{csv}");
    let kyc = c.get(&format!("/admin/kyc/{}", fx.pending.user_id), Some(&support_auth)).data();
    assert_eq!(kyc["status"], "verified", "{kyc}");
    let sbin = c.form("post", "/orders/regular", Some(&owner_auth), &limit_order("SBIN", "BUY", 1, "800"));
    assert!(sbin.data()["order_id"].is_string());
    // The placements of the owner, the other trader and the admin, each on their own account.
    assert_eq!(owner_orders(&c).len(), 4);
    assert_eq!(c.get("/orders", Some(&trader_auth)).data().as_array().expect("orders").len(), 1);
    assert_eq!(c.get("/orders", Some(&admin_auth)).data().as_array().expect("orders").len(), 1);
    assert_eq!(c.get("/orders", Some(&risk_auth)).data().as_array().expect("orders").len(), 0);
    assert_eq!(c.get("/orders", Some(&support_auth)).data().as_array().expect("orders").len(), 0);
}

/// Placeholders of a listed path filled with values of the right shape.
fn filled(path: &str) -> String {
    path.replace("{variety}", "regular")
        .replace("{order_id}", "1")
        .replace("{segment}", "equity")
        .replace("{exchange}", "NSE")
        .replace("{instrument_token}", "1")
        .replace("{interval}", "day")
        .replace("{user_id}", "AB1234")
        .replace("{action}", "halt")
}

#[test]
fn every_listed_route_is_routed_and_documented() {
    let mut stack = Stack::start();
    every_listed_route_is_routed_and_documented_on(&mut stack);
    stack.stop();
}

fn every_listed_route_is_routed_and_documented_on(stack: &mut Stack) {
    let c = Client::new(stack);
    // The gateway's 404, for an unknown path and for a known path with another method.
    c.get("/no/such/route", None).expect_error(404, "GeneralException", "Route not found: /no/such/route");
    c.send("PATCH", "/orders", None, None, b"").expect_error(404, "GeneralException", "Route not found: /orders");
    c.send("PUT", "/user/profile", None, None, b"").expect_error(
        404,
        "GeneralException",
        "Route not found: /user/profile",
    );

    // A request refused before its body is read leaves the connection usable: the next
    // request on it (the client keeps one connection) is answered.
    let big = form(&[("tradingsymbol", &"X".repeat(60 * 1024))]);
    for _ in 0..3 {
        c.form("post", "/admin/instruments", None, &big).expect_error(403, "TokenException", MISSING);
        c.form("post", "/api/login", None, "").expect_error(400, "InputException", "Missing `user_id`.");
    }

    let routes = listed_routes();
    for &(method, path) in &routes {
        let target = filled(path);
        let r = if method == "get" { c.get(&target, None) } else { c.form(method, &target, None, "") };
        assert!(!(r.status == 404 || r.body.contains("Route not found")), "{method} {target}: {}", r.body);
        // Without a token: refused for the token's sake, or for a missing field on the routes
        // that take none.
        let expected = if NO_TOKEN.contains(&(method, path)) { "InputException" } else { "TokenException" };
        r.error(if expected == "InputException" { 400 } else { 403 }, expected);
    }

    // The document: OpenAPI 3.0, served as JSON without a token, listing each route once.
    let r = c.get("/openapi.json", None);
    assert_eq!((r.status, r.content_type.as_deref()), (200, Some("application/json")), "{}", r.body);
    let doc = r.json();
    assert_eq!(doc, document());
    let version = doc["openapi"].as_str().expect("openapi");
    assert!(version.starts_with("3.0.") && version.len() > 4, "{version}");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let paths = doc["paths"].as_object().expect("paths");
    let operations: usize = paths.values().map(|p| p.as_object().expect("path item").len()).sum();
    assert_eq!(operations, routes.len());
    let unique: BTreeSet<_> = routes.iter().collect();
    assert_eq!(unique.len(), routes.len(), "a route is listed twice");
    for &(method, path) in &routes {
        let op = &paths[path][method];
        assert!(op["summary"].is_string() && op["responses"]["200"].is_object(), "{method} {path}: {op}");
        // Every `{name}` of the path is a required path parameter, and no other is.
        let in_path: BTreeSet<&str> =
            path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| {
                assert_eq!(p["required"], true, "{method} {path}: {p}");
                p["name"].as_str().expect("name")
            })
            .collect();
        assert_eq!(in_path, declared, "{method} {path}");
    }
}
