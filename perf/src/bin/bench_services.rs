//! bench-services: the real sidecar services on a trade-heavy stream.
//! `scripts/bench services [--rate N] [--seconds S] [--closed-trades N] [--accounts N] [--only LIST]`.
//!
//! The workload is produced once, up front and untimed, by the real engine
//! (`services_core::testkit::run_engine`): two instruments, a fee schedule, funded accounts with
//! holdings, then pairs of LIMIT orders from two different accounts at the same price, the first
//! resting and the second crossing it in full, so every second batch holds one trade (CNC, every
//! fifth pair MIS). Then, for each service alone, on a fresh SQLite file (`open_db` defaults:
//! WAL, `synchronous=FULL`) under its `ServiceRunner`, the setup batches applied untimed first:
//!
//! 1. Closed loop: a `MemoryFeed` over the first `--closed-trades` trades' batches, stepped as
//!    fast as it goes (up to 1,024 batches a transaction, the runner's default); at most
//!    `--seconds` of it.
//! 2. Open loop: the trading batches released on schedule at `--rate` trades a second by a feed
//!    that hands out only the batches whose intended time has come. The lag of a batch is from
//!    its intended time (so a service that falls behind is charged the whole wait: no
//!    coordinated omission) to the return of the `step` that committed it. The first half
//!    second is warm-up and not recorded. A service that has not committed everything when the
//!    offered window plus half of it plus 2 s is over is stopped there: it MISSes, its lag p99
//!    is `null` in the JSON line, and how far behind it was is printed.
//!
//! Each service runs as the host builds it, except: funds and users get a command sink that
//! drops what it is given (the workload has no funds requests or user activations), and
//! notifications runs with no SMTP relay and no SMS provider (its default configuration): every
//! account has e-mail preferences for every kind, so each trade and acceptance puts its messages
//! into the outbox (one row per message, holding the event; the text is rendered when a row is
//! sent or read), where they wait `pending`; nothing is sent.
//!
//! The last line of output is one JSON object.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use engine_core::{Command, Event, Product, Side};
use hdrhistogram::Histogram;
use services_core::testkit::{day_setup, limit, run_engine, INFY, TCS, TS0};
use services_core::{CommandSink, EventBatch, EventFeed, FeedError, MemoryFeed, Service, ServiceRunner, SinkError};

const USAGE: &str =
    "usage: bench-services [--rate N] [--seconds S] [--closed-trades N] [--accounts N] [--only LIST] [--db-dir DIR]
  --rate N           trades a second offered in the lag run (default 100000)
  --seconds S        length of the lag run after 0.5 s of warm-up, and the cap on the closed loop (default 5)
  --closed-trades N  trades in the closed-loop run (default 200000)
  --accounts N       funded trading accounts (default 200; at most 1000)
  --only LIST        services to run (default funds,portfolio,users,notifications,marketdata)
  --db-dir DIR       where the SQLite files go (default: a temporary directory)";

/// The target: lag p99 at 100k trades/s on 2 cores.
const LAG_P99_TARGET_MS: f64 = 100.0;
const TARGET_RATE: u64 = 100_000;
const WARMUP_S: f64 = 0.5;
const SERVICES: [&str; 5] = ["funds", "portfolio", "users", "notifications", "marketdata"];

