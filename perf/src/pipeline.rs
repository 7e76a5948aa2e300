//! (b) The engine node end to end, in process: a paced source feeds the real receiver
//! (`engine_node::run_with`), and an output at the end of the publisher records, per command,
//! publish time minus intended send time.
//!
//! - [`Flow`] is the order flow: bench-core's workload (exchange-core mix, about 1,000 resting
//!   orders, see [`crate::workload`]) as engine commands, after the set-up of
//!   [`crate::adapters::ours`] with risk on.
//! - [`PacedSource`] hands the flow to the receiver. Paced, it answers `Next::Idle` until
//!   command `i` is due at `start + i / rate`, and records that intended time in
//!   [`IntendedTimes`] under the command's seq. Unpaced, a command's intended time is when the
//!   source handed it out, so a full ring still shows as latency.
//! - [`LatencyOutput`] reads the clock once per publisher batch (at `flush`, when the batch
//!   leaves the node) and records `now - intended` for every command of the batch.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use engine_core::{Command, Event};
use engine_node::output::EventOutput;
use engine_node::source::{CommandSource, Next};
use engine_node::{Config, Control, RunReport};
use hdrhistogram::Histogram;

use crate::adapters::ours::{command_for, setup_commands};
use crate::openloop::Schedule;
use crate::runner::histogram;
use crate::workload::{Op, Workload};
/// An unpaced source reads the clock once per this many commands (a power of two).
const UNPACED_CLOCK_EVERY: u64 = 16;
const _: () = assert!(UNPACED_CLOCK_EVERY.is_power_of_two());
/// A paced run counts as sustained when it published at least this share of the offered rate.
pub const SUSTAINED_FRACTION: f64 = 0.95;

/// Intended send times by seq, written by the source and read by the output. A ring of
/// atomics, several times the node's ring: a seq is read long before its entry is reused.
#[derive(Debug)]
pub struct IntendedTimes {
    ns: Box<[AtomicU64]>,
    mask: u64,
}

impl IntendedTimes {
    pub fn for_ring(ring_size: usize) -> IntendedTimes {
        let len = (ring_size * 8).next_power_of_two().max(1 << 16);
        IntendedTimes { ns: (0..len).map(|_| AtomicU64::new(0)).collect(), mask: len as u64 - 1 }
    }

    // Relaxed is enough: the ring orders the source's store (receiver thread, before the slot
    // is published) before the output's load (publisher thread, after it acquires the slot).
    #[inline]
    fn set(&self, seq: u64, ns: u64) {
        self.ns[(seq & self.mask) as usize].store(ns, Ordering::Relaxed);
    }

    #[inline]
    fn get(&self, seq: u64) -> u64 {
        self.ns[(seq & self.mask) as usize].load(Ordering::Relaxed)
    }
}

/// The order flow as engine commands: set-up (instrument, 1,000 funded accounts, session open),
/// the workload's prefill (1,000 resting orders), then its measured messages.
#[derive(Debug)]
pub struct Flow {
    setup: Vec<Command>,
    workload: Workload,
}

impl Flow {
    /// A flow of at least `commands` commands.
    pub fn generate(seed: u64, commands: u64) -> Flow {
        let setup = setup_commands(true);
        let head = setup.len() + crate::workload::BOOK_ORDERS_TARGET;
        let ops = (commands as usize).saturating_sub(head).max(1);
        Flow { setup, workload: Workload::generate(seed, ops) }
    }

