//! The official `kiteconnect` Python client (PyPI), unmodified, against the whole running
//! exchange: engine node, Aeron bus, services and the HTTP/WebSocket gateway.
//!
//! This test starts a [`Stack`], lists INFY, TCS and SBIN, creates a liquidity provider, a taker
//! and a trader with almost no cash, and writes their credentials to a JSON file. Then
//! `tests/py/kite_e2e.py` logs each one in the way Kite's web login works, and drives every call
//! the client has for equities: orders of each type and product, order book, trades, positions,
//! holdings, margins, quotes, instruments, candles, error paths, and `KiteTicker` in its three
//! modes with order updates. The script's assertions are the test.
//!
//! Needs `python3 -m pip install kiteconnect` (scripts/test installs it). Without it the test
//! fails when `CI=true` and is skipped otherwise.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use exchange::stack::{Stack, Stock, Trader, INFY, SBIN, STOCKS, TCS};
use gateway::server::{GatewayConfig, RateConfig};
use serde_json::{json, Value};

/// How long the script may run before it is killed and the test fails.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(90);

/// A trader's credentials and what their profile should say, as the script reads them.
fn trader_json(t: &Trader, cash_paise: i64, holdings: &[(Stock, i64)]) -> Value {
    // `Stack::trader` numbers its users TU0001, TU0002, ... and names them after the number.
    let n: u32 = t.user_id[2..].parse().expect("fixture user id");
    json!({
        "user_id": t.user_id,
        "password": t.password,
        "totp_secret": t.totp_secret,
        "api_key": t.api_key,
        "api_secret": t.api_secret,
        "user_name": format!("Test Trader {n}"),
        "email": format!("trader{n}@example.com"),
        "cash_paise": cash_paise,
        "holdings": holdings.iter().map(|(s, q)| json!({"symbol": s.symbol, "quantity": q})).collect::<Vec<_>>(),
    })
}

/// Runs `py script config`, killing it after [`SCRIPT_TIMEOUT`]; returns (success, output).
fn run_script(py: &str, script: &Path, config: &Path, out_dir: &Path) -> (bool, String) {
    let (stdout_path, stderr_path) = (out_dir.join("stdout.txt"), out_dir.join("stderr.txt"));
    let mut child = Command::new(py)
        .arg(script)
        .arg(config)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).expect("stdout file"))
        .stderr(File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("starting {py}: {e}"));
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the script") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let output = format!("--- stdout\n{}--- stderr\n{}", read(&stdout_path), read(&stderr_path));
    match status {
        Some(s) => (s.success(), format!("exit: {s}\n{output}")),
        None => (false, format!("killed after {SCRIPT_TIMEOUT:?}\n{output}")),
    }
}

#[test]
fn official_python_client_drives_the_exchange() {
    let Some(py) = gateway::testkit::kite_python("kite_client") else { return };
    let started = Instant::now();
    // The script checks behaviour, not Kite's rate limits (the gateway's own tests do): it polls
    // the services' views and places a few dozen orders, faster than 1 quote call a second.
    let rates = RateConfig { orders: 1_000, quote: 1_000, historical: 1_000, other: 1_000 };
    let mut stack = Stack::start_with(GatewayConfig {
        listen: "127.0.0.1:0".into(),
        rate_limits: rates,
        ..GatewayConfig::default()
    });
    stack.market();

    let maker_cash = 1_000_000_000; // ₹1 crore
    let maker_holdings = [(INFY, 1_000), (TCS, 1_000), (SBIN, 1_000)];
    let maker = stack.trader(&[], maker_cash, &maker_holdings);
    let taker_cash = 200_000_000; // ₹20 lakh, and a second deposit below
    let taker_holdings = [(SBIN, 100)];
    let taker = stack.trader(&[], taker_cash, &taker_holdings);
    let top_up = 5_000_000;
    stack.deposit(taker.account, top_up);
    let poor_cash = 100_000; // ₹1,000
    let poor = stack.trader(&[], poor_cash, &[]);

    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("kite_e2e.json");
    let totp_unix = 1_700_000_000;
    let config = json!({
        "base_url": format!("http://{}", stack.addr),
        "ws_url": format!("ws://{}/", stack.addr),
        "instruments": STOCKS.iter().map(|s| json!({
            "symbol": s.symbol,
            "instrument_token": s.token(),
            "exchange_token": s.exchange_token,
            "reference_paise": s.reference,
        })).collect::<Vec<_>>(),
        // The fixtures' instrument and fee parameters (`Stack::market`).
        "tick_paise": 5,
        "band_bps": 2_000,
        "fee_bps": 1,
        "fee_cap_paise": 2_000,
        // One TOTP computed here, so the script's RFC 6238 code is checked against ours.
        "totp_check": {
            "secret": taker.totp_secret,
            "unix": totp_unix,
            "code": services_users::totp::code_for(&taker.totp_secret, totp_unix).expect("totp"),
        },
        "users": {
            "maker": trader_json(&maker, maker_cash, &maker_holdings),
            "taker": trader_json(&taker, taker_cash + top_up, &taker_holdings),
            "poor": trader_json(&poor, poor_cash, &[]),
        },
    });
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config).expect("json")).expect("writing the config");

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/kite_e2e.py");
    let (ok, output) = run_script(&py, &script, &config_path, dir.path());
    eprintln!("{output}");
    stack.stop();
    assert!(ok, "{} failed:\n{output}", script.display());
    eprintln!("kite_client: {:.1} s in all", started.elapsed().as_secs_f64());
}
