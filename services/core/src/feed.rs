//! Where a service's events come from, and where its commands go.

use std::collections::VecDeque;
use std::time::Duration;

use engine_core::{Command, Event};

/// The events the engine produced for one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventBatch {
    pub seq: u64,
    pub ts_ns: u64,
    pub events: Vec<Event>,
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("the feed is closed")]
    Closed,
    #[error("replay from seq {0} is not available: {1}")]
    ReplayUnavailable(u64, String),
    #[error("{0}")]
    Transport(String),
}

/// A stream of engine event batches in seq order: live, with replay on request.
pub trait EventFeed: Send {
    /// Moves up to `max` available batches into `out`, waiting at most `timeout` for the first.
    /// Returns how many were added (0 on timeout).
    fn poll(&mut self, out: &mut Vec<EventBatch>, max: usize, timeout: Duration) -> Result<usize, FeedError>;

    /// Asks for batches from seq `from` on (catch-up after a restart or a gap).
    fn replay_from(&mut self, from: u64) -> Result<(), FeedError>;

    /// True while a replay asked for is still under way (its end not yet heard).
    fn replaying(&self) -> bool {
        false
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("the engine cannot take commands now (back-pressure); try again")]
    BackPressure,
    #[error("{0}")]
    Transport(String),
}

/// Where a service sends commands for the engine (deposits, withdrawals, activations).
pub trait CommandSink: Send {
    fn submit(&mut self, command: &Command) -> Result<(), SinkError>;
}

/// An in-memory feed over a recorded sequence of batches: for tests and for replaying a file.
/// `replay_from` rewinds to any seq it holds.
#[derive(Debug, Default)]
pub struct MemoryFeed {
    all: Vec<EventBatch>,
    next: usize,
    pending: VecDeque<EventBatch>,
}

impl MemoryFeed {
    pub fn new(all: Vec<EventBatch>) -> MemoryFeed {
        MemoryFeed { all, next: 0, pending: VecDeque::new() }
    }

    /// Delivers this batch next, out of the recorded order (to test gap handling).
    pub fn inject(&mut self, batch: EventBatch) {
        self.pending.push_back(batch);
    }
}

impl EventFeed for MemoryFeed {
    fn poll(&mut self, out: &mut Vec<EventBatch>, max: usize, _timeout: Duration) -> Result<usize, FeedError> {
        let mut n = 0;
        while n < max {
            if let Some(b) = self.pending.pop_front() {
                out.push(b);
            } else if let Some(b) = self.all.get(self.next) {
                out.push(b.clone());
                self.next += 1;
            } else {
                break;
            }
            n += 1;
        }
        Ok(n)
    }

    fn replay_from(&mut self, from: u64) -> Result<(), FeedError> {
        match self.all.iter().position(|b| b.seq >= from) {
            Some(i) if self.all[i].seq == from => {
                self.next = i;
                self.pending.clear();
                Ok(())
            }
            _ if from > self.all.last().map_or(0, |b| b.seq) => {
                self.next = self.all.len();
                Ok(())
            }
            _ => Err(FeedError::ReplayUnavailable(from, "not in the recording".into())),
        }
    }
}
