//! The hand-off of engine snapshots from the matching stage to the snapshot writer.
//!
//! Matching must never wait for the writer: the writer waits until the journal and the event log
//! cover a snapshot's seq, which takes the pipeline's progress, and a matching stage blocked on a
//! full queue would stop that progress (a deadlock, reached when snapshot requests come faster
//! than snapshots are written). So the hand-off holds one snapshot: a newer one replaces a pending
//! older one, which is dropped (it would have been superseded on disk at once anyway). Memory
//! stays bounded at one pending snapshot plus the one being written, and the newest snapshot,
//! the one taken at shutdown included, is always the one written.

use std::sync::{Arc, Condvar, Mutex};

/// A snapshot: the seq it covers and the engine's serialized state.
type Snapshot = (u64, Vec<u8>);

#[derive(Debug, Default)]
struct Shared {
    /// The pending snapshot, and whether the sender is gone.
    state: Mutex<(Option<Snapshot>, bool)>,
    ready: Condvar,
}

/// The matching stage's end.
#[derive(Debug)]
pub struct SnapshotSender(Arc<Shared>);

/// The snapshot writer's end.
#[derive(Debug)]
pub struct SnapshotReceiver(Arc<Shared>);

pub fn snapshot_mailbox() -> (SnapshotSender, SnapshotReceiver) {
    let shared = Arc::new(Shared::default());
    (SnapshotSender(Arc::clone(&shared)), SnapshotReceiver(shared))
}

impl SnapshotSender {
    /// Hands over the state at `seq`; never waits. Returns the seq of a pending snapshot it
    /// replaced.
    pub fn put(&self, seq: u64, bytes: Vec<u8>) -> Option<u64> {
        let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        let replaced = state.0.replace((seq, bytes)).map(|(old, _)| old);
        drop(state);
        self.0.ready.notify_one();
        replaced
    }
}

impl Drop for SnapshotSender {
    fn drop(&mut self) {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        self.0.ready.notify_one();
    }
}

impl SnapshotReceiver {
    /// The next snapshot, waiting for one; `None` once the sender is gone and nothing is pending.
    pub fn take(&self) -> Option<Snapshot> {
        let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(snapshot) = state.0.take() {
                return Some(snapshot);
            }
            if state.1 {
                return None;
            }
            state = self.0.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_snapshot_replaces_a_pending_one_and_the_last_is_delivered_after_close() {
        let (tx, rx) = snapshot_mailbox();
        assert_eq!(tx.put(10, vec![1]), None);
        assert_eq!(tx.put(20, vec![2]), Some(10), "the pending one is replaced");
        assert_eq!(rx.take(), Some((20, vec![2])));
        tx.put(30, vec![3]);
        drop(tx);
        assert_eq!(rx.take(), Some((30, vec![3])), "what is pending at close is still delivered");
        assert_eq!(rx.take(), None);
    }

    #[test]
    fn the_receiver_waits_for_a_snapshot() {
        let (tx, rx) = snapshot_mailbox();
        let writer = std::thread::spawn(move || (rx.take(), rx.take()));
        std::thread::sleep(std::time::Duration::from_millis(20));
        tx.put(5, vec![5]);
        std::thread::sleep(std::time::Duration::from_millis(20));
        drop(tx);
        assert_eq!(writer.join().expect("writer"), (Some((5, vec![5])), None));
    }
}
