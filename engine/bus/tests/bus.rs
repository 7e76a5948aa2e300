//! The bus with real embedded media drivers: one per test, so tests run in parallel.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine_bus::{wait_until, Bus, BusConfig};
use engine_core::{Command, Event};
use engine_node::output::EventOutput;
use engine_node::source::{CommandSource, Next};
use engine_proto::encode_batch;
use journal::{Durability, JournalConfig, JournalWriter};
use services_core::{CommandSink, EventBatch, EventFeed, FeedError};

const WAIT: Duration = Duration::from_secs(30);

fn config() -> BusConfig {
    BusConfig::default()
}

/// A UDP port nothing listens on right now.
fn free_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a probe socket");
    socket.local_addr().expect("probe address").port()
}

/// Realistic batches from a small trading day, cycled and renumbered: `batch(seq)` is the batch
/// the engine would publish for `seq` (some empty, some with trades, one long enough to need
/// several Aeron fragments).
struct Batches {
    templates: Vec<EventBatch>,
}

impl Batches {
    fn new() -> Batches {
        let commands = services_core::testkit::trading_day(8, 400, 11);
        let (_, mut templates) = services_core::testkit::run_engine(&commands, 1_700_000_000_000_000_000);
        let long: Vec<Event> = templates.iter().flat_map(|b| b.events.iter().copied()).take(300).collect();
        templates.push(EventBatch { seq: 0, ts_ns: 0, events: long });
        templates.push(EventBatch { seq: 0, ts_ns: 0, events: Vec::new() });
        Batches { templates }
    }

    fn batch(&self, seq: u64) -> EventBatch {
        let t = &self.templates[(seq as usize * 7919) % self.templates.len()];
        EventBatch { seq, ts_ns: 1_000 + seq, events: t.events.clone() }
    }
}

fn poll_until(
    feed: &mut dyn EventFeed,
    got: &mut Vec<EventBatch>,
    n: usize,
    within: Duration,
) -> Result<(), FeedError> {
    let deadline = Instant::now() + within;
    while got.len() < n && Instant::now() < deadline {
        feed.poll(got, 4096, Duration::from_millis(20))?;
    }
    Ok(())
}

fn round_trip(config: BusConfig, count: u64) {
    let bus = Bus::embedded(&config).expect("bus");
    let mut feed = bus.event_feed().expect("feed");
    let mut output = bus.event_output().expect("output");
    assert!(wait_until(WAIT, || output.is_connected()), "the subscriber never connected");
    let batches = Batches::new();
    let mut got = Vec::new();
    for seq in 1..=count {
        let b = batches.batch(seq);
        output.publish(b.seq, b.ts_ns, &b.events);
        if seq % 512 == 0 {
            output.flush();
            feed.poll(&mut got, 4096, Duration::ZERO).expect("poll");
        }
    }
    output.flush();
    poll_until(&mut feed, &mut got, count as usize, WAIT).expect("poll");
    assert_eq!(got.len() as u64, count, "every batch arrives once");
    for (i, b) in got.iter().enumerate() {
        assert_eq!(*b, batches.batch(i as u64 + 1), "batch {} arrives intact and in order", i + 1);
    }
    let stats = output.stats();
    assert_eq!(stats.published.load(Ordering::Relaxed), count);
    assert_eq!(stats.not_delivered(), 0);
}

#[test]
fn event_batches_round_trip_over_ipc() {
    round_trip(config(), 20_000);
}

#[test]
fn event_batches_round_trip_over_udp() {
    let mut c = config();
    c.events_channel = format!("aeron:udp?endpoint=127.0.0.1:{}", free_udp_port());
    round_trip(c, 20_000);
}

/// Split deployment's events channel: multicast, kept on this host by the interface and TTL.
#[test]
fn event_batches_round_trip_over_multicast_on_loopback() {
    let mut c = config();
    c.events_channel = format!("aeron:udp?endpoint=239.255.0.1:{}|interface=127.0.0.1|ttl=0", free_udp_port());
    round_trip(c, 5_000);
}

#[test]
fn no_subscriber_is_counted_not_hidden() {
    let bus = Bus::embedded(&config()).expect("bus");
    let mut output = bus.event_output().expect("output");
    for seq in 1..=10 {
        output.publish(seq, seq, &[]);
    }
    let stats = output.stats();
    assert_eq!(stats.not_connected.load(Ordering::Relaxed), 10);
    assert_eq!(stats.published.load(Ordering::Relaxed), 0);
    assert_eq!(stats.not_delivered(), 10);
}

