//! Atomic snapshot files: temp file, fsync, rename, directory fsync.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, JournalError};
use crate::segment::sync_dir;

const MAGIC: [u8; 8] = *b"EXSNAPF1";
const HEADER_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub seq: u64,
    pub path: PathBuf,
}

/// Snapshots of engine state, each tagged with the last applied seq.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
    /// How many snapshots to keep; older ones are pruned.
    keep: usize,
}

impl SnapshotStore {
    pub fn new(dir: &Path, keep: usize) -> Result<SnapshotStore, JournalError> {
        std::fs::create_dir_all(dir).at(dir)?;
        Ok(SnapshotStore { dir: dir.to_path_buf(), keep: keep.max(1) })
    }

    /// Writes the snapshot for `seq` atomically and prunes old ones.
    pub fn write(&self, seq: u64, state: &[u8]) -> Result<PathBuf, JournalError> {
        let path = self.dir.join(format!("snapshot-{seq:020}.snap"));
        let tmp = self.dir.join(format!("snapshot-{seq:020}.tmp"));
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(&MAGIC);
        header[8..16].copy_from_slice(&seq.to_le_bytes());
        header[16..24].copy_from_slice(&(state.len() as u64).to_le_bytes());
        header[24..28].copy_from_slice(&crc32c::crc32c(state).to_le_bytes());
        {
            let mut file = std::fs::File::create(&tmp).at(&tmp)?;
            file.write_all(&header).at(&tmp)?;
            file.write_all(state).at(&tmp)?;
            file.sync_all().at(&tmp)?;
        }
        std::fs::rename(&tmp, &path).at(&path)?;
        sync_dir(&self.dir)?;
        self.prune()?;
        Ok(path)
    }

    /// Snapshots on disk, newest first.
    pub fn list(&self) -> Result<Vec<SnapshotInfo>, JournalError> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir).at(&self.dir)? {
            let entry = entry.at(&self.dir)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(digits) = name.strip_prefix("snapshot-").and_then(|n| n.strip_suffix(".snap")) else {
                continue;
            };
            if let Ok(seq) = digits.parse::<u64>() {
                found.push(SnapshotInfo { seq, path: entry.path() });
            }
        }
        found.sort_by_key(|s| std::cmp::Reverse(s.seq));
        Ok(found)
    }

    /// The newest snapshot that reads back whole. Damaged ones are logged and passed over: the
    /// journal still holds every record after an older snapshot.
    pub fn latest(&self) -> Result<Option<(u64, Vec<u8>)>, JournalError> {
        for info in self.list()? {
            let bytes = std::fs::read(&info.path).at(&info.path)?;
            match decode(&bytes, info.seq) {
                Some(state) => return Ok(Some((info.seq, state.to_vec()))),
                None => tracing::warn!(file = %info.path.display(), "snapshot is damaged; trying an older one"),
            }
        }
        Ok(None)
    }

    /// Seq of the oldest snapshot kept, if any.
    pub fn oldest_seq(&self) -> Result<Option<u64>, JournalError> {
        Ok(self.list()?.last().map(|s| s.seq))
    }

    fn prune(&self) -> Result<(), JournalError> {
        for info in self.list()?.into_iter().skip(self.keep) {
            std::fs::remove_file(&info.path).at(&info.path)?;
        }
        // Leftover temp files from a crash mid-write.
        for entry in std::fs::read_dir(&self.dir).at(&self.dir)? {
            let entry = entry.at(&self.dir)?;
            if entry.file_name().to_str().is_some_and(|n| n.starts_with("snapshot-") && n.ends_with(".tmp")) {
                std::fs::remove_file(entry.path()).at(&entry.path())?;
            }
        }
        sync_dir(&self.dir)
    }
}

fn decode(bytes: &[u8], seq: u64) -> Option<&[u8]> {
    let header = bytes.get(..HEADER_LEN)?;
    let word = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().unwrap_or([0; 8]));
    if header[..8] != MAGIC || word(8) != seq {
        return None;
    }
    let state = bytes.get(HEADER_LEN..)?;
    let crc = u32::from_le_bytes(header[24..28].try_into().ok()?);
    (state.len() as u64 == word(16) && crc32c::crc32c(state) == crc).then_some(state)
}
