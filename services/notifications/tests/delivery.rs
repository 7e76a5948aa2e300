//! Delivery against real servers: aiosmtpd for e-mail, a real HTTP listener for SMS.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{aiosmtpd_available, free_port, SmsServer, SmtpServer};
use engine_core::{AccountLimits, BalanceReason, Command, CommandKind, Event, InstrumentSpec, Product, Side, Symbol};
use services_core::testkit::{run_engine, trading_day, INFY, TCS};
use services_core::{EventBatch, MemoryFeed, ServiceRunner};
use services_notifications::{
    outbox, outbox_counts, set_prefs, Channel, Clock, Kind, Kinds, ManualClock, NotificationService, NotifyConfig,
    Prefs, RetryPolicy, SmsConfig, SmtpConfig, Status,
};

/// 2024-01-15 09:15:00 IST.
const TS0: u64 = 1_705_290_300_000_000_000;
const T0_MS: i64 = 1_705_290_300_000;

fn smtp(port: u16) -> SmtpConfig {
    SmtpConfig { host: "127.0.0.1".into(), port, timeout: Duration::from_secs(5), ..SmtpConfig::default() }
}

fn open(path: &Path, config: NotifyConfig, clock: &Arc<ManualClock>) -> ServiceRunner<NotificationService> {
    let service = NotificationService::new(config, clock.clone()).unwrap();
    ServiceRunner::open(path, service).unwrap()
}

/// Steps until the feed is drained and nothing is due (bounded).
fn drain(runner: &mut ServiceRunner<NotificationService>, feed: &mut MemoryFeed, last: u64) {
    for _ in 0..10_000 {
        runner.step(feed, Duration::ZERO).unwrap();
        let (pending, _, _) = outbox_counts(runner.conn()).unwrap();
        if runner.last_seq() == last && pending == 0 {
            return;
        }
    }
    panic!("did not drain: cursor {} of {last}, {:?}", runner.last_seq(), outbox_counts(runner.conn()).unwrap());
}

fn limit(account: u32, token: u32, side: Side, price: i64, qty: i64, client_ref: u64) -> Command {
    services_core::testkit::limit(client_ref, account, token, side, Product::Cnc, price, qty)
}

/// A short day for two accounts: deposit, a buy, a partial fill against a sell, a rejected
/// order, a cancel, a withdrawal and a rejected withdrawal.
fn small_day() -> Vec<Command> {
    vec![
        Command::AddInstrument(InstrumentSpec {
            token: INFY,
            symbol: Symbol::new("INFY").unwrap(),
            tick: 5,
            lot: 1,
            band_bps: 1_000,
            reference_price: 150_000,
            mis_leverage: 5,
        }),
        Command::CreateAccount { account: 1, limits: AccountLimits::default() },
        Command::ActivateAccount { account: 1 },
        Command::CreateAccount { account: 2, limits: AccountLimits::default() },
        Command::ActivateAccount { account: 2 },
        Command::Deposit { client_ref: 0, account: 1, amount: 1_000_000 },
        Command::DepositHoldings { account: 2, token: INFY, qty: 100 },
        Command::OpenSession,
        limit(1, INFY, Side::Buy, 150_005, 5, 11),
        limit(2, INFY, Side::Sell, 150_000, 2, 21),
        limit(1, INFY, Side::Buy, 150_000, 0, 12),
        Command::Cancel { client_ref: 13, account: 1, order_id: 1 },
        Command::Withdraw { client_ref: 0, account: 1, amount: 200_000 },
        Command::Withdraw { client_ref: 0, account: 1, amount: 100_000_000 },
    ]
}

fn index_of(batch: &EventBatch, pred: impl Fn(&Event) -> bool) -> usize {
    batch.events.iter().position(pred).unwrap_or_else(|| panic!("no such event in batch {}", batch.seq))
}

