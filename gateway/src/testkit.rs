//! Support for tests that drive the gateway with the official Kite Connect Python client.

use std::process::{Command, Stdio};

/// `python3` (or `$PYTHON`) when it can import `kiteconnect` and `requests`. Otherwise the test
/// named `test` is skipped with a note (`None`), except under `CI=true`, where it panics:
/// `scripts/test` installs the client, so CI must not skip silently.
pub fn kite_python(test: &str) -> Option<String> {
    let py = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import kiteconnect, requests"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(py);
    }
    let msg = format!(
        "the official Kite Connect Python client is not importable by `{py}`; install it with \
         `{py} -m pip install kiteconnect` (scripts/test does)"
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("SKIPPED {test}: {msg}");
    None
}
