//! bench-jitter: how long this machine takes a running thread away from it.
//! `scripts/bench jitter [--seconds S]`.
//!
//! One thread per core reads the monotonic clock in a tight loop for `--seconds` and counts the
//! gaps between two reads (the thread was interrupted, preempted, or its virtual CPU was not
//! running). No latency target below the size and frequency of these gaps can be met on the
//! machine, whatever the software does: a 1M commands/s pipeline whose threads lose 1% of their
//! time in gaps longer than 10 us cannot keep its p99 under 10 us. The last line is one JSON
//! object.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

const USAGE: &str = "usage: bench-jitter [--seconds S]\n  --seconds S  length of the run (default 5)";
/// Gap thresholds, nanoseconds.
const THRESHOLDS: [u64; 5] = [10_000, 100_000, 1_000_000, 5_000_000, 20_000_000];

#[derive(Debug, Default, Clone)]
struct Gaps {
    over: [u64; THRESHOLDS.len()],
    /// Time spent in gaps longer than the first threshold.
    lost_ns: u64,
    worst_ns: u64,
}

fn watch(for_how_long: Duration) -> Gaps {
    let mut gaps = Gaps::default();
    let start = Instant::now();
    let mut last = start;
    loop {
        let now = Instant::now();
        let gap = (now - last).as_nanos() as u64;
        if gap > THRESHOLDS[0] {
            gaps.lost_ns += gap;
            for (count, &t) in gaps.over.iter_mut().zip(&THRESHOLDS) {
                *count += u64::from(gap > t);
            }
        }
        gaps.worst_ns = gaps.worst_ns.max(gap);
        last = now;
        if now - start >= for_how_long {
            return gaps;
        }
    }
}

fn main() -> Result<()> {
    let mut seconds = 5.0f64;
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        match flag.as_str() {
            "--seconds" => seconds = argv.next().context("--seconds needs a value")?.parse().context("--seconds")?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    if !(seconds > 0.0 && seconds <= 600.0) {
        bail!("--seconds must be in (0, 600]");
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("jitter: {cores} threads (one per core) reading the clock for {seconds} s; load average {}", load.trim());
    let run = Duration::from_secs_f64(seconds);
    let threads: Vec<_> = (0..cores).map(|_| std::thread::spawn(move || watch(run))).collect();
    let mut all = Vec::new();
    for (i, t) in threads.into_iter().enumerate() {
        let g = t.join().map_err(|_| anyhow::anyhow!("a watcher thread panicked"))?;
        println!(
            "  thread {i}: gaps >10us {} >100us {} >1ms {} >5ms {} >20ms {}; {:.2}% of the time in gaps >10us; worst {:.3} ms",
            g.over[0],
            g.over[1],
            g.over[2],
            g.over[3],
            g.over[4],
            g.lost_ns as f64 / (seconds * 1e9) * 100.0,
            g.worst_ns as f64 / 1e6
        );
        all.push(g);
    }
    let lost_pct = all.iter().map(|g| g.lost_ns as f64).fold(0.0, f64::max) / (seconds * 1e9) * 100.0;
    let worst_ms = all.iter().map(|g| g.worst_ns).max().unwrap_or(0) as f64 / 1e6;
    let per_s = |i: usize| all.iter().map(|g| g.over[i]).max().unwrap_or(0) as f64 / seconds;
    println!(
        "{{\"bench\":\"jitter\",\"cores\":{cores},\"gaps_over_10us_per_s\":{:.0},\"gaps_over_1ms_per_s\":{:.1},\"lost_pct_max\":{lost_pct:.2},\"worst_ms\":{worst_ms:.3}}}",
        per_s(0),
        per_s(2)
    );
    Ok(())
}
