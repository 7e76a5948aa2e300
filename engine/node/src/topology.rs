//! The engine node's pipeline, laid out in one place.
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
//! The receiver (`node::run`) is the single producer: it stamps seq and time and blocks on a
//! full ring (back-pressure; nothing is dropped).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread::JoinHandle;

use disruptor::wait_strategies::WaitStrategy;
use disruptor::{
    build_single_producer, EventPoller, Polling, ProcessorSettings, Producer, Sequence, SingleProducerBarrier,
};
use engine_core::Engine;
use journal::{Durability, JournalWriter};

use crate::output::EventOutput;
use crate::slot::{Slot, SlotKind};
use crate::wait::{wake_all, WaitKind};

/// Threads in the pipeline: receiver, journaler, matching, publisher.
pub const STAGES: usize = 4;

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
    pub snapshots: SyncSender<(u64, Vec<u8>)>,
    pub progress: Arc<Progress>,
}

impl std::fmt::Debug for Stages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stages").field("durability", &self.durability).finish_non_exhaustive()
    }
}

/// Core ids for (journaler, matching, publisher), when pinning is on.
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

/// The running pipeline: the ring the receiver publishes into, and the journal thread.
pub struct Pipeline {
    pub ring: Box<dyn Ring>,
    pub journaler: JoinHandle<()>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").finish_non_exhaustive()
    }
}

/// Builds the ring and starts the stages with wait strategy `W`.
pub fn start<W: WaitStrategy + 'static>(
    ring_size: usize,
    wait: W,
    wait_kind: WaitKind,
    pins: Pins,
    stages: Stages,
) -> Pipeline {
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
                    if snapshots.send((engine.last_seq(), bytes)).is_err() {
                        tracing::warn!("snapshot writer is gone; snapshot dropped");
                    }
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

/// A journal that cannot be written must not let the node acknowledge anything more.
fn fatal(e: &journal::JournalError) -> ! {
    tracing::error!("journal write failed: {e}; stopping the node");
    std::process::exit(70)
}
