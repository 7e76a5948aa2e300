//! `exchange --seed scripts/demo-seed.toml`: the all-in-one process (embedded media driver,
//! node, services) seeds the demo market. Afterwards the services' databases show every user
//! with verified KYC and an active engine account, the seeded cash in the ledger, the holdings
//! in the portfolios, and the resting orders in the event log; a second start finds it all done
//! and deposits nothing again.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use engine_core::{BalanceReason, Event};
use services_core::{CommandSink, SinkError};
use services_users::{EngineStatus, KycStatus, Users, UsersConfig};

const MASTER_KEY: &str = "0202020202020202020202020202020202020202020202020202020202020202";
/// Start-up, seven argon2id hashes and ~100 confirmed commands take seconds; this bounds a
/// slow 2-core machine.
const START: Duration = Duration::from_secs(120);
/// `client_ref` of the seed's resting orders: `ORDER_REF_BASE + i` (engine/exchange/src/seed.rs).
const ORDER_REF_BASE: u64 = 0x5EED_0000_0000;

fn seed_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/demo-seed.toml")
}

/// The demo seed as this test reads it: user id → (cash paise, [(token, shares)]).
struct Expected {
    users: BTreeMap<String, (i64, Vec<(u32, i64)>)>,
    orders: usize,
}

fn expected() -> Expected {
    let text = std::fs::read_to_string(seed_file()).expect("the demo seed");
    let file: toml::Table = toml::from_str(&text).expect("TOML");
    let tokens: BTreeMap<String, u32> = file["instruments"]
        .as_array()
        .expect("instruments")
        .iter()
        .map(|i| {
            let token = i["exchange_token"].as_integer().expect("exchange_token") as u32;
            (i["tradingsymbol"].as_str().expect("symbol").to_string(), token << 8 | 1)
        })
        .collect();
    let mut users = BTreeMap::new();
    for u in file["users"].as_array().expect("users") {
        let cash =
            u.get("cash").map_or(0, |c| gateway::money::parse_rupees(c.as_str().expect("rupees")).expect("paise"));
        let holdings = u.get("holdings").and_then(|h| h.as_array()).map_or(Vec::new(), |h| {
            h.iter()
                .map(|h| (tokens[h["symbol"].as_str().expect("symbol")], h["quantity"].as_integer().expect("quantity")))
                .collect()
        });
        users.insert(u["user_id"].as_str().expect("user_id").to_string(), (cash, holdings));
    }
    let orders = file["quotes"]
        .as_array()
        .expect("quotes")
        .iter()
        .map(|q| {
            ["bids", "asks"].iter().map(|s| q.get(*s).and_then(|l| l.as_array()).map_or(0, Vec::len)).sum::<usize>()
        })
        .sum();
    Expected { users, orders }
}

/// The exchange with the demo seed, and its stdout line by line.
fn start(data: &Path) -> (Child, Receiver<String>) {
    let mut child = Process::new(env!("CARGO_BIN_EXE_exchange"))
        .arg("--seed")
        .arg(seed_file())
        .arg("all")
        .env("EXCHANGE_NODE_DATA_DIR", data)
        .env("EXCHANGE_PIPELINE_WAIT", "blocking")
        .env("EXCHANGE_SNAPSHOT_INTERVAL_S", "0")
        .env("EXCHANGE_ENGINE_ACCOUNTS_MAX", "1024")
        .env("EXCHANGE_ENGINE_ORDERS_MAX", "16384")
        .env("EXCHANGE_ENGINE_POSITIONS_MAX", "16384")
        .env("EXCHANGE_ENGINE_INSTRUMENTS_MAX", "16")
        .env("EXCHANGE_ENGINE_LEVELS_PER_BOOK_MAX", "65536")
        .env("EXCHANGE_SERVICES_USERS_MASTER_KEY", MASTER_KEY)
        .env("EXCHANGE_GATEWAY_ENABLED", "false")
        .env("EXCHANGE_LOG_FILTER", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the exchange");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("exchange: {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// The lines up to "seed complete".
fn seeded(child: &mut Child, lines: &Receiver<String>) -> Vec<String> {
    let deadline = Instant::now() + START;
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let done = line == "seed complete";
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                panic!("the exchange stopped before the seed was complete ({:?}): {seen:?}", child.wait())
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the seed was not complete within {START:?}: {seen:?}");
        }
    }
}

fn stop(mut child: Child) {
    let _ = Process::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the exchange did not stop within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status:?}");
}