#[test]
fn the_right_messages_arrive_with_the_right_content() {
    if !aiosmtpd_available("the_right_messages_arrive_with_the_right_content") {
        return;
    }
    let server = SmtpServer::start();
    let clock = ManualClock::new(T0_MS);
    let sms = SmsServer::start(clock.clone(), |_| 200);
    let dir = tempfile::tempdir().unwrap();
    let (_, batches) = run_engine(&small_day(), TS0);
    let mut feed = MemoryFeed::new(batches.clone());
    let config = NotifyConfig {
        smtp: Some(smtp(server.port)),
        sms: Some(SmsConfig::new(&sms.url)),
        symbols: [(INFY, "INFY".to_string())].into_iter().collect(),
        ..NotifyConfig::default()
    };
    let mut runner = open(&dir.path().join("n.db"), config, &clock);
    set_prefs(
        runner.conn(),
        &Prefs {
            account: 1,
            email: Some("a1@example.com".into()),
            phone: Some("+919800000001".into()),
            email_on: true,
            sms_on: true,
            kinds: Kinds::ALL,
        },
    )
    .unwrap();
    set_prefs(
        runner.conn(),
        &Prefs {
            account: 2,
            email: Some("a2@example.com".into()),
            phone: Some("+919800000002".into()),
            email_on: true,
            sms_on: false,
            kinds: Kinds::only(&[Kind::Executions]),
        },
    )
    .unwrap();
    runner.resume(&mut feed).unwrap();
    drain(&mut runner, &mut feed, batches.len() as u64);

    // E-mail: per recipient, exactly these subjects.
    let mails = server.messages();
    let mut by_to: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in &mails {
        by_to.entry(m.header("x-rcptto").to_string()).or_default().insert(m.header("subject").to_string());
        assert!(m.header("from").contains("noreply@localhost"), "{:?}", m.headers);
        assert!(m.header("content-type").starts_with("text/plain"), "{:?}", m.headers);
    }
    let a1: BTreeSet<String> = [
        "Funds added: Rs 10,000.00",
        "Order 1 placed: BUY 5 INFY @ Rs 1,500.05",
        "Bought 2 INFY @ Rs 1,500.05 (order 1)",
        "Order rejected: invalid quantity",
        "Order 1 cancelled: 3 INFY not filled",
        "Funds withdrawn: Rs 2,000.00",
        "Withdrawal rejected: insufficient funds",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let a2: BTreeSet<String> = ["Sold 2 INFY @ Rs 1,500.05 (order 2)".to_string()].into_iter().collect();
    assert_eq!(by_to.get("a1@example.com"), Some(&a1), "{by_to:#?}");
    assert_eq!(by_to.get("a2@example.com"), Some(&a2), "{by_to:#?}");
    assert_eq!(mails.len(), 8);

    // The buyer's execution: body and a Message-ID derived from (seq, idx, account, channel).
    let trade_batch = &batches[9];
    let idx = index_of(trade_batch, |e| matches!(e, Event::Trade(_)));
    let bought = mails.iter().find(|m| m.header("subject").starts_with("Bought")).unwrap();
    assert_eq!(bought.header("message-id"), format!("<10.{idx}.1.email@exchange.local>"));
    for line in [
        "Order id:   1",
        "Instrument: INFY",
        "Action:     Bought",
        "Quantity:   2",
        "Price:      Rs 1,500.05",
        "Value:      Rs 3,000.10",
        "Fee:        Rs 0.00",
        "Still open: 3",
        "Time:       2024-01-15 09:15:00 IST",
        &format!("Reference:  event 10/{idx}"),
    ] {
        assert!(bought.body.contains(line), "missing {line:?} in\n{}", bought.body);
    }
    let placed = mails.iter().find(|m| m.header("subject").starts_with("Order 1 placed")).unwrap();
    for line in ["Client ref: 11", "Side:       BUY", "Type:       LIMIT (DAY, CNC)", "Quantity:   5"] {
        assert!(placed.body.contains(line), "missing {line:?} in\n{}", placed.body);
    }
    let cancelled = mails.iter().find(|m| m.header("subject").contains("cancelled")).unwrap();
    assert!(cancelled.body.contains("Reason:     cancelled on your request"), "{}", cancelled.body);
    let funds = mails.iter().find(|m| m.header("subject").starts_with("Funds withdrawn")).unwrap();
    assert!(funds.body.contains("Balance:    Rs 4,999.90"), "{}", funds.body);
    let rejected = mails.iter().find(|m| m.header("subject").starts_with("Withdrawal rejected")).unwrap();
    assert!(rejected.body.contains("Reason:     insufficient funds"), "{}", rejected.body);

    // SMS: account 1 only, same texts, JSON body, one Idempotency-Key per outbox row.
    let requests = sms.requests();
    assert_eq!(requests.len(), 7);
    let rows = outbox(runner.conn()).unwrap();
    let sms_ids: BTreeSet<String> =
        rows.iter().filter(|r| r.channel == Channel::Sms).map(|r| r.message_id.clone()).collect();
    let mut texts = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for r in &requests {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/sms"));
        assert_eq!(r.headers.get("content-type").map(String::as_str), Some("application/json"));
        let json: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(json["to"], "+919800000001");
        texts.insert(json["message"].as_str().unwrap().to_string());
        keys.insert(r.headers["idempotency-key"].clone());
    }
    assert_eq!(texts, a1);
    assert_eq!(keys, sms_ids);

    // The outbox: 15 rows, all sent at the first attempt, at the clock's time.
    assert_eq!(rows.len(), 15);
    assert!(rows.iter().all(|r| r.status == Status::Sent && r.attempts == 1 && r.sent_at == Some(T0_MS)));
}

fn sms_only(account: u32) -> Prefs {
    Prefs {
        account,
        email: None,
        phone: Some(format!("+91980000000{account}")),
        email_on: false,
        sms_on: true,
        kinds: Kinds::ALL,
    }
}

/// One deposit for account 1: one notification.
fn one_deposit() -> Vec<EventBatch> {
    run_engine(
        &[
            Command::CreateAccount { account: 1, limits: AccountLimits::default() },
            Command::ActivateAccount { account: 1 },
            Command::Deposit { client_ref: 0, account: 1, amount: 12_345 },
        ],
        TS0,
    )
    .1
}

#[test]
fn sms_retries_with_exponential_backoff_until_accepted() {
    let clock = ManualClock::new(T0_MS);
    let sms = SmsServer::start(clock.clone(), |n| if n < 3 { 500 } else { 202 });
    let dir = tempfile::tempdir().unwrap();
    let config = NotifyConfig {
        sms: Some(SmsConfig::new(&sms.url)),
        retry: RetryPolicy { max_attempts: 5, base_delay_ms: 1_000, max_delay_ms: 60_000 },
        ..NotifyConfig::default()
    };
    let mut runner = open(&dir.path().join("n.db"), config, &clock);
    set_prefs(runner.conn(), &sms_only(1)).unwrap();
    let mut feed = MemoryFeed::new(one_deposit());
    runner.resume(&mut feed).unwrap();
    runner.step(&mut feed, Duration::ZERO).unwrap();

    // The first attempt ran right after the commit and failed.
    let row = &outbox(runner.conn()).unwrap()[0];
    assert_eq!(
        (row.status, row.attempts, row.next_attempt_at, row.last_error.as_deref()),
        (Status::Pending, 1, T0_MS + 1_000, Some("HTTP 500"))
    );
    assert_eq!(row.subject, "Funds added: Rs 123.45");

    for _ in 0..200 {
        clock.advance(100);
        runner.step(&mut feed, Duration::ZERO).unwrap();
    }
    let requests = sms.requests();
    let times: Vec<i64> = requests.iter().map(|r| r.at_ms - T0_MS).collect();
    assert_eq!(times, vec![0, 1_000, 3_000, 7_000], "backoff 1 s, 2 s, 4 s");
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![500, 500, 500, 202]);
    let keys: BTreeSet<&str> = requests.iter().map(|r| r.headers["idempotency-key"].as_str()).collect();
    assert_eq!(keys, ["3.0.1.sms@exchange.local"].into_iter().collect());
    let row = &outbox(runner.conn()).unwrap()[0];
    assert_eq!((row.status, row.attempts, row.sent_at), (Status::Sent, 4, Some(T0_MS + 7_000)));
    assert_eq!(row.last_error, None);
}

