//! SIGTERM and SIGINT stop the node cleanly: the ring drains, everything received is journaled
//! and published, and a final snapshot is written at the last seq.

use std::process::{Command as Process, Stdio};
use std::time::Duration;

use engine_core::Limits;

fn stop_with(signal: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let child = Process::new(env!("CARGO_BIN_EXE_exchange"))
        .arg("node")
        .env("EXCHANGE_NODE_DATA_DIR", &data)
        .env("EXCHANGE_SOURCE_KIND", "generator")
        .env("EXCHANGE_SOURCE_RATE", "200000")
        .env("EXCHANGE_PIPELINE_WAIT", "blocking")
        .env("EXCHANGE_SNAPSHOT_INTERVAL_S", "0")
        .env("EXCHANGE_ENGINE_ACCOUNTS_MAX", "2048")
        .env("EXCHANGE_ENGINE_ORDERS_MAX", "65536")
        .env("EXCHANGE_ENGINE_POSITIONS_MAX", "65536")
        .env("EXCHANGE_LOG_FILTER", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the exchange binary");
    std::thread::sleep(Duration::from_millis(600));
    let status = Process::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{signal}: exit status {:?}", out.status);
    let report = String::from_utf8(out.stdout).expect("utf-8");
    let field = |name: &str| -> u64 {
        let at = report.find(&format!("\"{name}\":")).unwrap_or_else(|| panic!("{name} in {report}"));
        report[at + name.len() + 3..].split([',', '}']).next().and_then(|v| v.parse().ok()).expect("a number")
    };
    let (last, published) = (field("last_seq"), field("published_seq"));
    assert!(last > 4_000, "{signal}: the node was working before the signal ({last} commands)");
    assert_eq!(published, last, "{signal}: every received command was published before exit");
    let limits = Limits { accounts_max: 2_048, orders_max: 65_536, positions_max: 65_536, ..Limits::default() };
    let recovered = engine_node::recover(&data, limits, 3).expect("recover");
    assert_eq!(recovered.snapshot_seq, Some(last), "{signal}: a final snapshot at the last seq");
    assert_eq!(recovered.replayed, 0);
}

#[test]
fn sigterm_drains_flushes_and_snapshots() {
    stop_with("TERM");
}

#[test]
fn sigint_drains_flushes_and_snapshots() {
    stop_with("INT");
}

/// A node restarted onto its own data, with nothing new to do, still stops cleanly (its final
/// snapshot is at the recovered seq, which counts as published).
#[test]
fn a_restarted_idle_node_stops_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let start = |kind: &str| {
        Process::new(env!("CARGO_BIN_EXE_exchange"))
            .arg("node")
            .env("EXCHANGE_NODE_DATA_DIR", &data)
            .env("EXCHANGE_SOURCE_KIND", kind)
            .env("EXCHANGE_SOURCE_RATE", "100000")
            .env("EXCHANGE_PIPELINE_WAIT", "blocking")
            .env("EXCHANGE_SNAPSHOT_INTERVAL_S", "0")
            .env("EXCHANGE_ENGINE_ACCOUNTS_MAX", "2048")
            .env("EXCHANGE_ENGINE_ORDERS_MAX", "65536")
            .env("EXCHANGE_ENGINE_POSITIONS_MAX", "65536")
            .env("EXCHANGE_LOG_FILTER", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the exchange binary")
    };
    for kind in ["generator", "none", "none"] {
        let mut child = start(kind);
        std::thread::sleep(Duration::from_millis(400));
        let status = Process::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("kill");
        assert!(status.success());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let exit = loop {
            if let Some(exit) = child.try_wait().expect("poll") {
                break exit;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("{kind}: the node did not stop within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(exit.success(), "{kind}: {exit:?}");
    }
}