fn sample_commands() -> Vec<Command> {
    services_core::testkit::trading_day(4, 200, 5)
}

#[test]
fn commands_round_trip_and_garbage_is_counted() {
    let bus = Bus::embedded(&config()).expect("bus");
    let mut source = bus.command_source().expect("source");
    let mut sink = bus.command_sink().expect("sink");
    assert!(wait_until(WAIT, || sink.is_connected()), "the source never connected");
    let commands = sample_commands();
    let half = commands.len() / 2;
    for c in &commands[..half] {
        sink.submit(c).expect("submit");
    }
    sink.submit_raw(&[0xde, 0xad, 0xbe, 0xef]).expect("garbage is still a message");
    sink.submit_raw(&[]).expect("so is nothing");
    // Two commands in one message.
    let mut two = vec![0u8; 2 * engine_proto::COMMAND_LEN_MAX];
    let a = engine_proto::encode_command(&commands[half], &mut two).expect("encode");
    let b = engine_proto::encode_command(&commands[half + 1], &mut two[a..]).expect("encode");
    sink.submit_raw(&two[..a + b]).expect("two in one");
    for c in &commands[half + 2..] {
        sink.submit(c).expect("submit");
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while got.len() < commands.len() && Instant::now() < deadline {
        match source.next() {
            Next::Command(c) => got.push(c),
            Next::Idle => std::thread::sleep(Duration::from_micros(200)),
            Next::End => panic!("the source never ends"),
        }
    }
    assert_eq!(got, commands);
    let stats = source.stats();
    assert_eq!(stats.received.load(Ordering::Relaxed), commands.len() as u64);
    assert_eq!(stats.undecodable.load(Ordering::Relaxed), 2);
}

#[test]
fn commands_round_trip_over_udp() {
    let mut c = config();
    c.commands_channel = format!("aeron:udp?endpoint=127.0.0.1:{}", free_udp_port());
    let bus = Bus::embedded(&c).expect("bus");
    let mut source = bus.command_source().expect("source");
    let mut sink = bus.command_sink().expect("sink");
    assert!(wait_until(WAIT, || sink.is_connected()), "the source never connected");
    let commands = sample_commands();
    for c in &commands {
        sink.submit(c).expect("submit");
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while got.len() < commands.len() && Instant::now() < deadline {
        match source.next() {
            Next::Command(c) => got.push(c),
            _ => std::thread::sleep(Duration::from_micros(200)),
        }
    }
    assert_eq!(got, commands);
}

#[test]
fn a_sink_with_no_engine_reports_it() {
    let mut c = config();
    c.submit_retry_ms = 10;
    let bus = Bus::embedded(&c).expect("bus");
    let mut sink = bus.command_sink().expect("sink");
    let err = sink.submit(&Command::OpenSession).expect_err("nobody listens");
    assert!(err.to_string().contains("no engine node"), "{err}");
}

/// Appends `batch` to the event log and commits it, as the node does before publishing.
fn log_batch(log: &mut JournalWriter, b: &EventBatch, buf: &mut Vec<u8>) {
    buf.clear();
    encode_batch(b.seq, b.ts_ns, &b.events, buf).expect("encode");
    log.append(b.seq, b.ts_ns, buf).expect("append");
}

fn event_log(dir: &Path, last_seq: u64) -> JournalWriter {
    JournalWriter::open(
        JournalConfig { dir: dir.to_path_buf(), segment_bytes_max: 4 << 20, durability: Durability::Written },
        last_seq,
    )
    .expect("event log")
}

/// Checks the delivered batches are exactly seqs 1..=n, in order, intact.
fn assert_contiguous(got: &[EventBatch], batches: &Batches) {
    for (i, b) in got.iter().enumerate() {
        let seq = i as u64 + 1;
        assert_eq!(b.seq, seq, "no gap and no duplicate at position {i}");
        assert_eq!(*b, batches.batch(seq));
    }
}

#[test]
fn a_late_subscriber_catches_up_through_replay_while_live_goes_on() {
    const BEFORE: u64 = 100_000;
    const DURING: u64 = 60_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let events_dir = dir.path().join("events");
    let bus = Bus::embedded(&config()).expect("bus");
    let _server = bus.replay_server(&events_dir).expect("replay server");
    let batches = Arc::new(Batches::new());
    let published = Arc::new(AtomicU64::new(0));
    let subscriber_ready = Arc::new(AtomicBool::new(false));

    // The engine: log each batch (group commit), then publish it; 100,000 with nobody
    // listening, then more while the late subscriber catches up.
    let engine = {
        let (bus, batches, published, ready) =
            (bus.clone(), Arc::clone(&batches), Arc::clone(&published), Arc::clone(&subscriber_ready));
        std::thread::spawn(move || {
            let mut output = bus.event_output().expect("output");
            let mut log = event_log(&events_dir, 0);
            let mut buf = Vec::new();
            let mut pending = Vec::new();
            let started = Instant::now();
            for seq in 1..=BEFORE + DURING {
                if seq == BEFORE + 1 {
                    assert!(wait_until(WAIT, || ready.load(Ordering::Acquire)), "the subscriber never came");
                }
                let b = batches.batch(seq);
                log_batch(&mut log, &b, &mut buf);
                pending.push(b);
                if pending.len() == 64 || seq == BEFORE || seq == BEFORE + DURING {
                    log.commit().expect("commit");
                    for b in pending.drain(..) {
                        output.publish(b.seq, b.ts_ns, &b.events);
                    }
                    published.store(seq, Ordering::Release);
                    if seq > BEFORE {
                        // About 40,000 batches a second while the subscriber catches up.
                        let due = Duration::from_micros((seq - BEFORE) * 25);
                        if let Some(ahead) = due.checked_sub(started.elapsed()) {
                            std::thread::sleep(ahead);
                        }
                    }
                }
            }
            output.stats()
        })
    };
    assert!(wait_until(Duration::from_secs(60), || published.load(Ordering::Acquire) >= BEFORE), "publishing stalled");

    let mut feed = bus.event_feed().expect("feed");
    assert!(wait_until(WAIT, || feed.is_replay_connected()), "the replay server is not reachable");
    feed.replay_from(1).expect("replay");
    subscriber_ready.store(true, Ordering::Release);
    let mut got = Vec::new();
    poll_until(&mut feed, &mut got, (BEFORE + DURING) as usize, Duration::from_secs(120)).expect("poll");
    let output_stats = engine.join().expect("engine thread");
    // A little longer: nothing more (no duplicate) may arrive.
    feed.poll(&mut got, 4096, Duration::from_millis(200)).expect("poll");
    let stats = feed.stats();
    assert_eq!(got.len() as u64, BEFORE + DURING, "feed stats {stats:?}");
    assert_contiguous(&got, &batches);
    assert!(stats.replayed.load(Ordering::Relaxed) >= BEFORE, "the first 100,000 came by replay: {stats:?}");
    assert!(stats.live.load(Ordering::Relaxed) > 0, "the feed went live: {stats:?}");
    assert_eq!(output_stats.back_pressured.load(Ordering::Relaxed), 0);
    assert!(output_stats.not_connected.load(Ordering::Relaxed) >= 1, "nobody listened at first");
}

#[test]
fn a_gap_in_the_live_stream_is_filled_by_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events_dir = dir.path().join("events");
    let bus = Bus::embedded(&config()).expect("bus");
    let _server = bus.replay_server(&events_dir).expect("replay server");
    let batches = Batches::new();
    let mut feed = bus.event_feed().expect("feed");
    let mut output = bus.event_output().expect("output");
    assert!(wait_until(WAIT, || output.is_connected() && feed.is_replay_connected()), "connected");
    let mut log = event_log(&events_dir, 0);
    let mut buf = Vec::new();
    for seq in 1..=3_000 {
        let b = batches.batch(seq);
        log_batch(&mut log, &b, &mut buf);
        log.commit().expect("commit");
        // Seqs 1000..=1099 are logged but never reach the live stream.
        if !(1_000..1_100).contains(&seq) {
            output.publish(b.seq, b.ts_ns, &b.events);
        }
    }
    let mut got = Vec::new();
    poll_until(&mut feed, &mut got, 3_000, WAIT).expect("poll");
    assert_eq!(got.len(), 3_000);
    assert_contiguous(&got, &batches);
    assert!(feed.stats().gaps.load(Ordering::Relaxed) >= 1);
}

#[test]
fn replay_from_a_seq_the_log_no_longer_holds_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events_dir = dir.path().join("events");
    let batches = Batches::new();
    let mut log = event_log(&events_dir, 99);
    let mut buf = Vec::new();
    for seq in 100..=150 {
        log_batch(&mut log, &batches.batch(seq), &mut buf);
    }
    log.commit().expect("commit");
    let bus = Bus::embedded(&config()).expect("bus");
    let _server = bus.replay_server(&events_dir).expect("replay server");
    let mut feed = bus.event_feed().expect("feed");
    assert!(wait_until(WAIT, || feed.is_replay_connected()), "connected");
    feed.replay_from(1).expect("ask");
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    let err = loop {
        match feed.poll(&mut got, 100, Duration::from_millis(20)) {
            Err(e) => break e,
            Ok(_) => assert!(Instant::now() < deadline, "no answer"),
        }
    };
    assert!(matches!(err, FeedError::ReplayUnavailable(1, _)), "{err}");
    // From a seq it holds, it replays.
    feed.replay_from(120).expect("ask");
    poll_until(&mut feed, &mut got, 31, WAIT).expect("poll");
    assert_eq!(got.iter().map(|b| b.seq).collect::<Vec<_>>(), (120..=150).collect::<Vec<_>>());
}