#[test]
fn sms_gives_up_after_max_attempts_and_at_once_on_a_4xx() {
    let clock = ManualClock::new(T0_MS);
    // Account 1's message always meets 503; account 2's meets 400.
    let sms = SmsServer::start(clock.clone(), |_| 503);
    let sms_400 = SmsServer::start(clock.clone(), |_| 400);
    let dir = tempfile::tempdir().unwrap();
    let retry = RetryPolicy { max_attempts: 3, base_delay_ms: 1_000, max_delay_ms: 60_000 };
    let config = NotifyConfig { sms: Some(SmsConfig::new(&sms.url)), retry, ..NotifyConfig::default() };
    let mut runner = open(&dir.path().join("n.db"), config, &clock);
    set_prefs(runner.conn(), &sms_only(1)).unwrap();
    let mut feed = MemoryFeed::new(one_deposit());
    runner.resume(&mut feed).unwrap();
    for _ in 0..300 {
        runner.step(&mut feed, Duration::ZERO).unwrap();
        clock.advance(100);
    }
    let times: Vec<i64> = sms.requests().iter().map(|r| r.at_ms - T0_MS).collect();
    assert_eq!(times, vec![0, 1_000, 3_000]);
    let row = &outbox(runner.conn()).unwrap()[0];
    assert_eq!((row.status, row.attempts, row.last_error.as_deref()), (Status::Failed, 3, Some("HTTP 503")));

    // A provider that answers 400: failed after one attempt.
    let dir2 = tempfile::tempdir().unwrap();
    let config = NotifyConfig { sms: Some(SmsConfig::new(&sms_400.url)), retry, ..NotifyConfig::default() };
    let mut runner = open(&dir2.path().join("n.db"), config, &clock);
    set_prefs(runner.conn(), &sms_only(1)).unwrap();
    let mut feed = MemoryFeed::new(one_deposit());
    runner.resume(&mut feed).unwrap();
    for _ in 0..50 {
        runner.step(&mut feed, Duration::ZERO).unwrap();
        clock.advance(1_000);
    }
    assert_eq!(sms_400.requests().len(), 1);
    let row = &outbox(runner.conn()).unwrap()[0];
    assert_eq!((row.status, row.attempts, row.last_error.as_deref()), (Status::Failed, 1, Some("HTTP 400")));
}

