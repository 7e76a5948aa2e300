//! `exchange --seed FILE`: the seed applied inside the all-in-one process, over its bus, with
//! the users database opened as the users service and the gateway open it; then a short login
//! guide.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use engine_bus::Bus;
use services_core::{EventBatch, EventFeed, FeedError};
use services_host::{ServiceName, ServicesConfig};

use super::apply::{apply, SeedReport, MARKER};
use super::Seed;

/// The last line printed once the seed is applied.
pub const DONE_LINE: &str = "seed complete";
/// How long the seed waits for the event history and for each confirmation.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Applies `seed` to the exchange running on `bus` (its services started), stopping early when
/// `stop` is set, and prints the login guide on stdout.
pub fn run(
    seed: &Seed,
    data_dir: &Path,
    services: &ServicesConfig,
    bus: &Bus,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let enabled = services.enabled().map_err(anyhow::Error::msg)?;
    ensure!(
        enabled.contains(&ServiceName::Users),
        "the seed needs the users service, which creates and activates the accounts: add \"users\" to [services] enabled"
    );
    let mut users =
        services_host::open_users(services, data_dir, Box::new(bus.command_sink()?)).map_err(anyhow::Error::msg)?;
    let mut sink = bus.command_sink()?;
    let mut feed = StopFeed { inner: bus.event_feed()?, stop };
    let applied = apply(seed, data_dir, &mut users, &mut sink, &mut feed, TIMEOUT);
    if stop.load(Ordering::Acquire) {
        bail!("stopped by a signal while applying the seed {}", seed.path.display());
    }
    let report = applied.with_context(|| format!("applying the seed {}", seed.path.display()))?;
    print!("{}", guide(seed, &report, data_dir));
    Ok(())
}

/// A feed that closes when `stop` is set (SIGTERM, SIGINT), so a seed waiting on the engine
/// gives up at once rather than at its timeout.
struct StopFeed<'a, F> {
    inner: F,
    stop: &'a AtomicBool,
}

impl<F: EventFeed> EventFeed for StopFeed<'_, F> {
    fn poll(&mut self, out: &mut Vec<EventBatch>, max: usize, timeout: Duration) -> Result<usize, FeedError> {
        if self.stop.load(Ordering::Acquire) {
            return Err(FeedError::Closed);
        }
        self.inner.poll(out, max, timeout)
    }

    fn replay_from(&mut self, from: u64) -> Result<(), FeedError> {
        self.inner.replay_from(from)
    }

    fn replaying(&self) -> bool {
        self.inner.replaying()
    }
}

/// What was seeded and who can log in, ending with [`DONE_LINE`].
fn guide(seed: &Seed, report: &SeedReport, data_dir: &Path) -> String {
    let mut out = String::new();
    let file = seed.path.display();
    let _ = writeln!(
        out,
        "seed {file}: {} instruments ({} added), {} users ({} created, {} already there)",
        seed.instruments.len(),
        report.instruments_added,
        seed.users.len(),
        report.users_created,
        report.users_existing
    );
    if report.first_run {
        let _ = writeln!(
            out,
            "first start: {} deposits, {} holdings credits, {} resting orders",
            report.deposits, report.holdings, report.orders
        );
    } else {
        let _ =
            writeln!(out, "cash, holdings and resting orders were seeded before ({})", data_dir.join(MARKER).display());
    }
    let _ = writeln!(out, "instruments (instrument_token tradingsymbol name):");
    for ins in &seed.instruments {
        let _ =
            writeln!(out, "  {:>9} {}:{:<12} {}", ins.spec.token, ins.exchange.as_str(), ins.tradingsymbol, ins.name);
    }
    let _ = writeln!(out, "demo logins (DEMO ONLY: passwords, TOTP and API secrets are in {file}):");
    let _ = writeln!(out, "  {:<8} {:>7}  {:<8} {:<24} name", "user_id", "account", "roles", "api_key");
    for (user, (_, account)) in seed.users.iter().zip(&report.accounts) {
        let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
        let _ = writeln!(
            out,
            "  {:<8} {:>7}  {:<8} {:<24} {}",
            user.user_id,
            account,
            roles.join(","),
            user.api_key,
            user.name
        );
    }
    let _ = writeln!(out, "{DONE_LINE}");
    out
}
