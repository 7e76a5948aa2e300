//! The outbox as stored: rows hold events and are rendered when read or sent; preferences as
//! they are in each transaction; symbols; the upgrade from schema version 1; damaged rows.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::SmsServer;
use engine_core::{
    Accepted, AccountLimits, BalanceReason, Command, Event, InstrumentSpec, OrderType, Product, Side, Symbol, Validity,
};
use services_core::testkit::{run_engine, INFY};
use services_core::{EventBatch, MemoryFeed, ServiceRunner};
use services_notifications::{
    delete_prefs, outbox, outbox_counts, set_prefs, Channel, ManualClock, NotificationService, NotifyConfig, Prefs,
    SmsConfig, Status,
};

/// 2024-01-15 09:15:00 IST.
const TS0: u64 = 1_705_290_300_000_000_000;
const T0_MS: i64 = 1_705_290_300_000;

fn open(path: &Path, config: NotifyConfig, clock: &Arc<ManualClock>) -> ServiceRunner<NotificationService> {
    let service = NotificationService::new(config, clock.clone()).unwrap();
    ServiceRunner::open(path, service).unwrap()
}

fn sms_only(account: u32, phone: &str) -> Prefs {
    Prefs { account, email: None, phone: Some(phone.into()), email_on: false, sms_on: true, kinds: Default::default() }
}

fn deposit(seq: u64, account: u32, amount: i64) -> EventBatch {
    EventBatch {
        seq,
        ts_ns: TS0 + seq,
        events: vec![Event::BalanceChanged {
            account,
            delta: amount,
            cash: amount,
            reason: BalanceReason::Deposit,
            client_ref: 0,
        }],
    }
}

fn accepted(account: u32, token: u32, order_id: u64) -> Event {
    Event::Accepted(Accepted {
        order_id,
        client_ref: order_id,
        account,
        token,
        side: Side::Buy,
        order_type: OrderType::Limit,
        validity: Validity::Day,
        product: Product::Cnc,
        price: 150_005,
        trigger: 0,
        qty: 5,
        disclosed: 0,
        post_only: false,
    })
}

fn instrument(token: u32, symbol: &str) -> Event {
    Event::InstrumentAdded {
        spec: InstrumentSpec {
            token,
            symbol: Symbol::new(symbol).unwrap(),
            tick: 5,
            lot: 1,
            band_bps: 1_000,
            reference_price: 150_000,
            mis_leverage: 5,
        },
        band_low: 135_000,
        band_high: 165_000,
    }
}

/// Steps one batch at a time until the feed is drained.
fn step_all(runner: &mut ServiceRunner<NotificationService>, feed: &mut MemoryFeed) {
    while runner.step(feed, Duration::ZERO).unwrap().applied > 0 {}
}

#[test]
fn preferences_changed_on_any_connection_apply_from_the_next_transaction() {
    let clock = ManualClock::new(T0_MS);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.db");
    let mut runner = open(&path, NotifyConfig::default(), &clock);
    runner.batch_max = 1;
    let other = rusqlite::Connection::open(&path).unwrap();
    other.busy_timeout(Duration::from_secs(5)).unwrap();
    set_prefs(&other, &sms_only(1, "+919800000001")).unwrap();
    let mut feed = MemoryFeed::new((1..=6).map(|seq| deposit(seq, 1, seq as i64 * 100)).collect());
    runner.resume(&mut feed).unwrap();

    let mut step = |runner: &mut ServiceRunner<NotificationService>| {
        assert_eq!(runner.step(&mut feed, Duration::ZERO).unwrap().applied, 1);
    };
    step(&mut runner); // seq 1: +..01
    set_prefs(&other, &sms_only(1, "+919800000002")).unwrap();
    step(&mut runner); // seq 2: +..02, changed by another connection
    assert!(delete_prefs(&other, 1).unwrap());
    step(&mut runner); // seq 3: nothing
    set_prefs(runner.conn(), &sms_only(1, "+919800000004")).unwrap();
    step(&mut runner); // seq 4: +..04, changed on the service's own connection
    other.execute("UPDATE notify_prefs SET phone = '+919800000005' WHERE account = 1", []).unwrap();
    step(&mut runner); // seq 5: +..05, changed by plain SQL
    other.execute("UPDATE notify_prefs SET sms_on = 0 WHERE account = 1", []).unwrap();
    step(&mut runner); // seq 6: nothing

    let rows = outbox(runner.conn()).unwrap();
    let got: Vec<(u64, &str, &str)> = rows.iter().map(|r| (r.seq, r.recipient.as_str(), r.subject.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (1, "+919800000001", "Funds added: Rs 1.00"),
            (2, "+919800000002", "Funds added: Rs 2.00"),
            (4, "+919800000004", "Funds added: Rs 4.00"),
            (5, "+919800000005", "Funds added: Rs 5.00"),
        ]
    );
}

