//! The engine node's pipeline, laid out in one place.
//!
//! Two layouts of the same stages, chosen by `pipeline.layout` (default: by the cores found).
//!
//! **Parallel**, one thread per stage, for machines with a core for each:
//!
//! ```text
//!                      +--> (1) journaler: append, one write/fdatasync per batch --+
//! receiver --> ring ---+                                                           +--> (3) publisher --> output
//! (seq, ts)            +--> (2) matching: Engine::apply, events into the slot -----+
//! ```
//!
//! 1. The journaler runs on its own thread (an event poller on a branch of the ring), in
//!    parallel with matching. In `written` and `fsync` modes the branch joins before the
//!    publisher, so a command's events are released only after its batch is written (and
//!    synced). In `none` mode it joins after the publisher: only ring wrap-around waits for it.
//! 2. Matching owns the engine. A snapshot slot makes it serialize the state and hand the bytes
//!    to the snapshot writer, which waits for the journal to cover that seq, then writes the file.
//! 3. The publisher hands each command's events to the output and records the published seq.
//!
//! **Fused**, for small machines: one consumer thread takes each batch off the ring and runs the
//! three stages over it in turn: append every command to the journal and apply it, commit the
//! batch (one write, and one `fdatasync` in `fsync` mode), then publish the batch's events. The
//! guarantees are the parallel layout's: events leave only after their batch is journaled per the
//! durability mode (in `none` mode the write follows the publish instead). With two threads in
//! all (receiver and consumer) the pipeline fits a 2-core machine without its stages taking turns
//! on the cores: four stage threads on two cores wait for each other's time slices, which
//! costs far more than journaling and matching cost when run back to back.
//!
//! The receiver (`node::run`) is the single producer in both: it stamps seq and time and blocks
//! on a full ring (back-pressure; nothing is dropped).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use disruptor::wait_strategies::WaitStrategy;
use disruptor::{
    build_single_producer, EventPoller, Polling, ProcessorSettings, Producer, Sequence, SingleProducerBarrier,
};
use engine_core::Engine;
use journal::{Durability, JournalWriter};

use crate::mailbox::SnapshotSender;
use crate::output::EventOutput;
use crate::slot::{Slot, SlotKind};
use crate::wait::{wake_all, WaitKind};

/// Threads in the parallel layout: receiver, journaler, matching, publisher.
pub const STAGES: usize = 4;

/// How the stages are laid out on threads (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A thread per stage: the journaler in parallel with matching.
    Parallel,
    /// The receiver, and one thread that journals, matches and publishes each batch in turn.
    Fused,
}

impl Layout {
    /// Parallel when every stage thread can have a core of its own, plus one for the OS.
    pub fn for_cores(cores: usize) -> Layout {
        if cores > STAGES {
            Layout::Parallel
        } else {
            Layout::Fused
        }
    }

    /// Threads the layout runs, the receiver included.
    pub fn threads(self) -> usize {
        match self {
            Layout::Parallel => STAGES,
            Layout::Fused => 2,
        }
    }
}

impl std::str::FromStr for Layout {
    type Err = String;
    fn from_str(s: &str) -> Result<Layout, String> {
        match s {
            "parallel" => Ok(Layout::Parallel),
            "fused" => Ok(Layout::Fused),
            other => Err(format!("unknown pipeline layout {other:?}: expected parallel or fused")),
        }
    }
}

/// Progress counters shared with the receiver, the snapshot writer and tests.
#[derive(Debug, Default)]
pub struct Progress {
    /// Highest seq the journal has committed per the durability mode.
    pub journaled: AtomicU64,
    /// Highest seq matching has applied.
    pub applied: AtomicU64,
    /// Highest seq whose events were published.
    pub published: AtomicU64,
}

pub struct Stages {
    pub engine: Engine,
    pub journal: JournalWriter,
    pub durability: Durability,
    pub output: Box<dyn EventOutput>,
    pub snapshots: SnapshotSender,
    pub progress: Arc<Progress>,
}

impl std::fmt::Debug for Stages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stages").field("durability", &self.durability).finish_non_exhaustive()
    }
}

/// Core ids for (journaler, matching, publisher), when pinning is on; the fused layout's
/// consumer takes matching's.
pub type Pins = Option<[usize; 3]>;

/// The ring as the receiver sees it. Dropping it drains the ring and stops the ring's threads.
pub trait Ring: Send {
    /// Claims `n` slots and fills each with `fill`; `false` (nothing claimed) when the ring lacks room.
    fn try_publish_batch(&mut self, n: usize, fill: &mut dyn FnMut(&mut Slot)) -> bool;
}

impl<P: Producer<Slot> + Send> Ring for P {
    #[inline]
    fn try_publish_batch(&mut self, n: usize, fill: &mut dyn FnMut(&mut Slot)) -> bool {
        self.try_batch_publish(n, |slots| slots.for_each(fill)).is_ok()
    }
}

