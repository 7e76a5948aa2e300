//! Wait strategies for every stage: busy-spin for dedicated cores, yield and blocking for
//! small machines, tests and CI.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use disruptor::wait_strategies::WaitStrategy;
use disruptor::{BusySpinWithSpinLoopHint, Sequence};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaitKind {
    /// Spin with a pause hint: the lowest latency, one core per stage.
    BusySpin,
    /// `sched_yield` between polls: other threads run, latency stays low.
    Yield,
    /// Sleep on a condition variable until a stage signals progress (1 ms safety timeout).
    Blocking,
}

impl WaitKind {
    /// Busy-spin only when every stage can have a core of its own (plus one for the OS).
    pub fn for_cores(cores: usize, stages: usize) -> WaitKind {
        if cores > stages {
            WaitKind::BusySpin
        } else {
            WaitKind::Yield
        }
    }

    /// What a stage outside the ring (the receiver on a full ring) does while it waits.
    pub fn idle(self) {
        match self {
            WaitKind::BusySpin => std::hint::spin_loop(),
            WaitKind::Yield => std::thread::yield_now(),
            WaitKind::Blocking => Blocking.wait_for(0),
        }
    }
}

impl std::str::FromStr for WaitKind {
    type Err = String;
    fn from_str(s: &str) -> Result<WaitKind, String> {
        match s {
            "busy-spin" => Ok(WaitKind::BusySpin),
            "yield" => Ok(WaitKind::Yield),
            "blocking" => Ok(WaitKind::Blocking),
            other => Err(format!("unknown wait strategy {other:?}: expected busy-spin, yield or blocking")),
        }
    }
}

pub type BusySpin = BusySpinWithSpinLoopHint;

#[derive(Debug, Clone, Copy)]
pub struct Yield;

impl WaitStrategy for Yield {
    #[inline]
    fn wait_for(&self, _sequence: Sequence) {
        std::thread::yield_now();
    }
}

/// Parks the waiting stage until any stage calls [`wake_all`], or 1 ms passes (a missed signal
/// costs at most that).
#[derive(Debug, Clone, Copy)]
pub struct Blocking;

static SIGNAL: (Mutex<u64>, Condvar) = (Mutex::new(0), Condvar::new());

impl WaitStrategy for Blocking {
    fn wait_for(&self, _sequence: Sequence) {
        let guard = SIGNAL.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = SIGNAL.1.wait_timeout(guard, Duration::from_millis(1));
    }
}

/// Tells blocked stages that there is progress. Cheap when nobody waits.
#[inline]
pub fn wake_all() {
    SIGNAL.1.notify_all();
}
