//! Where the publisher sends each command's events once it is durable per the journal mode.

use std::io::Write;

use engine_core::Event;
use engine_proto::{encode_event, EVENT_LEN_MAX};

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

/// Appends frames `seq u64 | ts u64 | count u32 | count x (len u16 | engine-proto event)` to a
/// file, one `write` per batch.
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
        self.buf.extend_from_slice(&seq.to_le_bytes());
        self.buf.extend_from_slice(&ts_ns.to_le_bytes());
        self.buf.extend_from_slice(&(events.len() as u32).to_le_bytes());
        let mut frame = [0u8; EVENT_LEN_MAX];
        for e in events {
            let n = encode_event(e, &mut frame).unwrap_or(0);
            self.buf.extend_from_slice(&(n as u16).to_le_bytes());
            self.buf.extend_from_slice(&frame[..n]);
        }
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
    let take = |at: &mut usize, n: usize| -> Option<&[u8]> {
        let s = bytes.get(*at..*at + n)?;
        *at += n;
        Some(s)
    };
    while let Some(head) = take(&mut at, 20) {
        let seq = u64::from_le_bytes(head[..8].try_into().unwrap_or_default());
        let ts_ns = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default());
        let count = u32::from_le_bytes(head[16..20].try_into().unwrap_or_default());
        let mut events = Vec::new();
        for _ in 0..count {
            let Some(len) = take(&mut at, 2) else { return out };
            let len = u16::from_le_bytes([len[0], len[1]]) as usize;
            let Some(frame) = take(&mut at, len) else { return out };
            match engine_proto::decode_event(frame) {
                Ok(e) => events.push(e),
                Err(_) => return out,
            }
        }
        out.push(PublishedCommand { seq, ts_ns, events });
    }
    out
}
