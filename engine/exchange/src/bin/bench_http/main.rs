//! bench-http: order placement through the Kite Connect HTTP API on loopback.
//! `scripts/bench http [--seconds S] [--warmup S] [--connections N] [--keys N] ...`
//!
//! Starts the whole exchange in this process ([`exchange::stack::Stack`]: embedded Aeron driver,
//! engine node, every service, the gateway on 127.0.0.1), creates one trader per API key with
//! ample cash and holdings, restarts the gateway with those keys' rate limits raised through
//! `GatewayConfig.keys`, logs every trader in over HTTP, then drives `POST /orders/regular` from
//! many keep-alive connections, closed loop, for a bounded time after a warm-up. The last line
//! of output is one JSON object.

mod client;
mod cpu;
mod load;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use engine_core::Event;
use exchange::stack::{Stack, Trader, STOCKS};
use gateway::server::{GatewayConfig, KeyLimits, RateConfig};
use hdrhistogram::Histogram;
use services_core::{EventFeed, ServiceDb};
use services_host::ServiceName;

use client::{post_form, Conn};
use load::{Plan, Tally};

const USAGE: &str = "usage: bench-http [--seconds S] [--warmup S] [--connections N] [--keys N] [--client-threads N]
                  [--workers N] [--wait W]
  --seconds S          measured time, seconds (default 12)
  --warmup S           warm-up before it, seconds (default 3)
  --connections N      concurrent keep-alive HTTP/1.1 connections (default 64)
  --keys N             API keys, one trader each; connection i uses key i mod N (default 8)
  --client-threads N   threads of the load generator's runtime (default 1)
  --workers N          the gateway's async worker threads; 0 = one per core (default 0)
  --wait W             the engine node's pipeline.wait: blocking (the stack's), yield, busy-spin, auto
                       (default blocking)
  --services LIST      sidecar services to run: all (default), or a list of funds,portfolio,notifications,
                       marketdata, or none (users always runs: it activates the traders' accounts)
Every request goes to 127.0.0.1; the run stops by itself (about 20 s with the defaults).";

/// Target on a 2-core machine (reported, not asserted).
const TARGET_ORDERS_PER_S: f64 = 20_000.0;
const TARGET_P99_MS: f64 = 10.0;
/// The raised limit of the benchmark's keys, every route class (Kite's default: orders 10/s).
const KEY_RATE_PER_S: u32 = 1_000_000;
/// Cash of each trader, paise (₹1,000 crore), and holdings of each stock, shares.
const CASH_PAISE: i64 = 10_000_000_000_000;
const HOLDINGS: i64 = 100_000_000;
/// How long one request may take before it counts as a timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Args {
    seconds: f64,
    warmup: f64,
    connections: usize,
    keys: usize,
    client_threads: usize,
    workers: usize,
    wait: String,
    services: Vec<ServiceName>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        seconds: 12.0,
        warmup: 3.0,
        connections: 64,
        keys: 8,
        client_threads: 1,
        workers: 0,
        wait: "blocking".into(),
        services: ServiceName::ALL.to_vec(),
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().with_context(|| format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--seconds" => args.seconds = number(&flag, &value()?)?,
            "--warmup" => args.warmup = number(&flag, &value()?)?,
            "--connections" => args.connections = number(&flag, &value()?)?,
            "--keys" => args.keys = number(&flag, &value()?)?,
            "--client-threads" => args.client_threads = number(&flag, &value()?)?,
            "--workers" => args.workers = number(&flag, &value()?)?,
            "--wait" => args.wait = value()?,
            "--services" => {
                let list = value()?;
                args.services = vec![ServiceName::Users];
                if list == "all" {
                    args.services = ServiceName::ALL.to_vec();
                } else if !matches!(list.as_str(), "none" | "users" | "") {
                    for name in list.split(',') {
                        let service: ServiceName = name.parse().map_err(anyhow::Error::msg)?;
                        if !args.services.contains(&service) {
                            args.services.push(service);
                        }
                    }
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    ensure!(args.seconds > 0.0 && args.seconds <= 600.0, "--seconds: between 0 and 600");
    ensure!(args.warmup >= 0.0 && args.warmup <= 600.0, "--warmup: between 0 and 600");
    ensure!((1..=4096).contains(&args.connections), "--connections: between 1 and 4096");
    ensure!((1..=256).contains(&args.keys), "--keys: between 1 and 256");
    ensure!((1..=64).contains(&args.client_threads), "--client-threads: between 1 and 64");
    ensure!(matches!(args.wait.as_str(), "blocking" | "yield" | "busy-spin" | "auto"), "--wait: {}", args.wait);
    Ok(args)
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T> {
    value.replace('_', "").parse().ok().with_context(|| format!("{flag}: not a number: {value}"))
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();

    // 1. The exchange, the market and the traders.
    let mut stack = Stack::start_custom(
        GatewayConfig { listen: "127.0.0.1:0".into(), ..GatewayConfig::default() },
        &[("EXCHANGE_PIPELINE_WAIT", args.wait.as_str())],
        &args.services,
    );
    stack.market();
    let holdings: Vec<_> = STOCKS.iter().map(|&s| (s, HOLDINGS)).collect();
    let traders: Vec<Trader> = (0..args.keys).map(|_| stack.trader(&[], CASH_PAISE, &holdings)).collect();

    // 2. The gateway again, with the traders' keys' limits raised.
    let rates =
        RateConfig { orders: KEY_RATE_PER_S, quote: KEY_RATE_PER_S, historical: KEY_RATE_PER_S, other: KEY_RATE_PER_S };
    let gateway_config = GatewayConfig {
        listen: "127.0.0.1:0".into(),
        workers: args.workers,
        keys: traders.iter().map(|t| KeyLimits { api_key: t.api_key.clone(), rates }).collect(),
        ..GatewayConfig::default()
    };
    stack.restart_gateway(&gateway_config);
    let addr = stack.addr;
    ensure!(addr.ip().is_loopback(), "the gateway listens on {addr}, not on loopback");

    let wait = stack.config.wait_kind(cores).map_err(anyhow::Error::msg)?;
    let gateway_workers = if args.workers == 0 { cores } else { args.workers };
    println!(
        "bench-http: {cores} cores; the exchange in this process: embedded Aeron driver (SHARED), engine node, \
         services {} ({}), gateway at http://{addr}",
        args.services.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","),
        if args.services.len() == ServiceName::ALL.len() { "all" } else { "NOT all: a partial exchange" }
    );
    println!(
        "engine node: pipeline.wait = {:?} -> {wait:?}; durability {}; journal under {}",
        args.wait,
        stack.config.journal.durability,
        stack.dir.path().display()
    );
    println!(
        "gateway: {gateway_workers} async workers; rate limits raised in GatewayConfig.keys for the {} API keys: \
         orders/quote/historical/other {KEY_RATE_PER_S}/s each (defaults for other keys: orders {}/s)",
        traders.len(),
        gateway_config.rate_limits.orders
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .thread_name("bench-http-client")
        .enable_all()
        .build()
        .context("the load generator's runtime")?;
    let auths = runtime.block_on(async {
        let mut auths = Vec::with_capacity(traders.len());
        for t in &traders {
            auths.push(login(addr, t).await?);
        }
        Ok::<_, anyhow::Error>(auths)
    })?;
    println!(
        "logged in over HTTP: {} traders, one API key each, cash ₹{} and {HOLDINGS} shares of each stock",
        auths.len(),
        CASH_PAISE / 100
    );

    // 3. The load, with the engine's events tallied alongside.
    let requests: Vec<[Vec<u8>; 2]> = (0..args.connections)
        .map(|i| {
            let auth = &auths[i % auths.len()];
            let stock = STOCKS[(i / auths.len()) % STOCKS.len()];
            let price = format!("{}.{:02}", stock.reference / 100, stock.reference % 100);
            let order = |side: &str| {
                post_form(
                    addr,
                    "/orders/regular",
                    Some(auth),
                    &[
                        ("exchange", "NSE"),
                        ("tradingsymbol", stock.symbol),
                        ("transaction_type", side),
                        ("order_type", "LIMIT"),
                        ("quantity", "1"),
                        ("price", &price),
                        ("product", "CNC"),
                        ("validity", "DAY"),
                    ],
                )
            };
            if i % 2 == 0 {
                [order("BUY"), order("SELL")]
            } else {
                [order("SELL"), order("BUY")]
            }
        })
        .collect();
    println!(
        "load: {} keep-alive HTTP/1.1 connections (one request at a time each, no pipelining), {} API keys, \
         load generator runtime {} thread(s); warm-up {:.1} s, measured {:.1} s",
        args.connections, args.keys, args.client_threads, args.warmup, args.seconds
    );
    println!(
        "orders: POST /orders/regular, LIMIT DAY CNC, qty 1 at the reference price; each connection alternates BUY and \
         SELL on one of {} (the orders cross and trade; a connection leaves at most one resting)",
        STOCKS.map(|s| s.symbol).join(", ")
    );

    let cursors: Vec<(ServiceName, ServiceDb)> = args
        .services
        .iter()
        .map(|&s| Ok((s, ServiceDb::open(&services_host::db_path(stack.dir.path(), s), s.as_str())?)))
        .collect::<Result<_>>()?;
    let stop_events = AtomicBool::new(false);
    let engine_seq = AtomicU64::new(0);
    let (reports, window, (cpu_before, cpu_after), engine, lag) = std::thread::scope(|scope| {
        let feed = &mut stack.feed;
        let (stop, seq) = (&stop_events, &engine_seq);
        let counter = scope.spawn(move || count_events(feed, stop, seq));
        let run = runtime.block_on(async {
            let begin = Instant::now();
            let warm_end = begin + Duration::from_secs_f64(args.warmup);
            let plan = Plan {
                warm_end,
                end: warm_end + Duration::from_secs_f64(args.seconds),
                request_timeout: REQUEST_TIMEOUT,
            };
            let cpu = tokio::spawn(async move {
                tokio::time::sleep_until(plan.warm_end.into()).await;
                let before = cpu::sample();
                tokio::time::sleep_until(plan.end.into()).await;
                (before, cpu::sample())
            });
            let tasks: Vec<_> = requests.into_iter().map(|r| tokio::spawn(load::drive(addr, r, plan))).collect();
            let mut reports = Vec::with_capacity(tasks.len());
            for t in tasks {
                reports.push(t.await.context("a connection task failed")?);
            }
            let cpu = cpu.await.context("the CPU sampler failed")?;
            Ok::<_, anyhow::Error>((reports, plan.end.duration_since(plan.warm_end), cpu))
        });
        let lag = services_lag(&cursors, seq);
        stop.store(true, Ordering::Release);
        let engine = counter.join().expect("event counter");
        run.map(|(reports, window, cpu)| (reports, window, cpu, engine, lag))
    })?;
    drop(cursors);
    drop(runtime);
    stack.stop();

    // 4. The report.
    let (mut warmup, mut measured) = (Tally::default(), Tally::default());
    let mut latency: Histogram<u64> = load::histogram();
    let (mut ok_in_window, mut reconnects) = (0u64, 0u64);
    for r in &reports {
        warmup.merge(&r.warmup);
        measured.merge(&r.measured);
        latency.add(&r.latency_ns).context("merging histograms")?;
        ok_in_window += r.ok_in_window;
        reconnects += r.reconnects;
    }
    let orders_per_s = ok_in_window as f64 / window.as_secs_f64();
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1e6;
    let (p50, p90, p99, p999, max) = (ms(0.50), ms(0.90), ms(0.99), ms(0.999), latency.max() as f64 / 1e6);

    println!("{}", tally_line("warm-up ", &warmup));
    println!("{}", tally_line("measured", &measured));
    println!("connections re-opened: {reconnects}");
    println!("{}", engine.line());
    println!("{lag}");
    println!(
        "latency per request (request written -> whole response read), ms, {} requests: \
         p50 {p50:.3}  p90 {p90:.3}  p99 {p99:.3}  p99.9 {p999:.3}  max {max:.3}",
        latency.len()
    );
    println!(
        "throughput: {orders_per_s:.0} orders/s (HTTP 200s completed in the {:.1} s measured window)",
        window.as_secs_f64()
    );
    println!("{}", cpu::report(&cpu_before, &cpu_after, window.as_secs_f64(), cores));
    println!(
        "CPU per order (this process, whole exchange and load generator): {:.0} µs",
        cpu::process_seconds(&cpu_before, &cpu_after) * 1e6 / ok_in_window.max(1) as f64
    );
    let pass = orders_per_s >= TARGET_ORDERS_PER_S && p99 <= TARGET_P99_MS && measured.errors_total() == 0;
    println!(
        "{}: {orders_per_s:.0} orders/s, p99 {p99:.2} ms (target >= {TARGET_ORDERS_PER_S:.0} orders/s with p99 <= \
         {TARGET_P99_MS} ms and no errors, on {cores} cores); total time {:.1} s",
        if pass { "PASS" } else { "MISS" },
        started.elapsed().as_secs_f64()
    );
    println!(r#"{{"bench":"http","orders_per_s":{orders_per_s:.0},"p50_ms":{p50:.3},"p99_ms":{p99:.3}}}"#);
    Ok(())
}

/// The web login and the session exchange (`/api/login`, `/api/twofa`, `/session/token`);
/// returns the `Authorization` header value.
async fn login(addr: SocketAddr, t: &Trader) -> Result<String> {
    let mut conn = Conn::connect(addr).await.context("connecting to the gateway")?;
    let mut call = async |path: &str, pairs: &[(&str, &str)]| -> Result<serde_json::Value> {
        let reply =
            conn.roundtrip(&post_form(addr, path, None, pairs)).await.with_context(|| format!("POST {path}"))?;
        let body: serde_json::Value =
            serde_json::from_slice(conn.body(&reply)).with_context(|| format!("POST {path}: not JSON"))?;
        ensure!(reply.status == 200, "POST {path}: HTTP {}: {body}", reply.status);
        Ok(body)
    };
    let v = call("/api/login", &[("user_id", &t.user_id), ("password", &t.password)]).await?;
    let request_id = text(&v, "request_id")?;
    let v = call("/api/twofa", &[("user_id", &t.user_id), ("request_id", &request_id), ("twofa_value", &t.totp_now())])
        .await?;
    let request_token = text(&v, "request_token")?;
    let checksum = gateway::checksum::checksum_hex(&t.api_key, &request_token, &t.api_secret);
    let v =
        call("/session/token", &[("api_key", &t.api_key), ("request_token", &request_token), ("checksum", &checksum)])
            .await?;
    Ok(format!("token {}:{}", t.api_key, text(&v, "access_token")?))
}

fn text(v: &serde_json::Value, field: &str) -> Result<String> {
    v["data"][field].as_str().map(str::to_string).with_context(|| format!("no data.{field} in {v}"))
}

fn tally_line(phase: &str, t: &Tally) -> String {
    let share = if t.requests == 0 { 0.0 } else { 100.0 * t.ok as f64 / t.requests as f64 };
    let errors = if t.errors.is_empty() {
        "none".to_string()
    } else {
        t.errors.iter().map(|(k, n)| format!("{k}: {n}")).collect::<Vec<_>>().join(", ")
    };
    format!("{phase} requests {}, HTTP 200 {} ({share:.3}%), errors: {errors}", t.requests, t.ok)
}

/// The engine's answers to orders over the whole run (warm-up included), from the event stream.
#[derive(Debug, Default)]
struct EngineTally {
    accepted: u64,
    trades: u64,
    rejected: BTreeMap<String, u64>,
    cancelled: BTreeMap<String, u64>,
}

impl EngineTally {
    fn line(&self) -> String {
        let map = |m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                "none".to_string()
            } else {
                m.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
            }
        };
        format!(
            "engine (whole run, from the event stream): orders accepted {}, trades {}, rejected: {}, cancelled: {}",
            self.accepted,
            self.trades,
            map(&self.rejected),
            map(&self.cancelled)
        )
    }
}

/// How far behind the engine each service was when the load stopped (its cursor against the
/// last seq published), and how long they took to catch up. A service that cannot keep up does
/// not hold the engine back (its subscription is untethered: it is cut loose and catches up
/// from the event log), so this is where it shows.
fn services_lag(cursors: &[(ServiceName, ServiceDb)], engine_seq: &AtomicU64) -> String {
    let stopped = Instant::now();
    // The last answers' events are on their way to the event counter.
    std::thread::sleep(Duration::from_millis(50));
    let target = engine_seq.load(Ordering::Acquire);
    let behind = |db: &ServiceDb| target.saturating_sub(db.last_seq().unwrap_or(0));
    let at_end: Vec<String> = cursors.iter().map(|(s, db)| format!("{} {}", s.as_str(), behind(db))).collect();
    let deadline = stopped + Duration::from_secs(30);
    while cursors.iter().any(|(_, db)| behind(db) > 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let caught_up = if cursors.iter().all(|(_, db)| behind(db) == 0) {
        format!("all caught up {:.2} s after the load stopped", stopped.elapsed().as_secs_f64())
    } else {
        "NOT caught up 30 s after the load stopped".to_string()
    };
    format!("services behind the engine when the load stopped (seqs): {}; {caught_up}", at_end.join(", "))
}

/// Polls the stack's own event feed (a subscriber the bus waits for) until `stop`; `seq` follows
/// the last seq seen.
fn count_events(feed: &mut dyn EventFeed, stop: &AtomicBool, seq: &AtomicU64) -> EngineTally {
    let mut tally = EngineTally::default();
    let mut batches = Vec::with_capacity(1024);
    while !stop.load(Ordering::Acquire) {
        batches.clear();
        if let Err(e) = feed.poll(&mut batches, 1024, Duration::from_millis(20)) {
            eprintln!("bench-http: the event feed failed: {e}");
            break;
        }
        if let Some(last) = batches.last() {
            seq.store(last.seq, Ordering::Release);
        }
        for event in batches.iter().flat_map(|b| b.events.iter()) {
            match event {
                Event::Accepted(_) => tally.accepted += 1,
                Event::Trade(_) => tally.trades += 1,
                Event::Rejected { reason, .. } => *tally.rejected.entry(format!("{reason:?}")).or_default() += 1,
                Event::Cancelled { reason, .. } => *tally.cancelled.entry(format!("{reason:?}")).or_default() += 1,
                _ => {}
            }
        }
    }
    tally
}