#[test]
fn several_requesters_are_served_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events_dir = dir.path().join("events");
    let batches = Batches::new();
    let mut log = event_log(&events_dir, 0);
    let mut buf = Vec::new();
    for seq in 1..=5_000 {
        log_batch(&mut log, &batches.batch(seq), &mut buf);
    }
    log.commit().expect("commit");
    let bus = Bus::embedded(&config()).expect("bus");
    let server = bus.replay_server(&events_dir).expect("replay server");
    let mut feeds: Vec<_> = (0..3).map(|_| bus.event_feed().expect("feed")).collect();
    for (i, feed) in feeds.iter_mut().enumerate() {
        assert!(wait_until(WAIT, || feed.is_replay_connected()), "connected");
        feed.replay_from(1 + 1_000 * i as u64).expect("ask");
    }
    let mut got: Vec<Vec<EventBatch>> = vec![Vec::new(); feeds.len()];
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline && got.iter().enumerate().any(|(i, g)| g.len() < 5_000 - 1_000 * i) {
        for (feed, g) in feeds.iter_mut().zip(got.iter_mut()) {
            feed.poll(g, 1024, Duration::from_millis(1)).expect("poll");
        }
    }
    for (i, g) in got.iter().enumerate() {
        let from = 1 + 1_000 * i as u64;
        assert_eq!(g.iter().map(|b| b.seq).collect::<Vec<_>>(), (from..=5_000).collect::<Vec<_>>(), "requester {i}");
    }
    assert_eq!(server.stats().completed.load(Ordering::Relaxed), 3);
}