/// The running pipeline: the ring the receiver publishes into, and the thread that journals
/// (the journaler, or the fused layout's consumer), which ends once the ring is drained.
pub struct Pipeline {
    pub ring: Box<dyn Ring>,
    pub journaler: JoinHandle<()>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").finish_non_exhaustive()
    }
}

/// Builds the ring and starts the stages in `layout` with wait strategy `W`.
pub fn start<W: WaitStrategy + 'static>(
    layout: Layout,
    ring_size: usize,
    wait: W,
    wait_kind: WaitKind,
    pins: Pins,
    stages: Stages,
) -> Pipeline {
    if layout == Layout::Fused {
        let (poller, builder) = build_single_producer(ring_size, Slot::new, wait).new_event_poller();
        let producer = builder.build();
        let consumer = spawn_fused(poller, stages, ring_size, wait_kind, pins.map(|p| p[1]));
        return Pipeline { ring: Box::new(producer), journaler: consumer };
    }
    let Stages { engine, journal, durability, output, snapshots, progress } = stages;
    let blocking = wait_kind == WaitKind::Blocking;

    let matching = {
        let progress = Arc::clone(&progress);
        let mut engine = engine;
        move |slot: &Slot, _: Sequence, end_of_batch: bool| {
            match slot.kind {
                SlotKind::Command => {
                    // SAFETY: this is the matching stage, processing this slot.
                    let events = unsafe { slot.events_for_matching() };
                    events.clear();
                    engine.apply(slot.seq, slot.ts_ns, &slot.command, events);
                }
                SlotKind::Snapshot => {
                    let mut bytes = Vec::new();
                    engine.snapshot(&mut bytes);
                    put_snapshot(&snapshots, engine.last_seq(), bytes);
                }
            }
            if end_of_batch {
                progress.applied.store(engine.last_seq(), Ordering::Release);
                if blocking {
                    wake_all();
                }
            }
        }
    };
    let publisher = {
        let progress = Arc::clone(&progress);
        let mut output = output;
        // Continues from the seq recovery reached, so a snapshot of a node that receives nothing
        // new still finds its seq published.
        let mut last = progress.published.load(Ordering::Acquire);
        move |slot: &Slot, _: Sequence, end_of_batch: bool| {
            if slot.kind == SlotKind::Command {
                // SAFETY: the publisher runs after the matching stage.
                output.publish(slot.seq, slot.ts_ns, unsafe { slot.events_after_matching() });
                last = slot.seq;
            }
            if end_of_batch {
                output.flush();
                progress.published.store(last, Ordering::Release);
                if blocking {
                    wake_all();
                }
            }
        }
    };

    let mut builder = build_single_producer(ring_size, Slot::new, wait);
    let branch = builder.new_branch();
    let builder = match pins {
        Some([_, core, _]) => builder.pin_at_core(core),
        None => builder,
    };
    let builder = builder.thread_name("matching").handle_events_with(matching);
    let (poller, producer) = if durability == Durability::None {
        let builder = builder.and_then();
        let builder = match pins {
            Some([_, _, core]) => builder.pin_at_core(core),
            None => builder,
        };
        let (poller, builder) = builder.thread_name("publisher").handle_events_with(publisher).join(branch);
        (poller, Box::new(builder.build()) as Box<dyn Ring>)
    } else {
        let (poller, builder) = builder.join(branch);
        let builder = builder.and_then();
        let builder = match pins {
            Some([_, _, core]) => builder.pin_at_core(core),
            None => builder,
        };
        let producer = builder.thread_name("publisher").handle_events_with(publisher).build();
        (poller, Box::new(producer) as Box<dyn Ring>)
    };
    let journaler = spawn_journaler(poller, journal, wait_kind, pins.map(|p| p[0]), progress);
    Pipeline { ring: producer, journaler }
}

fn spawn_journaler(
    mut poller: EventPoller<Slot, SingleProducerBarrier>,
    mut journal: JournalWriter,
    wait: WaitKind,
    pin: Option<usize>,
    progress: Arc<Progress>,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("journaler".into())
        .spawn(move || {
            if let Some(id) = pin {
                core_affinity::set_for_current(core_affinity::CoreId { id });
            }
            loop {
                match poller.poll() {
                    Ok(mut batch) => {
                        for slot in &mut batch {
                            if slot.kind == SlotKind::Command {
                                if let Err(e) = journal.append(slot.seq, slot.ts_ns, slot.raw()) {
                                    fatal(&e);
                                }
                            }
                        }
                        // One write (and fdatasync) for the whole batch, before the batch is
                        // released to the publisher.
                        match journal.commit() {
                            Ok(seq) => progress.journaled.store(seq, Ordering::Release),
                            Err(e) => fatal(&e),
                        }
                        drop(batch);
                        if wait == WaitKind::Blocking {
                            wake_all();
                        }
                    }
                    Err(Polling::NoEvents) => wait.idle(),
                    Err(Polling::Shutdown) => break,
                }
            }
        })
        .expect("spawn the journaler thread")
}

