//! (a) One hop between two threads: the `disruptor` ring against a crossbeam bounded channel and
//! `std::sync::mpsc::sync_channel`, with the same 64-byte message, one producer thread and one
//! consumer thread, the same capacity and the same idle strategy on both sides.
//!
//! - Throughput: `n` messages as fast as the hop takes them; the disruptor publishes a batch of
//!   up to [`BATCH_MAX`] slots per claim, the channels send one message at a time.
//! - Latency: open loop at a fixed rate (see [`crate::openloop`]): message `i` is due at
//!   `start + i / rate`; its latency is the consumer's receive time minus that intended time, so
//!   a producer held up by a full queue charges the wait to the hop.

use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use disruptor::{
    build_single_producer, BusySpin, EventPoller, MissingFreeSlots, Polling, Producer, SingleConsumerBarrier,
    SingleProducer, SingleProducerBarrier,
};
use hdrhistogram::Histogram;

use crate::openloop::{Idle, Schedule};
use crate::runner::histogram;

/// The payload: one cache line.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
pub struct Msg {
    pub seq: u64,
    /// Nanoseconds after the run's base instant at which the message was due.
    pub intended_ns: u64,
    pub body: [u64; 6],
}

const _: () = assert!(std::mem::size_of::<Msg>() == 64);

/// Most messages the producer hands over per claim (the disruptor's batch publication).
pub const BATCH_MAX: usize = 256;

/// What one `drain` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    Got(usize),
    Empty,
    Closed,
}

/// The producer's end: sends messages `first..first + n` (made by `make`) without blocking and
/// returns how many went in (a prefix; 0 when the queue is full).
pub trait HopTx: Send {
    fn try_send(&mut self, first: u64, n: usize, make: impl Fn(u64) -> Msg) -> usize;
}

/// The consumer's end: hands every message available now to `f`.
pub trait HopRx: Send {
    fn drain(&mut self, f: impl FnMut(&Msg)) -> Drained;
}

pub trait Hop {
    const NAME: &'static str;
    const NOTES: &'static str;
    type Tx: HopTx + 'static;
    type Rx: HopRx + 'static;
    fn pair(capacity: usize) -> (Self::Tx, Self::Rx);
}

/// Debug for the hop ends, whose inner types have none.
macro_rules! opaque_debug {
    ($($t:ident),*) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t)).finish_non_exhaustive()
            }
        }
    )*};
}

opaque_debug!(DisruptorTx, DisruptorRx, CrossbeamTx, CrossbeamRx, MpscTx, MpscRx);

/// `disruptor` 4.4: a single-producer ring read through an `EventPoller` on our own thread.
#[derive(Debug)]
pub struct DisruptorHop;

pub struct DisruptorTx(SingleProducer<Msg, SingleConsumerBarrier>);
pub struct DisruptorRx(EventPoller<Msg, SingleProducerBarrier>);

impl HopTx for DisruptorTx {
    #[inline]
    fn try_send(&mut self, first: u64, n: usize, make: impl Fn(u64) -> Msg) -> usize {
        let fill = |n: usize, producer: &mut SingleProducer<Msg, SingleConsumerBarrier>| {
            producer.try_batch_publish(n, |slots| {
                for (j, slot) in slots.enumerate() {
                    *slot = make(first + j as u64);
                }
            })
        };
        match fill(n, &mut self.0) {
            Ok(_) => n,
            // Publish what fits rather than wait for the whole batch.
            Err(MissingFreeSlots(missing)) if (missing as usize) < n => {
                let fits = n - missing as usize;
                fill(fits, &mut self.0).map_or(0, |_| fits)
            }
            Err(_) => 0,
        }
    }
}

impl HopRx for DisruptorRx {
    #[inline]
    fn drain(&mut self, mut f: impl FnMut(&Msg)) -> Drained {
        match self.0.poll() {
            Ok(mut batch) => {
                let mut n = 0;
                for msg in &mut batch {
                    f(msg);
                    n += 1;
                }
                Drained::Got(n)
            }
            Err(Polling::NoEvents) => Drained::Empty,
            Err(Polling::Shutdown) => Drained::Closed,
        }
    }
}

impl Hop for DisruptorHop {
    const NAME: &'static str = "disruptor";
    const NOTES: &'static str =
        "disruptor 4.4 single producer, EventPoller consumer; try_batch_publish of up to 256 slots";
    type Tx = DisruptorTx;
    type Rx = DisruptorRx;
    fn pair(capacity: usize) -> (DisruptorTx, DisruptorRx) {
        // The ring's own wait strategy is unused: neither side waits inside the crate.
        let (poller, builder) = build_single_producer(capacity, Msg::default, BusySpin).new_event_poller();
        (DisruptorTx(builder.build()), DisruptorRx(poller))
    }
}