#[test]
fn the_driver_directory_is_removed_on_drop() {
    let bus = Bus::embedded(&config()).expect("bus");
    let dir = bus.dir().to_path_buf();
    assert!(dir.starts_with("/dev/shm") || dir.starts_with(std::env::temp_dir()), "{}", dir.display());
    assert!(dir.join("cnc.dat").exists(), "the driver runs in {}", dir.display());
    let output = bus.event_output().expect("output");
    let sink = bus.command_sink().expect("sink");
    drop(bus);
    assert!(dir.exists(), "adapters keep the driver alive");
    drop((output, sink));
    assert!(!dir.exists(), "{} is gone", dir.display());
}

#[test]
fn two_buses_get_two_directories() {
    let a = Bus::embedded(&config()).expect("bus a");
    let b = Bus::embedded(&config()).expect("bus b");
    assert_ne!(a.dir(), b.dir());
    // A client of an external driver (split deployment) shares its directory.
    let mut c = config();
    c.driver_dir = a.dir().to_string_lossy().into_owned();
    let client = Bus::start(&c).expect("connect");
    assert!(!client.is_embedded());
    let mut source = a.command_source().expect("source");
    let mut sink = client.command_sink().expect("sink");
    assert!(wait_until(WAIT, || sink.is_connected()), "connected through the shared driver");
    sink.submit(&Command::OpenSession).expect("submit");
    let mut got = None;
    assert!(wait_until(WAIT, || {
        if let Next::Command(c) = source.next() {
            got = Some(c);
        }
        got.is_some()
    }));
    assert_eq!(got, Some(Command::OpenSession));
}

