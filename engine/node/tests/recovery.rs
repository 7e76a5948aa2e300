//! Recovery reproduces the uninterrupted run's state, with and without snapshots; a corrupt
//! journal record stops start-up naming the file and offset.

use std::path::Path;
use std::sync::Arc;

use engine_core::{Command, Engine, Limits};
use engine_node::source::{write_command_file, CommandSource, Generator, Next};
use engine_node::{recover, Config, Control};

fn limits() -> Limits {
    Limits { accounts_max: 256, orders_max: 8_192, positions_max: 8_192, ..Limits::small() }
}

fn commands(count: u64) -> Vec<Command> {
    let mut generator = Generator::new(11, count, 50, 0);
    let mut out = Vec::new();
    while let Next::Command(c) = generator.next() {
        out.push(c);
    }
    out
}

fn config(data: &Path, commands_file: &Path) -> Config {
    config_with(data, commands_file, "auto")
}

fn config_with(data: &Path, commands_file: &Path, layout: &str) -> Config {
    let env = [
        ("EXCHANGE_PIPELINE_LAYOUT", layout),
        ("EXCHANGE_NODE_DATA_DIR", data.to_str().expect("utf-8 path")),
        ("EXCHANGE_SOURCE_KIND", "file"),
        ("EXCHANGE_SOURCE_PATH", commands_file.to_str().expect("utf-8 path")),
        ("EXCHANGE_SOURCE_EXIT_AT_END", "true"),
        ("EXCHANGE_PIPELINE_WAIT", "blocking"),
        ("EXCHANGE_PIPELINE_RING_SIZE", "1024"),
        ("EXCHANGE_SNAPSHOT_INTERVAL_S", "0"),
        ("EXCHANGE_ENGINE_ACCOUNTS_MAX", "256"),
        ("EXCHANGE_ENGINE_ORDERS_MAX", "8192"),
        ("EXCHANGE_ENGINE_POSITIONS_MAX", "8192"),
        ("EXCHANGE_ENGINE_INSTRUMENTS_MAX", "16"),
        ("EXCHANGE_ENGINE_LEVELS_PER_BOOK_MAX", "65536"),
    ];
    Config::load(None, env.iter().map(|(k, v)| (k.to_string(), v.to_string()))).expect("config")
}

/// The uninterrupted reference: every command applied in one engine, seq = position + 1.
fn reference_hash(commands: &[Command]) -> u64 {
    let mut engine: Engine = Engine::new(limits());
    let mut events = Vec::new();
    for (i, c) in commands.iter().enumerate() {
        events.clear();
        engine.apply(i as u64 + 1, 0, c, &mut events);
    }
    engine.state_hash()
}

#[test]
fn recovery_reproduces_the_uninterrupted_state_with_and_without_snapshots() {
    for layout in ["parallel", "fused"] {
        recovery_reproduces_the_uninterrupted_state(layout);
    }
}

