//! Exactly-once: duplicates are dropped, gaps are replayed, a restart resumes after the cursor.

use std::time::Duration;

use engine_core::{BalanceReason, Event};
use services_core::{EventBatch, MemoryFeed, Service, ServiceError, ServiceRunner};

/// Sums deposits per account.
struct Tally;

impl Service for Tally {
    fn name(&self) -> &'static str {
        "tally"
    }
    fn migrate(&mut self, conn: &rusqlite::Connection) -> rusqlite::Result<()> {
        conn.execute_batch("CREATE TABLE IF NOT EXISTS tally (account INTEGER PRIMARY KEY, total INTEGER NOT NULL)")
    }
    fn apply(&mut self, tx: &rusqlite::Transaction<'_>, batch: &EventBatch) -> Result<(), ServiceError> {
        for e in &batch.events {
            if let Event::BalanceChanged { account, delta, reason: BalanceReason::Deposit, .. } = e {
                tx.execute(
                    "INSERT INTO tally (account, total) VALUES (?1, ?2)
                     ON CONFLICT (account) DO UPDATE SET total = total + excluded.total",
                    rusqlite::params![account, delta],
                )?;
            }
        }
        Ok(())
    }
}

fn batches(n: u64) -> Vec<EventBatch> {
    (1..=n)
        .map(|seq| EventBatch {
            seq,
            ts_ns: seq,
            events: if seq % 3 == 0 {
                vec![]
            } else {
                vec![Event::BalanceChanged {
                    account: (seq % 4) as u32,
                    delta: seq as i64,
                    cash: 0,
                    reason: BalanceReason::Deposit,
                    client_ref: 0,
                }]
            },
        })
        .collect()
}

fn total(runner: &ServiceRunner<Tally>) -> i64 {
    runner.conn().query_row("SELECT COALESCE(SUM(total), 0) FROM tally", [], |r| r.get(0)).expect("sum")
}

#[test]
fn duplicates_gaps_and_restarts_apply_each_seq_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tally.db");
    let all = batches(1_000);
    let expected: i64 = (1..=1_000i64).filter(|s| s % 3 != 0).sum();

    let mut feed = MemoryFeed::new(all[..400].to_vec());
    let mut runner = ServiceRunner::open(&path, Tally).expect("open");
    runner.resume(&mut feed).expect("resume");
    runner.batch_max = 64;
    while runner.step(&mut feed, Duration::ZERO).expect("step").applied > 0 {}
    assert_eq!(runner.last_seq(), 400);

    // A duplicate and a batch from the future (a gap) arrive before the rest.
    let mut feed = MemoryFeed::new(all.clone());
    feed.inject(all[10].clone());
    feed.inject(all[700].clone());
    let report = runner.step(&mut feed, Duration::ZERO).expect("step");
    assert_eq!((report.duplicates, report.replays, report.applied), (1, 1, 0));
    // The gap made the runner replay from 401; a restart in the middle resumes after the cursor.
    runner.step(&mut feed, Duration::ZERO).expect("step");
    let cursor = runner.last_seq();
    assert!(cursor > 400 && cursor < 1_000, "cursor {cursor}");
    drop(runner);
    let mut runner = ServiceRunner::open(&path, Tally).expect("reopen");
    assert_eq!(runner.last_seq(), cursor);
    let mut feed = MemoryFeed::new(all.clone());
    runner.resume(&mut feed).expect("resume");
    while runner.step(&mut feed, Duration::ZERO).expect("step").applied > 0 {}
    assert_eq!(runner.last_seq(), 1_000);
    assert_eq!(total(&runner), expected, "every deposit counted exactly once");

    // A fresh database fed everything in one go agrees.
    let fresh = dir.path().join("fresh.db");
    let mut runner = ServiceRunner::open(&fresh, Tally).expect("open");
    let mut feed = MemoryFeed::new(all);
    while runner.step(&mut feed, Duration::ZERO).expect("step").applied > 0 {}
    assert_eq!(total(&runner), expected);
}