#[test]
fn a_failed_transaction_leaves_nothing_behind_and_the_retry_writes_each_message_once() {
    let clock = ManualClock::new(T0_MS);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.db");
    let mut runner = open(&path, NotifyConfig::default(), &clock);
    set_prefs(runner.conn(), &Prefs::email(1, "one@example.com")).unwrap();
    // Batch 2 writes while it is applied (the instrument's symbol), after batch 1 buffered a row.
    let mut batches: Vec<EventBatch> = (1..=5).map(|seq| deposit(seq, 1, 100)).collect();
    batches[1].events.insert(0, instrument(INFY, "INFY"));
    let mut feed = MemoryFeed::new(batches.clone());
    runner.resume(&mut feed).unwrap();

    // Another writer holds the database: the transaction fails and is rolled back.
    runner.conn().busy_timeout(Duration::from_millis(50)).unwrap();
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    assert!(runner.step(&mut feed, Duration::ZERO).is_err());
    blocker.execute_batch("ROLLBACK").unwrap();
    assert_eq!(runner.last_seq(), 0);
    assert_eq!(outbox_counts(runner.conn()).unwrap(), (0, 0, 0));

    // The runner is resumed from its cursor: every message once (a leftover from the failed
    // transaction would meet the UNIQUE key here).
    let mut feed = MemoryFeed::new(batches);
    runner.resume(&mut feed).unwrap();
    step_all(&mut runner, &mut feed);
    let seqs: Vec<u64> = outbox(runner.conn()).unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
}

#[test]
fn symbols_come_from_instrument_added_and_the_config_fills_the_gaps() {
    let clock = ManualClock::new(T0_MS);
    let sms = SmsServer::start(clock.clone(), |_| 200);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.db");
    // INFY is configured wrongly (the engine's symbol wins); 777 is never added (the config's is
    // used); 888 is in neither.
    let config = NotifyConfig {
        symbols: [(INFY, "WRONG".to_string()), (777, "OLDCO".to_string())].into_iter().collect(),
        ..NotifyConfig::default()
    };
    let mut runner = open(&path, config.clone(), &clock);
    set_prefs(runner.conn(), &sms_only(1, "+919800000001")).unwrap();
    let batches = vec![
        EventBatch { seq: 1, ts_ns: TS0, events: vec![instrument(INFY, "INFY")] },
        EventBatch { seq: 2, ts_ns: TS0, events: vec![accepted(1, INFY, 1), accepted(1, 777, 2), accepted(1, 888, 3)] },
    ];
    let mut feed = MemoryFeed::new(batches);
    runner.resume(&mut feed).unwrap();
    step_all(&mut runner, &mut feed);
    let subjects: Vec<String> = outbox(runner.conn()).unwrap().into_iter().map(|r| r.subject).collect();
    let want = vec![
        "Order 1 placed: BUY 5 INFY @ Rs 1,500.05".to_string(),
        "Order 2 placed: BUY 5 OLDCO @ Rs 1,500.05".to_string(),
        "Order 3 placed: BUY 5 #888 @ Rs 1,500.05".to_string(),
    ];
    assert_eq!(subjects, want);
    drop(runner);

    // Delivery renders exactly what `outbox()` reads.
    let config = NotifyConfig { sms: Some(SmsConfig::new(&sms.url)), ..config };
    let mut runner = open(&path, config, &clock);
    let mut feed = MemoryFeed::new(Vec::new());
    runner.resume(&mut feed).unwrap();
    runner.step(&mut feed, Duration::ZERO).unwrap();
    // Sent in one round, concurrently: compared as a set.
    let sent: BTreeSet<String> = sms
        .requests()
        .iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sent, want.into_iter().collect());
    assert_eq!(outbox_counts(runner.conn()).unwrap(), (0, 3, 0));
}