fn recovery_reproduces_the_uninterrupted_state(layout: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = commands(60_000);
    let expected = reference_hash(&all);

    // Interrupted: the first 25,000 commands, a clean stop (final snapshot), then the rest.
    let file = dir.path().join("commands.bin");
    write_command_file(&file, &all[..25_000]).expect("write");
    let data = dir.path().join("data");
    let config = |data: &Path, file: &Path| config_with(data, file, layout);
    let first = engine_node::run(&config(&data, &file), Arc::new(Control::default())).expect("first run");
    assert_eq!(first.layout.to_lowercase(), layout);
    assert_eq!(first.published_seq, 25_000);
    write_command_file(&file, &all).expect("write");
    let second = engine_node::run(&config(&data, &file), Arc::new(Control::default())).expect("second run");
    assert_eq!(
        (second.recovered_seq, second.last_seq, second.published_seq),
        (25_000, all.len() as u64, all.len() as u64)
    );

    let from_snapshot = recover(&data, limits(), 3).expect("recover");
    assert_eq!(from_snapshot.snapshot_seq, Some(all.len() as u64));
    assert_eq!(from_snapshot.engine.state_hash(), expected, "{layout}: snapshot recovery");

    // Without any snapshot: the whole journal is replayed.
    std::fs::remove_dir_all(data.join("snapshots")).expect("remove snapshots");
    let from_journal = recover(&data, limits(), 3).expect("recover");
    assert_eq!((from_journal.snapshot_seq, from_journal.replayed), (None, all.len() as u64));
    assert_eq!(from_journal.engine.state_hash(), expected, "{layout}: journal-only recovery");

    // An older snapshot plus the journal tail after it.
    let mut engine: Engine = Engine::new(limits());
    let mut events = Vec::new();
    for (i, c) in all[..30_000].iter().enumerate() {
        engine.apply(i as u64 + 1, 0, c, &mut events);
    }
    let mut bytes = Vec::new();
    engine.snapshot(&mut bytes);
    journal::SnapshotStore::new(&data.join("snapshots"), 3).expect("store").write(30_000, &bytes).expect("write");
    let from_both = recover(&data, limits(), 3).expect("recover");
    assert_eq!((from_both.snapshot_seq, from_both.replayed), (Some(30_000), all.len() as u64 - 30_000));
    assert_eq!(from_both.engine.state_hash(), expected, "{layout}: snapshot + tail recovery");
}

#[test]
fn a_corrupt_middle_record_stops_start_up_with_file_and_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = commands(5_000);
    let file = dir.path().join("commands.bin");
    write_command_file(&file, &all).expect("write");
    let data = dir.path().join("data");
    engine_node::run(&config(&data, &file), Arc::new(Control::default())).expect("run");
    std::fs::remove_dir_all(data.join("snapshots")).expect("remove snapshots");
    let segment = journal::list_segments(&data.join("journal")).expect("list").pop().expect("segment");
    let mut bytes = std::fs::read(&segment.path).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xFF;
    std::fs::write(&segment.path, &bytes).expect("write");
    let err = recover(&data, limits(), 3).expect_err("corruption must stop start-up").to_string();
    assert!(err.contains(&segment.path.display().to_string()), "{err}");
    assert!(err.contains("offset"), "{err}");
    // And the node refuses to start rather than continuing on a damaged journal.
    assert!(engine_node::run(&config(&data, &file), Arc::new(Control::default())).is_err());
}

/// Snapshot requests as fast as the receiver takes them, in both layouts: the node neither stalls
/// (the fused consumer must not wait on a snapshot writer that waits on it) nor loses a command.
#[test]
fn a_flood_of_snapshot_requests_neither_stalls_nor_loses_anything() {
    for layout in ["parallel", "fused"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let all = commands(40_000);
        let file = dir.path().join("commands.bin");
        write_command_file(&file, &all).expect("write");
        let data = dir.path().join("data");
        let config = config_with(&data, &file, layout);
        let control = Arc::new(Control::default());
        let flooding = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flood = {
            let (control, flooding) = (Arc::clone(&control), Arc::clone(&flooding));
            std::thread::spawn(move || {
                while flooding.load(std::sync::atomic::Ordering::Acquire) {
                    control.snapshot.store(true, std::sync::atomic::Ordering::Release);
                    std::hint::spin_loop();
                }
            })
        };
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done_tx.send(engine_node::run(&config, control));
        });
        let report = done_rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("{layout}: the node stalled under snapshot requests"))
            .expect("run");
        flooding.store(false, std::sync::atomic::Ordering::Release);
        flood.join().expect("flood");
        assert_eq!(report.published_seq, all.len() as u64, "{layout}");
        let recovered = recover(&data, limits(), 3).expect("recover");
        assert_eq!(recovered.engine.state_hash(), reference_hash(&all), "{layout}");
    }
}
