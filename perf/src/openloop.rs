//! Open-loop pacing shared by the pipeline benchmark: a fixed offered rate, each message's
//! intended send time, and how to wait on a machine with few cores.
//!
//! Message `i` (from 0) is due at `start + i / rate`. Its latency is measured from that intended
//! time, not from when it was actually sent, so a sender held up by back-pressure still charges
//! the wait to the system under test (no coordinated omission).

use std::fmt::Write as _;

use hdrhistogram::Histogram;

const NS_PER_S: u128 = 1_000_000_000;

/// A fixed offered rate; `rate_per_s == 0` means unpaced (everything is due at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub rate_per_s: u64,
}

impl Schedule {
    pub const UNPACED: Schedule = Schedule { rate_per_s: 0 };

    pub fn per_s(rate_per_s: u64) -> Schedule {
        Schedule { rate_per_s }
    }

    pub fn is_paced(self) -> bool {
        self.rate_per_s > 0
    }

    /// Nanoseconds after the start at which message `i` is due (0 when unpaced).
    #[inline]
    pub fn intended_ns(self, i: u64) -> u64 {
        if self.rate_per_s == 0 {
            return 0;
        }
        (i as u128 * NS_PER_S / self.rate_per_s as u128) as u64
    }

    /// How many messages are due `elapsed_ns` after the start (every one when unpaced).
    #[inline]
    pub fn due(self, elapsed_ns: u64) -> u64 {
        if self.rate_per_s == 0 {
            return u64::MAX;
        }
        (elapsed_ns as u128 * self.rate_per_s as u128 / NS_PER_S) as u64 + 1
    }
}

/// What a thread does while it has nothing to do: spin when every thread has a core of its own,
/// otherwise give the core away with `sched_yield`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    Spin,
    Yield,
}

impl Idle {
    /// Spin only if `threads` busy threads plus one core for everything else fit on the machine.
    pub fn for_threads(threads: usize, cores: usize) -> Idle {
        if cores > threads {
            Idle::Spin
        } else {
            Idle::Yield
        }
    }

    #[inline]
    pub fn idle(self) {
        match self {
            Idle::Spin => std::hint::spin_loop(),
            Idle::Yield => std::thread::yield_now(),
        }
    }
}

/// Human form of a rate: 1.23M, 456.7k.
pub fn count(value: f64) -> String {
    match value {
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

/// Nanoseconds as ns, µs, ms or s with three significant digits or so.
pub fn duration_ns(ns: u64) -> String {
    match ns {
        n if n >= 1_000_000_000 => format!("{:.2}s", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.2}ms", n as f64 / 1e6),
        n if n >= 10_000 => format!("{:.1}us", n as f64 / 1e3),
        n => format!("{n}ns"),
    }
}

/// `p50 p99 p99.9 max` cells, each right-aligned to `width`.
pub fn percentiles(h: &Histogram<u64>, width: usize) -> String {
    let mut out = String::new();
    for q in [0.5, 0.99, 0.999] {
        let _ = write!(out, " {:>width$}", duration_ns(h.value_at_quantile(q)));
    }
    let _ = write!(out, " {:>width$}", duration_ns(h.max()));
    out
}

/// `PASS` or `MISS`: targets are reported, never asserted.
pub fn verdict(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "MISS"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intended_times_and_due_counts_agree() {
        let s = Schedule::per_s(1_000_000);
        assert_eq!(s.intended_ns(0), 0);
        assert_eq!(s.intended_ns(3), 3_000);
        // At t = 0 message 0 is due; at t = 2.5 µs messages 0, 1, 2.
        assert_eq!(s.due(0), 1);
        assert_eq!(s.due(2_500), 3);
        for i in 0..10_000 {
            assert!(s.due(s.intended_ns(i)) > i, "message {i} is due at its own intended time");
        }
        assert_eq!(Schedule::UNPACED.due(0), u64::MAX);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration_ns(950), "950ns");
        assert_eq!(duration_ns(12_345), "12.3us");
        assert_eq!(duration_ns(4_560_000), "4.56ms");
        assert_eq!(count(3_210_000.0), "3.21M");
    }
}