#[test]
fn rows_hold_the_event_not_its_text() {
    let clock = ManualClock::new(T0_MS);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.db");
    let (_, batches) = run_engine(
        &[
            Command::CreateAccount { account: 1, limits: AccountLimits::default() },
            Command::ActivateAccount { account: 1 },
            Command::Deposit { client_ref: 0, account: 1, amount: 12_345 },
        ],
        TS0,
    );
    let mut runner = open(&path, NotifyConfig::default(), &clock);
    set_prefs(runner.conn(), &Prefs::email(1, "one@example.com")).unwrap();
    let mut feed = MemoryFeed::new(batches.clone());
    runner.resume(&mut feed).unwrap();
    step_all(&mut runner, &mut feed);
    let (event, v1_subject, v1_body): (Vec<u8>, Option<String>, Option<String>) = runner
        .conn()
        .query_row("SELECT event, v1_subject, v1_body FROM notify_outbox", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!((v1_subject, v1_body), (None, None));
    assert_eq!(engine_proto::decode_event(&event).unwrap(), batches[2].events[0]);
    let row = &outbox(runner.conn()).unwrap()[0];
    assert_eq!(row.subject, "Funds added: Rs 123.45");
    assert_eq!(row.message_id, "3.0.1.email@exchange.local");
    assert!(row.body.contains("Balance:    Rs 123.45"), "{}", row.body);
}

#[test]
fn a_damaged_row_is_failed_without_being_sent() {
    let clock = ManualClock::new(T0_MS);
    let sms = SmsServer::start(clock.clone(), |_| 200);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.db");
    let mut runner = open(&path, NotifyConfig::default(), &clock);
    set_prefs(runner.conn(), &sms_only(1, "+919800000001")).unwrap();
    let mut feed = MemoryFeed::new((1..=2).map(|seq| deposit(seq, 1, 100)).collect());
    runner.resume(&mut feed).unwrap();
    step_all(&mut runner, &mut feed);
    // Row 1: bytes that do not decode. Row 2: a valid event about another account.
    runner.conn().execute("UPDATE notify_outbox SET event = x'0102' WHERE seq = 1", []).unwrap();
    let mut other = vec![0u8; engine_proto::EVENT_LEN_MAX];
    let len = engine_proto::encode_event(&deposit(2, 9, 100).events[0], &mut other).unwrap();
    runner.conn().execute("UPDATE notify_outbox SET event = ?1 WHERE seq = 2", [&other[..len]]).unwrap();
    assert!(outbox(runner.conn()).is_err(), "reading a damaged row is an error");
    drop(runner);

    let config = NotifyConfig { sms: Some(SmsConfig::new(&sms.url)), ..NotifyConfig::default() };
    let runner = open(&path, config, &clock);
    let report = runner.service().deliver(runner.conn()).unwrap();
    assert_eq!((report.sent, report.failed), (0, 2));
    assert!(sms.requests().is_empty());
    let errors: Vec<(String, String)> = runner
        .conn()
        .prepare("SELECT status, last_error FROM notify_outbox ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(errors[0].0, "failed");
    assert!(errors[0].1.starts_with("stored event does not decode"), "{errors:?}");
    assert_eq!(errors[1], ("failed".into(), "stored event has no funds message for account 1".into()));
}

/// The schema this crate wrote before rows held events.
const V1_SCHEMA: &str = "
CREATE TABLE notify_prefs (
    account       INTEGER PRIMARY KEY CHECK (account >= 0),
    email         TEXT,
    phone         TEXT,
    email_on      INTEGER NOT NULL DEFAULT 1 CHECK (email_on IN (0, 1)),
    sms_on        INTEGER NOT NULL DEFAULT 0 CHECK (sms_on IN (0, 1)),
    on_accepted   INTEGER NOT NULL DEFAULT 1 CHECK (on_accepted IN (0, 1)),
    on_rejected   INTEGER NOT NULL DEFAULT 1 CHECK (on_rejected IN (0, 1)),
    on_executions INTEGER NOT NULL DEFAULT 1 CHECK (on_executions IN (0, 1)),
    on_cancels    INTEGER NOT NULL DEFAULT 1 CHECK (on_cancels IN (0, 1)),
    on_modified   INTEGER NOT NULL DEFAULT 1 CHECK (on_modified IN (0, 1)),
    on_funds      INTEGER NOT NULL DEFAULT 1 CHECK (on_funds IN (0, 1))
);
CREATE TABLE notify_outbox (
    id              INTEGER PRIMARY KEY,
    seq             INTEGER NOT NULL CHECK (seq > 0),
    idx             INTEGER NOT NULL CHECK (idx >= 0),
    account         INTEGER NOT NULL CHECK (account >= 0),
    channel         TEXT    NOT NULL CHECK (channel IN ('email', 'sms')),
    kind            TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    message_id      TEXT    NOT NULL UNIQUE,
    event_ts_ns     INTEGER NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    sent_at         INTEGER,
    UNIQUE (seq, idx, account, channel)
);
CREATE INDEX notify_outbox_due ON notify_outbox (status, next_attempt_at);
CREATE TABLE service_cursor (service TEXT PRIMARY KEY, last_seq INTEGER NOT NULL CHECK (last_seq >= 0));
INSERT INTO service_cursor VALUES ('notifications', 3);
INSERT INTO notify_prefs (account, phone, email_on, sms_on) VALUES (1, '+919800000001', 0, 1);
INSERT INTO notify_outbox (id, seq, idx, account, channel, kind, recipient, subject, body, message_id, event_ts_ns,
                           status, attempts, next_attempt_at, last_error, sent_at) VALUES
    (10, 1, 0, 1, 'sms', 'funds', '+919800000001', 'Funds added: Rs 1.00', 'body one', '1.0.1.sms@exchange.local',
     7, 'sent', 1, 0, NULL, 1000),
    (11, 2, 0, 1, 'sms', 'funds', '+919800000001', 'Funds added: Rs 2.00', 'body two', '2.0.1.sms@exchange.local',
     8, 'failed', 1, 0, 'HTTP 400', NULL),
    (12, 3, 0, 1, 'sms', 'funds', '+919800000001', 'Funds added: Rs 3.00', 'body three', '3.0.1.sms@exchange.local',
     9, 'pending', 2, 5000, 'HTTP 503', NULL);
";

fn columns(conn: &rusqlite::Connection, table: &str) -> Vec<String> {
    conn.prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_version_1_outbox_is_upgraded_keeping_every_row_and_its_text() {
    let clock = ManualClock::new(T0_MS);
    let sms = SmsServer::start(clock.clone(), |_| 200);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.db");
    rusqlite::Connection::open(&path).unwrap().execute_batch(V1_SCHEMA).unwrap();

    let config = NotifyConfig { sms: Some(SmsConfig::new(&sms.url)), ..NotifyConfig::default() };
    let runner = open(&path, NotifyConfig::default(), &clock);
    assert_eq!(runner.last_seq(), 3);
    let cols = columns(runner.conn(), "notify_outbox");
    assert!(cols.contains(&"event".to_string()) && !cols.contains(&"message_id".to_string()), "{cols:?}");
    let tables: BTreeSet<String> = runner
        .conn()
        .prepare("SELECT name FROM sqlite_master WHERE name LIKE 'notify_outbox%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tables, ["notify_outbox", "notify_outbox_due"].into_iter().map(String::from).collect());

    let rows = outbox(runner.conn()).unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| (r.id, r.seq, r.subject.as_str(), r.body.as_str(), r.message_id.as_str(), r.status, r.attempts))
        .collect();
    assert_eq!(
        got,
        vec![
            (10, 1, "Funds added: Rs 1.00", "body one", "1.0.1.sms@exchange.local", Status::Sent, 1),
            (11, 2, "Funds added: Rs 2.00", "body two", "2.0.1.sms@exchange.local", Status::Failed, 1),
            (12, 3, "Funds added: Rs 3.00", "body three", "3.0.1.sms@exchange.local", Status::Pending, 2),
        ]
    );
    assert_eq!((rows[1].last_error.as_deref(), rows[0].sent_at), (Some("HTTP 400"), Some(1000)));
    assert_eq!((rows[2].next_attempt_at, rows[2].event_ts_ns, rows[2].channel), (5000, 9, Channel::Sms));
    drop(runner);

    // Restarted with a provider: the upgrade is not repeated; the version 1 row goes with its
    // text and id, and new events make version 2 rows next to it.
    let mut runner = open(&path, config, &clock);
    let mut feed = MemoryFeed::new((1..=4).map(|seq| deposit(seq, 1, seq as i64 * 100)).collect());
    runner.resume(&mut feed).unwrap();
    step_all(&mut runner, &mut feed);
    // Sent in one round, concurrently: compared as a set.
    let sent: BTreeSet<(String, String)> = sms
        .requests()
        .iter()
        .map(|r| {
            let json: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            (json["message"].as_str().unwrap().to_string(), r.headers["idempotency-key"].clone())
        })
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("Funds added: Rs 3.00".to_string(), "3.0.1.sms@exchange.local".to_string()),
        ("Funds added: Rs 4.00".to_string(), "4.0.1.sms@exchange.local".to_string()),
    ]
    .into_iter()
    .collect();
    assert_eq!(sent, want);
    let rows = outbox(runner.conn()).unwrap();
    assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), vec![10, 11, 12, 13]);
    assert_eq!(outbox_counts(runner.conn()).unwrap(), (0, 3, 1));
}

#[test]
fn an_outbox_of_an_unknown_shape_is_refused_and_left_alone() {
    let clock = ManualClock::new(T0_MS);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE notify_outbox (id INTEGER PRIMARY KEY, what TEXT); INSERT INTO notify_outbox VALUES (1, 'x');",
    )
    .unwrap();
    let service = NotificationService::new(NotifyConfig::default(), clock.clone()).unwrap();
    let err = ServiceRunner::open(&path, service).unwrap_err().to_string();
    assert!(err.contains("neither schema version 1 nor 2"), "{err}");
    assert_eq!(columns(&conn, "notify_outbox"), vec!["id".to_string(), "what".to_string()]);
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM notify_outbox", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1);
}
