//! Appending with group commit and segment roll.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, JournalError};
use crate::record::{encode, RECORD_PAYLOAD_MAX};
use crate::segment::{list_segments, segment_path, sync_dir};

/// When a command counts as durable, and so when its events may be published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Publish without waiting for the journal (it is still written, behind).
    None,
    /// Publish once the batch is written to the OS (survives a process crash).
    Written,
    /// Publish once the batch is `fdatasync`ed (survives a power loss).
    Fsync,
}

impl std::str::FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Durability, String> {
        match s {
            "none" => Ok(Durability::None),
            "written" => Ok(Durability::Written),
            "fsync" => Ok(Durability::Fsync),
            other => Err(format!("unknown durability {other:?}: expected none, written or fsync")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct JournalConfig {
    pub dir: PathBuf,
    /// A segment is rolled once it reaches this size.
    pub segment_bytes_max: u64,
    pub durability: Durability,
}

#[derive(Debug)]
pub struct JournalWriter {
    config: JournalConfig,
    file: File,
    path: PathBuf,
    segment_bytes: u64,
    buf: Vec<u8>,
    last_seq: u64,
    /// Seq of the last record written to the OS (and synced, in `fsync` mode).
    committed_seq: u64,
}

impl JournalWriter {
    /// Opens the journal for appending after `last_seq` (from `scan_journal`, 0 when empty).
    pub fn open(config: JournalConfig, last_seq: u64) -> Result<JournalWriter, JournalError> {
        std::fs::create_dir_all(&config.dir).at(&config.dir)?;
        let segments = list_segments(&config.dir)?;
        let path = match segments.last() {
            Some(s) => s.path.clone(),
            None => segment_path(&config.dir, last_seq + 1),
        };
        let file = OpenOptions::new().create(true).append(true).open(&path).at(&path)?;
        if segments.is_empty() {
            sync_dir(&config.dir)?;
        }
        let segment_bytes = file.metadata().at(&path)?.len();
        Ok(JournalWriter {
            config,
            file,
            path,
            segment_bytes,
            buf: Vec::with_capacity(1 << 20),
            last_seq,
            committed_seq: last_seq,
        })
    }

    /// Buffers one record. Seqs must follow each other with no gap.
    pub fn append(&mut self, seq: u64, ts_ns: u64, payload: &[u8]) -> Result<(), JournalError> {
        if seq != self.last_seq + 1 {
            return Err(JournalError::OutOfOrder { seq, last: self.last_seq });
        }
        if payload.len() > RECORD_PAYLOAD_MAX {
            return Err(JournalError::TooLarge { len: payload.len(), max: RECORD_PAYLOAD_MAX });
        }
        encode(&mut self.buf, seq, ts_ns, payload);
        self.last_seq = seq;
        Ok(())
    }

    /// Writes the buffered batch with one `write`, and one `fdatasync` in `fsync` mode; rolls the
    /// segment when it is full. Returns the seq now committed.
    pub fn commit(&mut self) -> Result<u64, JournalError> {
        if !self.buf.is_empty() {
            self.file.write_all(&self.buf).at(&self.path)?;
            self.segment_bytes += self.buf.len() as u64;
            self.buf.clear();
            if self.config.durability == Durability::Fsync {
                self.file.sync_data().at(&self.path)?;
            }
            self.committed_seq = self.last_seq;
            if self.segment_bytes >= self.config.segment_bytes_max {
                self.roll()?;
            }
        }
        Ok(self.committed_seq)
    }

    /// Starts the next segment. No sync of the sealed one: in `fsync` mode every batch in it is
    /// already synced, and in `none` and `written` modes durability means surviving a process
    /// crash, which the OS already guarantees for written bytes. (Syncing a whole sealed segment
    /// here stalled the writer's stage for ~100 ms at each roll.)
    fn roll(&mut self) -> Result<(), JournalError> {
        let path = segment_path(&self.config.dir, self.last_seq + 1);
        self.file = OpenOptions::new().create(true).append(true).open(&path).at(&path)?;
        sync_dir(&self.config.dir)?;
        self.path = path;
        self.segment_bytes = 0;
        Ok(())
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    pub fn committed_seq(&self) -> u64 {
        self.committed_seq
    }

    pub fn dir(&self) -> &Path {
        &self.config.dir
    }
}
