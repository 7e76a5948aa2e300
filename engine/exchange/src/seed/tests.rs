//! The seed file's checks, and `apply` against an in-process engine with the users service
//! beside it (the all-in-one process over Aeron is tested in `tests/seed.rs`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine_core::{AccountStatus, Command, InstrumentSpec, Side, Symbol};
use services_core::testkit::{catch_up, Exchange};
use services_core::{CommandSink, EventBatch, EventFeed, FeedError, ServiceRunner, SinkError};
use services_users::{PasswordParams, Role, Users, UsersConfig, UsersService};

use super::apply::{apply, SeedReport, MARKER};
use super::*;

fn demo_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/demo-seed.toml")
}

#[test]
fn the_demo_seed_loads() {
    let seed = Seed::load(&demo_path()).expect("the demo seed is valid");
    assert_eq!(seed.instruments.len(), 10);
    let infy = seed.instruments.iter().find(|i| i.tradingsymbol == "INFY").expect("INFY");
    assert_eq!(infy.spec.token, 408_065, "Kite's instrument token: 1594 << 8 | 1");
    assert_eq!((infy.name.as_str(), infy.exchange), ("INFOSYS", ::gateway::kite::Exchange::Nse));
    assert_eq!(infy.spec.reference_price, 152_000, "1520.00 rupees in paise");
    assert_eq!((infy.spec.tick, infy.spec.lot, infy.spec.band_bps, infy.spec.mis_leverage), (5, 1, 2_000, 5));
    assert_eq!((infy.band_low, infy.band_high), (121_600, 182_400));
    assert_eq!(seed.fees, FeeSchedule { bps: 3, cap: 2_000, fee_account: 0 });
    let ids: Vec<&str> = seed.users.iter().map(|u| u.user_id.as_str()).collect();
    assert_eq!(ids, ["DT0001", "DT0002", "DT0003", "DT0004", "AD0001", "RK0001", "MM0001"]);
    let role = |id: &str| seed.users.iter().find(|u| u.user_id == id).map(|u| u.roles.clone());
    assert_eq!(role("AD0001"), Some(vec![Role::Admin]));
    assert_eq!(role("RK0001"), Some(vec![Role::Risk]));
    let mm = seed.users.iter().find(|u| u.user_id == "MM0001").expect("market maker");
    assert_eq!(mm.holdings.len(), seed.instruments.len(), "the market maker holds every instrument");
    assert_eq!(seed.users[0].cash, 50_000_000, "5,00,000.00 rupees");
    // Bids and asks in every instrument, numbered from ORDER_REF_BASE.
    for ins in &seed.instruments {
        for side in [Side::Buy, Side::Sell] {
            assert!(seed.orders.iter().any(|o| o.token == ins.spec.token && o.side == side), "{}", ins.tradingsymbol);
        }
    }
    for (i, order) in seed.orders.iter().enumerate() {
        assert_eq!(order.client_ref, ORDER_REF_BASE + i as u64);
    }
    // The secrets never reach Debug output.
    let text = format!("{seed:?}");
    assert!(!text.contains("demo-password") && !text.contains("not_secret"), "{text}");
}

/// A small valid seed; each case below breaks one thing.
const SMALL: &str = r#"
[fees]
bps = 3
cap = "20.00"
fee_account = 0

[[instruments]]
tradingsymbol = "INFY"
name = "INFOSYS"
exchange = "NSE"
exchange_token = 1594
tick = "0.05"
lot = 1
band_pct = 20
reference_price = "1520.00"
mis_leverage = 5

[[instruments]]
tradingsymbol = "TCS"
name = "TATA CONSULTANCY SERV LT"
exchange = "NSE"
exchange_token = 11536
tick = "0.05"
lot = 1
band_pct = 10
reference_price = "3850.00"
mis_leverage = 5

[[users]]
user_id = "DT0001"
name = "Asha Demo"
email = "asha.demo@example.com"
phone = "+91 90000 00001"
password = "demo-password-dt0001"
totp_secret = "MRSW23ZNORXXI4BNMR2DAMBQGEWWWZLZ"
api_key = "demo_api_key_dt0001"
api_secret = "demo_api_secret_dt0001_not_secret"
roles = ["trader"]
kyc_verified = true
cash = "100000.00"
holdings = [{ symbol = "INFY", quantity = 50 }]

