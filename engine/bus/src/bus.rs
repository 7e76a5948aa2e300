//! The bus handle: an Aeron client and (when embedded) the media driver it talks to.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusteron_client::{Aeron, AeronContext, AeronPublication, AeronSubscription, Handlers};

use crate::driver::EmbeddedDriver;
use crate::feed::AeronEventFeed;
use crate::output::AeronEventOutput;
use crate::replay::ReplayServer;
use crate::sink::AeronCommandSink;
use crate::source::AeronCommandSource;
use crate::BusConfig;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus configuration: {0}")]
    Config(String),
    #[error("aeron: {0}")]
    Aeron(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A handle on the bus. Clones share one Aeron client; the adapters it makes hold a clone, so
/// the client and an embedded driver stop when the last handle is dropped.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    // Field order is drop order: the client closes before the driver stops.
    aeron: Aeron,
    config: BusConfig,
    dir: PathBuf,
    driver: Option<EmbeddedDriver>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("dir", &self.inner.dir)
            .field("embedded", &self.inner.driver.is_some())
            .finish_non_exhaustive()
    }
}

impl Bus {
    /// An embedded driver when `config.driver_dir` is empty, else a client of the driver there.
    pub fn start(config: &BusConfig) -> Result<Bus, BusError> {
        if config.driver_dir.is_empty() {
            Bus::embedded(config)
        } else {
            Bus::connect(Path::new(&config.driver_dir), config)
        }
    }

    /// Launches an embedded media driver in a fresh directory and connects to it.
    pub fn embedded(config: &BusConfig) -> Result<Bus, BusError> {
        validate(config)?;
        let driver = EmbeddedDriver::launch(config)?;
        let dir = driver.dir().to_path_buf();
        let aeron = connect_client(&dir, config)?;
        Ok(Bus { inner: Arc::new(Inner { aeron, config: config.clone(), dir, driver: Some(driver) }) })
    }

    /// Connects to a media driver already running with directory `dir` (split deployment).
    pub fn connect(dir: &Path, config: &BusConfig) -> Result<Bus, BusError> {
        validate(config)?;
        let aeron = connect_client(dir, config)?;
        Ok(Bus { inner: Arc::new(Inner { aeron, config: config.clone(), dir: dir.to_path_buf(), driver: None }) })
    }

    /// The media driver's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn config(&self) -> &BusConfig {
        &self.inner.config
    }

    pub fn is_embedded(&self) -> bool {
        self.inner.driver.is_some()
    }

    pub fn aeron(&self) -> &Aeron {
        &self.inner.aeron
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.inner.config.timeout_ms.max(1_000))
    }

    /// A (concurrent) publication on `channel` / `stream`, waiting until the driver has it.
    pub fn add_publication(&self, channel: &str, stream: i32) -> Result<AeronPublication, BusError> {
        let uri = c_channel(channel)?;
        let what = || format!("publication {channel} stream {stream}");
        let pending = self
            .inner
            .aeron
            .async_add_publication(&uri, stream)
            .map_err(|e| BusError::Aeron(format!("{}: {e}", what())))?;
        wait_for(self.timeout(), what, || pending.poll())
    }

    /// A subscription on `channel` / `stream`, waiting until the driver has it.
    pub fn add_subscription(&self, channel: &str, stream: i32) -> Result<AeronSubscription, BusError> {
        let uri = c_channel(channel)?;
        let what = || format!("subscription {channel} stream {stream}");
        let pending = self
            .inner
            .aeron
            .async_add_subscription(&uri, stream, Handlers::NONE, Handlers::NONE)
            .map_err(|e| BusError::Aeron(format!("{}: {e}", what())))?;
        wait_for(self.timeout(), what, || pending.poll())
    }

    /// The engine node's publisher: event batches onto the events stream.
    pub fn event_output(&self) -> Result<AeronEventOutput, BusError> {
        AeronEventOutput::new(self)
    }

    /// The engine node's receiver input: commands from the commands stream.
    pub fn command_source(&self) -> Result<AeronCommandSource, BusError> {
        AeronCommandSource::new(self)
    }

    /// Submits commands onto the commands stream.
    pub fn command_sink(&self) -> Result<AeronCommandSink, BusError> {
        AeronCommandSink::new(self)
    }

    /// A feed of live events plus replay on request, tethered: while it falls behind, the
    /// engine's publisher waits for it (the gateway, tools, tests).
    pub fn event_feed(&self) -> Result<AeronEventFeed, BusError> {
        AeronEventFeed::new(self, true)
    }

    /// A service's feed: untethered unless `bus.service_feed_tethered` (see [`BusConfig`]), so
    /// a service that falls behind catches up through replay instead of stalling the engine.
    pub fn service_feed(&self) -> Result<AeronEventFeed, BusError> {
        AeronEventFeed::new(self, self.inner.config.service_feed_tethered)
    }

    /// Serves replay requests from the event log in `events_dir` on its own thread.
    pub fn replay_server(&self, events_dir: &Path) -> Result<ReplayServer, BusError> {
        ReplayServer::start(self, events_dir)
    }
}

