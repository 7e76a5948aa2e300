//! The embedded media driver: one thread running Aeron's driver agents in SHARED threading mode
//! (conductor, sender and receiver as one duty cycle: the right shape for a small machine).

use std::ffi::CString;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusteron_media_driver::bindings::aeron_threading_mode_enum;
use rusteron_media_driver::{AeronCError, AeronDriver, AeronDriverContext};

use crate::bus::BusError;
use crate::BusConfig;

/// A directory no other driver uses: `/dev/shm/exchange-<pid>-<random>` (the system temp
/// directory where there is no `/dev/shm`).
pub fn unique_driver_dir() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    driver_base().join(format!("{DIR_PREFIX}{}-{:016x}", std::process::id(), hasher.finish()))
}

const DIR_PREFIX: &str = "exchange-";

fn driver_base() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// The file in an embedded driver's directory naming its owner: `<pid> <pid namespace>`.
pub const OWNER_FILE: &str = "exchange-owner";

fn pid_namespace() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/pid").ok().map(|m| m.ino())
}

/// Removes the directories of embedded drivers whose process is gone (killed before it could
/// clean up): those whose owner file names a process of this PID namespace that no longer
/// runs. Best effort; returns how many went.
pub fn remove_stale_driver_dirs() -> usize {
    let Some(namespace) = pid_namespace() else { return 0 };
    let Ok(entries) = std::fs::read_dir(driver_base()) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let Ok(owner) = std::fs::read_to_string(entry.path().join(OWNER_FILE)) else { continue };
        let mut words = owner.split_whitespace().map(str::parse::<u64>);
        let (Some(Ok(pid)), Some(Ok(ns))) = (words.next(), words.next()) else { continue };
        if ns != namespace || Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        if std::fs::remove_dir_all(entry.path()).is_ok() {
            tracing::info!(dir = %entry.path().display(), "removed the directory of a driver whose process is gone");
            removed += 1;
        }
    }
    removed
}