struct NoCommands;

impl CommandSink for NoCommands {
    fn submit(&mut self, _: &engine_core::Command) -> Result<(), SinkError> {
        Err(SinkError::Transport("read-only".into()))
    }
}

fn db(data: &Path, name: &str) -> PathBuf {
    data.join("services").join(format!("{name}.db"))
}

/// Deposits and seed orders accepted, from the node's event log.
fn from_event_log(data: &Path) -> (usize, usize) {
    let mut reader = journal::JournalReader::open(&data.join("events"), 1).expect("event log");
    let (mut deposits, mut orders) = (0, 0);
    let mut events = Vec::new();
    while let Some(record) = reader.next().expect("read") {
        events.clear();
        engine_proto::decode_batch(record.payload, &mut events).expect("batch");
        for e in &events {
            match e {
                Event::BalanceChanged { reason: BalanceReason::Deposit, .. } => deposits += 1,
                Event::Accepted(a) if a.client_ref >= ORDER_REF_BASE => orders += 1,
                _ => {}
            }
        }
    }
    (deposits, orders)
}

/// Every seeded user exists with verified KYC and an active engine account; the ledger cash
/// and the holdings are the seed's. Returns each user's engine account.
fn check_databases(data: &Path, expected: &Expected) -> BTreeMap<String, u32> {
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&MASTER_KEY[2 * i..2 * i + 2], 16).expect("hex");
    }
    let users = Users::open(&db(data, "users"), UsersConfig::new(key), Box::new(NoCommands)).expect("users.db");
    let funds = rusqlite::Connection::open(db(data, "funds")).expect("funds.db");
    let portfolio = rusqlite::Connection::open(db(data, "portfolio")).expect("portfolio.db");
    let mut accounts = BTreeMap::new();
    for (user_id, (cash, holdings)) in &expected.users {
        assert_eq!(users.kyc(user_id).expect("kyc").status, KycStatus::Verified, "{user_id}");
        let engine = users.engine_account(user_id).expect("engine account");
        assert_eq!(engine.status, EngineStatus::Active, "{user_id}");
        assert!(users.api_key_of(user_id).expect("api key").is_some(), "{user_id} has the seed's API key");
        let account = engine.account_id;
        accounts.insert(user_id.clone(), account);
        if *cash > 0 {
            assert_eq!(services_funds::balances(&funds, account).expect("balances").cash, *cash, "{user_id}'s cash");
        }
        let held: Vec<(u32, i64)> = services_portfolio::holdings(&portfolio, account)
            .expect("holdings")
            .iter()
            .map(|h| (h.token, h.quantity))
            .collect();
        let mut want = holdings.clone();
        want.sort();
        assert_eq!(held, want, "{user_id}'s holdings");
    }
    accounts
}

#[test]
fn the_demo_seed_is_applied_once_and_a_restart_keeps_it() {
    let expected = expected();
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let cash_users = expected.users.values().filter(|(cash, _)| *cash > 0).count();

    let (mut child, lines) = start(&data);
    let output = seeded(&mut child, &lines);
    stop(child);
    let first = output.iter().find(|l| l.starts_with("first start:")).expect("a first start");
    assert!(first.contains(&format!("{} resting orders", expected.orders)), "{first}");
    assert!(output.iter().any(|l| l.contains("DT0001") && l.contains("demo_api_key_dt0001")), "{output:?}");
    assert!(data.join("seed.done").exists());
    let accounts = check_databases(&data, &expected);
    assert_eq!(from_event_log(&data), (cash_users, expected.orders), "one deposit per user with cash; every order");

    let (mut child, lines) = start(&data);
    let output = seeded(&mut child, &lines);
    stop(child);
    assert!(output.iter().any(|l| l.starts_with("cash, holdings and resting orders were seeded before")), "{output:?}");
    assert_eq!(check_databases(&data, &expected), accounts, "the same accounts");
    assert_eq!(from_event_log(&data), (cash_users, expected.orders), "nothing deposited or placed again");
}
