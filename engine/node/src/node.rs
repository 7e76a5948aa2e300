//! Running an engine node: recover, start the pipeline, receive until stopped, shut down cleanly
//! (drain the ring, flush the journal, write a final snapshot).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use engine_core::Command;
use engine_proto::{encode_command, COMMAND_LEN_MAX};
use journal::{JournalConfig, JournalWriter, SnapshotStore};

use crate::config::Config;
use crate::eventlog::{append_batch, open_event_log, EventLogOutput};
use crate::mailbox::{snapshot_mailbox, SnapshotReceiver};
use crate::output::{EventOutput, FileOutput, NullOutput};
use crate::recovery::recover_with;
use crate::slot::{Slot, SlotKind};
use crate::source::{CommandSource, FileSource, Generator, Next, NoSource};
use crate::topology::{self, Pins, Progress, Stages};
use crate::wait::{Blocking, BusySpin, WaitKind, Yield};

/// Requests from outside the receiver (signal handlers, tests, an admin endpoint later).
#[derive(Debug, Default)]
pub struct Control {
    pub shutdown: AtomicBool,
    pub snapshot: AtomicBool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    pub recovered_seq: u64,
    pub last_seq: u64,
    pub published_seq: u64,
    pub received: u64,
    pub recovery_s: f64,
    pub run_s: f64,
    pub state_hash_at_start: u64,
    pub layout: String,
    pub wait: String,
    pub pinned: bool,
}

/// Most commands the receiver moves into the ring in one claim.
const RECEIVE_BATCH: usize = 256;

/// Runs a node with the source and output its configuration names.
pub fn run(config: &Config, control: Arc<Control>) -> anyhow::Result<RunReport> {
    let output: Box<dyn EventOutput> = match config.output.kind.as_str() {
        "file" => Box::new(FileOutput::open(&config.output.path)?),
        _ => Box::new(NullOutput::default()),
    };
    run_with(config, |recovered_seq| open_source(config, recovered_seq), output, control)
}

/// The configured command source, positioned after the `recovered_seq` commands already journaled.
pub fn open_source(config: &Config, recovered_seq: u64) -> anyhow::Result<Box<dyn CommandSource>> {
    Ok(match config.source.kind.as_str() {
        "file" => Box::new(FileSource::open(&config.source.path, recovered_seq).map_err(anyhow::Error::msg)?),
        "generator" => Box::new(Generator::new(config.source.seed, config.source.count, 1_000, recovered_seq)),
        _ => Box::new(NoSource),
    })
}

