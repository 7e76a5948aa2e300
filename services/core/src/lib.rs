//! The runtime every sidecar service shares.
//!
//! A service is a state machine over the engine's output: for each engine seq it receives an
//! [`EventBatch`] (the events of that one command, possibly none) and applies it inside a SQLite
//! transaction on its own database. The runner stores the batch's seq in the same transaction,
//! so after any crash the service resumes exactly after the last batch it committed: nothing is
//! lost and nothing is applied twice. A gap in the seqs it is fed makes the runner ask its feed
//! to replay from the first missing seq.

mod db;
mod feed;
mod runner;
pub mod testkit;

pub use db::{insert_rows_sql, open_db, ServiceDb};
pub use feed::{CommandSink, EventBatch, EventFeed, FeedError, MemoryFeed, SinkError};
pub use runner::{ServiceRunner, StepReport};

/// What a service does with engine events.
pub trait Service: Send {
    /// A short, stable name: the key of the service's cursor row.
    fn name(&self) -> &'static str;

    /// Creates the service's tables. Must be idempotent (`CREATE TABLE IF NOT EXISTS ...`).
    fn migrate(&mut self, conn: &rusqlite::Connection) -> rusqlite::Result<()>;

    /// Applies one command's events inside `tx`. The runner commits `tx` together with the
    /// batch's seq; an error rolls both back and stops the service.
    fn apply(&mut self, tx: &rusqlite::Transaction<'_>, batch: &EventBatch) -> Result<(), ServiceError>;

    /// Runs once per transaction, after its last `apply` and before the runner writes the cursor
    /// and commits: a service that keeps state in memory writes what the transaction changed,
    /// once per row instead of once per event. Default: nothing.
    fn before_commit(&mut self, _tx: &rusqlite::Transaction<'_>) -> Result<(), ServiceError> {
        Ok(())
    }

    /// Runs after each commit, outside any transaction: side effects driven by committed state
    /// (sending the notification outbox, submitting queued commands). Default: nothing.
    fn after_commit(&mut self, _conn: &rusqlite::Connection) -> Result<(), ServiceError> {
        Ok(())
    }

    /// Runs when the transaction that held this service's last `apply` calls was rolled back
    /// (an `apply` or the commit failed): forget anything remembered from it. Default: nothing.
    fn rolled_back(&mut self) {}

    /// Runs when a poll brought nothing new: timed work such as retrying a failed delivery.
    /// Default: nothing.
    fn on_idle(&mut self, _conn: &rusqlite::Connection) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("feed: {0}")]
    Feed(#[from] FeedError),
    #[error("{0}")]
    Invariant(String),
}