/// An embedded media driver. Its directory is deleted when it starts and when it stops;
/// dropping it stops the driver thread and removes the directory.
#[derive(Debug)]
pub struct EmbeddedDriver {
    dir: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedDriver {
    /// Starts a driver in a fresh [`unique_driver_dir`] with the timeouts and term length of
    /// `config`, and waits until it runs. Directories left by killed processes are removed first.
    pub fn launch(config: &BusConfig) -> Result<EmbeddedDriver, BusError> {
        remove_stale_driver_dirs();
        Self::launch_in(unique_driver_dir(), config)
    }

    /// Starts a driver in `dir` (deleted first if it exists).
    pub fn launch_in(dir: PathBuf, config: &BusConfig) -> Result<EmbeddedDriver, BusError> {
        let dir_c = CString::new(dir.to_string_lossy().as_bytes())
            .map_err(|_| BusError::Config(format!("driver directory {} holds a NUL byte", dir.display())))?;
        let settings = DriverSettings::from(config);
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = sync_channel::<Result<(), String>>(1);
        let thread = {
            let stop = Arc::clone(&stop);
            let dir = dir.clone();
            std::thread::Builder::new()
                .name("aeron-driver".into())
                .spawn(move || {
                    // The driver, its context and every call on them stay on this thread.
                    let driver = match start_driver(&dir_c, &settings) {
                        Ok(driver) => driver,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    drop(ready_tx);
                    while !stop.load(Ordering::Acquire) {
                        match driver.main_do_work() {
                            Ok(work) => driver.main_idle_strategy(work),
                            Err(e) => {
                                tracing::error!(dir = %dir.display(), "media driver stopped: {e}");
                                break;
                            }
                        }
                    }
                    drop(driver);
                    tracing::debug!(dir = %dir.display(), "media driver stopped");
                })
                .map_err(|e| BusError::Aeron(format!("starting the media driver thread: {e}")))?
        };
        match ready_rx.recv() {
            Ok(Ok(())) => {
                if let Some(ns) = pid_namespace() {
                    let owner = format!("{} {ns}\n", std::process::id());
                    if let Err(e) = std::fs::write(dir.join(OWNER_FILE), owner) {
                        tracing::warn!(dir = %dir.display(), "writing the driver's owner file: {e}");
                    }
                }
                tracing::info!(dir = %dir.display(), "embedded media driver started (SHARED threading mode)");
                Ok(EmbeddedDriver { dir, stop, thread: Some(thread) })
            }
            Ok(Err(e)) => {
                let _ = thread.join();
                let _ = std::fs::remove_dir_all(&dir);
                Err(BusError::Aeron(format!("media driver in {}: {e}", dir.display())))
            }
            Err(_) => {
                let _ = thread.join();
                let _ = std::fs::remove_dir_all(&dir);
                Err(BusError::Aeron(format!("media driver in {}: the driver thread died", dir.display())))
            }
        }
    }

    /// The directory clients connect through.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for EmbeddedDriver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!(dir = %self.dir.display(), "the media driver thread panicked");
            }
        }
        // The driver deletes its directory on shutdown; make sure, whatever happened.
        if self.dir.exists() {
            if let Err(e) = std::fs::remove_dir_all(&self.dir) {
                tracing::warn!(dir = %self.dir.display(), "removing the driver directory: {e}");
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct DriverSettings {
    timeout: Duration,
    term_length: usize,
    /// How often the driver's conductor runs its timed checks, among them cutting loose an
    /// untethered subscriber that lags (Aeron's default, 1 s, would make
    /// `bus.untethered_window_limit_ms` a second at least).
    timer_interval: Duration,
}

impl From<&BusConfig> for DriverSettings {
    fn from(config: &BusConfig) -> Self {
        DriverSettings {
            timeout: Duration::from_millis(config.timeout_ms.max(1_000)),
            term_length: config.term_length as usize,
            timer_interval: config.untethered_tick(),
        }
    }
}

fn start_driver(dir: &CString, s: &DriverSettings) -> Result<AeronDriver, String> {
    let step = |what: &str, r: Result<i32, AeronCError>| r.map(|_| ()).map_err(|e| format!("{what}: {e}"));
    let ctx = AeronDriverContext::new().map_err(|e| format!("driver context: {e}"))?;
    let timeout_ns = s.timeout.as_nanos() as u64;
    step("dir", ctx.set_dir(dir))?;
    step("dir_delete_on_start", ctx.set_dir_delete_on_start(true))?;
    step("dir_delete_on_shutdown", ctx.set_dir_delete_on_shutdown(true))?;
    step("threading_mode", ctx.set_threading_mode(aeron_threading_mode_enum::AERON_THREADING_MODE_SHARED))?;
    step("driver_timeout_ms", ctx.set_driver_timeout_ms(s.timeout.as_millis() as u64))?;
    step("client_liveness_timeout_ns", ctx.set_client_liveness_timeout_ns(timeout_ns))?;
    step("image_liveness_timeout_ns", ctx.set_image_liveness_timeout_ns(timeout_ns))?;
    step("publication_connection_timeout_ns", ctx.set_publication_connection_timeout_ns(timeout_ns))?;
    // Aeron requires the unblock timeout to exceed the client liveness timeout.
    step("publication_unblock_timeout_ns", ctx.set_publication_unblock_timeout_ns(2 * timeout_ns))?;
    step("timer_interval_ns", ctx.set_timer_interval_ns(s.timer_interval.as_nanos() as u64))?;
    step("term_buffer_length", ctx.set_term_buffer_length(s.term_length))?;
    step("ipc_term_buffer_length", ctx.set_ipc_term_buffer_length(s.term_length))?;
    let driver = AeronDriver::new(&ctx).map_err(|e| format!("driver init: {e}"))?;
    // Manual main loop: in SHARED mode the one agent runs on this thread.
    driver.start(true).map_err(|e| format!("driver start: {e}"))?;
    Ok(driver)
}
