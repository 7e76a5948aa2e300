//! Where the publisher sends each command's events once it is durable per the journal mode.

use std::io::Write;

use engine_core::Event;
use engine_proto::{decode_batch, encode_batch};

pub trait EventOutput: Send {
    /// The events of the command `seq`, in order.
    fn publish(&mut self, seq: u64, ts_ns: u64, events: &[Event]);
    /// End of a ring batch: push what is buffered out.
    fn flush(&mut self);
}

/// Counts and drops.
#[derive(Debug, Default)]
pub struct NullOutput {
    pub commands: u64,
    pub events: u64,
}

impl EventOutput for NullOutput {
    fn publish(&mut self, _seq: u64, _ts_ns: u64, events: &[Event]) {
        self.commands += 1;
        self.events += events.len() as u64;
    }
    fn flush(&mut self) {}
}

/// Appends each command's event batch (engine-proto `batch`) behind a `u32` length, one
/// `write` per ring batch.
#[derive(Debug)]
pub struct FileOutput {
    file: std::fs::File,
    buf: Vec<u8>,
}

impl FileOutput {
    pub fn open(path: &std::path::Path) -> std::io::Result<FileOutput> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(FileOutput { file, buf: Vec::with_capacity(1 << 20) })
    }
}

impl EventOutput for FileOutput {
    fn publish(&mut self, seq: u64, ts_ns: u64, events: &[Event]) {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        if let Err(e) = encode_batch(seq, ts_ns, events, &mut self.buf) {
            tracing::error!("event output: seq {seq}: {e}");
            self.buf.truncate(at);
            return;
        }
        let len = (self.buf.len() - at - 4) as u32;
        self.buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }
    fn flush(&mut self) {
        if !self.buf.is_empty() {
            if let Err(e) = self.file.write_all(&self.buf) {
                tracing::error!("event output: {e}");
            }
            self.buf.clear();
        }
    }
}

/// A published command read back from an event file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedCommand {
    pub seq: u64,
    pub ts_ns: u64,
    pub events: Vec<Event>,
}

/// Parses an event file; a frame cut short at the end (a crash mid-write) ends the list.
pub fn read_event_file(bytes: &[u8]) -> Vec<PublishedCommand> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some(len) = bytes.get(at..at + 4) {
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let Some(frame) = bytes.get(at + 4..at + 4 + len) else { break };
        let mut events = Vec::new();
        match decode_batch(frame, &mut events) {
            Ok(h) => out.push(PublishedCommand { seq: h.seq, ts_ns: h.ts_ns, events }),
            Err(_) => break,
        }
        at += 4 + len;
    }
    out
}