/// Runs a node with a caller's source (opened once the recovered seq is known) and output.
pub fn run_with(
    config: &Config,
    open: impl FnOnce(u64) -> anyhow::Result<Box<dyn CommandSource>>,
    output: Box<dyn EventOutput>,
    control: Arc<Control>,
) -> anyhow::Result<RunReport> {
    let data_dir = config.node.data_dir.clone();
    let limits = config.limits();
    let durability = config.durability().map_err(anyhow::Error::msg)?;
    let (mut event_log, event_log_seq) = open_event_log(&data_dir, config.journal.segment_bytes_max)?;
    let mut batch_buf = Vec::new();
    let recovered = recover_with(&data_dir, limits, config.snapshot.keep, |seq, ts_ns, events| {
        append_batch(&mut event_log, seq, ts_ns, events, &mut batch_buf)
            .map_err(|e| crate::recovery::RecoveryError::EventLog(e.to_string()))
    })?;
    if event_log.last_seq() < recovered.last_seq {
        anyhow::bail!(
            "the event log ends at seq {} but the state is at seq {}: entries {}..={} cannot be regenerated",
            event_log.last_seq(),
            recovered.last_seq,
            event_log.last_seq() + 1,
            recovered.last_seq
        );
    }
    event_log.commit()?;
    if event_log.last_seq() > event_log_seq {
        tracing::info!(from = event_log_seq + 1, to = event_log.last_seq(), "event log: regenerated entries");
    }
    let output: Box<dyn EventOutput> = Box::new(EventLogOutput::new(event_log, output));
    let recovered_seq = recovered.last_seq;
    let state_hash_at_start = recovered.engine.state_hash();

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let layout = config.layout(cores).map_err(anyhow::Error::msg)?;
    let wait = config.wait_kind(cores).map_err(anyhow::Error::msg)?;
    let threads = layout.threads();
    let pin = match config.pipeline.pin.as_str() {
        "on" => true,
        "off" => false,
        _ => cores > threads,
    };
    if pin && cores < threads {
        anyhow::bail!(
            "pipeline.pin = on needs at least {threads} cores for the {layout:?} layout; this machine has {cores}"
        );
    }
    // The receiver takes core 0; the parallel stages 1 to 3, the fused consumer 1.
    let pins: Pins = pin.then_some(match layout {
        topology::Layout::Parallel => [1, 2, 3],
        topology::Layout::Fused => [1, 1, 1],
    });
    tracing::info!(cores, ?layout, ?wait, pinned = pin, ?durability, "starting the pipeline");

    let journal = JournalWriter::open(
        JournalConfig {
            dir: data_dir.join("journal"),
            segment_bytes_max: config.journal.segment_bytes_max,
            durability,
        },
        recovered_seq,
    )?;
    let mut source = open(recovered_seq)?;

    let progress = Arc::new(Progress::default());
    // Everything up to the recovered seq is journaled, applied and (in the event log) published.
    progress.journaled.store(recovered_seq, Ordering::Release);
    progress.applied.store(recovered_seq, Ordering::Release);
    progress.published.store(recovered_seq, Ordering::Release);
    let (snapshot_tx, snapshot_rx) = snapshot_mailbox();
    let store = SnapshotStore::new(&data_dir.join("snapshots"), config.snapshot.keep)?;
    let snapshot_writer = {
        let progress = Arc::clone(&progress);
        let prune = (!config.journal.retain_all).then(|| data_dir.join("journal"));
        std::thread::Builder::new()
            .name("snapshots".into())
            .spawn(move || write_snapshots(snapshot_rx, store, prune.as_deref(), &progress))?
    };
    let stages = Stages {
        engine: recovered.engine,
        journal,
        durability,
        output,
        snapshots: snapshot_tx,
        progress: Arc::clone(&progress),
    };
    let ring_size = config.pipeline.ring_size;
    let pipeline = match wait {
        WaitKind::BusySpin => topology::start(layout, ring_size, BusySpin {}, wait, pins, stages),
        WaitKind::Yield => topology::start(layout, ring_size, Yield, wait, pins, stages),
        WaitKind::Blocking => topology::start(layout, ring_size, Blocking, wait, pins, stages),
    };
    if pin {
        core_affinity::set_for_current(core_affinity::CoreId { id: 0 });
    }

    let started = Instant::now();
    let mut receiver = Receiver_ {
        seq: recovered_seq,
        clock: Clock::new(),
        rate: config.source.rate,
        snapshot_every: (config.snapshot.interval_s > 0).then(|| Duration::from_secs(config.snapshot.interval_s)),
        wait,
    };
    let received = receiver.run(&mut *source, pipeline.ring, pipeline.journaler, &control, config.source.exit_at_end);
    let run_s = started.elapsed().as_secs_f64();
    snapshot_writer.join().map_err(|_| anyhow::anyhow!("the snapshot writer panicked"))?;
    let report = RunReport {
        recovered_seq,
        last_seq: receiver.seq,
        published_seq: progress.published.load(Ordering::Acquire),
        received,
        recovery_s: recovered.elapsed_s,
        run_s,
        state_hash_at_start,
        layout: format!("{layout:?}"),
        wait: format!("{wait:?}"),
        pinned: pin,
    };
    tracing::info!(?report, "stopped");
    Ok(report)
}

/// Wall-clock nanoseconds from one `SystemTime` read at start plus a monotonic offset: the
/// receiver's timestamps never go backwards.
struct Clock {
    base_ns: u64,
    start: Instant,
}

impl Clock {
    fn new() -> Clock {
        let base_ns = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        Clock { base_ns, start: Instant::now() }
    }
    fn now_ns(&self) -> u64 {
        self.base_ns + self.start.elapsed().as_nanos() as u64
    }
}

struct Receiver_ {
    seq: u64,
    clock: Clock,
    rate: u64,
    snapshot_every: Option<Duration>,
    wait: WaitKind,
}

struct Pending {
    command: Command,
    raw: [u8; COMMAND_LEN_MAX],
    raw_len: usize,
}

