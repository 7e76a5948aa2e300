//! Start-up validation of every segment: seq continuity, CRCs, and torn-tail repair.

use std::path::{Path, PathBuf};

use crate::error::{IoContext, JournalError};
use crate::record::{parse, Parsed, RECORD_HEADER_LEN};
use crate::segment::list_segments;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub records: u64,
    pub segments: usize,
    /// A torn tail that was cut off: file, byte offset, bytes dropped.
    pub truncated: Option<(PathBuf, u64, u64)>,
}

/// Validates the whole journal. With `repair`, a torn tail is truncated (and logged); without,
/// it is reported but left in place. Any other damage is an error naming the file and offset.
pub fn scan_journal(dir: &Path, repair: bool) -> Result<ScanReport, JournalError> {
    let segments = list_segments(dir)?;
    let mut report = ScanReport { segments: segments.len(), ..ScanReport::default() };
    let mut expected: Option<u64> = None;
    for (i, segment) in segments.iter().enumerate() {
        let last_segment = i + 1 == segments.len();
        let bytes = std::fs::read(&segment.path).at(&segment.path)?;
        let mut at = 0usize;
        let next = expected.unwrap_or(segment.first_seq);
        if next != segment.first_seq {
            return Err(JournalError::Gap {
                file: segment.path.clone(),
                offset: 0,
                expected: next,
                found: segment.first_seq,
            });
        }
        let mut next = next;
        while at < bytes.len() {
            match parse(&bytes[at..]) {
                Parsed::Valid { seq, total, .. } => {
                    if seq != next {
                        return Err(JournalError::Gap {
                            file: segment.path.clone(),
                            offset: at as u64,
                            expected: next,
                            found: seq,
                        });
                    }
                    report.first_seq.get_or_insert(seq);
                    report.last_seq = Some(seq);
                    report.records += 1;
                    next += 1;
                    at += total;
                }
                bad => {
                    if last_segment && !valid_record_after(&bytes, at, next) {
                        let dropped = (bytes.len() - at) as u64;
                        tracing::warn!(
                            file = %segment.path.display(),
                            offset = at,
                            dropped_bytes = dropped,
                            "journal has a torn tail{}",
                            if repair { "; truncating it" } else { "" }
                        );
                        if repair {
                            let file = std::fs::OpenOptions::new().write(true).open(&segment.path).at(&segment.path)?;
                            file.set_len(at as u64).at(&segment.path)?;
                            file.sync_all().at(&segment.path)?;
                        }
                        report.truncated = Some((segment.path.clone(), at as u64, dropped));
                        break;
                    }
                    let reason = match bad {
                        Parsed::Truncated => "record runs past the end of a sealed segment".to_string(),
                        Parsed::BadLength(len) => format!("implausible record length {len}"),
                        Parsed::BadCrc => "CRC32C mismatch".to_string(),
                        Parsed::Valid { .. } => unreachable!("handled above"),
                    };
                    return Err(JournalError::Corrupt { file: segment.path.clone(), offset: at as u64, reason });
                }
            }
        }
        expected = Some(next);
    }
    Ok(report)
}

/// Whether a valid record with a seq at or after `next` starts anywhere after `at`. A damaged
/// record followed by good ones is corruption, not a torn tail.
fn valid_record_after(bytes: &[u8], at: usize, next: u64) -> bool {
    let mut off = at + 1;
    while off + RECORD_HEADER_LEN <= bytes.len() {
        // Cheap filter before the CRC: the seq field must be plausible.
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[off + 8..off + 16]);
        let seq = u64::from_le_bytes(w);
        let reach = (bytes.len() - at) as u64 / RECORD_HEADER_LEN as u64 + 1;
        if seq >= next && seq <= next + reach {
            if let Parsed::Valid { .. } = parse(&bytes[off..]) {
                return true;
            }
        }
        off += 1;
    }
    false
}
