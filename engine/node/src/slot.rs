//! One entry of the ring: a command on its way through the stages, and the events matching
//! produced for it.

use std::cell::UnsafeCell;

use engine_core::{Command, Event};
use engine_proto::COMMAND_LEN_MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// An engine command with its seq.
    Command,
    /// Take a snapshot of the state after every command before this slot.
    Snapshot,
}

/// Written by the receiver (through the producer's `&mut`) and, for `events`, by the matching
/// stage alone; read by the publisher only after the matching stage has released the slot.
pub struct Slot {
    pub kind: SlotKind,
    pub seq: u64,
    pub ts_ns: u64,
    pub command: Command,
    /// The command's engine-proto encoding, as journaled.
    pub raw: [u8; COMMAND_LEN_MAX],
    pub raw_len: usize,
    events: UnsafeCell<Vec<Event>>,
}

// SAFETY: `events` is the only interior-mutable field. The disruptor orders every access to it:
// the receiver clears it while it owns the slot (before publishing), the matching stage writes it
// while processing the slot, and the publisher, which runs after the matching stage (its barrier
// acquires the matching stage's cursor, released after the write), reads it. No two of these
// overlap in time for the same slot.
unsafe impl Sync for Slot {}

impl Slot {
    /// Capacity of each slot's event buffer; larger outputs (sweeps, mass cancels) grow that
    /// slot's buffer once. A command emits 2-3 events, 7 when it trades once; 16 covers 99.98% of
    /// the benchmark flow's commands. At 88 bytes an event, 64 made each slot's buffer 5.6 KB
    /// (370 MB over a 65,536-slot ring), and every first pass over the ring page-faulted.
    pub const EVENTS_CAPACITY: usize = 16;

    pub fn new() -> Slot {
        Slot {
            kind: SlotKind::Command,
            seq: 0,
            ts_ns: 0,
            command: Command::OpenSession,
            raw: [0; COMMAND_LEN_MAX],
            raw_len: 0,
            events: UnsafeCell::new(Vec::with_capacity(Self::EVENTS_CAPACITY)),
        }
    }

    pub fn raw(&self) -> &[u8] {
        &self.raw[..self.raw_len]
    }

    /// The receiver's exclusive access while it fills the slot.
    pub fn events_mut_exclusive(&mut self) -> &mut Vec<Event> {
        self.events.get_mut()
    }

    /// # Safety
    /// Only the matching stage may call this, while it processes this slot.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn events_for_matching(&self) -> &mut Vec<Event> {
        // SAFETY: see the `Sync` impl: the matching stage is the only accessor at this time.
        unsafe { &mut *self.events.get() }
    }

    /// # Safety
    /// Only stages ordered after the matching stage may call this.
    pub unsafe fn events_after_matching(&self) -> &[Event] {
        // SAFETY: see the `Sync` impl: the matching stage finished writing before this read.
        unsafe { &*self.events.get() }
    }
}

impl Default for Slot {
    fn default() -> Slot {
        Slot::new()
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").field("kind", &self.kind).field("seq", &self.seq).finish_non_exhaustive()
    }
}
