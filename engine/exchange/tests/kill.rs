//! Kill test: the `exchange` binary under load is killed with SIGKILL at 20 random moments and
//! restarted each time. Every command whose events were published must be in the journal after
//! the restart, in order, exactly once; the final state equals an uninterrupted run's.

use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use engine_core::{Command, Engine, Limits};
use engine_node::output::{read_event_file, PublishedCommand};
use engine_node::source::{write_command_file, CommandSource, Generator, Next};
use journal::JournalReader;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const COMMANDS: u64 = 1_000_000;
const KILLS: usize = 20;

fn spawn(dir: &Path, run: usize, rate: u64) -> Child {
    Process::new(env!("CARGO_BIN_EXE_exchange"))
        .arg("node")
        .env("EXCHANGE_NODE_DATA_DIR", dir.join("data"))
        .env("EXCHANGE_SOURCE_KIND", "file")
        .env("EXCHANGE_SOURCE_PATH", dir.join("commands.bin"))
        .env("EXCHANGE_SOURCE_RATE", rate.to_string())
        .env("EXCHANGE_JOURNAL_RETAIN_ALL", "true")
        .env("EXCHANGE_SOURCE_EXIT_AT_END", "true")
        .env("EXCHANGE_OUTPUT_KIND", "file")
        .env("EXCHANGE_OUTPUT_PATH", dir.join(format!("events-{run:02}.bin")))
        .env("EXCHANGE_PIPELINE_WAIT", "blocking")
        // Both layouts, by turns: each must lose nothing it published.
        .env("EXCHANGE_PIPELINE_LAYOUT", if run.is_multiple_of(2) { "parallel" } else { "fused" })
        .env("EXCHANGE_PIPELINE_RING_SIZE", "4096")
        .env("EXCHANGE_SNAPSHOT_INTERVAL_S", "1")
        .env("EXCHANGE_JOURNAL_SEGMENT_BYTES_MAX", "2000000")
        .env("EXCHANGE_ENGINE_ACCOUNTS_MAX", "256")
        .env("EXCHANGE_ENGINE_ORDERS_MAX", "8192")
        .env("EXCHANGE_ENGINE_POSITIONS_MAX", "8192")
        .env("EXCHANGE_ENGINE_INSTRUMENTS_MAX", "16")
        .env("EXCHANGE_ENGINE_LEVELS_PER_BOOK_MAX", "65536")
        .env("EXCHANGE_LOG_FILTER", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the exchange binary")
}

/// Journal records 1..=n, checked against the command file: seqs contiguous from 1, payloads
/// equal to the file's commands in order. Returns the last seq.
fn check_journal(dir: &Path, commands: &[Command]) -> u64 {
    let mut reader = JournalReader::open(&dir.join("data").join("journal"), 1).expect("journal");
    let mut expected = 1u64;
    while let Some(record) = reader.next().expect("a clean journal after recovery") {
        assert_eq!(record.seq, expected, "journal seqs are contiguous: no gap, no duplicate");
        let command = engine_proto::decode_command(record.payload).expect("decodable");
        assert_eq!(command, commands[(record.seq - 1) as usize], "seq {} holds the file's command", record.seq);
        expected += 1;
    }
    expected - 1
}

/// The event log holds seqs 1..=last with no gap, each entry exactly what a replay of the
/// journal produces, and equal to every batch that was actually published before a kill.
fn check_event_log(dir: &Path, published: &[PublishedCommand], last: u64) {
    let limits = Limits { accounts_max: 256, orders_max: 8_192, positions_max: 8_192, ..Limits::small() };
    let mut engine: Engine = Engine::new(limits);
    let mut journal = JournalReader::open(&dir.join("data").join("journal"), 1).expect("journal");
    let mut log = JournalReader::open(&dir.join("data").join("events"), 1).expect("event log");
    let mut by_seq = published.iter().peekable();
    let mut events = Vec::new();
    let mut decoded = Vec::new();
    for seq in 1..=last {
        let command = journal.next().expect("journal").expect("a journal record");
        assert_eq!(command.seq, seq);
        events.clear();
        engine.apply(seq, command.ts_ns, &engine_proto::decode_command(command.payload).expect("command"), &mut events);
        let entry = log.next().expect("event log").unwrap_or_else(|| panic!("event log ends before seq {seq}"));
        assert_eq!(entry.seq, seq, "event log seqs are contiguous");
        let header = engine_proto::decode_batch(entry.payload, &mut decoded).expect("a batch");
        assert_eq!((header.seq, header.ts_ns), (seq, command.ts_ns));
        assert_eq!(decoded, events, "event log entry {seq} equals the replayed events");
        if by_seq.peek().is_some_and(|p| p.seq == seq) {
            let p = by_seq.next().expect("peeked");
            assert_eq!((p.ts_ns, &p.events), (command.ts_ns, &events), "published batch {seq} equals the log's");
        }
    }
    assert!(log.next().expect("event log").is_none(), "nothing beyond the last seq");
    assert!(by_seq.next().is_none(), "every published batch was checked");
}

#[test]
fn sigkill_at_20_random_moments_loses_no_published_command() {
    let seed: u64 = std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    println!("SEED={seed}");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut generator = Generator::new(seed, COMMANDS, 50, 0);
    let mut commands = Vec::new();
    while let Next::Command(c) = generator.next() {
        commands.push(c);
    }
    write_command_file(&dir.path().join("commands.bin"), &commands).expect("command file");

    let deadline = Instant::now() + Duration::from_secs(240);
    let mut published_max = 0u64;
    let mut published = Vec::new();
    let mut kills = 0;
    let mut run = 0;
    while kills < KILLS {
        assert!(Instant::now() < deadline, "SEED={seed}: the kill test ran out of time");
        let mut child = spawn(dir.path(), run, 100_000);
        std::thread::sleep(Duration::from_millis(rng.gen_range(20..400)));
        let finished = child.try_wait().expect("poll the child").is_some();
        if !finished {
            child.kill().expect("SIGKILL");
            kills += 1;
        }
        let status = child.wait().expect("reap");
        assert!(!finished || status.success(), "SEED={seed}: run {run} failed: {status:?}");

        // What this run published: strictly increasing seqs, each beyond the previous runs'.
        let events = std::fs::read(dir.path().join(format!("events-{run:02}.bin"))).unwrap_or_default();
        for batch in read_event_file(&events) {
            assert!(batch.seq > published_max, "SEED={seed}: seq {} published twice or out of order", batch.seq);
            published_max = batch.seq;
            published.push(batch);
        }
        // Recover as the next start-up will, then check every published command is journaled.
        let limits = Limits { accounts_max: 256, orders_max: 8_192, positions_max: 8_192, ..Limits::small() };
        let recovered = engine_node::recover(&dir.path().join("data"), limits, 3).expect("recovery after SIGKILL");
        let journaled = check_journal(dir.path(), &commands);
        assert!(
            journaled >= published_max && recovered.last_seq >= published_max,
            "SEED={seed}: published up to {published_max}, journal ends at {journaled}"
        );
        run += 1;
        if finished {
            break;
        }
    }
    // Let the last run finish the file uninterrupted.
    loop {
        let mut child = spawn(dir.path(), run, 0);
        let status = child.wait().expect("reap");
        assert!(status.success(), "SEED={seed}: final run failed: {status:?}");
        run += 1;
        let limits = Limits { accounts_max: 256, orders_max: 8_192, positions_max: 8_192, ..Limits::small() };
        let recovered = engine_node::recover(&dir.path().join("data"), limits, 3).expect("recover");
        if recovered.last_seq == commands.len() as u64 {
            let mut reference: Engine = Engine::new(limits);
            let mut events = Vec::new();
            for (i, c) in commands.iter().enumerate() {
                events.clear();
                reference.apply(i as u64 + 1, 0, c, &mut events);
            }
            assert_eq!(recovered.engine.state_hash(), reference.state_hash(), "SEED={seed}: final state");
            assert_eq!(check_journal(dir.path(), &commands), commands.len() as u64);
            check_event_log(dir.path(), &published, commands.len() as u64);
            break;
        }
        assert!(Instant::now() < deadline, "SEED={seed}: the kill test ran out of time");
    }
    println!("kills: {kills}, runs: {run}, last published seq before the final run: {published_max}");
    assert_eq!(kills, KILLS, "SEED={seed}: every kill landed while the node was running");
}