/// Steps every 100 ms of test time until `until_ms`; returns the times (from T0) at which the
/// channel's count of consecutive failures to connect went up.
fn unreachable_times(
    runner: &mut ServiceRunner<NotificationService>,
    feed: &mut MemoryFeed,
    clock: &ManualClock,
    channel: Channel,
    until_ms: i64,
) -> Vec<i64> {
    let mut times = Vec::new();
    let mut seen = runner.service().channel_state(channel).unreachable;
    while clock.now_ms() < until_ms {
        runner.step(feed, Duration::ZERO).unwrap();
        let now = runner.service().channel_state(channel).unreachable;
        if now > seen {
            times.push(clock.now_ms() - T0_MS);
            seen = now;
        }
        clock.advance(100);
    }
    times
}

#[test]
fn email_waits_with_backoff_while_the_relay_is_down_and_spends_no_attempts() {
    if !aiosmtpd_available("email_waits_with_backoff_while_the_relay_is_down_and_spends_no_attempts") {
        return;
    }
    let clock = ManualClock::new(T0_MS);
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = NotifyConfig {
        smtp: Some(smtp(port)),
        retry: RetryPolicy { max_attempts: 2, base_delay_ms: 1_000, max_delay_ms: 60_000 },
        ..NotifyConfig::default()
    };
    let mut runner = open(&dir.path().join("n.db"), config, &clock);
    set_prefs(runner.conn(), &Prefs::email(1, "one@example.com")).unwrap();
    let mut feed = MemoryFeed::new(one_deposit());
    runner.resume(&mut feed).unwrap();

    // Nothing listens: the channel backs off 1 s, 2 s, 4 s; the row keeps all its attempts
    // (more failures than max_attempts, and still pending).
    let times = unreachable_times(&mut runner, &mut feed, &clock, Channel::Email, T0_MS + 7_000);
    assert_eq!(times, vec![0, 1_000, 3_000]);
    let row = &outbox(runner.conn()).unwrap()[0];
    assert_eq!((row.status, row.attempts), (Status::Pending, 0));
    assert!(row.last_error.as_deref().unwrap_or("").starts_with("Connection error"), "{:?}", row.last_error);
    assert_eq!(runner.service().channel_state(Channel::Email).paused_until_ms, T0_MS + 7_000);

    // The relay comes up; the channel's wait runs out at T0 + 7 s and the message goes.
    let server = SmtpServer::start_on(port);
    clock.set(T0_MS + 6_999);
    runner.step(&mut feed, Duration::ZERO).unwrap();
    assert!(server.messages().is_empty(), "sent before the channel's backoff ran out");
    clock.set(T0_MS + 7_000);
    runner.step(&mut feed, Duration::ZERO).unwrap();
    let ids = server.ids();
    assert_eq!(ids, [("<3.0.1.email@exchange.local>".to_string(), 1)].into_iter().collect());
    let row = &outbox(runner.conn()).unwrap()[0];
    assert_eq!((row.status, row.attempts, row.sent_at), (Status::Sent, 1, Some(T0_MS + 7_000)));
    assert_eq!(runner.service().channel_state(Channel::Email).unreachable, 0);
}

