//! How fast the funds service posts a trading day: `cargo run --release -p services-funds --example ledger_rate [orders]`.
//! Prints batches applied per second and µs per batch (a real SQLite file, WAL, `synchronous=FULL`).

use std::time::{Duration, Instant};

use services_core::testkit::{run_engine, trading_day, TS0};
use services_core::MemoryFeed;
use services_core::ServiceRunner;
use services_funds::FundsService;

fn main() {
    let orders: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let (_engine, batches) = run_engine(&trading_day(8, orders, 42), TS0);
    let events: usize = batches.iter().map(|b| b.events.len()).sum();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut runner = ServiceRunner::open(&dir.path().join("funds.db"), FundsService::ledger_only()).expect("open");
    let n = batches.len() as u64;
    let mut feed = MemoryFeed::new(batches);
    let started = Instant::now();
    while runner.last_seq() < n {
        runner.step(&mut feed, Duration::from_millis(1)).expect("step");
    }
    let took = started.elapsed();
    println!(
        "funds ledger: {n} batches ({events} events, {orders} orders) in {:.3} s: {:.0} batches/s, {:.2} µs/batch",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / n as f64
    );
}