/// Sends one message per call, as the channels below offer; returns how many of the `n` went
/// before the channel was full.
fn send_each(first: u64, n: usize, make: impl Fn(u64) -> Msg, mut send: impl FnMut(Msg) -> bool) -> usize {
    (0..n).find(|&j| !send(make(first + j as u64))).unwrap_or(n)
}

/// One `try_recv` outcome, whichever channel it came from.
enum Recv {
    Msg(Msg),
    Empty,
    Closed,
}

/// Receives until the channel is empty (or closed).
fn drain_each(mut recv: impl FnMut() -> Recv, mut f: impl FnMut(&Msg)) -> Drained {
    let mut n = 0;
    loop {
        match recv() {
            Recv::Msg(msg) => {
                f(&msg);
                n += 1;
            }
            Recv::Closed if n == 0 => return Drained::Closed,
            Recv::Empty | Recv::Closed => break,
        }
    }
    if n == 0 {
        Drained::Empty
    } else {
        Drained::Got(n)
    }
}

/// `crossbeam-channel` 0.5 `bounded`.
#[derive(Debug)]
pub struct CrossbeamHop;

pub struct CrossbeamTx(crossbeam_channel::Sender<Msg>);
pub struct CrossbeamRx(crossbeam_channel::Receiver<Msg>);

impl HopTx for CrossbeamTx {
    #[inline]
    fn try_send(&mut self, first: u64, n: usize, make: impl Fn(u64) -> Msg) -> usize {
        send_each(first, n, make, |m| self.0.try_send(m).is_ok())
    }
}

impl HopRx for CrossbeamRx {
    #[inline]
    fn drain(&mut self, f: impl FnMut(&Msg)) -> Drained {
        drain_each(
            || match self.0.try_recv() {
                Ok(msg) => Recv::Msg(msg),
                Err(crossbeam_channel::TryRecvError::Empty) => Recv::Empty,
                Err(crossbeam_channel::TryRecvError::Disconnected) => Recv::Closed,
            },
            f,
        )
    }
}

impl Hop for CrossbeamHop {
    const NAME: &'static str = "crossbeam";
    const NOTES: &'static str = "crossbeam-channel 0.5 bounded; try_send / try_recv, one message per call";
    type Tx = CrossbeamTx;
    type Rx = CrossbeamRx;
    fn pair(capacity: usize) -> (CrossbeamTx, CrossbeamRx) {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        (CrossbeamTx(tx), CrossbeamRx(rx))
    }
}

/// `std::sync::mpsc::sync_channel`.
#[derive(Debug)]
pub struct MpscHop;

pub struct MpscTx(mpsc::SyncSender<Msg>);
pub struct MpscRx(mpsc::Receiver<Msg>);

impl HopTx for MpscTx {
    #[inline]
    fn try_send(&mut self, first: u64, n: usize, make: impl Fn(u64) -> Msg) -> usize {
        send_each(first, n, make, |m| self.0.try_send(m).is_ok())
    }
}

impl HopRx for MpscRx {
    #[inline]
    fn drain(&mut self, f: impl FnMut(&Msg)) -> Drained {
        drain_each(
            || match self.0.try_recv() {
                Ok(msg) => Recv::Msg(msg),
                Err(mpsc::TryRecvError::Empty) => Recv::Empty,
                Err(mpsc::TryRecvError::Disconnected) => Recv::Closed,
            },
            f,
        )
    }
}

impl Hop for MpscHop {
    const NAME: &'static str = "mpsc";
    const NOTES: &'static str = "std::sync::mpsc::sync_channel; try_send / try_recv, one message per call";
    type Tx = MpscTx;
    type Rx = MpscRx;
    fn pair(capacity: usize) -> (MpscTx, MpscRx) {
        let (tx, rx) = mpsc::sync_channel(capacity);
        (MpscTx(tx), MpscRx(rx))
    }
}

#[derive(Debug, Clone, Copy)]
pub struct HopSettings {
    /// Messages per throughput run.
    pub throughput_msgs: u64,
    /// Throughput runs; the median counts.
    pub runs: usize,
    /// Offered rate of the latency run, messages per second.
    pub rate_per_s: u64,
    /// Length of the latency run.
    pub latency_msgs: u64,
    pub capacity: usize,
    pub idle: Idle,
}

#[derive(Debug)]
pub struct HopResult {
    pub name: &'static str,
    pub notes: &'static str,
    /// Median of the throughput runs.
    pub ops_per_s: f64,
    pub ops_per_s_runs: Vec<f64>,
    /// Open loop at `rate_per_s`: receive time minus intended send time.
    pub latency: Histogram<u64>,
    /// Messages of the latency run over the time from its start to the last receive.
    pub latency_run_per_s: f64,
}