    pub fn len(&self) -> u64 {
        (self.setup.len() + self.workload.prefill.len() + self.workload.ops.len()) as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn setup_len(&self) -> usize {
        self.setup.len()
    }

    pub fn workload(&self) -> &Workload {
        &self.workload
    }

    /// Command `i` of the flow. The engine numbers accepted orders 1, 2, 3, ... and the
    /// workload never has a place refused, so logical order `n` is engine order `n + 1`.
    #[inline]
    pub fn command(&self, i: u64) -> Command {
        let i = i as usize;
        if let Some(c) = self.setup.get(i) {
            return *c;
        }
        let j = i - self.setup.len();
        let prefill = &self.workload.prefill;
        let op = if j < prefill.len() { &prefill[j] } else { &self.workload.ops[j - prefill.len()] };
        let (Op::Place { order, .. } | Op::Cancel { order, .. } | Op::Move { order, .. }) = *op;
        command_for(op, order as u64 + 1)
    }
}

/// The first `commands` commands of a [`Flow`], released on an open-loop schedule.
#[derive(Debug)]
pub struct PacedSource {
    flow: Arc<Flow>,
    commands: u64,
    schedule: Schedule,
    base: Instant,
    times: Arc<IntendedTimes>,
    /// Commands handed out so far; command `i` gets seq `i + 1` (the node starts empty).
    produced: u64,
    start_ns: Option<u64>,
    /// The last clock reading, ns after `base`.
    now_ns: u64,
}

impl PacedSource {
    pub fn new(flow: Arc<Flow>, commands: u64, schedule: Schedule, base: Instant, times: Arc<IntendedTimes>) -> Self {
        assert!(commands <= flow.len(), "the flow has {} commands, {commands} asked for", flow.len());
        PacedSource { flow, commands, schedule, base, times, produced: 0, start_ns: None, now_ns: 0 }
    }

    #[inline]
    fn clock(&mut self) -> u64 {
        self.now_ns = self.base.elapsed().as_nanos() as u64;
        self.now_ns
    }
}

impl CommandSource for PacedSource {
    fn next(&mut self) -> Next {
        let i = self.produced;
        if i == self.commands {
            return Next::End;
        }
        let start_ns = match self.start_ns {
            Some(ns) => ns,
            None => {
                let now = self.clock();
                *self.start_ns.insert(now)
            }
        };
        let intended_ns = if self.schedule.is_paced() {
            let due_ns = start_ns + self.schedule.intended_ns(i);
            // The cached reading is in the past: if the command was due then, it is due now.
            if due_ns > self.now_ns && due_ns > self.clock() {
                return Next::Idle;
            }
            due_ns
        } else if i & (UNPACED_CLOCK_EVERY - 1) == 0 {
            self.clock()
        } else {
            self.now_ns
        };
        self.times.set(i + 1, intended_ns);
        self.produced += 1;
        Next::Command(self.flow.command(i))
    }
}

/// What the output saw, handed over when the node drops it.
#[derive(Debug)]
pub struct Published {
    /// Publish time minus intended send time, ns, one sample per command.
    pub latency: Histogram<u64>,
    pub commands: u64,
    pub events: u64,
    pub rejects: u64,
    pub first_intended_ns: u64,
    pub last_publish_ns: u64,
}

pub struct LatencyOutput {
    base: Instant,
    times: Arc<IntendedTimes>,
    /// Seqs published since the last flush (consecutive): `first..=last`.
    pending: Option<(u64, u64)>,
    published: Published,
    /// Commands published so far, for a progress display.
    progress: Arc<AtomicU64>,
    done: mpsc::Sender<Published>,
}

impl std::fmt::Debug for LatencyOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyOutput").field("commands", &self.published.commands).finish_non_exhaustive()
    }
}

impl LatencyOutput {
    pub fn new(
        base: Instant,
        times: Arc<IntendedTimes>,
        progress: Arc<AtomicU64>,
    ) -> (LatencyOutput, mpsc::Receiver<Published>) {
        let (done, rx) = mpsc::channel();
        let published = Published {
            latency: histogram(),
            commands: 0,
            events: 0,
            rejects: 0,
            first_intended_ns: u64::MAX,
            last_publish_ns: 0,
        };
        (LatencyOutput { base, times, pending: None, published, progress, done }, rx)
    }
}