/// Checks what Aeron would otherwise report late and obscurely.
pub(crate) fn validate(config: &BusConfig) -> Result<(), BusError> {
    let streams = [
        ("commands", &config.commands_channel, config.commands_stream),
        ("events", &config.events_channel, config.events_stream),
        ("replay_request", &config.replay_request_channel, config.replay_request_stream),
        ("replay_response", &config.replay_response_channel, config.replay_response_stream),
    ];
    for (i, (name, channel, stream)) in streams.iter().enumerate() {
        if !channel.starts_with("aeron:ipc") && !channel.starts_with("aeron:udp") {
            return Err(BusError::Config(format!(
                "bus.{name}_channel {channel:?}: expected aeron:ipc or aeron:udp?..."
            )));
        }
        for (other, other_channel, other_stream) in &streams[..i] {
            if stream == other_stream && channel == other_channel {
                return Err(BusError::Config(format!(
                    "bus.{name}_stream {stream} is also bus.{other}_stream on the same channel {channel}"
                )));
            }
        }
    }
    let term = config.term_length;
    if !term.is_power_of_two() || !(64 << 10..=1 << 30).contains(&term) {
        return Err(BusError::Config(format!("bus.term_length {term}: expected a power of two from 64 KiB to 1 GiB")));
    }
    Ok(())
}

/// `channel` with `params` (`key=value`, joined by `|`) added to its URI.
pub(crate) fn with_params(channel: &str, params: &str) -> String {
    let separator = if channel.contains('?') { '|' } else { '?' };
    format!("{channel}{separator}{params}")
}

fn c_channel(channel: &str) -> Result<CString, BusError> {
    CString::new(channel).map_err(|_| BusError::Config(format!("channel {channel:?} holds a NUL byte")))
}

fn connect_client(dir: &Path, config: &BusConfig) -> Result<Aeron, BusError> {
    let fail = |what: &str, e: rusteron_client::AeronCError| {
        BusError::Aeron(format!("client ({}): {what}: {e}", dir.display()))
    };
    let ctx = AeronContext::new().map_err(|e| fail("context", e))?;
    let dir_c = CString::new(dir.to_string_lossy().as_bytes())
        .map_err(|_| BusError::Config(format!("driver directory {} holds a NUL byte", dir.display())))?;
    ctx.set_dir(&dir_c).map_err(|e| fail("dir", e))?;
    ctx.set_driver_timeout_ms(config.timeout_ms.max(1_000)).map_err(|e| fail("driver_timeout_ms", e))?;
    ctx.set_client_name(c"exchange").map_err(|e| fail("client_name", e))?;
    ctx.set_error_handler(Some(|code: i32, msg: &str| tracing::warn!(code, "aeron client: {msg}")))
        .map_err(|e| fail("error handler", e))?;
    let aeron = Aeron::new(&ctx).map_err(|e| fail("init", e))?;
    aeron.start().map_err(|e| fail("start (is a media driver running there?)", e))?;
    Ok(aeron)
}

/// Polls an async add until it completes, sleeping between polls.
fn wait_for<T>(
    timeout: Duration,
    what: impl Fn() -> String,
    mut poll: impl FnMut() -> Result<Option<T>, rusteron_client::AeronCError>,
) -> Result<T, BusError> {
    let deadline = Instant::now() + timeout;
    loop {
        match poll() {
            Ok(Some(done)) => return Ok(done),
            Ok(None) => {}
            Err(e) => return Err(BusError::Aeron(format!("{}: {e}", what()))),
        }
        if Instant::now() >= deadline {
            return Err(BusError::Aeron(format!("{}: the driver did not answer within {timeout:?}", what())));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Sleeps or yields until `ready` holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let mut idle = Backoff::default();
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        idle.idle();
    }
}

/// Spin a little, then yield, then sleep up to 1 ms: the wait for loops that poll.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    rounds: u32,
}

impl Backoff {
    pub(crate) fn idle(&mut self) {
        self.rounds = self.rounds.saturating_add(1);
        match self.rounds {
            0..=10 => std::hint::spin_loop(),
            11..=30 => std::thread::yield_now(),
            n => std::thread::sleep(Duration::from_micros(50u64 << (n - 31).min(4))),
        }
    }

    pub(crate) fn reset(&mut self) {
        self.rounds = 0;
    }
}
