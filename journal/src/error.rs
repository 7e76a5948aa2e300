use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("corrupt journal record in {file} at byte offset {offset}: {reason}")]
    Corrupt { file: PathBuf, offset: u64, reason: String },
    #[error("journal gap in {file} at byte offset {offset}: expected seq {expected}, found {found}")]
    Gap { file: PathBuf, offset: u64, expected: u64, found: u64 },
    #[error("record for seq {seq} is out of order: the journal is at {last}")]
    OutOfOrder { seq: u64, last: u64 },
    #[error("record payload of {len} bytes exceeds the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("seq {seq} is no longer in the journal (oldest is {oldest})")]
    Retained { seq: u64, oldest: u64 },
}

pub(crate) trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T, JournalError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T, JournalError> {
        self.map_err(|source| JournalError::Io { path: path.to_path_buf(), source })
    }
}