#[test]
fn sms_waits_with_backoff_while_the_provider_is_down() {
    let clock = ManualClock::new(T0_MS);
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = NotifyConfig {
        sms: Some(SmsConfig::new(&format!("http://127.0.0.1:{port}/v1/sms"))),
        retry: RetryPolicy { max_attempts: 2, base_delay_ms: 1_000, max_delay_ms: 60_000 },
        ..NotifyConfig::default()
    };
    let mut runner = open(&dir.path().join("n.db"), config, &clock);
    set_prefs(runner.conn(), &sms_only(1)).unwrap();
    let mut feed = MemoryFeed::new(one_deposit());
    runner.resume(&mut feed).unwrap();
    let times = unreachable_times(&mut runner, &mut feed, &clock, Channel::Sms, T0_MS + 15_000);
    assert_eq!(times, vec![0, 1_000, 3_000, 7_000]);
    assert_eq!(outbox(runner.conn()).unwrap()[0].attempts, 0);

    let sms = SmsServer::start_on(port, clock.clone(), |_| 200);
    let times = unreachable_times(&mut runner, &mut feed, &clock, Channel::Sms, T0_MS + 16_000);
    assert!(times.is_empty());
    let requests = sms.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].at_ms, T0_MS + 15_000, "sent when the 8 s wait ran out");
    let row = &outbox(runner.conn()).unwrap()[0];
    assert_eq!((row.status, row.attempts), (Status::Sent, 1));
}

/// The message ids the events call for, worked out here from the events alone.
fn expected_ids(batches: &[EventBatch], accounts: &BTreeSet<u32>, channel: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for b in batches {
        for (idx, e) in b.events.iter().enumerate() {
            let who: Vec<u32> = match e {
                Event::Accepted(a) => vec![a.account],
                Event::Rejected {
                    kind:
                        CommandKind::Place
                        | CommandKind::Modify
                        | CommandKind::Cancel
                        | CommandKind::Withdraw
                        | CommandKind::Deposit,
                    account,
                    ..
                } => vec![*account],
                Event::Trade(t) if t.buy_account == t.sell_account => vec![t.buy_account],
                Event::Trade(t) => vec![t.buy_account, t.sell_account],
                Event::Cancelled { account, .. } | Event::Modified { account, .. } => vec![*account],
                Event::BalanceChanged {
                    account, reason: BalanceReason::Deposit | BalanceReason::Withdrawal, ..
                } => {
                    vec![*account]
                }
                _ => vec![],
            };
            for a in who.into_iter().filter(|a| accounts.contains(a)) {
                ids.insert(format!("{}.{idx}.{a}.{channel}@exchange.local", b.seq));
            }
        }
    }
    ids
}