#[derive(Debug)]
struct Args {
    rate: u64,
    seconds: f64,
    closed_trades: u64,
    accounts: u32,
    only: Vec<String>,
    db_dir: Option<PathBuf>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        rate: TARGET_RATE,
        seconds: 5.0,
        closed_trades: 200_000,
        accounts: 200,
        only: SERVICES.iter().map(|s| s.to_string()).collect(),
        db_dir: None,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().with_context(|| format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--rate" => args.rate = value()?.replace('_', "").parse().context("--rate")?,
            "--seconds" => args.seconds = value()?.parse().context("--seconds")?,
            "--closed-trades" => args.closed_trades = value()?.replace('_', "").parse().context("--closed-trades")?,
            "--accounts" => args.accounts = value()?.parse().context("--accounts")?,
            "--only" => args.only = value()?.split(',').map(str::to_string).collect(),
            "--db-dir" => args.db_dir = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    if args.seconds <= 0.0 || args.rate == 0 || args.closed_trades == 0 {
        bail!("--seconds, --rate and --closed-trades must be positive");
    }
    if !(2..=1_000).contains(&args.accounts) {
        bail!("--accounts must be 2..=1000 (the engine's small limits hold 1,024 accounts)");
    }
    if let Some(bad) = args.only.iter().find(|s| !SERVICES.contains(&s.as_str())) {
        bail!("--only: unknown service {bad}\n{USAGE}");
    }
    Ok(args)
}

// ---------------------------------------------------------------------------------------------
// The workload.

/// The engine's batches: `setup` (instruments, fees, funded accounts, session open) first,
/// then `trading` (the order pairs), seqs contiguous across both.
struct Stream {
    setup: Vec<EventBatch>,
    trading: Arc<Vec<EventBatch>>,
    /// Trades in `trading[..i]`, for every `i` (one more entry than `trading`).
    trades_before: Vec<u64>,
}

fn setup_commands(accounts: u32) -> Vec<Command> {
    day_setup(accounts, 10_000_000_000, 50_000, 20_000)
}

/// Pair `k`: account `k % n` and the next one trade 1..10 shares at one price near the reference,
/// INFY and TCS alternately, CNC (every fifth pair MIS); which side rests alternates. Each
/// account buys and sells equally often, so cash and holdings last.
fn pair_commands(pairs: u64, accounts: u32) -> Vec<Command> {
    let mut c = Vec::with_capacity(2 * pairs as usize);
    let n = accounts as u64;
    for k in 0..pairs {
        let (a, b) = (1 + (k % n) as u32, 1 + ((k + 1) % n) as u32);
        let (token, mid) = if k.is_multiple_of(2) { (INFY, 150_000) } else { (TCS, 350_000) };
        let price = mid + 5 * ((k * 7) % 21) as i64 - 50;
        let qty = 1 + (k % 10) as i64;
        let product = if k % 5 == 4 { Product::Mis } else { Product::Cnc };
        // Alternate who buys, so that every account both buys and sells.
        let (buyer, seller) = if (k / n).is_multiple_of(2) { (a, b) } else { (b, a) };
        let order = |client_ref: u64, account, side| limit(client_ref, account, token, side, product, price, qty);
        let (first, second) = if k.is_multiple_of(2) {
            ((buyer, Side::Buy), (seller, Side::Sell))
        } else {
            ((seller, Side::Sell), (buyer, Side::Buy))
        };
        c.push(order(2 * k + 1, first.0, first.1));
        c.push(order(2 * k + 2, second.0, second.1));
    }
    c
}

fn count_trades(batch: &EventBatch) -> u64 {
    batch.events.iter().filter(|e| matches!(e, Event::Trade(_))).count() as u64
}

fn build_stream(pairs: u64, accounts: u32) -> Stream {
    let mut commands = setup_commands(accounts);
    let setup_len = commands.len();
    commands.extend(pair_commands(pairs, accounts));
    let (_, mut batches) = run_engine(&commands, TS0);
    let trading = batches.split_off(setup_len);
    let mut trades_before = Vec::with_capacity(trading.len() + 1);
    let mut sum = 0;
    trades_before.push(0);
    for b in &trading {
        sum += count_trades(b);
        trades_before.push(sum);
    }
    Stream { setup: batches, trading: Arc::new(trading), trades_before }
}

fn print_shape(stream: &Stream) {
    let all = || stream.setup.iter().chain(stream.trading.iter());
    let events: usize = all().map(|b| b.events.len()).sum();
    // Events by variant name (the Debug text up to the first delimiter).
    let mut kinds = std::collections::BTreeMap::<String, u64>::new();
    let mut text = String::new();
    for e in all().flat_map(|b| &b.events) {
        text.clear();
        let _ = write!(text, "{e:?}");
        let kind = text.split(['(', ' ', '{']).next().unwrap_or_default();
        match kinds.get_mut(kind) {
            Some(n) => *n += 1,
            None => {
                kinds.insert(kind.to_string(), 1);
            }
        }
    }
    let rejects = kinds.get("Rejected").copied().unwrap_or(0);
    let trades = stream.trades_before.last().copied().unwrap_or(0);
    let mis = stream
        .trading
        .iter()
        .flat_map(|b| &b.events)
        .filter(|e| matches!(e, Event::Trade(t) if t.buy_product == Product::Mis))
        .count();
    println!(
        "stream: {} batches ({} setup, {} trading), {} events, {} trades ({} MIS), {} rejects, {:.2} events and {:.3} trades per trading batch",
        stream.setup.len() + stream.trading.len(),
        stream.setup.len(),
        stream.trading.len(),
        events,
        trades,
        mis,
        rejects,
        stream.trading.iter().map(|b| b.events.len()).sum::<usize>() as f64 / stream.trading.len().max(1) as f64,
        trades as f64 / stream.trading.len().max(1) as f64,
    );
    let mix: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!("  events: {}", mix.join(", "));
}

// ---------------------------------------------------------------------------------------------
// The services, built as `services_host` builds them.

/// Drops every command: the workload asks for none.
#[derive(Debug, Default)]
struct DropSink;

impl CommandSink for DropSink {
    fn submit(&mut self, _command: &Command) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Runs `f` with a freshly built service of that name; `prepare` runs once on its database after
/// migration (notifications: every account's preferences).
fn with_service<R>(name: &str, accounts: u32, f: &mut dyn FnMut(&mut dyn ServiceBench) -> Result<R>) -> Result<R> {
    match name {
        "funds" => f(&mut Bench::new(|| Ok(services_funds::FundsService::new(Box::new(DropSink))), |_| Ok(()))),
        "portfolio" => f(&mut Bench::new(|| Ok(services_portfolio::PortfolioService::new()), |_| Ok(()))),
        "users" => f(&mut Bench::new(|| Ok(services_users::UsersService::new(Some(Box::new(DropSink)))), |_| Ok(()))),
        "marketdata" => f(&mut Bench::new(|| Ok(services_marketdata::MarketDataService::new()), |_| Ok(()))),
        "notifications" => {
            // No SMTP relay, no SMS provider: messages wait in the outbox.
            let make = || {
                let config = services_notifications::NotifyConfig::default();
                let clock = Arc::new(services_notifications::SystemClock);
                services_notifications::NotificationService::new(config, clock)
                    .map_err(|e| anyhow::anyhow!("notifications: {e}"))
            };
            f(&mut Bench::new(make, move |conn| {
                for account in 1..=accounts {
                    let prefs = services_notifications::Prefs::email(account, &format!("trader{account}@example.com"));
                    services_notifications::set_prefs(conn, &prefs)?;
                }
                Ok(())
            }))
        }
        other => bail!("unknown service {other}"),
    }
}

type Prepare = Box<dyn Fn(&rusqlite::Connection) -> rusqlite::Result<()>>;

/// One service, not yet built: `make` builds a fresh one for each run, `prepare` seeds its database.
struct Bench<S: Service> {
    make: Box<dyn Fn() -> Result<S>>,
    prepare: Prepare,
}

impl<S: Service> Bench<S> {
    fn new(
        make: impl Fn() -> Result<S> + 'static,
        prepare: impl Fn(&rusqlite::Connection) -> rusqlite::Result<()> + 'static,
    ) -> Bench<S> {
        Bench { make: Box::new(make), prepare: Box::new(prepare) }
    }
}

/// The two runs, with the service's concrete type erased.
trait ServiceBench {
    fn closed_loop(&mut self, db: &Path, stream: &Stream, trades: u64, cap_s: f64) -> Result<Closed>;
    fn open_loop(&mut self, db: &Path, stream: &Stream, rate: u64, seconds: f64) -> Result<Open>;
}

impl<S: Service> ServiceBench for Bench<S> {
    fn closed_loop(&mut self, db: &Path, stream: &Stream, trades: u64, cap_s: f64) -> Result<Closed> {
        let mut runner = open_with_setup(db, (self.make)()?, &self.prepare, &stream.setup)?;
        let end = stream.trades_before.partition_point(|&t| t < trades).min(stream.trading.len());
        let mut feed = MemoryFeed::new(stream.trading[..end].to_vec());
        let first = runner.last_seq();
        let start = Instant::now();
        let (mut steps, mut applied) = (0u64, 0u64);
        while start.elapsed().as_secs_f64() < cap_s {
            let n = runner.step(&mut feed, Duration::ZERO)?.applied as u64;
            if n == 0 {
                break;
            }
            steps += 1;
            applied += n;
        }
        let elapsed_s = start.elapsed().as_secs_f64();
        let done = (runner.last_seq() - first) as usize;
        Ok(Closed { batches: applied, trades: stream.trades_before[done], steps, elapsed_s, complete: done == end })
    }

