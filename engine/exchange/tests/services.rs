//! Split deployment over a real media driver: `exchange driver`, `exchange node` and
//! `exchange service all` as separate processes. Commands go in through the bus while the
//! services process is killed with SIGKILL mid-stream and restarted; afterwards every service's
//! database equals that of a service that never stopped (fed the node's event log), table by
//! table: no ledger entry, position, candle or outbox row lost or duplicated.

use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use engine_bus::{Bus, BusConfig};
use services_core::testkit::trading_day;
use services_core::{CommandSink, EventBatch, MemoryFeed, Service, ServiceRunner};

const MASTER_KEY: &str = "0101010101010101010101010101010101010101010101010101010101010101";

fn exchange(args: &[&str], driver: &Path, data: &Path) -> Child {
    Process::new(env!("CARGO_BIN_EXE_exchange"))
        .args(args)
        .env("EXCHANGE_BUS_DRIVER_DIR", driver)
        .env("EXCHANGE_NODE_DATA_DIR", data)
        .env("EXCHANGE_PIPELINE_WAIT", "blocking")
        .env("EXCHANGE_ENGINE_ACCOUNTS_MAX", "1024")
        .env("EXCHANGE_ENGINE_ORDERS_MAX", "16384")
        .env("EXCHANGE_ENGINE_POSITIONS_MAX", "16384")
        .env("EXCHANGE_ENGINE_INSTRUMENTS_MAX", "16")
        .env("EXCHANGE_ENGINE_LEVELS_PER_BOOK_MAX", "65536")
        .env("EXCHANGE_SERVICES_USERS_MASTER_KEY", MASTER_KEY)
        .env("EXCHANGE_LOG_FILTER", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start exchange")
}

fn stop(mut child: Child) {
    let _ = Process::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("poll").is_none() {
        assert!(Instant::now() < deadline, "a process did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn cursor(db: &Path, service: &str) -> u64 {
    let Ok(conn) = rusqlite::Connection::open(db) else { return 0 };
    conn.query_row("SELECT last_seq FROM service_cursor WHERE service = ?1", [service], |r| r.get::<_, i64>(0))
        .map(|v| v as u64)
        .unwrap_or(0)
}

/// Every table's rows, sorted, with wall-clock columns (`*_at`) left out.
fn dump(db: &Path) -> Vec<(String, Vec<String>)> {
    let conn = rusqlite::Connection::open(db).expect("open");
    let mut tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .expect("tables")
        .query_map([], |r| r.get(0))
        .expect("tables")
        .collect::<Result<_, _>>()
        .expect("tables");
    tables.sort();
    tables
        .into_iter()
        .map(|table| {
            let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).expect("select");
            let keep: Vec<usize> =
                (0..stmt.column_count()).filter(|&i| !stmt.column_name(i).expect("name").ends_with("_at")).collect();
            let mut rows: Vec<String> = stmt
                .query_map([], |r| {
                    Ok(keep
                        .iter()
                        .map(|&i| format!("{:?}", r.get_ref(i).expect("value")))
                        .collect::<Vec<_>>()
                        .join("|"))
                })
                .expect("rows")
                .collect::<Result<_, _>>()
                .expect("rows");
            rows.sort();
            (table, rows)
        })
        .collect()
}

fn event_log(data: &Path) -> Vec<EventBatch> {
    let mut reader = journal::JournalReader::open(&data.join("events"), 1).expect("event log");
    let mut batches = Vec::new();
    while let Some(record) = reader.next().expect("read") {
        let mut events = Vec::new();
        let header = engine_proto::decode_batch(record.payload, &mut events).expect("batch");
        batches.push(EventBatch { seq: header.seq, ts_ns: header.ts_ns, events });
    }
    batches
}

fn reference<S: Service>(dir: &Path, service: S, batches: &[EventBatch]) -> PathBuf {
    let path = dir.join(format!("reference-{}.db", service.name()));
    if service.name() == "notifications" {
        seed_notification_prefs(&path);
    }
    let mut runner = ServiceRunner::open(&path, service).expect("open reference");
    let mut feed = MemoryFeed::new(batches.to_vec());
    while runner.step(&mut feed, Duration::ZERO).expect("step").applied > 0 {}
    path
}

/// Every trader wants e-mail for everything: the outbox then has rows to lose or duplicate.
fn seed_notification_prefs(db: &Path) {
    let service = services_notifications::NotificationService::new(
        services_notifications::NotifyConfig::default(),
        std::sync::Arc::new(services_notifications::SystemClock),
    )
    .expect("notifications");
    let runner = ServiceRunner::open(db, service).expect("open notifications db");
    for account in 1..=20 {
        let prefs = services_notifications::Prefs::email(account, &format!("trader{account}@example.com"));
        services_notifications::set_prefs(runner.conn(), &prefs).expect("prefs");
    }
}

struct NoCommands;

impl CommandSink for NoCommands {
    fn submit(&mut self, _: &engine_core::Command) -> Result<(), services_core::SinkError> {
        Ok(())
    }
}

#[test]
fn services_killed_mid_stream_end_equal_to_services_that_never_stopped() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let driver_dir = PathBuf::from(format!("/dev/shm/exchange-test-{}-services", std::process::id()));
    let _ = std::fs::remove_dir_all(&driver_dir);
    let (node_data, services_data) = (tmp.path().join("node"), tmp.path().join("services"));
    let driver = exchange(&["driver", driver_dir.to_str().expect("utf-8")], &driver_dir, tmp.path());
    assert!(
        engine_bus::wait_until(Duration::from_secs(30), || driver_dir.join("cnc.dat").exists()),
        "the media driver did not start"
    );
    let node = exchange(&["node"], &driver_dir, &node_data);
    std::fs::create_dir_all(services_data.join("services")).expect("services dir");
    seed_notification_prefs(&services_data.join("services").join("notifications.db"));
    let mut services = exchange(&["service", "all"], &driver_dir, &services_data);

    let bus = Bus::start(&BusConfig { driver_dir: driver_dir.display().to_string(), ..BusConfig::default() })
        .expect("connect to the driver");
    let mut sink = bus.command_sink().expect("sink");
    assert!(engine_bus::wait_until(Duration::from_secs(30), || sink.is_connected()), "the node is not subscribed");
    let commands = trading_day(20, 3_000, 11);
    let kill_at = commands.len() * 2 / 5;
    for (i, command) in commands.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(10);
        while sink.submit(command).is_err() {
            assert!(Instant::now() < deadline, "the node does not take commands");
            std::thread::sleep(Duration::from_millis(1));
        }
        if i % 200 == 199 {
            std::thread::sleep(Duration::from_millis(20));
        }
        if i == kill_at {
            let funds_db = services_data.join("services").join("funds.db");
            assert!(
                engine_bus::wait_until(Duration::from_secs(30), || cursor(&funds_db, "funds") > 0),
                "the services were applying events before the kill"
            );
            services.kill().expect("SIGKILL the services");
            let at_kill = cursor(&funds_db, "funds");
            println!("killed the services at funds seq {at_kill} of {} sent", i + 1);
            assert!(at_kill > 0 && at_kill < commands.len() as u64, "mid-stream: {at_kill}");
            services.wait().expect("reap");
            std::thread::sleep(Duration::from_millis(300));
            services = exchange(&["service", "all"], &driver_dir, &services_data);
        }
    }
    let last = commands.len() as u64;
    let names = ["funds", "portfolio", "users", "notifications", "marketdata"];
    let caught_up = engine_bus::wait_until(Duration::from_secs(120), || {
        names.iter().all(|n| cursor(&services_data.join("services").join(format!("{n}.db")), n) == last)
    });
    let cursors: Vec<u64> =
        names.iter().map(|n| cursor(&services_data.join("services").join(format!("{n}.db")), n)).collect();
    assert!(caught_up, "services did not reach seq {last}: {cursors:?}");
    stop(services);
    stop(node);
    stop(driver);

    let batches = event_log(&node_data);
    assert_eq!(batches.len() as u64, last, "the node published one batch per command");
    let references = [
        reference(tmp.path(), services_funds::FundsService::new(Box::new(NoCommands)), &batches),
        reference(tmp.path(), services_portfolio::PortfolioService::new(), &batches),
        reference(tmp.path(), services_users::UsersService::new(None), &batches),
        reference(
            tmp.path(),
            services_notifications::NotificationService::new(
                services_notifications::NotifyConfig::default(),
                std::sync::Arc::new(services_notifications::SystemClock),
            )
            .expect("notifications"),
            &batches,
        ),
        reference(tmp.path(), services_marketdata::MarketDataService::new(), &batches),
    ];
    for (name, reference) in names.iter().zip(&references) {
        let live = dump(&services_data.join("services").join(format!("{name}.db")));
        let expected = dump(reference);
        assert!(live.iter().map(|t| t.1.len()).sum::<usize>() > 1, "{name}: the database holds data");
        for ((table, rows), (_, want)) in live.iter().zip(&expected) {
            assert_eq!(rows.len(), want.len(), "{name}.{table}: row count");
            assert_eq!(rows, want, "{name}.{table}: rows");
        }
        assert_eq!(live.len(), expected.len(), "{name}: tables");
    }
    let _ = std::fs::remove_dir_all(&driver_dir);
}