#[test]
fn a_restart_mid_stream_loses_and_duplicates_nothing() {
    if !aiosmtpd_available("a_restart_mid_stream_loses_and_duplicates_nothing") {
        return;
    }
    let server = SmtpServer::start();
    let clock = ManualClock::new(T0_MS);
    let sms = SmsServer::start(clock.clone(), |_| 200);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.db");
    let (_, batches) = run_engine(&trading_day(4, 150, 11), TS0);
    let last = batches.len() as u64;
    let config = NotifyConfig {
        smtp: Some(smtp(server.port)),
        sms: Some(SmsConfig::new(&sms.url)),
        // Small passes, so rows are still pending when the service stops.
        pass_max: 8,
        symbols: [(INFY, "INFY".to_string()), (TCS, "TCS".to_string())].into_iter().collect(),
        ..NotifyConfig::default()
    };

    // First life: apply about half the day in small steps, then stop without draining.
    let mut feed = MemoryFeed::new(batches.clone());
    let mut runner = open(&path, config.clone(), &clock);
    runner.batch_max = 10;
    for a in 1..=4 {
        let mut p = Prefs::email(a, &format!("trader{a}@example.com"));
        if a <= 2 {
            p.phone = Some(format!("+9198000000{a:02}"));
            p.sms_on = true;
        }
        set_prefs(runner.conn(), &p).unwrap();
    }
    runner.resume(&mut feed).unwrap();
    while runner.last_seq() < last / 2 {
        runner.step(&mut feed, Duration::ZERO).unwrap();
    }
    let stopped_at = runner.last_seq();
    let (pending, sent, _) = outbox_counts(runner.conn()).unwrap();
    assert!(pending > 0 && sent > 0, "pending {pending}, sent {sent} at the stop");
    drop(runner);

    // Second life: a new feed replays from the cursor; everything left is sent.
    let mut feed = MemoryFeed::new(batches.clone());
    let mut runner = open(&path, config, &clock);
    runner.batch_max = 10;
    assert_eq!(runner.last_seq(), stopped_at);
    runner.resume(&mut feed).unwrap();
    drain(&mut runner, &mut feed, last);
    for _ in 0..5 {
        runner.step(&mut feed, Duration::ZERO).unwrap();
    }

    let accounts: BTreeSet<u32> = (1..=4).collect();
    let want_email = expected_ids(&batches, &accounts, "email");
    assert!(want_email.len() > 300, "{} e-mails", want_email.len());
    eprintln!("{} e-mails, stopped at seq {stopped_at} of {last}", want_email.len());
    let got = server.ids();
    let dups: Vec<_> = got.iter().filter(|(_, &n)| n != 1).collect();
    assert!(dups.is_empty(), "duplicated: {dups:?}");
    let got_ids: BTreeSet<String> =
        got.keys().map(|k| k.trim_start_matches('<').trim_end_matches('>').to_string()).collect();
    assert_eq!(got_ids, want_email, "lost or unexpected e-mails");

    let want_sms = expected_ids(&batches, &(1..=2).collect(), "sms");
    let mut keys: BTreeMap<String, usize> = BTreeMap::new();
    for r in sms.requests() {
        *keys.entry(r.headers["idempotency-key"].clone()).or_insert(0) += 1;
    }
    assert!(keys.values().all(|&n| n == 1), "duplicated SMS");
    assert_eq!(keys.keys().cloned().collect::<BTreeSet<_>>(), want_sms);

    let (pending, sent, failed) = outbox_counts(runner.conn()).unwrap();
    assert_eq!((pending, sent, failed), (0, (want_email.len() + want_sms.len()) as u64, 0));
}

