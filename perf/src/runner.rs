//! Runs one engine over the workload: a warm-up, then pass A (throughput: the whole op vector, no
//! per-op timing; repeated, the median counts) and pass B (latency: `Instant` around every op into
//! an HdrHistogram, ns). Each pass starts from a fresh engine with the prefill applied; setup,
//! prefill and teardown are never timed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::adapters::{Adapter, Tally};
use crate::workload::{Workload, KIND_NAMES};

/// Latencies above this (ns) are clamped into the top bucket.
const LATENCY_NS_MAX: u64 = 60_000_000_000;

#[derive(Debug)]
pub struct EngineResult {
    pub name: &'static str,
    pub notes: &'static str,
    /// Pass A, the median run.
    pub elapsed: Duration,
    pub ops_per_s: f64,
    /// Pass A, every run in order.
    pub ops_per_s_runs: Vec<f64>,
    /// Pass B, every op.
    pub latency: Histogram<u64>,
    /// Pass B by op kind, indexed like `KIND_NAMES`.
    pub latency_by_kind: Vec<Histogram<u64>>,
    /// Measured ops only (prefill excluded), from pass A.
    pub tally: Tally,
    pub detail: Vec<String>,
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_NS_MAX, 3).expect("valid histogram bounds")
}

fn fresh<A: Adapter>(workload: &Workload) -> A {
    let mut engine = A::new(workload);
    for op in &workload.prefill {
        engine.apply(op);
    }
    engine
}

pub fn run<A: Adapter>(workload: &Workload, warmup_ops: usize, throughput_runs: usize) -> EngineResult {
    let ops = &workload.ops;

    // Warm-up: code, caches, allocator, CPU frequency. Its engine is dropped.
    {
        let mut engine = fresh::<A>(workload);
        for op in &ops[..warmup_ops.min(ops.len())] {
            engine.apply(black_box(op));
        }
    }

    // Pass A: throughput, `throughput_runs` times.
    let mut runs = Vec::with_capacity(throughput_runs);
    let (mut tally, mut detail) = (Tally::default(), Vec::new());
    for _ in 0..throughput_runs.max(1) {
        let mut engine = fresh::<A>(workload);
        let before = engine.tally();
        let start = Instant::now();
        for op in ops {
            engine.apply(black_box(op));
        }
        runs.push(start.elapsed());
        tally = engine.tally().since(before);
        detail = engine.detail();
    }
    let ops_per_s_runs: Vec<f64> = runs.iter().map(|elapsed| ops.len() as f64 / elapsed.as_secs_f64()).collect();
    runs.sort();
    let elapsed = runs[runs.len() / 2];

    // Pass B: latency per op.
    let mut latency = histogram();
    let mut latency_by_kind: Vec<Histogram<u64>> = KIND_NAMES.iter().map(|_| histogram()).collect();
    let mut engine = fresh::<A>(workload);
    for op in ops {
        let start = Instant::now();
        engine.apply(black_box(op));
        let ns = start.elapsed().as_nanos() as u64;
        latency.saturating_record(ns);
        latency_by_kind[op.kind()].saturating_record(ns);
    }
    drop(engine);

    EngineResult {
        name: A::NAME,
        notes: A::NOTES,
        elapsed,
        ops_per_s: ops.len() as f64 / elapsed.as_secs_f64(),
        ops_per_s_runs,
        latency,
        latency_by_kind,
        tally,
        detail,
    }
}

/// What timing an empty op costs (`Instant::now` + `elapsed`), included in every pass B sample.
pub fn timer_overhead() -> Histogram<u64> {
    let mut overhead = histogram();
    for _ in 0..200_000 {
        let start = Instant::now();
        let ns = black_box(start).elapsed().as_nanos() as u64;
        overhead.saturating_record(ns);
    }
    overhead
}