impl EventOutput for LatencyOutput {
    #[inline]
    fn publish(&mut self, seq: u64, _ts_ns: u64, events: &[Event]) {
        self.pending = match self.pending {
            None => Some((seq, seq)),
            Some((first, last)) => {
                debug_assert_eq!(seq, last + 1, "the publisher sees seqs in order");
                Some((first, seq))
            }
        };
        let p = &mut self.published;
        p.events += events.len() as u64;
        p.rejects += events.iter().filter(|e| matches!(e, Event::Rejected { .. })).count() as u64;
    }

    fn flush(&mut self) {
        let Some((first, last)) = self.pending.take() else { return };
        let now_ns = self.base.elapsed().as_nanos() as u64;
        let p = &mut self.published;
        p.first_intended_ns = p.first_intended_ns.min(self.times.get(first));
        for seq in first..=last {
            p.latency.saturating_record(now_ns.saturating_sub(self.times.get(seq)));
        }
        p.commands += last - first + 1;
        p.last_publish_ns = now_ns;
        self.progress.store(p.commands, Ordering::Relaxed);
    }
}

impl Drop for LatencyOutput {
    fn drop(&mut self) {
        self.flush();
        let published = std::mem::replace(
            &mut self.published,
            Published {
                latency: histogram(),
                commands: 0,
                events: 0,
                rejects: 0,
                first_intended_ns: 0,
                last_publish_ns: 0,
            },
        );
        // The benchmark waits on the other end; if it is gone there is nobody to tell.
        let _ = self.done.send(published);
    }
}

/// A node configuration for the benchmark: `durability`, a data dir, no periodic snapshots
/// (one at the clean stop), every journal segment kept, `pipeline.wait = "auto"`, and engine
/// limits sized for the flow (those of bench-core's `ours (full)`).
pub fn node_config(data_dir: &Path, durability: &str) -> Config {
    let mut c = Config::default();
    c.node.data_dir = data_dir.to_path_buf();
    c.journal.durability = durability.into();
    c.journal.retain_all = true;
    c.snapshot.interval_s = 0;
    c.pipeline.wait = "auto".into();
    c.pipeline.pin = "auto".into();
    c.source.exit_at_end = true;
    c.source.rate = 0; // the source paces itself
    c.engine.instruments_max = 4;
    c.engine.accounts_max = 1_024;
    // About 1,000 resting orders.
    c.engine.orders_max = 1 << 16;
    c.engine.positions_max = 1 << 12;
    // The band is +-50% of 20,000 ticks: 20,001 levels.
    c.engine.levels_per_book_max = 1 << 15;
    c.engine.risk_enabled = true;
    c
}

/// One node run: how it was driven, and what came out.
#[derive(Debug)]
pub struct NodeRun {
    pub durability: String,
    pub schedule: Schedule,
    pub report: RunReport,
    pub published: Published,
    /// Commands over first intended time to last publish.
    pub achieved_per_s: f64,
}

impl NodeRun {
    /// Paced: published at least [`SUSTAINED_FRACTION`] of the offered rate. Unpaced: always.
    pub fn sustained(&self) -> bool {
        !self.schedule.is_paced() || self.achieved_per_s >= SUSTAINED_FRACTION * self.schedule.rate_per_s as f64
    }

    pub fn p99_ns(&self) -> u64 {
        self.published.latency.value_at_quantile(0.99)
    }
}