pub fn run<H: Hop>(s: &HopSettings) -> HopResult {
    // Warm-up: a short throughput run, thrown away.
    throughput::<H>(s.throughput_msgs / 10, s.capacity, s.idle);
    let mut runs: Vec<f64> =
        (0..s.runs.max(1)).map(|_| throughput::<H>(s.throughput_msgs, s.capacity, s.idle)).collect();
    let ops_per_s_runs = runs.clone();
    runs.sort_by(f64::total_cmp);
    let (latency, latency_run_per_s) =
        open_loop::<H>(Schedule::per_s(s.rate_per_s), s.latency_msgs, s.capacity, s.idle);
    HopResult {
        name: H::NAME,
        notes: H::NOTES,
        ops_per_s: runs[runs.len() / 2],
        ops_per_s_runs,
        latency,
        latency_run_per_s,
    }
}

/// Messages per second through the hop, from the producer's first send to the consumer's last
/// receive.
fn throughput<H: Hop>(n: u64, capacity: usize, idle: Idle) -> f64 {
    let (mut tx, mut rx) = H::pair(capacity);
    let consumer = thread::Builder::new()
        .name("hop-consumer".into())
        .spawn(move || {
            let (mut got, mut sum) = (0u64, 0u64);
            while got < n {
                match rx.drain(|m| {
                    sum = sum.wrapping_add(m.seq);
                    got += 1;
                }) {
                    Drained::Got(_) => {}
                    Drained::Empty => idle.idle(),
                    Drained::Closed => break,
                }
            }
            (got, sum, Instant::now())
        })
        .expect("spawn the consumer");
    let start = Instant::now();
    let make = |i: u64| Msg { seq: i, intended_ns: 0, body: [i; 6] };
    let mut next = 0u64;
    while next < n {
        let k = (n - next).min(BATCH_MAX as u64) as usize;
        let sent = tx.try_send(next, k, make);
        next += sent as u64;
        if sent == 0 {
            idle.idle();
        }
    }
    drop(tx);
    let (got, sum, end) = consumer.join().expect("the consumer panicked");
    assert_eq!(got, n, "{}: every message arrives", H::NAME);
    assert_eq!(sum, n.wrapping_mul(n.wrapping_sub(1)) / 2, "{}: every message arrives once", H::NAME);
    n as f64 / (end - start).as_secs_f64()
}

/// Open loop: message `i` is sent once due (all due messages at once, up to a batch), and its
/// latency counts from when it was due.
fn open_loop<H: Hop>(schedule: Schedule, n: u64, capacity: usize, idle: Idle) -> (Histogram<u64>, f64) {
    let (mut tx, mut rx) = H::pair(capacity);
    let base = Instant::now();
    let consumer = thread::Builder::new()
        .name("hop-consumer".into())
        .spawn(move || {
            let mut latency = histogram();
            let mut got = 0u64;
            let mut last_ns = 0u64;
            while got < n {
                match rx.drain(|m| {
                    last_ns = base.elapsed().as_nanos() as u64;
                    latency.saturating_record(last_ns.saturating_sub(m.intended_ns));
                    got += 1;
                }) {
                    Drained::Got(_) => {}
                    Drained::Empty => idle.idle(),
                    Drained::Closed => break,
                }
            }
            (latency, last_ns)
        })
        .expect("spawn the consumer");
    let start_ns = base.elapsed().as_nanos() as u64;
    let make = |i: u64| Msg { seq: i, intended_ns: start_ns + schedule.intended_ns(i), body: [i; 6] };
    let mut next = 0u64;
    while next < n {
        let elapsed_ns = (base.elapsed().as_nanos() as u64).saturating_sub(start_ns);
        let due = schedule.due(elapsed_ns).min(n);
        if due <= next {
            idle.idle();
            continue;
        }
        let k = (due - next).min(BATCH_MAX as u64) as usize;
        let sent = tx.try_send(next, k, make);
        next += sent as u64;
        if sent == 0 {
            idle.idle();
        }
    }
    drop(tx);
    let (latency, last_ns) = consumer.join().expect("the consumer panicked");
    assert_eq!(latency.len(), n, "{}: every message arrives", H::NAME);
    (latency, n as f64 / (last_ns.saturating_sub(start_ns)).max(1) as f64 * 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> HopSettings {
        HopSettings {
            throughput_msgs: 20_000,
            runs: 1,
            rate_per_s: 200_000,
            latency_msgs: 2_000,
            capacity: 64,
            idle: Idle::Yield,
        }
    }

    #[test]
    fn every_hop_delivers_every_message() {
        for r in [run::<DisruptorHop>(&small()), run::<CrossbeamHop>(&small()), run::<MpscHop>(&small())] {
            assert!(r.ops_per_s > 0.0, "{}", r.name);
            assert_eq!(r.latency.len(), 2_000, "{}", r.name);
        }
    }
}
