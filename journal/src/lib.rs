//! The engine node's durable log.
//!
//! - **Records**: `len u32 | crc32c u32 | seq u64 | ts_ns u64 | payload`, little-endian; the CRC
//!   covers the length, seq, timestamp and payload. The payload is an engine-proto command.
//! - **Segments**: files `journal-<first seq, 20 digits>.log`, rolled past a size limit.
//! - **Group commit**: records are appended to a buffer and written with one `write` (and, in
//!   `fsync` mode, one `fdatasync`) per ring batch.
//! - **Snapshots**: `snapshot-<seq>.snap` written to a temp file, fsynced, renamed, and the
//!   directory fsynced.
//! - **Recovery**: newest valid snapshot, then the records after it. A torn tail (an invalid
//!   record in the last segment with no valid record after it) is truncated and logged; any other
//!   invalid record stops recovery with an error naming the file and byte offset.

mod error;
mod reader;
mod record;
mod scan;
mod segment;
mod snapshot;
mod writer;

pub use error::JournalError;
pub use reader::{JournalReader, Record};
pub use record::{RECORD_HEADER_LEN, RECORD_PAYLOAD_MAX};
pub use scan::{scan_journal, ScanReport};
pub use segment::{list_segments, retain_from, Segment};
pub use snapshot::{SnapshotInfo, SnapshotStore};
pub use writer::{Durability, JournalConfig, JournalWriter};
