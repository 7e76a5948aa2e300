//! Formatting: machine header, workload mix, the side-by-side table, warnings, the JSON line.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

use crate::runner::EngineResult;
use crate::workload::{Workload, KIND_NAMES};

/// Rejects above this share of messages get a loud warning.
const REJECTS_WARN_FRACTION: f64 = 0.001;
/// A traded share further than this from the generator's own count gets a warning.
const TRADED_WARN_POINTS: f64 = 0.5;

pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().into())
        })
        .unwrap_or_else(|| String::from("unknown CPU"));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or(String::new(), |k| k.trim().into());
    format!("{cpu}, {cores} cores available, Linux {kernel}")
}

/// UTC date and time, from the wall clock (the benchmark binary may read it; the engine never does).
pub fn utc_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as i64;
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rem / 3_600, rem % 3_600 / 60, rem % 60)
}

fn pct(part: u64, whole: u64) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

pub fn workload_summary(w: &Workload) -> String {
    let s = &w.stats;
    let n = w.ops.len() as u64;
    let mut out = String::new();
    let _ = writeln!(out, "workload: {} measured messages after a prefill of {} resting orders", n, w.prefill.len());
    let mix: Vec<String> =
        KIND_NAMES.iter().zip(s.kinds).map(|(name, count)| format!("{name} {count} ({:.2}%)", pct(count, n))).collect();
    let _ = writeln!(out, "  mix: {}", mix.join(", "));
    let _ = writeln!(out, "  trading messages in the generator's book: {} ({:.2}%)", s.trading, pct(s.trading, n));
    let _ = writeln!(
        out,
        "  book: {} orders over {} levels after prefill; mean {:.0} orders over {:.0} levels; {} over {} at the end",
        s.book_orders_after_prefill,
        s.book_levels_after_prefill,
        s.book_orders_mean,
        s.book_levels_mean,
        s.book_orders_end,
        s.book_levels_end
    );
    let _ = writeln!(
        out,
        "  prices {}..{} ticks (tick = 5 paise); {} accounts; {} logical orders",
        s.price_ticks_min,
        s.price_ticks_max,
        crate::workload::ACCOUNTS,
        w.orders_total
    );
    out
}

fn count(value: f64) -> String {
    match value {
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

fn q(h: &Histogram<u64>, quantile: f64) -> u64 {
    h.value_at_quantile(quantile)
}

pub fn table(results: &[EngineResult], w: &Workload) -> String {
    let n = w.ops.len() as u64;
    let base = results.iter().find(|r| r.name == "ours (matching)").map_or(f64::NAN, |r| r.ops_per_s);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:>9} {:>7} {:>7} {:>7} {:>7} {:>8} {:>9} {:>8} {:>9} {:>8}",
        "engine", "ops/s", "p50", "p90", "p99", "p99.9", "p99.99", "max", "vs ours", "rejects", "traded"
    );
    for r in results {
        let h = &r.latency;
        let rejects = r.tally.rejects.map_or(String::from("n/a"), |x| x.to_string());
        let traded = r.tally.ops_traded.map_or(String::from("n/a"), |x| format!("{:.2}%", pct(x, n)));
        let _ = writeln!(
            out,
            "{:<16} {:>9} {:>7} {:>7} {:>7} {:>7} {:>8} {:>9} {:>7.2}x {:>9} {:>8}",
            r.name,
            count(r.ops_per_s),
            q(h, 0.5),
            q(h, 0.9),
            q(h, 0.99),
            q(h, 0.999),
            q(h, 0.9999),
            h.max(),
            r.ops_per_s / base,
            rejects,
            traded
        );
    }
    let _ = writeln!(
        out,
        "latency in ns per message (pass B); ops/s: median of the pass A runs; 'vs ours' = ops/s / ours (matching)"
    );
    out
}

/// The share of messages that traded in our matching-only run (from its `Trade` events).
pub fn traded_line(results: &[EngineResult], w: &Workload) -> String {
    let n = w.ops.len() as u64;
    let ours = results.iter().find(|r| r.name == "ours (matching)").and_then(|r| r.tally.ops_traded);
    match ours {
        Some(traded) => format!(
            "messages that traded in ours (matching), from Trade events: {traded} ({:.2}%); generator's book: {} ({:.2}%)\n",
            pct(traded, n),
            w.stats.trading,
            pct(w.stats.trading, n)
        ),
        None => String::new(),
    }
}

pub fn table_by_kind(results: &[EngineResult]) -> String {
    let mut out = String::new();
    let _ = write!(out, "{:<16}", "p50/p99/p99.9 ns");
    for name in KIND_NAMES {
        let _ = write!(out, " {name:>20}");
    }
    let _ = writeln!(out);
    for r in results {
        let _ = write!(out, "{:<16}", r.name);
        for h in &r.latency_by_kind {
            let cell = format!("{}/{}/{}", q(h, 0.5), q(h, 0.99), q(h, 0.999));
            let _ = write!(out, " {cell:>20}");
        }
        let _ = writeln!(out);
    }
    out
}

pub fn notes(results: &[EngineResult]) -> String {
    let mut out = String::from("notes:\n");
    for r in results {
        let _ = writeln!(out, "  {:<16} {}", r.name, r.notes);
    }
    out.push_str("pass A runs (ops/s):\n");
    for r in results {
        let runs: Vec<String> = r.ops_per_s_runs.iter().map(|&x| count(x)).collect();
        let _ = writeln!(out, "  {:<16} {}", r.name, runs.join(" "));
    }
    out
}

/// Loud warnings: rejects above 0.1%, or a traded share that disagrees with the generator's book.
pub fn warnings(results: &[EngineResult], w: &Workload) -> Vec<String> {
    let n = w.ops.len() as u64;
    let expected = pct(w.stats.trading, n);
    let mut out = Vec::new();
    for r in results {
        if let Some(rejects) = r.tally.rejects {
            if rejects as f64 > REJECTS_WARN_FRACTION * n as f64 {
                out.push(format!(
                    "!!! WARNING: {} rejected {} of {} messages ({:.2}%): the run is misconfigured, its numbers are not comparable !!!",
                    r.name,
                    rejects,
                    n,
                    pct(rejects, n)
                ));
            }
        }
        if let Some(traded) = r.tally.ops_traded {
            if (pct(traded, n) - expected).abs() > TRADED_WARN_POINTS {
                out.push(format!(
                    "!!! WARNING: {} traded on {:.2}% of messages, the generator's book on {:.2}%: the books disagree !!!",
                    r.name,
                    pct(traded, n),
                    expected
                ));
            }
        }
    }
    out
}

/// The last line of output: one JSON object.
pub fn json(results: &[EngineResult]) -> String {
    let find = |name: &str| results.iter().find(|r| r.name == name);
    let ops = |name: &str| find(name).map_or(String::from("null"), |r| format!("{:.0}", r.ops_per_s));
    let p99_full = find("ours (full)").map_or(String::from("null"), |r| r.latency.value_at_quantile(0.99).to_string());
    format!(
        "{{\"bench\":\"core\",\"ops_per_s_matching\":{},\"ops_per_s_full\":{},\"p99_ns_full\":{},\"peers\":{{\"obcore\":{},\"matchcore\":{},\"lobster\":{},\"orderbook-rs\":{}}}}}",
        ops("ours (matching)"),
        ops("ours (full)"),
        p99_full,
        ops("obcore"),
        ops("matchcore"),
        ops("lobster"),
        ops("orderbook-rs")
    )
}
