//! Applies a feed to a service exactly once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::db::ServiceDb;
use crate::feed::{EventBatch, EventFeed};
use crate::{Service, ServiceError};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepReport {
    pub applied: usize,
    /// Batches at or below the cursor (already applied) that were dropped.
    pub duplicates: usize,
    /// Times a gap made the runner ask for a replay.
    pub replays: usize,
}

/// Most batches one transaction commits, unless changed: a step takes what the feed has, so a
/// service that keeps up commits small transactions, and one that fell behind commits up to this
/// many at once, paying one `fsync` and one write of its hot index pages for all of them. 4,096
/// batches are 20 ms of a 100k trades/s stream; at 1,024 the funds service spent a third of its
/// time committing (`scripts/bench services`, `perf/RESULTS.md`).
pub const BATCH_MAX: usize = 4_096;

#[derive(Debug)]
pub struct ServiceRunner<S: Service> {
    db: ServiceDb,
    service: S,
    last_seq: u64,
    buf: Vec<EventBatch>,
    /// Most batches committed in one transaction.
    pub batch_max: usize,
}

impl<S: Service> ServiceRunner<S> {
    /// Opens the service's database, migrates it and reads its cursor.
    pub fn open(path: &std::path::Path, mut service: S) -> Result<ServiceRunner<S>, ServiceError> {
        let db = ServiceDb::open(path, service.name())?;
        service.migrate(&db.conn)?;
        let last_seq = db.last_seq()?;
        Ok(ServiceRunner { db, service, last_seq, buf: Vec::with_capacity(1024), batch_max: BATCH_MAX })
    }

    /// Last engine seq this service has committed.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    pub fn service(&self) -> &S {
        &self.service
    }

    pub fn service_mut(&mut self) -> &mut S {
        &mut self.service
    }

    pub fn conn(&self) -> &rusqlite::Connection {
        &self.db.conn
    }

    /// Asks the feed for everything after the cursor; call once after opening.
    pub fn resume(&mut self, feed: &mut dyn EventFeed) -> Result<(), ServiceError> {
        feed.replay_from(self.last_seq + 1)?;
        Ok(())
    }

    /// Polls once and commits what arrived, in order, in one transaction with the new cursor.
    pub fn step(&mut self, feed: &mut dyn EventFeed, timeout: Duration) -> Result<StepReport, ServiceError> {
        let mut report = StepReport::default();
        self.buf.clear();
        feed.poll(&mut self.buf, self.batch_max, timeout)?;
        if self.buf.is_empty() {
            self.service.on_idle(&self.db.conn)?;
            return Ok(report);
        }
        let name = self.db.name();
        let cursor = match self.commit_batches(name, &mut report) {
            Ok(cursor) => cursor,
            Err(e) => {
                self.service.rolled_back();
                return Err(e);
            }
        };
        self.last_seq = cursor;
        if report.replays > 0 {
            feed.replay_from(cursor + 1)?;
        }
        if report.applied > 0 {
            self.service.after_commit(&self.db.conn)?;
        }
        Ok(report)
    }

    /// Applies the contiguous batches in `buf` and commits them with the new cursor, in one
    /// transaction; returns the new cursor.
    fn commit_batches(&mut self, name: &'static str, report: &mut StepReport) -> Result<u64, ServiceError> {
        let tx = self.db.conn.transaction()?;
        let mut cursor = self.last_seq;
        for batch in &self.buf {
            if batch.seq <= cursor {
                report.duplicates += 1;
                continue;
            }
            if batch.seq != cursor + 1 {
                // A gap: commit what is contiguous, then replay from the first missing seq.
                report.replays += 1;
                tracing::warn!(service = name, expected = cursor + 1, got = batch.seq, "gap; replaying");
                break;
            }
            self.service.apply(&tx, batch)?;
            cursor = batch.seq;
            report.applied += 1;
        }
        if cursor > self.last_seq {
            self.service.before_commit(&tx)?;
            ServiceDb::set_last_seq(&tx, name, cursor)?;
        }
        tx.commit()?;
        Ok(cursor)
    }

    /// Steps until `stop` is set.
    pub fn run(&mut self, feed: &mut dyn EventFeed, stop: &AtomicBool) -> Result<(), ServiceError> {
        self.resume(feed)?;
        while !stop.load(Ordering::Acquire) {
            self.step(feed, Duration::from_millis(50))?;
        }
        Ok(())
    }
}