/// Most commands the fused consumer takes at once in `none` and `written` modes. Its batch is
/// published only once the whole batch is journaled and matched, so a ring's worth of backlog
/// (8,192 slots, some 3 ms of work) taken as one batch would hold the first command's events for
/// all of it. At 1M commands/s the consumer keeps up and its batches are a few commands long;
/// the cap matters in a backlog, where 512 (about 150 us of work) shares each write among enough
/// commands to clear it: `scripts/bench pipeline` measured the written maximum at 2.92-2.97M
/// commands/s with 64, 3.33-3.35M with 256, 3.54-3.55M with 512 and 3.46-3.56M with the whole
/// ring. In `fsync` mode it takes everything available: an `fdatasync` costs hundreds of
/// microseconds, and sharing it among only 64 commands capped the node near 230k commands/s.
const FUSED_BATCH_MAX: u64 = 512;

/// The fused layout's consumer: journal, match and publish each batch in turn, on one thread.
fn spawn_fused(
    mut poller: EventPoller<Slot, SingleProducerBarrier>,
    stages: Stages,
    ring_size: usize,
    wait: WaitKind,
    pin: Option<usize>,
) -> JoinHandle<()> {
    let Stages { mut engine, journal, durability, output, snapshots, progress } = stages;
    std::thread::Builder::new()
        .name("pipeline".into())
        .spawn(move || {
            if let Some(id) = pin {
                core_affinity::set_for_current(core_affinity::CoreId { id });
            }
            let mut done = FusedRelease {
                journal,
                durability,
                output,
                matched: Vec::with_capacity(ring_size),
                last: progress.published.load(Ordering::Acquire),
                progress: Arc::clone(&progress),
            };
            let batch_max = if durability == Durability::Fsync { u64::MAX } else { FUSED_BATCH_MAX };
            loop {
                match poller.take(batch_max) {
                    Ok(mut batch) => {
                        for slot in &mut batch {
                            match slot.kind {
                                SlotKind::Command => {
                                    if let Err(e) = done.journal.append(slot.seq, slot.ts_ns, slot.raw()) {
                                        fatal(&e);
                                    }
                                    // SAFETY: this thread is the matching stage for this slot.
                                    let events = unsafe { slot.events_for_matching() };
                                    events.clear();
                                    engine.apply(slot.seq, slot.ts_ns, &slot.command, events);
                                    done.matched.push(slot);
                                }
                                SlotKind::Snapshot => {
                                    // The snapshot writer waits until the journal and the event
                                    // log cover the snapshot's seq: release what is matched first,
                                    // so that it need not wait for the rest of the batch.
                                    progress.applied.store(engine.last_seq(), Ordering::Release);
                                    done.release();
                                    let mut bytes = Vec::new();
                                    engine.snapshot(&mut bytes);
                                    put_snapshot(&snapshots, engine.last_seq(), bytes);
                                }
                            }
                        }
                        progress.applied.store(engine.last_seq(), Ordering::Release);
                        done.release();
                        drop(batch);
                        if wait == WaitKind::Blocking {
                            wake_all();
                        }
                    }
                    Err(Polling::NoEvents) => wait.idle(),
                    Err(Polling::Shutdown) => break,
                }
            }
        })
        .expect("spawn the pipeline thread")
}

/// The fused consumer's journal and output, and the matched slots of its batch not yet released.
struct FusedRelease {
    journal: JournalWriter,
    durability: Durability,
    output: Box<dyn EventOutput>,
    /// Matched command slots awaiting release. They stay valid until the batch guard is dropped:
    /// the producer cannot reuse a slot before that.
    matched: Vec<*const Slot>,
    last: u64,
    progress: Arc<Progress>,
}

impl FusedRelease {
    /// Commits the journal and publishes the matched slots, in the order the durability mode
    /// asks (in `none` mode the write follows the publish).
    fn release(&mut self) {
        if self.durability != Durability::None {
            self.commit();
        }
        for &slot in &self.matched {
            // SAFETY: the slot belongs to the batch still guarded, and matching (this thread) is
            // done with it.
            let slot = unsafe { &*slot };
            self.output.publish(slot.seq, slot.ts_ns, unsafe { slot.events_after_matching() });
            self.last = slot.seq;
        }
        self.matched.clear();
        self.output.flush();
        self.progress.published.store(self.last, Ordering::Release);
        if self.durability == Durability::None {
            self.commit();
        }
    }

    fn commit(&mut self) {
        match self.journal.commit() {
            Ok(seq) => self.progress.journaled.store(seq, Ordering::Release),
            Err(e) => fatal(&e),
        }
    }
}

/// Hands a snapshot to the writer without waiting (see [`crate::mailbox`]).
fn put_snapshot(snapshots: &SnapshotSender, seq: u64, bytes: Vec<u8>) {
    if let Some(older) = snapshots.put(seq, bytes) {
        tracing::info!(seq, superseded = older, "a newer snapshot replaced one not yet written");
    }
}

/// A journal that cannot be written must not let the node acknowledge anything more.
fn fatal(e: &journal::JournalError) -> ! {
    tracing::error!("journal write failed: {e}; stopping the node");
    std::process::exit(70)
}