impl Receiver_ {
    /// The receiver's duty cycle: read the clock once, pull a bounded batch from the source,
    /// stamp seq and time, claim ring slots for the batch (waiting while the ring is full).
    fn run(
        &mut self,
        source: &mut dyn CommandSource,
        mut ring: Box<dyn topology::Ring>,
        journaler: std::thread::JoinHandle<()>,
        control: &Control,
        exit_at_end: bool,
    ) -> u64 {
        let started = Instant::now();
        let mut last_snapshot = Instant::now();
        let mut received = 0u64;
        let mut batch: Vec<Pending> = Vec::with_capacity(RECEIVE_BATCH);
        let mut ended = false;
        loop {
            if control.shutdown.load(Ordering::Acquire) || (ended && exit_at_end) {
                break;
            }
            let due_snapshot = control.snapshot.swap(false, Ordering::AcqRel)
                || self.snapshot_every.is_some_and(|every| last_snapshot.elapsed() >= every);
            if due_snapshot {
                publish_snapshot(&mut *ring, self.wait);
                last_snapshot = Instant::now();
            }
            let allowed = if self.rate == 0 {
                RECEIVE_BATCH
            } else {
                let due = (started.elapsed().as_nanos() * self.rate as u128 / 1_000_000_000) as u64;
                (due.saturating_sub(received) as usize).min(RECEIVE_BATCH)
            };
            batch.clear();
            while !ended && batch.len() < allowed {
                match source.next() {
                    Next::Command(command) => {
                        let mut raw = [0u8; COMMAND_LEN_MAX];
                        match encode_command(&command, &mut raw) {
                            Ok(raw_len) => batch.push(Pending { command, raw, raw_len }),
                            Err(e) => tracing::warn!("command refused by the codec: {e}"),
                        }
                    }
                    Next::Idle => break,
                    Next::End => ended = true,
                }
            }
            if batch.is_empty() {
                self.wait.idle();
                if matches!(self.wait, WaitKind::BusySpin) || self.rate > 0 {
                    std::thread::yield_now();
                }
                continue;
            }
            let ts_ns = self.clock.now_ns();
            let first = self.seq + 1;
            let mut i = 0usize;
            let mut fill = |slot: &mut Slot| {
                let p = &batch[i];
                slot.kind = SlotKind::Command;
                slot.seq = first + i as u64;
                slot.ts_ns = ts_ns;
                slot.command = p.command;
                slot.raw[..p.raw_len].copy_from_slice(&p.raw[..p.raw_len]);
                slot.raw_len = p.raw_len;
                i += 1;
            };
            // Back-pressure: a full ring makes the receiver wait; nothing is dropped.
            while !ring.try_publish_batch(batch.len(), &mut fill) {
                self.wait.idle();
            }
            self.seq += batch.len() as u64;
            received += batch.len() as u64;
        }
        // Clean stop: a final snapshot, then drain every stage.
        publish_snapshot(&mut *ring, self.wait);
        drop(ring);
        if journaler.join().is_err() {
            tracing::error!("the journaler panicked");
        }
        received
    }
}

fn publish_snapshot(ring: &mut dyn topology::Ring, wait: WaitKind) {
    let mut fill = |slot: &mut Slot| slot.kind = SlotKind::Snapshot;
    while !ring.try_publish_batch(1, &mut fill) {
        wait.idle();
    }
}

/// Writes each snapshot once the journal and the event log hold every command it covers, then (given a journal
/// directory to prune) drops segments older than the oldest snapshot kept.
fn write_snapshots(rx: SnapshotReceiver, store: SnapshotStore, prune: Option<&Path>, progress: &Progress) {
    while let Some((seq, bytes)) = rx.take() {
        while progress.journaled.load(Ordering::Acquire) < seq || progress.published.load(Ordering::Acquire) < seq {
            std::thread::sleep(Duration::from_micros(200));
        }
        match store.write(seq, &bytes) {
            Ok(path) => tracing::info!(seq, bytes = bytes.len(), file = %path.display(), "snapshot written"),
            Err(e) => {
                tracing::error!("snapshot at seq {seq}: {e}");
                continue;
            }
        }
        let Some(journal_dir) = prune else { continue };
        match store.oldest_seq() {
            Ok(Some(oldest)) => match journal::retain_from(journal_dir, oldest + 1) {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed_segments = n, covered_to = oldest, "journal retention"),
                Err(e) => tracing::warn!("journal retention: {e}"),
            },
            Ok(None) => {}
            Err(e) => tracing::warn!("listing snapshots: {e}"),
        }
    }
}