    fn open_loop(&mut self, db: &Path, stream: &Stream, rate: u64, seconds: f64) -> Result<Open> {
        let mut runner = open_with_setup(db, (self.make)()?, &self.prepare, &stream.setup)?;
        let first_seq = runner.last_seq() + 1;
        let offered_s = WARMUP_S + seconds;
        let trades_total = (rate as f64 * offered_s) as u64;
        let end = stream.trades_before.partition_point(|&t| t < trades_total).min(stream.trading.len());
        let mut feed = ScheduledFeed::new(Arc::clone(&stream.trading), end, rate, &stream.trades_before);
        let warmup_ns = (WARMUP_S * 1e9) as u64;
        let deadline_ns = ((offered_s * 1.5 + 2.0) * 1e9) as u64;
        let mut lag_us = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
        feed.start = Instant::now();
        let mut committed = 0usize;
        loop {
            let now_ns = feed.start.elapsed().as_nanos() as u64;
            if committed == end || now_ns >= deadline_ns {
                break;
            }
            runner.step(&mut feed, Duration::from_millis(1))?;
            let done_ns = feed.start.elapsed().as_nanos() as u64;
            let now_committed = (runner.last_seq() + 1 - first_seq) as usize;
            for i in committed..now_committed {
                let intended = feed.intended_ns(i);
                if intended >= warmup_ns {
                    lag_us.saturating_record(done_ns.saturating_sub(intended) / 1_000);
                }
            }
            committed = now_committed;
        }
        let stop_ns = feed.start.elapsed().as_nanos() as u64;
        let due = (0..end).take_while(|&i| feed.intended_ns(i) <= stop_ns).count();
        let behind = (committed < end).then(|| Behind {
            batches: due - committed,
            trades: stream.trades_before[due] - stream.trades_before[committed],
            // The oldest batch not committed has waited this long.
            oldest_ms: (stop_ns.saturating_sub(feed.intended_ns(committed))) as f64 / 1e6,
        });
        Ok(Open {
            offered_trades: stream.trades_before[end],
            committed_trades: stream.trades_before[committed],
            elapsed_s: stop_ns as f64 / 1e9,
            lag_us,
            behind,
        })
    }
}

/// Opens a runner on a fresh database and applies the setup batches (untimed).
fn open_with_setup<S: Service>(
    db: &Path,
    service: S,
    prepare: &Prepare,
    setup: &[EventBatch],
) -> Result<ServiceRunner<S>> {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let mut runner = ServiceRunner::open(db, service)?;
    prepare(runner.conn())?;
    let mut feed = MemoryFeed::new(setup.to_vec());
    runner.resume(&mut feed)?;
    while runner.step(&mut feed, Duration::ZERO)?.applied > 0 {}
    if runner.last_seq() != setup.len() as u64 {
        bail!("setup: the service stopped at seq {} of {}", runner.last_seq(), setup.len());
    }
    Ok(runner)
}

// ---------------------------------------------------------------------------------------------
// The open-loop feed.

/// Hands out `batches[..end]` in order, each only once its intended time has come: trades are
/// offered evenly at `rate` a second, and batch `i` is due when the trades before it are.
struct ScheduledFeed {
    batches: Arc<Vec<EventBatch>>,
    end: usize,
    next: usize,
    start: Instant,
    /// Intended time of each batch, ns after `start`.
    intended: Vec<u64>,
}

impl ScheduledFeed {
    fn new(batches: Arc<Vec<EventBatch>>, end: usize, rate: u64, trades_before: &[u64]) -> ScheduledFeed {
        // Trade `t` (from 0) is due at `t / rate`; a batch without a trade (a resting order) is
        // due with the trade after it.
        let intended =
            trades_before[..end].iter().map(|&t| (t as u128 * 1_000_000_000 / rate as u128) as u64).collect();
        ScheduledFeed { batches, end, next: 0, start: Instant::now(), intended }
    }

