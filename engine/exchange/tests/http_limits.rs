//! Rate limits per API key over real HTTP, as Kite sets them: orders 10/s, quotes 1/s,
//! historical candles 3/s, everything else 10/s. The request over the limit gets 429
//! NetworkException "Too many requests" with `Retry-After: 1` and does nothing; a key given
//! higher limits in `GatewayConfig.keys` is not held to them; another key is not affected.

mod gateway_support;

use std::sync::Barrier;
use std::time::{Duration, Instant};

use exchange::stack::{Stack, INFY};
use gateway::server::{GatewayConfig, KeyLimits, RateConfig};
use gateway_support::{auth, limit_order, session, Client, Reply};

const NOT_OPEN: &str = "Order not found, or it is no longer open (complete, cancelled or rejected).";

/// How a burst sends its `i`th request.
type Send<'a> = &'a (dyn Fn(&Client, usize) -> Reply + Sync);

/// Sends `n` requests at once, each on its own (already open) connection; returns the replies
/// and how long the burst took.
fn burst(base: &str, n: usize, send: Send<'_>) -> (Vec<Reply>, Duration) {
    let clients: Vec<Client> = (0..n).map(|_| Client::at(base)).collect();
    for c in &clients {
        // Opens the connection; the document is not rate limited.
        assert_eq!(c.get("/openapi.json", None).status, 200);
    }
    let barrier = Barrier::new(n + 1);
    std::thread::scope(|s| {
        let threads: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    send(c, i)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let replies: Vec<Reply> = threads.into_iter().map(|t| t.join().expect("request thread")).collect();
        (replies, start.elapsed())
    })
}

/// Sends one more request than a full bucket of `per_second` holds, all at once, and checks
/// that exactly one is refused with Kite's 429 (the others pass the limit, whatever they are
/// answered then). A burst slow enough for the bucket to refill in the meantime proves nothing
/// either way, so it is tried again (at most 3 times) once the bucket is full. Returns how
/// many requests succeeded (200) in all.
fn one_too_many(what: &str, base: &str, per_second: u32, send: Send<'_>) -> usize {
    let n = per_second as usize + 1;
    let refill = Duration::from_secs(1) / per_second;
    let mut passed = 0;
    for attempt in 1..=3 {
        let (replies, took) = burst(base, n, send);
        let limited: Vec<&Reply> = replies.iter().filter(|r| r.status == 429).collect();
        let ok = n - limited.len();
        passed += replies.iter().filter(|r| r.status == 200).count();
        for r in replies.iter().filter(|r| !matches!(r.status, 200 | 429)) {
            // Passed the limit, then refused for what it asked (an order that does not exist).
            r.expect_error(400, "OrderException", NOT_OPEN);
        }
        for r in &limited {
            r.expect_error(429, "NetworkException", "Too many requests");
            assert_eq!(r.retry_after.as_deref(), Some("1"), "{what}");
        }
        if limited.len() == 1 {
            return passed;
        }
        assert!(
            limited.is_empty() && took >= refill,
            "{what}: {ok} of {n} passed in {took:?} (attempt {attempt}); a full bucket holds {per_second}"
        );
        eprintln!("{what}: all {n} passed in {took:?}, slow enough for a refill; trying again");
        std::thread::sleep(Duration::from_millis(1100));
    }
    panic!("{what}: three bursts in a row were too slow to tell");
}

/// Sends `n` requests at once and checks that all of them pass.
fn all_pass(what: &str, base: &str, n: usize, send: Send<'_>) {
    let (replies, _) = burst(base, n, send);
    for r in &replies {
        assert_eq!(r.status, 200, "{what}: {}", r.body);
    }
}

/// Places `order` with `auth`.
fn placing<'a>(auth: &'a str, order: &'a str) -> impl Fn(&Client, usize) -> Reply + Sync + 'a {
    move |c: &Client, _| c.form("post", "/orders/regular", Some(auth), order)
}

/// Gets `path` with `auth`.
fn getting<'a>(auth: &'a str, path: &'a str) -> impl Fn(&Client, usize) -> Reply + Sync + 'a {
    move |c: &Client, _| c.get(path, Some(auth))
}

fn refill() {
    std::thread::sleep(Duration::from_millis(1100));
}

#[test]
fn rate_limits_per_api_key() {
    let mut stack = Stack::start();
    rate_limits_per_api_key_on(&mut stack);
    stack.stop();
}