#[test]
fn bad_tables_are_refused() {
    let mut c = config();
    c.events_stream = c.commands_stream;
    let err = Bus::embedded(&c).expect_err("same channel and stream twice");
    assert!(err.to_string().contains("events_stream"), "{err}");
    let mut c = config();
    c.term_length = 1000;
    assert!(Bus::embedded(&c).is_err());
    let mut c = config();
    c.commands_channel = "tcp://localhost:1".into();
    assert!(Bus::embedded(&c).is_err());
}

#[test]
fn the_node_configuration_has_a_bus_section() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("exchange.toml");
    std::fs::write(
        &path,
        "[bus]\ncommands_channel = \"aeron:udp?endpoint=127.0.0.1:40123\"\n\
         events_channel = \"aeron:udp?endpoint=239.255.0.1:40124|interface=127.0.0.1|ttl=0\"\n",
    )
    .expect("write");
    let env = [("EXCHANGE_BUS_TIMEOUT_MS".to_string(), "60000".to_string())];
    let config = engine_node::Config::load(Some(&path), env.into_iter()).expect("load");
    assert_eq!(config.bus.commands_channel, "aeron:udp?endpoint=127.0.0.1:40123");
    assert_eq!(config.bus.events_stream, 1002, "defaults fill the rest");
    assert_eq!(config.bus.replay_request_stream, 1003);
    assert_eq!(config.bus.replay_response_stream, 1004);
    assert_eq!(config.bus.timeout_ms, 60_000);
    let defaults = engine_node::Config::default().bus;
    assert_eq!(defaults, BusConfig::default());
    assert!(defaults.driver_dir.is_empty(), "an embedded driver by default");
}

fn node_config(data: &Path) -> engine_node::Config {
    let env = [
        ("EXCHANGE_NODE_DATA_DIR", data.to_str().expect("utf-8 path")),
        ("EXCHANGE_PIPELINE_WAIT", "blocking"),
        ("EXCHANGE_PIPELINE_RING_SIZE", "1024"),
        ("EXCHANGE_SNAPSHOT_INTERVAL_S", "0"),
        ("EXCHANGE_ENGINE_ACCOUNTS_MAX", "256"),
        ("EXCHANGE_ENGINE_ORDERS_MAX", "8192"),
        ("EXCHANGE_ENGINE_POSITIONS_MAX", "8192"),
        ("EXCHANGE_ENGINE_INSTRUMENTS_MAX", "16"),
        ("EXCHANGE_ENGINE_LEVELS_PER_BOOK_MAX", "65536"),
    ];
    engine_node::Config::load(None, env.iter().map(|(k, v)| (k.to_string(), v.to_string()))).expect("config")
}

/// The whole path: commands from a sink over the bus into a real engine node (`run_node`, a
/// client of this test's driver, as in split deployment), its events back over the bus to a
/// feed, equal to what one engine produces from the same commands.
#[test]
fn an_engine_node_runs_over_the_bus() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = node_config(dir.path());
    let bus = Bus::embedded(&config.bus).expect("bus");
    config.bus.driver_dir = bus.dir().to_string_lossy().into_owned();
    let control = Arc::new(engine_node::Control::default());
    let node = {
        let (control, config) = (Arc::clone(&control), config.clone());
        std::thread::spawn(move || engine_bus::run_node(&config, control))
    };
    let mut feed = bus.event_feed().expect("feed");
    let mut sink = bus.command_sink().expect("sink");
    assert!(wait_until(WAIT, || sink.is_connected()), "the node never subscribed to commands");
    let mut generator = engine_node::source::Generator::new(3, 5_000, 50, 0);
    let mut commands = Vec::new();
    while let Next::Command(c) = generator.next() {
        commands.push(c);
    }
    for c in &commands {
        while let Err(e) = sink.submit(c) {
            assert!(matches!(e, services_core::SinkError::BackPressure), "{e}");
        }
    }
    let mut got = Vec::new();
    poll_until(&mut feed, &mut got, commands.len(), WAIT).expect("poll");
    control.shutdown.store(true, Ordering::Release);
    let report = node.join().expect("node thread").expect("node run");
    assert_eq!(report.node.last_seq, commands.len() as u64);
    assert_eq!(report.source.received.load(Ordering::Relaxed), commands.len() as u64);
    assert_eq!(report.output.published.load(Ordering::Relaxed), commands.len() as u64);

    let mut engine: engine_core::Engine = engine_core::Engine::new(config.limits());
    let mut events = Vec::new();
    assert_eq!(got.len(), commands.len());
    for (i, (c, b)) in commands.iter().zip(&got).enumerate() {
        events.clear();
        engine.apply(i as u64 + 1, b.ts_ns, c, &mut events);
        assert_eq!(b.seq, i as u64 + 1);
        assert_eq!(b.events, events, "seq {}", b.seq);
    }
}