[[users]]
user_id = "MM0001"
name = "Market Maker Demo"
email = "mm.demo@example.com"
phone = "+91 90000 00020"
password = "demo-password-mm0001"
totp_secret = "MRSW23ZNORXXI4BNNVWTAMBQGEWWWZLZ"
api_key = "demo_api_key_mm0001"
api_secret = "demo_api_secret_mm0001_not_secret"
roles = ["trader"]
kyc_verified = true
cash = "1000000.00"
holdings = [{ symbol = "INFY", quantity = 1000 }, { symbol = "TCS", quantity = 1000 }]

[[quotes]]
user_id = "MM0001"
symbol = "INFY"
bids = [{ price = "1519.50", quantity = 100 }, { price = "1519.00", quantity = 200 }]
asks = [{ price = "1520.50", quantity = 100 }, { price = "1521.00", quantity = 200 }]

[[quotes]]
user_id = "MM0001"
symbol = "TCS"
bids = [{ price = "3849.50", quantity = 10 }]
asks = [{ price = "3850.50", quantity = 10 }]
"#;

fn error_of(text: &str) -> String {
    match Seed::parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn every_mistake_is_refused_with_the_entry_named() {
    let seed = Seed::parse(SMALL).expect("the small seed is valid");
    assert_eq!((seed.instruments.len(), seed.users.len(), seed.orders.len()), (2, 2, 6));

    let cases: &[(&str, &str, &str)] = &[
        (r#"tradingsymbol = "TCS""#, r#"tradingsymbol = "tcs""#, "instruments[1] (tcs): tradingsymbol \"tcs\""),
        (
            r#"reference_price = "1520.00""#,
            r#"reference_price = "1520.03""#,
            "instruments[0] (INFY): reference_price \"1520.03\" is not on the tick grid of 0.05",
        ),
        (
            r#"reference_price = "1520.00""#,
            r#"reference_price = "1520.005""#,
            "instruments[0] (INFY): reference_price \"1520.005\": it has more than two decimal places",
        ),
        (r#"reference_price = "1520.00""#, "reference_price = 1520.00", "invalid type: floating point"),
        (
            "exchange_token = 11536",
            "exchange_token = 1594",
            "instruments[1] (TCS): token 408065 is also instruments[0]'s",
        ),
        (
            r#"exchange = "NSE"
exchange_token = 11536"#,
            r#"exchange = "MCX"
exchange_token = 11536"#,
            "instruments[1] (TCS): exchange \"MCX\"",
        ),
        ("band_pct = 10", "band_pct = 100", "instruments[1] (TCS): band_pct 100"),
        (
            "mis_leverage = 5\n\n[[users]]",
            "mis_leverage = 5\nexpiry = \"2025-01-30\"\n\n[[users]]",
            "unknown field `expiry`",
        ),
        (
            r#"{ symbol = "INFY", quantity = 50 }"#,
            r#"{ symbol = "INFI", quantity = 50 }"#,
            "users[0] (DT0001): holdings: unknown symbol \"INFI\"",
        ),
        (
            r#"{ symbol = "INFY", quantity = 50 }"#,
            r#"{ symbol = "INFY", quantity = 0 }"#,
            "users[0] (DT0001): holdings of INFY: quantity 0",
        ),
        (
            r#"user_id = "DT0001""#,
            r#"user_id = "D00001""#,
            "users[0] (D00001): user_id \"D00001\": two letters and four digits",
        ),
        (
            r#"totp_secret = "MRSW23ZNORXXI4BNMR2DAMBQGEWWWZLZ""#,
            r#"totp_secret = "not base32!""#,
            "users[0] (DT0001): invalid totp_secret",
        ),
        (
            r#"api_key = "demo_api_key_mm0001""#,
            r#"api_key = "demo_api_key_dt0001""#,
            "users[1] (MM0001): api_key demo_api_key_dt0001 is also users[0]'s",
        ),
        (
            r#"roles = ["trader"]
kyc_verified = true
cash = "100000.00""#,
            r#"roles = ["janitor"]
kyc_verified = true
cash = "100000.00""#,
            "unknown variant `janitor`",
        ),
        (r#"cash = "100000.00""#, r#"cash = "-5.00""#, "users[0] (DT0001): cash \"-5.00\""),
        (
            r#"bids = [{ price = "3849.50", quantity = 10 }]"#,
            r#"bids = [{ price = "3849.53", quantity = 10 }]"#,
            "quotes[1] (MM0001 TCS): price \"3849.53\" is not on the tick grid",
        ),
        (
            r#"bids = [{ price = "3849.50", quantity = 10 }]"#,
            r#"bids = [{ price = "3000.00", quantity = 10 }]"#,
            "quotes[1] (MM0001 TCS): price \"3000.00\" is outside the circuit band 3465 to 4235",
        ),
        (
            r#"bids = [{ price = "3849.50", quantity = 10 }]"#,
            r#"bids = [{ price = "3851.00", quantity = 10 }]"#,
            "quotes for TCS: the bid at 3851 is at or above the ask at 3850.5",
        ),
        (
            r#"bids = [{ price = "3849.50", quantity = 10 }]"#,
            r#"bids = [{ price = "3849.50", quantity = 1000 }]"#,
            "quotes of MM0001: the bids block",
        ),
        (
            r#"asks = [{ price = "3850.50", quantity = 10 }]"#,
            r#"asks = [{ price = "3850.50", quantity = 1001 }]"#,
            "quotes of MM0001: the asks in TCS sell 1001 shares, more than the 1000 held",
        ),
        (
            r#"symbol = "TCS"
bids"#,
            r#"symbol = "WIPRO"
bids"#,
            "quotes[1] (MM0001 WIPRO): unknown symbol",
        ),
        (
            r#"user_id = "MM0001"
symbol = "TCS""#,
            r#"user_id = "XX0001"
symbol = "TCS""#,
            "quotes[1] (XX0001 TCS): unknown user",
        ),
    ];
    for (from, to, message) in cases {
        assert_eq!(SMALL.matches(from).count(), 1, "the case's text is unique: {from}");
        let error = error_of(&SMALL.replace(from, to));
        assert!(error.contains(message), "{to}:\n  got:  {error}\n  want: {message}");
    }
    let unverified = SMALL.replace(
        "roles = [\"trader\"]\nkyc_verified = true\ncash = \"1000000.00\"",
        "roles = [\"trader\"]\nkyc_verified = false\ncash = \"1000000.00\"",
    );
    assert!(error_of(&unverified).contains("quotes[0] (MM0001 INFY): the user's KYC is not verified"));
    assert!(
        error_of("instruments = []\n[fees]\nbps = 3\ncap = \"0\"\nfee_account = 0\n").contains("no [[instruments]]")
    );
}

// ------------------------------------------------------------------ apply, in process

type Shared = Arc<Mutex<Exchange>>;

/// Runs each command through the engine at once.
#[derive(Clone)]
struct EngineSink(Shared);

impl CommandSink for EngineSink {
    fn submit(&mut self, command: &Command) -> Result<(), SinkError> {
        self.0.lock().expect("exchange").apply(command);
        Ok(())
    }
}

/// The engine's batches in seq order, replayable. Before handing batches out it lets the users
/// service (on the same database, as in the all-in-one process) apply them; its commands run
/// through the engine too.
struct EngineFeed {
    exchange: Shared,
    next: usize,
    users: ServiceRunner<UsersService>,
}

impl EngineFeed {
    fn batches(&self) -> Vec<EventBatch> {
        self.exchange.lock().expect("exchange").batches.clone()
    }
}

impl EventFeed for EngineFeed {
    fn poll(&mut self, out: &mut Vec<EventBatch>, max: usize, _timeout: Duration) -> Result<usize, FeedError> {
        let batches = self.batches();
        catch_up(&mut self.users, &batches).map_err(|e| FeedError::Transport(e.to_string()))?;
        let batches = self.batches();
        let new = batches.get(self.next..).unwrap_or_default();
        let n = new.len().min(max);
        out.extend_from_slice(&new[..n]);
        self.next += n;
        Ok(n)
    }

    fn replay_from(&mut self, from: u64) -> Result<(), FeedError> {
        self.next = from.saturating_sub(1) as usize;
        Ok(())
    }
}

struct Harness {
    dir: tempfile::TempDir,
    exchange: Shared,
}

impl Harness {
    fn new() -> Harness {
        Harness { dir: tempfile::tempdir().expect("tempdir"), exchange: Arc::new(Mutex::new(Exchange::new(&[]))) }
    }

    fn apply(&self, seed: &Seed) -> anyhow::Result<SeedReport> {
        let db = self.dir.path().join("users.db");
        let mut config = UsersConfig::new([7; 32]);
        config.password = PasswordParams::insecure_fast();
        let mut users = Users::open(&db, config, Box::new(EngineSink(self.exchange.clone()))).expect("users");
        let service = UsersService::new(Some(Box::new(EngineSink(self.exchange.clone()))));
        let runner = ServiceRunner::open(&db, service).expect("users service");
        let mut feed = EngineFeed { exchange: self.exchange.clone(), next: 0, users: runner };
        let mut sink = EngineSink(self.exchange.clone());
        apply(seed, self.dir.path(), &mut users, &mut sink, &mut feed, Duration::from_secs(5))
    }

    fn seq(&self) -> usize {
        self.exchange.lock().expect("exchange").batches.len()
    }
}

#[test]
fn apply_builds_the_market_once_and_a_restart_changes_nothing() {
    let seed = Seed::load(&demo_path()).expect("seed");
    let h = Harness::new();
    let report = h.apply(&seed).expect("first start");
    assert!(report.first_run);
    assert_eq!((report.instruments_added, report.users_created, report.users_existing), (10, 7, 0));
    let cash_users = seed.users.iter().filter(|u| u.cash > 0).count();
    let holdings: usize = seed.users.iter().map(|u| u.holdings.len()).sum();
    assert_eq!((report.deposits, report.holdings, report.orders), (cash_users, holdings, seed.orders.len()));
    assert!(h.dir.path().join(MARKER).exists());
    {
        let ex = h.exchange.lock().expect("exchange");
        let engine = &ex.engine;
        assert_eq!(engine.instruments().count(), 10);
        assert!(engine.account(0).is_some(), "the fee account");
        for (user, (id, account)) in seed.users.iter().zip(&report.accounts) {
            assert_eq!(&user.user_id, id);
            let view = engine.account(*account).expect("account");
            assert_eq!(view.status, AccountStatus::Active, "{id}");
            assert_eq!(view.cash, user.cash, "{id}");
            for holding in &user.holdings {
                assert_eq!(engine.position(*account, holding.token).map(|p| p.holdings), Some(holding.qty));
            }
        }
        assert_eq!(engine.open_orders().count(), seed.orders.len(), "every resting order rests");
    }

    let seq = h.seq();
    let again = h.apply(&seed).expect("second start");
    assert!(!again.first_run);
    assert_eq!((again.instruments_added, again.users_created, again.users_existing), (0, 0, 7));
    assert_eq!((again.deposits, again.holdings, again.orders), (0, 0, 0));
    assert_eq!(again.accounts, report.accounts);
    assert_eq!(h.seq(), seq, "nothing was sent to the engine");

    // A first start that died before writing the marker: the history shows what it did.
    std::fs::remove_file(h.dir.path().join(MARKER)).expect("remove the marker");
    let resumed = h.apply(&seed).expect("resumed start");
    assert!(resumed.first_run);
    assert_eq!((resumed.deposits, resumed.holdings, resumed.orders), (0, 0, 0));
    assert_eq!(h.seq(), seq, "no deposit, credit or order twice");
}

#[test]
fn apply_refuses_an_instrument_the_engine_has_with_another_spec() {
    let seed = Seed::parse(SMALL).expect("seed");
    let h = Harness::new();
    let other = InstrumentSpec { reference_price: 150_000, ..seed.instruments[0].spec };
    h.exchange.lock().expect("exchange").apply(&Command::AddInstrument(other));
    let error = format!("{:#}", h.apply(&seed).expect_err("a different INFY"));
    assert!(error.contains("instrument INFY (token 408065): the engine has it with another specification"), "{error}");
    assert!(!h.dir.path().join(MARKER).exists());

    // Another token under the symbol: the engine's refusal is named.
    let h = Harness::new();
    let clash =
        InstrumentSpec { token: 99 << 8 | 1, symbol: Symbol::new("TCS").expect("symbol"), ..seed.instruments[1].spec };
    h.exchange.lock().expect("exchange").apply(&Command::AddInstrument(clash));
    let error = format!("{:#}", h.apply(&seed).expect_err("TCS under another token"));
    assert!(
        error.contains("instrument TCS (token 2953217): the engine has another instrument with this symbol"),
        "{error}"
    );
}

#[test]
fn apply_names_a_refused_order() {
    // The engine's fee is above what the seed's check assumed: make the market maker's cash
    // cover its bids, and nothing more, then let the fee schedule raise the cost.
    let text = SMALL.replace("bps = 3", "bps = 0").replace(r#"cash = "1000000.00""#, r#"cash = "494245.00""#);
    let mut seed = Seed::parse(&text).expect("seed");
    seed.fees.bps = 100;
    let h = Harness::new();
    let error = format!("{:#}", h.apply(&seed).expect_err("insufficient funds"));
    assert!(
        error.contains("the engine refused the resting order MM0001 BUY 10 TCS @ 3849.5: InsufficientFunds"),
        "{error}"
    );
    assert!(!h.dir.path().join(MARKER).exists(), "no marker after a failure");
}
