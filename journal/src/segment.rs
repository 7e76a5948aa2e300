//! Segment files: `journal-<first seq>.log` in one directory.

use std::path::{Path, PathBuf};

use crate::error::{IoContext, JournalError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Seq of the first record the segment holds (or will hold).
    pub first_seq: u64,
    pub path: PathBuf,
}

pub(crate) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("journal-{first_seq:020}.log"))
}

/// Segments in `dir`, ascending by first seq.
pub fn list_segments(dir: &Path) -> Result<Vec<Segment>, JournalError> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(digits) = name.strip_prefix("journal-").and_then(|n| n.strip_suffix(".log")) else { continue };
        if let Ok(first_seq) = digits.parse::<u64>() {
            segments.push(Segment { first_seq, path: entry.path() });
        }
    }
    segments.sort_by_key(|s| s.first_seq);
    Ok(segments)
}

/// Makes a directory entry change (create, rename, delete) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

/// Deletes sealed segments whose records all come before `seq` (a snapshot covers them). The
/// newest segment, which may be open for appending, is never touched. Returns how many went.
pub fn retain_from(dir: &Path, seq: u64) -> Result<usize, JournalError> {
    let segments = list_segments(dir)?;
    let mut removed = 0;
    for pair in segments.windows(2) {
        // `pair[0]` holds seqs [pair[0].first_seq, pair[1].first_seq).
        if pair[1].first_seq <= seq {
            std::fs::remove_file(&pair[0].path).at(&pair[0].path)?;
            removed += 1;
        }
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}