/// Runs a fresh node in `data_dir` over the first `total_commands` of `flow` on `schedule`.
pub fn run_node(
    config: &Config,
    flow: &Arc<Flow>,
    schedule: Schedule,
    total_commands: u64,
    progress: Arc<AtomicU64>,
) -> Result<NodeRun> {
    if total_commands > flow.len() {
        bail!("a run of {total_commands} commands from a flow of {}", flow.len());
    }
    let base = Instant::now();
    let times = Arc::new(IntendedTimes::for_ring(config.pipeline.ring_size));
    let (output, done) = LatencyOutput::new(base, Arc::clone(&times), progress);
    let source = PacedSource::new(Arc::clone(flow), total_commands, schedule, base, times);
    let open = move |recovered_seq: u64| -> Result<Box<dyn CommandSource>> {
        if recovered_seq != 0 {
            bail!("the data dir is not empty: recovered up to seq {recovered_seq}");
        }
        Ok(Box::new(source))
    };
    let report = engine_node::run_with(config, open, Box::new(output), Arc::new(Control::default()))?;
    let published = done.recv().context("the node dropped its output without a report")?;
    if published.commands != total_commands {
        bail!("published {} commands of {total_commands}", published.commands);
    }
    let elapsed_ns = published.last_publish_ns.saturating_sub(published.first_intended_ns).max(1);
    Ok(NodeRun {
        durability: config.journal.durability.clone(),
        schedule,
        achieved_per_s: published.commands as f64 / elapsed_ns as f64 * 1e9,
        report,
        published,
    })
}

/// A directory that is removed with everything in it when dropped.
#[derive(Debug)]
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn create(path: PathBuf) -> Result<ScratchDir> {
        if path.exists() {
            std::fs::remove_dir_all(&path).with_context(|| format!("clearing {}", path.display()))?;
        }
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(ScratchDir(path))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The mount that holds `path` (longest mount point that prefixes it): device, type, options.
pub fn filesystem_of(path: &Path) -> String {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.len() >= 4 && path.starts_with(f[1]))
                .then(|| (f[1].len(), format!("{} on {} ({}, {})", f[0], f[1], f[2], f[3])))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| String::from("unknown filesystem"), |(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flow_is_never_refused_by_the_engine() {
        let flow = Flow::generate(9, 30_000);
        let config = node_config(Path::new("unused"), "none");
        let mut engine: engine_core::Engine = engine_core::Engine::new(config.limits());
        let mut events = Vec::new();
        for i in 0..flow.len() {
            events.clear();
            engine.apply(i + 1, 0, &flow.command(i), &mut events);
            assert!(!events.iter().any(|e| matches!(e, Event::Rejected { .. })), "command {i}: {events:?}");
        }
    }

    #[test]
    fn a_paced_source_idles_until_a_command_is_due_and_records_when_it_was() {
        let base = Instant::now();
        let times = Arc::new(IntendedTimes::for_ring(1024));
        let flow = Arc::new(Flow::generate(3, 6_000));
        // One command every 200 ms: the first is due at once, the second not for a while.
        let mut source = PacedSource::new(flow, 2, Schedule::per_s(5), base, Arc::clone(&times));
        assert!(matches!(source.next(), Next::Command(_)));
        assert!(matches!(source.next(), Next::Idle));
        let first = times.get(1);
        std::thread::sleep(std::time::Duration::from_millis(250));
        assert!(matches!(source.next(), Next::Command(_)));
        assert_eq!(times.get(2), first + 200_000_000, "intended, not actual, send time");
        assert!(matches!(source.next(), Next::End));
    }

    #[test]
    fn a_node_run_publishes_every_command_with_a_latency() {
        let dir = ScratchDir::create(std::env::temp_dir().join(format!("perf-pipeline-test-{}", std::process::id())))
            .expect("scratch dir");
        let mut config = node_config(&dir.0, "written");
        config.pipeline.ring_size = 1024;
        config.pipeline.wait = "blocking".into();
        let flow = Arc::new(Flow::generate(5, 25_000));
        let total = flow.len();
        let run = run_node(&config, &flow, Schedule::per_s(500_000), total, Arc::default()).expect("run");
        assert_eq!(run.published.commands, total);
        assert_eq!(run.published.latency.len(), total);
        assert_eq!(run.published.rejects, 0);
        assert_eq!(run.report.published_seq, total);
        assert!(run.achieved_per_s > 0.0);
    }
}
