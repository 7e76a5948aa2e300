//! All five services run side by side over a real engine's trading day and each commits every seq.

use std::sync::Arc;
use std::time::{Duration, Instant};

use services_core::testkit::{run_engine, trading_day, RecordingSink};
use services_core::{CommandSink, EventBatch, EventFeed, MemoryFeed};
use services_host::{db_path, start, ServiceName, ServicesConfig, Transport};

struct Memory {
    batches: Vec<EventBatch>,
    commands: RecordingSink,
}

impl Transport for Memory {
    fn feed(&self, _service: ServiceName) -> Result<Box<dyn EventFeed>, String> {
        Ok(Box::new(MemoryFeed::new(self.batches.clone())))
    }
    fn sink(&self) -> Result<Box<dyn CommandSink>, String> {
        Ok(Box::new(self.commands.clone()))
    }
}

fn cursor(path: &std::path::Path, service: &str) -> u64 {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.query_row("SELECT last_seq FROM service_cursor WHERE service = ?1", [service], |r| r.get::<_, i64>(0))
        .map(|v| v as u64)
        .unwrap_or(0)
}

#[test]
fn every_service_commits_every_seq_and_restarts_where_it_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, batches) = run_engine(&trading_day(10, 1_500, 5), 1_700_000_000_000_000_000);
    let last = batches.len() as u64;
    let config = ServicesConfig { users_master_key: Some("00".repeat(32)), ..ServicesConfig::default() };
    let transport = Arc::new(Memory { batches, commands: RecordingSink::default() });
    for round in 0..2 {
        let running = start(&ServiceName::ALL, &config, dir.path(), transport.clone()).expect("start");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let done = ServiceName::ALL.iter().all(|&n| cursor(&db_path(dir.path(), n), n.as_str()) == last);
            if done {
                break;
            }
            assert!(Instant::now() < deadline, "round {round}: services did not catch up");
            std::thread::sleep(Duration::from_millis(20));
        }
        running.stop().expect("clean stop");
    }
    // The funds and users services asked the engine for nothing on their own.
    assert!(transport.commands.is_empty());
}

/// Services dropped without a stop (their starter failed or panicked) stop anyway: the drop
/// returns instead of waiting for service loops that never end.
#[test]
fn dropping_running_services_stops_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = ServicesConfig { users_master_key: Some("00".repeat(32)), ..ServicesConfig::default() };
    let transport = Arc::new(Memory { batches: Vec::new(), commands: RecordingSink::default() });
    let running = start(&ServiceName::ALL, &config, dir.path(), transport).expect("start");
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(running);
        let _ = done_tx.send(());
    });
    done_rx.recv_timeout(Duration::from_secs(30)).expect("the drop returned");
}