/// Records each applied seq under a primary key: a batch applied twice would fail.
struct Applied;

impl services_core::Service for Applied {
    fn name(&self) -> &'static str {
        "applied"
    }
    fn migrate(&mut self, conn: &rusqlite::Connection) -> rusqlite::Result<()> {
        conn.execute_batch("CREATE TABLE IF NOT EXISTS applied (seq INTEGER PRIMARY KEY, events INTEGER NOT NULL)")
    }
    fn apply(&mut self, tx: &rusqlite::Transaction<'_>, b: &EventBatch) -> Result<(), services_core::ServiceError> {
        tx.execute("INSERT INTO applied (seq, events) VALUES (?1, ?2)", (b.seq as i64, b.events.len() as i64))?;
        Ok(())
    }
}

/// A service stops part-way and restarts: it resumes through replay and applies every batch
/// exactly once.
#[test]
fn a_restarted_service_resumes_exactly_once_over_the_bus() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events_dir = dir.path().join("events");
    let db = dir.path().join("service.db");
    let batches = Batches::new();
    let mut log = event_log(&events_dir, 0);
    let mut buf = Vec::new();
    for seq in 1..=4_000 {
        log_batch(&mut log, &batches.batch(seq), &mut buf);
    }
    log.commit().expect("commit");
    let bus = Bus::embedded(&config()).expect("bus");
    let _server = bus.replay_server(&events_dir).expect("replay server");
    for stop_at in [1_500u64, 4_000] {
        let mut runner = services_core::ServiceRunner::open(&db, Applied).expect("open");
        let mut feed = bus.event_feed().expect("feed");
        assert!(wait_until(WAIT, || feed.is_replay_connected()), "connected");
        runner.batch_max = 100;
        runner.resume(&mut feed).expect("resume");
        let deadline = Instant::now() + WAIT;
        while runner.last_seq() < stop_at && Instant::now() < deadline {
            let report = runner.step(&mut feed, Duration::from_millis(20)).expect("step");
            assert_eq!(report.duplicates, 0);
        }
        assert!(runner.last_seq() >= stop_at);
    }
    let conn = rusqlite::Connection::open(&db).expect("db");
    let (n, max): (i64, i64) =
        conn.query_row("SELECT COUNT(*), MAX(seq) FROM applied", [], |r| Ok((r.get(0)?, r.get(1)?))).expect("count");
    assert_eq!((n, max), (4_000, 4_000));
}

#[test]
fn directories_of_killed_drivers_are_swept() {
    // A process id that cannot be running (above the kernel's maximum).
    let stale = engine_bus::unique_driver_dir().with_file_name("exchange-4294967295-00000000deadbeef");
    std::fs::create_dir_all(&stale).expect("create");
    let namespace = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self/ns/pid").expect("pid namespace").ino()
    };
    std::fs::write(stale.join(engine_bus::OWNER_FILE), format!("4294967295 {namespace}\n")).expect("write");
    // Another namespace's directory is not this process's to judge.
    let foreign = engine_bus::unique_driver_dir().with_file_name("exchange-4294967295-00000000feedface");
    std::fs::create_dir_all(&foreign).expect("create");
    std::fs::write(foreign.join(engine_bus::OWNER_FILE), format!("4294967295 {}\n", namespace + 1)).expect("write");
    let live = Bus::embedded(&config()).expect("bus");
    assert!(!stale.exists(), "{} was swept", stale.display());
    assert!(foreign.exists(), "{} stays", foreign.display());
    assert!(live.dir().join(engine_bus::OWNER_FILE).exists());
    assert_eq!(engine_bus::remove_stale_driver_dirs(), 0);
    assert!(live.dir().exists(), "a live driver's directory stays");
    std::fs::remove_dir_all(&foreign).expect("clean up");
}

