//! Sequential replay from any seq.

use std::path::{Path, PathBuf};

use crate::error::{IoContext, JournalError};
use crate::record::{parse, Parsed};
use crate::segment::{list_segments, Segment};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub seq: u64,
    pub ts_ns: u64,
    pub payload: &'a [u8],
}

/// Reads records in seq order from a chosen seq. One segment is in memory at a time.
#[derive(Debug)]
pub struct JournalReader {
    segments: Vec<Segment>,
    next_segment: usize,
    path: PathBuf,
    bytes: Vec<u8>,
    at: usize,
    from_seq: u64,
}

impl JournalReader {
    /// Positions the reader at the first record with `seq >= from_seq`.
    pub fn open(dir: &Path, from_seq: u64) -> Result<JournalReader, JournalError> {
        let segments = list_segments(dir)?;
        if let Some(first) = segments.first() {
            if from_seq < first.first_seq {
                return Err(JournalError::Retained { seq: from_seq, oldest: first.first_seq });
            }
        }
        // Start in the last segment whose first seq is <= from_seq.
        let start = segments.iter().rposition(|s| s.first_seq <= from_seq).unwrap_or(0);
        Ok(JournalReader { segments, next_segment: start, path: PathBuf::new(), bytes: Vec::new(), at: 0, from_seq })
    }

    /// The next record, or `None` at the end of the journal. A record cut short at the very end
    /// of the last segment (a write in progress) also ends the stream.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Record<'_>>, JournalError> {
        loop {
            if self.at >= self.bytes.len() {
                let Some(segment) = self.segments.get(self.next_segment) else { return Ok(None) };
                self.path = segment.path.clone();
                self.bytes.clear();
                let mut file = std::fs::File::open(&self.path).at(&self.path)?;
                std::io::Read::read_to_end(&mut file, &mut self.bytes).at(&self.path)?;
                self.at = 0;
                self.next_segment += 1;
                continue;
            }
            let last = self.next_segment == self.segments.len();
            match parse(&self.bytes[self.at..]) {
                Parsed::Valid { seq, ts_ns, total } => {
                    let start = self.at;
                    self.at += total;
                    if seq < self.from_seq {
                        continue;
                    }
                    let payload = &self.bytes[start + crate::record::RECORD_HEADER_LEN..start + total];
                    return Ok(Some(Record { seq, ts_ns, payload }));
                }
                Parsed::Truncated if last => {
                    self.at = self.bytes.len();
                    return Ok(None);
                }
                bad => {
                    return Err(JournalError::Corrupt {
                        file: self.path.clone(),
                        offset: self.at as u64,
                        reason: format!("{bad:?}"),
                    })
                }
            }
        }
    }
}
