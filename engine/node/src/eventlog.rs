//! The event log: every published command's event batch (engine-proto `batch`), one journal
//! record per seq, under `<data_dir>/events`. Late subscribers replay from it.
//!
//! It is written by the publisher stage after each ring batch. A crash can leave its tail behind
//! the command journal; at start-up the node regenerates the missing entries by replaying the
//! journal (the engine is deterministic, so the bytes are the ones that would have been written).
//! Snapshots are only written once the event log covers them, so that replay always starts at or
//! before the end of the event log.

use std::path::{Path, PathBuf};

use engine_core::Event;
use engine_proto::encode_batch;
use journal::{scan_journal, Durability, JournalConfig, JournalError, JournalWriter};

use crate::output::EventOutput;

pub fn event_log_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("events")
}

/// Opens the event log for appending; returns it with its last seq (0 when empty).
pub fn open_event_log(data_dir: &Path, segment_bytes_max: u64) -> Result<(JournalWriter, u64), JournalError> {
    let dir = event_log_dir(data_dir);
    std::fs::create_dir_all(&dir).map_err(|source| JournalError::Io { path: dir.clone(), source })?;
    let report = scan_journal(&dir, true)?;
    let last = report.last_seq.unwrap_or(0);
    let config = JournalConfig { dir, segment_bytes_max, durability: Durability::Written };
    Ok((JournalWriter::open(config, last)?, last))
}

/// Appends one batch (skipping seqs the log already holds).
pub fn append_batch(
    log: &mut JournalWriter,
    seq: u64,
    ts_ns: u64,
    events: &[Event],
    buf: &mut Vec<u8>,
) -> Result<(), JournalError> {
    if seq <= log.last_seq() {
        return Ok(());
    }
    buf.clear();
    encode_batch(seq, ts_ns, events, buf).map_err(|e| JournalError::Corrupt {
        file: PathBuf::from("<event log>"),
        offset: seq,
        reason: format!("event does not encode: {e}"),
    })?;
    log.append(seq, ts_ns, buf)
}

/// An output that writes the event log, then hands the batch on.
#[derive(Debug)]
pub struct EventLogOutput<O> {
    log: JournalWriter,
    buf: Vec<u8>,
    inner: O,
}

impl<O: EventOutput> EventLogOutput<O> {
    pub fn new(log: JournalWriter, inner: O) -> Self {
        EventLogOutput { log, buf: Vec::with_capacity(4096), inner }
    }
}

impl<O: EventOutput> EventOutput for EventLogOutput<O> {
    fn publish(&mut self, seq: u64, ts_ns: u64, events: &[Event]) {
        if let Err(e) = append_batch(&mut self.log, seq, ts_ns, events, &mut self.buf) {
            tracing::error!("event log: {e}; stopping the node");
            std::process::exit(70);
        }
        self.inner.publish(seq, ts_ns, events);
    }

    fn flush(&mut self) {
        if let Err(e) = self.log.commit() {
            tracing::error!("event log: {e}; stopping the node");
            std::process::exit(70);
        }
        self.inner.flush();
    }
}

impl EventOutput for Box<dyn EventOutput> {
    fn publish(&mut self, seq: u64, ts_ns: u64, events: &[Event]) {
        (**self).publish(seq, ts_ns, events);
    }
    fn flush(&mut self) {
        (**self).flush();
    }
}
