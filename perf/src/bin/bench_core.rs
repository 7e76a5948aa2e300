//! bench-core: the core matching benchmark. `scripts/bench core [--ops N] [--seed S] [--warmup N]`.
//!
//! Generates one seeded workload, runs it through every engine (ours twice: matching only and
//! full risk), prints the report and, as the very last line, one JSON object.

use std::time::Instant;

use anyhow::{bail, Context, Result};

use perf::adapters::lobster::Lobster;
use perf::adapters::matchcore::Matchcore;
use perf::adapters::obcore::Obcore;
use perf::adapters::orderbook_rs::OrderbookRs;
use perf::adapters::ours::{OursFull, OursMatching};
use perf::report;
use perf::runner::{self, EngineResult};
use perf::workload::Workload;

const USAGE: &str = "usage: bench-core [--ops N] [--seed S] [--warmup N] [--runs N]
  --ops N      measured messages (default 3000000; 200000 for a quick smoke run)
  --seed S     workload seed (default 42); the same seed gives the same messages
  --warmup N   messages run on a throw-away engine before each measurement (default 100000)
  --runs N     throughput passes per engine, the median counts (default 3)";

/// Warm-up, throughput passes and latency pass of one engine.
type Run = fn(&Workload, usize, usize) -> EngineResult;

#[derive(Debug)]
struct Args {
    ops: usize,
    seed: u64,
    warmup: usize,
    runs: usize,
}

fn parse_number(flag: &str, value: Option<String>) -> Result<u64> {
    let value = value.with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
    value.replace('_', "").parse().with_context(|| format!("{flag}: not a number: {value}"))
}

fn parse_args() -> Result<Args> {
    let mut args = Args { ops: 3_000_000, seed: 42, warmup: 100_000, runs: 3 };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        match flag.as_str() {
            "--ops" => args.ops = parse_number("--ops", argv.next())? as usize,
            "--seed" => args.seed = parse_number("--seed", argv.next())?,
            "--warmup" => args.warmup = parse_number("--warmup", argv.next())? as usize,
            "--runs" => args.runs = parse_number("--runs", argv.next())? as usize,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    if args.ops == 0 || args.runs == 0 {
        bail!("--ops and --runs must be at least 1");
    }
    Ok(args)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    println!("bench core: one order book, exchange-core mix");
    println!("machine: {}", report::machine());
    println!("date: {}", report::utc_now());
    println!("SEED={} ops={} warmup={} runs={}", args.seed, args.ops, args.warmup, args.runs);
    if cfg!(debug_assertions) {
        println!("!!! WARNING: debug build; run through scripts/bench (release) for real numbers !!!");
    }

    let started = Instant::now();
    let workload = Workload::generate(args.seed, args.ops);
    println!("generated in {:.2?}", started.elapsed());
    print!("{}", report::workload_summary(&workload));
    let overhead = runner::timer_overhead();
    println!(
        "timer overhead per sample (included in latencies): p50 {} ns, p99 {} ns",
        overhead.value_at_quantile(0.5),
        overhead.value_at_quantile(0.99)
    );
    println!();

    // Ours (matching only) first: every ratio in the table is against it.
    let runs: [Run; 6] = [
        runner::run::<OursMatching>,
        runner::run::<OursFull>,
        runner::run::<Obcore>,
        runner::run::<Matchcore>,
        runner::run::<Lobster>,
        runner::run::<OrderbookRs>,
    ];
    let mut results = Vec::with_capacity(runs.len());
    for run in runs {
        let started = Instant::now();
        let result = run(&workload, args.warmup, args.runs);
        eprintln!("{}: done in {:.1?}", result.name, started.elapsed());
        results.push(result);
    }

    print!("{}", report::table(&results, &workload));
    print!("{}", report::traded_line(&results, &workload));
    println!();
    print!("{}", report::table_by_kind(&results));
    println!();
    print!("{}", report::notes(&results));
    for line in results.iter().flat_map(|r| r.detail.iter()) {
        println!("{line}");
    }
    for warning in report::warnings(&results, &workload) {
        println!("{warning}");
    }
    println!("{}", report::json(&results));
    Ok(())
}