    fn intended_ns(&self, i: usize) -> u64 {
        self.intended[i]
    }
}

impl EventFeed for ScheduledFeed {
    fn poll(&mut self, out: &mut Vec<EventBatch>, max: usize, timeout: Duration) -> Result<usize, FeedError> {
        if self.next == self.end {
            std::thread::sleep(timeout);
            return Ok(0);
        }
        let now_ns = self.start.elapsed().as_nanos() as u64;
        let due_ns = self.intended[self.next];
        if due_ns > now_ns {
            // Sleep rather than spin: on 2 cores the sleep's slack makes small bursts; each
            // batch's lag still counts from its intended time.
            std::thread::sleep(Duration::from_nanos(due_ns - now_ns).min(timeout));
        }
        let now_ns = self.start.elapsed().as_nanos() as u64;
        let mut n = 0;
        while n < max && self.next < self.end && self.intended[self.next] <= now_ns {
            out.push(self.batches[self.next].clone());
            self.next += 1;
            n += 1;
        }
        Ok(n)
    }

    fn replay_from(&mut self, from: u64) -> Result<(), FeedError> {
        let first = self.batches.first().map_or(1, |b| b.seq);
        if from < first {
            return Err(FeedError::ReplayUnavailable(from, "before the trading batches".into()));
        }
        self.next = ((from - first) as usize).min(self.end);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Results.

struct Closed {
    batches: u64,
    trades: u64,
    steps: u64,
    elapsed_s: f64,
    complete: bool,
}

struct Behind {
    batches: usize,
    trades: u64,
    oldest_ms: f64,
}

struct Open {
    offered_trades: u64,
    committed_trades: u64,
    elapsed_s: f64,
    lag_us: Histogram<u64>,
    behind: Option<Behind>,
}

impl Open {
    fn ms(&self, q: f64) -> f64 {
        self.lag_us.value_at_quantile(q) as f64 / 1_000.0
    }
}

struct Row {
    name: String,
    trades_per_s: f64,
    lag_p99_ms: Option<f64>,
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let tmp = tempfile::tempdir()?;
    let db_dir = args.db_dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&db_dir)?;
    println!("bench-services: {}; {}", perf::report::machine(), perf::report::utc_now());
    println!(
        "  SQLite files in {} (WAL, synchronous=FULL); rate {} trades/s for {} s after {WARMUP_S} s of warm-up; \
         closed loop {} trades (capped at {} s)",
        db_dir.display(),
        args.rate,
        args.seconds,
        args.closed_trades,
        args.seconds
    );
    println!(
        "  notifications: no SMTP relay and no SMS provider configured (outbox delivery disabled); \
         {} accounts with e-mail on for every kind, so every message is queued and waits pending",
        args.accounts
    );
    println!("  funds and users: a command sink that drops commands (the workload makes no requests)");

    let open_trades = (args.rate as f64 * (WARMUP_S + args.seconds)) as u64;
    let pairs = open_trades.max(args.closed_trades) + 1;
    let t = Instant::now();
    let stream = build_stream(pairs, args.accounts);
    println!("engine: {} commands applied in {:.2} s (untimed, before the runs)", pairs * 2, t.elapsed().as_secs_f64());
    print_shape(&stream);

    let mut rows = Vec::new();
    for name in SERVICES.iter().filter(|s| args.only.iter().any(|o| o == *s)) {
        let db = db_dir.join(format!("bench-services-{name}.db"));
        let row = with_service(name, args.accounts, &mut |bench| {
            let closed = bench.closed_loop(&db, &stream, args.closed_trades, args.seconds)?;
            let trades_per_s = closed.trades as f64 / closed.elapsed_s.max(1e-9);
            println!(
                "{name:>13} closed loop: {:>9.0} batches/s, {:>9.0} trades/s, {:>7.1} us/batch, {:>7.1} us/trade \
                 ({} batches, {} trades in {:.2} s, {:.0} batches/commit{})",
                closed.batches as f64 / closed.elapsed_s.max(1e-9),
                trades_per_s,
                closed.elapsed_s * 1e6 / closed.batches.max(1) as f64,
                closed.elapsed_s * 1e6 / closed.trades.max(1) as f64,
                closed.batches,
                closed.trades,
                closed.elapsed_s,
                closed.batches as f64 / closed.steps.max(1) as f64,
                if closed.complete { "" } else { "; stopped at the time cap" },
            );
            let open = bench.open_loop(&db, &stream, args.rate, args.seconds)?;
            let achieved = open.committed_trades as f64 / open.elapsed_s.max(1e-9);
            print!(
                "{name:>13} open loop at {} trades/s: lag p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
                 {} of {} trades committed in {:.2} s ({achieved:.0}/s)",
                args.rate,
                open.ms(0.50),
                open.ms(0.99),
                open.lag_us.max() as f64 / 1_000.0,
                open.committed_trades,
                open.offered_trades,
                open.elapsed_s,
            );
            let lag_p99_ms = match &open.behind {
                None => {
                    println!();
                    Some(open.ms(0.99))
                }
                Some(b) => {
                    println!(
                        "\n{:>13} did not keep up: stopped at the bound with {} batches ({} trades) due and not committed, \
                         the oldest {:.0} ms late (the lag figures above count committed batches only)",
                        "", b.batches, b.trades, b.oldest_ms
                    );
                    None
                }
            };
            Ok(Row { name: name.to_string(), trades_per_s, lag_p99_ms })
        })?;
        rows.push(row);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
    }

    println!("target: lag p99 <= {LAG_P99_TARGET_MS} ms at {TARGET_RATE} trades/s on 2 cores (here {} trades/s on {cores} cores)", args.rate);
    for r in &rows {
        let verdict = match r.lag_p99_ms {
            _ if args.rate < TARGET_RATE => "n/a ",
            Some(p) if p <= LAG_P99_TARGET_MS => "PASS",
            _ => "MISS",
        };
        let lag = r.lag_p99_ms.map_or("not sustained".to_string(), |p| format!("{p:.2} ms"));
        println!(
            "{} {:>13}: lag p99 {lag}, closed loop {:.0} trades/s{}",
            verdict,
            r.name,
            r.trades_per_s,
            if args.rate < TARGET_RATE { " (rate below the target's: not a verdict)" } else { "" }
        );
    }
    let trades: Vec<String> = rows.iter().map(|r| format!("\"{}\":{:.0}", r.name, r.trades_per_s)).collect();
    let lags: Vec<String> = rows
        .iter()
        .map(|r| format!("\"{}\":{}", r.name, r.lag_p99_ms.map_or("null".to_string(), |p| format!("{p:.2}"))))
        .collect();
    println!(
        "{{\"bench\":\"services\",\"trades_per_s\":{{{}}},\"lag_p99_ms_at_rate\":{{{}}},\"rate\":{}}}",
        trades.join(","),
        lags.join(","),
        args.rate
    );
    Ok(())
}