#[test]
fn a_crash_between_send_and_mark_resends_once_with_the_same_message_id() {
    if !aiosmtpd_available("a_crash_between_send_and_mark_resends_once_with_the_same_message_id") {
        return;
    }
    let server = SmtpServer::start();
    let clock = ManualClock::new(T0_MS);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.db");
    let config = NotifyConfig { smtp: Some(smtp(server.port)), ..NotifyConfig::default() };

    // Rows are created with no relay configured: they wait, pending.
    let mut runner = open(&path, NotifyConfig::default(), &clock);
    set_prefs(runner.conn(), &Prefs::email(1, "one@example.com")).unwrap();
    let mut feed = MemoryFeed::new(one_deposit());
    runner.resume(&mut feed).unwrap();
    runner.step(&mut feed, Duration::ZERO).unwrap();
    assert_eq!(outbox_counts(runner.conn()).unwrap(), (1, 0, 0));
    drop(runner);

    // Another writer holds the database, so the "sent" mark cannot be written after the send:
    // the same window as a crash right after the server said 250.
    let runner = open(&path, config.clone(), &clock);
    runner.conn().busy_timeout(Duration::from_millis(50)).unwrap();
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    assert!(runner.service().deliver(runner.conn()).is_err(), "the mark should have failed");
    blocker.execute_batch("ROLLBACK").unwrap();
    assert_eq!(server.ids().into_iter().collect::<Vec<_>>(), vec![("<3.0.1.email@exchange.local>".into(), 1)]);
    assert_eq!(outbox(runner.conn()).unwrap()[0].status, Status::Pending);
    drop(runner);

    // Restart: the row is still pending, so it goes again, once, with the same Message-ID.
    let mut runner = open(&path, config, &clock);
    let mut feed = MemoryFeed::new(one_deposit());
    runner.resume(&mut feed).unwrap();
    for _ in 0..3 {
        runner.step(&mut feed, Duration::ZERO).unwrap();
    }
    assert_eq!(server.ids().into_iter().collect::<Vec<_>>(), vec![("<3.0.1.email@exchange.local>".into(), 2)]);
    let row = &outbox(runner.conn()).unwrap()[0];
    assert_eq!((row.status, row.attempts), (Status::Sent, 1));
}

#[test]
fn preferences_filter_kinds_and_channels() {
    let clock = ManualClock::new(T0_MS);
    let dir = tempfile::tempdir().unwrap();
    let (_, batches) = run_engine(&small_day(), TS0);
    let mut runner = open(&dir.path().join("n.db"), NotifyConfig::default(), &clock);
    // Account 1: funds only, e-mail off, SMS on. Account 2: no preferences at all.
    set_prefs(
        runner.conn(),
        &Prefs {
            account: 1,
            email: Some("a1@example.com".into()),
            phone: Some("+919800000001".into()),
            email_on: false,
            sms_on: true,
            kinds: Kinds::only(&[Kind::Funds]),
        },
    )
    .unwrap();
    let mut feed = MemoryFeed::new(batches);
    runner.resume(&mut feed).unwrap();
    runner.step(&mut feed, Duration::ZERO).unwrap();
    let rows = outbox(runner.conn()).unwrap();
    let got: Vec<(u32, Channel, &str, &str)> =
        rows.iter().map(|r| (r.account, r.channel, r.kind.as_str(), r.subject.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (1, Channel::Sms, "funds", "Funds added: Rs 10,000.00"),
            (1, Channel::Sms, "funds", "Funds withdrawn: Rs 2,000.00"),
            (1, Channel::Sms, "funds", "Withdrawal rejected: insufficient funds"),
        ]
    );
    // Without a relay configured nothing is attempted.
    assert!(rows.iter().all(|r| r.status == Status::Pending && r.attempts == 0));
}
