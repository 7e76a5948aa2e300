//! Start-up: newest valid snapshot, then the journal's tail, applied to a fresh engine.

use std::path::Path;
use std::time::Instant;

use engine_core::{Engine, Event, Limits};
use journal::{scan_journal, JournalReader, SnapshotStore};

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    #[error("snapshot at seq {seq}: {source}")]
    Snapshot { seq: u64, source: engine_core::SnapshotError },
    #[error("the journal starts at seq {first} but the newest snapshot is at seq {snapshot}: records are missing")]
    Missing { first: u64, snapshot: u64 },
    #[error("the snapshot at seq {snapshot} is ahead of the journal, which ends at seq {last}")]
    SnapshotAhead { snapshot: u64, last: u64 },
    #[error("journal record seq {seq}: {reason}")]
    BadCommand { seq: u64, reason: String },
    #[error("event log: {0}")]
    EventLog(String),
}

#[derive(Debug)]
pub struct Recovered {
    pub engine: Engine,
    /// Last journaled seq (0 for a new node).
    pub last_seq: u64,
    pub snapshot_seq: Option<u64>,
    pub replayed: u64,
    pub elapsed_s: f64,
}

/// Rebuilds the engine from `data_dir`. A torn journal tail is truncated (and logged); any other
/// damage is an error naming what is wrong and where.
pub fn recover(data_dir: &Path, limits: Limits, keep_snapshots: usize) -> Result<Recovered, RecoveryError> {
    recover_with(data_dir, limits, keep_snapshots, |_, _, _| Ok(()))
}

/// As [`recover`], handing the events of every replayed command to `on_events` (seq, ts, events):
/// the node uses it to regenerate event-log entries a crash left unwritten.
pub fn recover_with(
    data_dir: &Path,
    limits: Limits,
    keep_snapshots: usize,
    mut on_events: impl FnMut(u64, u64, &[Event]) -> Result<(), RecoveryError>,
) -> Result<Recovered, RecoveryError> {
    let started = Instant::now();
    let journal_dir = data_dir.join("journal");
    std::fs::create_dir_all(&journal_dir)
        .map_err(|source| journal::JournalError::Io { path: journal_dir.clone(), source })?;
    let report = scan_journal(&journal_dir, true)?;
    let store = SnapshotStore::new(&data_dir.join("snapshots"), keep_snapshots)?;
    let snapshot = store.latest()?;
    let snapshot_seq = snapshot.as_ref().map(|s| s.0);
    let last = report.last_seq.unwrap_or(0);
    let (mut engine, from) = match snapshot {
        Some((seq, bytes)) => {
            if seq > last && report.last_seq.is_some() {
                return Err(RecoveryError::SnapshotAhead { snapshot: seq, last });
            }
            let engine = Engine::restore(limits, &bytes).map_err(|source| RecoveryError::Snapshot { seq, source })?;
            (engine, seq + 1)
        }
        None => (Engine::new(limits), 1),
    };
    if let Some(first) = report.first_seq {
        if first > from {
            return Err(RecoveryError::Missing { first, snapshot: from - 1 });
        }
    }
    let mut replayed = 0u64;
    let mut events: Vec<Event> = Vec::with_capacity(1024);
    if report.records > 0 && from <= last {
        let mut reader = JournalReader::open(&journal_dir, from)?;
        let progress_every = 1_000_000;
        while let Some(record) = reader.next()? {
            let command = engine_proto::decode_command(record.payload)
                .map_err(|e| RecoveryError::BadCommand { seq: record.seq, reason: e.to_string() })?;
            events.clear();
            engine.apply(record.seq, record.ts_ns, &command, &mut events);
            on_events(record.seq, record.ts_ns, &events)?;
            replayed += 1;
            if replayed.is_multiple_of(progress_every) {
                tracing::info!(replayed, at_seq = record.seq, last_seq = last, "recovery: replaying the journal");
            }
        }
    }
    let last_seq = last.max(snapshot_seq.unwrap_or(0));
    let elapsed_s = started.elapsed().as_secs_f64();
    tracing::info!(
        snapshot_seq,
        replayed,
        last_seq,
        elapsed_s,
        state_hash = format_args!("{:016x}", engine.state_hash()),
        "recovered"
    );
    Ok(Recovered { engine, last_seq, snapshot_seq, replayed, elapsed_s })
}