fn rate_limits_per_api_key_on(stack: &mut Stack) {
    stack.market();
    let retail = stack.trader(&[], 100_000_000, &[]);
    let other = stack.trader(&[], 100_000_000, &[]);
    let desk = stack.trader(&[], 100_000_000, &[]);
    let raised = RateConfig { orders: 1000, quote: 1000, historical: 1000, other: 1000 };
    // API keys exist only once their users do: the gateway that knows the desk's key comes after.
    stack.restart_gateway(&GatewayConfig {
        listen: "127.0.0.1:0".into(),
        keys: vec![KeyLimits { api_key: desk.api_key.clone(), rates: raised }],
        ..GatewayConfig::default()
    });
    let retail_auth = auth(&retail, &session(stack, &retail, 0));
    let other_auth = auth(&other, &session(stack, &other, 0));
    let desk_auth = auth(&desk, &session(stack, &desk, 0));
    let base = stack.url("");
    let c = Client::new(stack);
    let buy = &limit_order("INFY", "BUY", 1, "1400");
    let orders_of = |a: &str| c.get("/orders", Some(a)).data().as_array().map_or(0, Vec::len);
    for a in [&retail_auth, &other_auth, &desk_auth] {
        assert_eq!(orders_of(a), 0);
    }

    // ---- orders: 10 a second
    // Placements, modifications and cancellations share the limit: a burst of all three (the
    // modifications and cancellations that pass are refused next, for an unknown order).
    let mixed = |c: &Client, i: usize| match i % 3 {
        0 => c.form("post", "/orders/regular", Some(&retail_auth), buy),
        1 => c.form("put", "/orders/regular/987654321", Some(&retail_auth), "price=1401"),
        _ => c.delete("/orders/regular/987654321", Some(&retail_auth)),
    };
    let placed = one_too_many("orders", &base, 10, &mixed);
    // Another key is not affected, at once.
    assert!(c.form("post", "/orders/regular", Some(&other_auth), buy).data()["order_id"].is_string());
    refill();
    let placed = placed + one_too_many("placements", &base, 10, &placing(&retail_auth, buy));
    // What was refused placed nothing.
    assert!(placed >= 10, "{placed}");
    assert_eq!(orders_of(&retail_auth), placed);
    assert_eq!(orders_of(&other_auth), 1);
    // The raised key places 30 at once.
    all_pass("the desk's orders", &base, 30, &placing(&desk_auth, buy));
    assert_eq!(orders_of(&desk_auth), 30);

    // ---- quotes: 1 a second, for /quote, /quote/ohlc and /quote/ltp together
    refill();
    let ltp = c.get("/quote/ltp?i=NSE:INFY", Some(&retail_auth)).data();
    assert_eq!(ltp["NSE:INFY"]["last_price"].as_f64(), Some(INFY.reference as f64 / 100.0));
    for path in ["/quote/ltp?i=NSE:INFY", "/quote?i=NSE:INFY", "/quote/ohlc?i=NSE:INFY"] {
        let r = c.get(path, Some(&retail_auth));
        r.expect_error(429, "NetworkException", "Too many requests");
        assert_eq!(r.retry_after.as_deref(), Some("1"));
    }
    assert!(c.get("/quote?i=NSE:INFY", Some(&other_auth)).data()["NSE:INFY"].is_object());
    all_pass("the desk's quotes", &base, 10, &|c: &Client, _| c.get("/quote/ltp?i=NSE:INFY", Some(&desk_auth)));
    refill();
    assert!(c.get("/quote/ohlc?i=NSE:INFY", Some(&retail_auth)).data()["NSE:INFY"].is_object());
    refill();
    one_too_many("quotes", &base, 1, &|c: &Client, _| c.get("/quote?i=NSE:INFY", Some(&retail_auth)));

    // ---- historical candles: 3 a second
    let candles = format!("/instruments/historical/{}/day?from=2024-01-01&to=2024-01-02", INFY.token());
    one_too_many("historical", &base, 3, &getting(&retail_auth, &candles));
    assert_eq!(c.get(&candles, Some(&other_auth)).data()["candles"], serde_json::json!([]));
    all_pass("the desk's candles", &base, 10, &getting(&desk_auth, &candles));

    // ---- everything else: 10 a second
    refill();
    one_too_many("other calls", &base, 10, &getting(&retail_auth, "/orders"));
    assert_eq!(c.get("/trades", Some(&other_auth)).status, 200);
    all_pass("the desk's reads", &base, 30, &getting(&desk_auth, "/orders"));
}