/// Publishes `count` logged batches as fast as the bus takes them, with a gateway's feed keeping
/// up, while a service's feed is stalled (not polled) after its first 100 batches; then lets the
/// service's feed run (for up to `catch_up_within`).
/// Returns the publisher's stats and what the feed delivered.
fn publish_past_a_stalled_service(
    config: &BusConfig,
    count: u64,
    catch_up_within: Duration,
) -> (Arc<engine_bus::OutputStats>, Vec<EventBatch>, Arc<engine_bus::FeedStats>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let events_dir = dir.path().join("events");
    let bus = Bus::embedded(config).expect("bus");
    let _server = bus.replay_server(&events_dir).expect("replay server");
    let batches = Batches::new();
    let mut feed = bus.service_feed().expect("feed");
    let mut output = bus.event_output().expect("output");
    // The gateway: a tethered feed that keeps up (Aeron measures an untethered subscriber's lag
    // against the fastest one).
    let done = Arc::new(AtomicBool::new(false));
    let gateway = {
        let (mut gateway_feed, done) = (bus.event_feed().expect("gateway feed"), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !done.load(Ordering::Acquire) {
                seen.clear();
                gateway_feed.poll(&mut seen, 4096, Duration::from_millis(5)).expect("gateway poll");
            }
        })
    };
    assert!(wait_until(WAIT, || output.is_connected() && feed.is_replay_connected()), "connected");
    feed.replay_from(1).expect("start at seq 1, as a service runner does");
    let mut log = event_log(&events_dir, 0);
    let mut buf = Vec::new();
    let mut got = Vec::new();
    for seq in 1..=count {
        let b = batches.batch(seq);
        log_batch(&mut log, &b, &mut buf);
        if seq % 64 == 0 || seq == count {
            log.commit().expect("commit");
        }
        output.publish(b.seq, b.ts_ns, &b.events);
        if seq <= 100 {
            log.commit().expect("commit");
            poll_until(&mut feed, &mut got, seq as usize, WAIT).expect("poll");
        }
    }
    log.commit().expect("commit");
    poll_until(&mut feed, &mut got, count as usize, catch_up_within).expect("poll");
    feed.poll(&mut got, 4096, Duration::from_millis(100)).expect("nothing more");
    done.store(true, Ordering::Release);
    gateway.join().expect("gateway thread");
    (output.stats(), got, feed.stats())
}

/// A service that stops reading does not hold the engine's publisher back: its untethered
/// subscription is cut loose once it lags a window behind, and it fills what it missed from the
/// event log. A tethered one (the control) back-pressures the publisher.
#[test]
fn a_stalled_service_does_not_hold_the_publisher_back_and_catches_up_through_replay() {
    const COUNT: u64 = 20_000;
    let small_window =
        BusConfig { term_length: 256 << 10, untethered_window_limit_ms: 50, untethered_resting_ms: 100, ..config() };
    let batches = Batches::new();

    // Untethered (the default): every batch published, none given up on.
    let (output, got, feed) = publish_past_a_stalled_service(&small_window, COUNT, Duration::from_secs(60));
    assert_eq!(output.published.load(Ordering::Relaxed), COUNT, "{output:?}");
    assert_eq!(output.not_delivered(), 0, "the publisher was never held back past its retry time: {output:?}");
    assert_eq!(got.len() as u64, COUNT, "{feed:?}");
    assert_contiguous(&got, &batches);
    assert!(feed.replayed.load(Ordering::Relaxed) > 0, "what the stall missed came by replay: {feed:?}");

    // Tethered, with a publisher that gives up after 5 ms: the stall holds it back.
    let tethered = BusConfig { service_feed_tethered: true, publish_retry_ms: 5, ..small_window };
    let (output, _, _) = publish_past_a_stalled_service(&tethered, 1_000, Duration::from_millis(200));
    assert!(output.back_pressured.load(Ordering::Relaxed) > 0, "a tethered stall holds the publisher: {output:?}");
}
