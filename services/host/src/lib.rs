//! Runs sidecar services on tokio's blocking pool: one service (its own process, `exchange
//! service funds`) or all of them (inside the all-in-one exchange process). Each service gets its
//! own SQLite database under `<data_dir>/services/` and its own event feed from a [`Transport`]
//! (Aeron in production, memory in tests), and is applied exactly once by a `ServiceRunner`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::Deserialize;
use services_core::{CommandSink, EventFeed, Service, ServiceError, ServiceRunner};

/// The services this host can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ServiceName {
    Funds,
    Portfolio,
    Users,
    Notifications,
    MarketData,
}

impl ServiceName {
    pub const ALL: [ServiceName; 5] = [
        ServiceName::Funds,
        ServiceName::Portfolio,
        ServiceName::Users,
        ServiceName::Notifications,
        ServiceName::MarketData,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Funds => "funds",
            ServiceName::Portfolio => "portfolio",
            ServiceName::Users => "users",
            ServiceName::Notifications => "notifications",
            ServiceName::MarketData => "marketdata",
        }
    }
}

impl std::str::FromStr for ServiceName {
    type Err = String;
    fn from_str(s: &str) -> Result<ServiceName, String> {
        ServiceName::ALL.into_iter().find(|n| n.as_str() == s).ok_or_else(|| {
            format!("unknown service {s:?}: expected funds, portfolio, users, notifications or marketdata")
        })
    }
}

/// `[services]` configuration; every key optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServicesConfig {
    /// Services the all-in-one process runs. Default: all five.
    pub enabled: Vec<String>,
    /// SMTP relay for e-mail notifications (`host:port`); unset = e-mails wait in the outbox.
    pub smtp: Option<String>,
    pub smtp_from: String,
    /// SMS provider URL (`http://...`); unset = SMS wait in the outbox.
    pub sms_url: Option<String>,
    /// The users service's master key, 64 hex digits (set it from the environment:
    /// `EXCHANGE_SERVICES_USERS_MASTER_KEY`). Unset: `<data_dir>/services/users.key`, created
    /// with fresh random bytes on first start.
    pub users_master_key: Option<String>,
}

impl Default for ServicesConfig {
    fn default() -> Self {
        ServicesConfig {
            enabled: ServiceName::ALL.iter().map(|n| n.as_str().to_string()).collect(),
            smtp: None,
            smtp_from: "Exchange <notifications@exchange.local>".into(),
            sms_url: None,
            users_master_key: None,
        }
    }
}

impl ServicesConfig {
    pub fn enabled(&self) -> Result<Vec<ServiceName>, String> {
        self.enabled.iter().map(|s| s.parse()).collect()
    }
}

/// Where services get their events and send their commands.
pub trait Transport: Send + Sync {
    /// A feed of engine event batches for one service.
    fn feed(&self, service: ServiceName) -> Result<Box<dyn EventFeed>, String>;
    /// A sink for commands to the engine.
    fn sink(&self) -> Result<Box<dyn CommandSink>, String>;
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{service}: {source}")]
    Service { service: &'static str, source: ServiceError },
    #[error("{0}")]
    Setup(String),
    #[error("{0} stopped abnormally")]
    Panicked(&'static str),
}

/// Services started by [`start`]; [`Running::stop`] asks them to finish and waits.
pub struct Running {
    stop: Arc<AtomicBool>,
    tasks: Vec<(&'static str, tokio::task::JoinHandle<Result<(), HostError>>)>,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("services", &self.tasks.iter().map(|t| t.0).collect::<Vec<_>>()).finish()
    }
}

impl Running {
    /// Signals every service to stop after its current step and waits for them.
    pub fn stop(self) -> Result<(), HostError> {
        self.stop.store(true, Ordering::Release);
        self.join()
    }

    /// Waits until every service has stopped (they stop on their own only on error).
    pub fn join(mut self) -> Result<(), HostError> {
        let mut result = Ok(());
        for (name, task) in std::mem::take(&mut self.tasks) {
            let outcome = self.runtime.block_on(task).map_err(|_| HostError::Panicked(name)).and_then(|r| r);
            if let Err(e) = outcome {
                tracing::error!("{e}");
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        result
    }

    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }
}

impl Drop for Running {
    /// Dropped without [`Running::stop`] (a caller that fails or panics while starting the rest
    /// of a process): the services are told to stop, so that dropping the runtime, which waits for
    /// its blocking tasks, ends instead of waiting for loops that only a stop ends.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// The database file of a service.
pub fn db_path(data_dir: &Path, service: ServiceName) -> PathBuf {
    data_dir.join("services").join(format!("{}.db", service.as_str()))
}

/// The users service's master key: `services.users_master_key` (64 hex digits), else
/// `<data_dir>/services/users.key`, created (mode 0600) with fresh random bytes on first start.
pub fn users_master_key(config: &ServicesConfig, data_dir: &Path) -> Result<[u8; 32], String> {
    if let Some(hex) = &config.users_master_key {
        return parse_hex_key(hex.trim()).ok_or_else(|| "services.users_master_key must be 64 hex digits".to_string());
    }
    let path = data_dir.join("services").join("users.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return parse_hex_key(text.trim()).ok_or_else(|| format!("{}: not 64 hex digits", path.display()));
    }
    let mut key = [0u8; 32];
    let mut urandom = std::fs::File::open("/dev/urandom").map_err(|e| format!("/dev/urandom: {e}"))?;
    std::io::Read::read_exact(&mut urandom, &mut key).map_err(|e| format!("/dev/urandom: {e}"))?;
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &hex).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(key)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

fn parse_hex_key(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(key)
}

/// A handle on the users database with the users service's master key and settings, for the
/// processes that serve logins and sessions (the gateway) or seed users.
pub fn open_users(
    config: &ServicesConfig,
    data_dir: &Path,
    sink: Box<dyn CommandSink>,
) -> Result<services_users::Users, String> {
    std::fs::create_dir_all(data_dir.join("services")).map_err(|e| e.to_string())?;
    let key = users_master_key(config, data_dir)?;
    let path = db_path(data_dir, ServiceName::Users);
    services_users::Users::open(&path, services_users::UsersConfig::new(key), sink)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Starts `services`, each on the blocking pool of a tokio runtime of its own host.
pub fn start(
    services: &[ServiceName],
    config: &ServicesConfig,
    data_dir: &Path,
    transport: Arc<dyn Transport>,
) -> Result<Running, HostError> {
    std::fs::create_dir_all(data_dir.join("services")).map_err(|e| HostError::Setup(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(services.len().max(1) + 1)
        .thread_name("services")
        .build()
        .map_err(|e| HostError::Setup(e.to_string()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for &name in services {
        let service = build(name, config, data_dir, &*transport)?;
        let feed = transport.feed(name).map_err(HostError::Setup)?;
        let path = db_path(data_dir, name);
        let stop = Arc::clone(&stop);
        let task = runtime.spawn_blocking(move || run_service(service, &path, feed, &stop));
        tasks.push((name.as_str(), task));
    }
    Ok(Running { stop, tasks, runtime })
}

type Boxed = Box<dyn FnOnce(&Path, Box<dyn EventFeed>, &AtomicBool) -> Result<(), HostError> + Send>;

/// A service ready to run, with its concrete type erased.
struct Prepared {
    run: Boxed,
}

fn prepare<S: Service + 'static>(service: S) -> Prepared {
    let name = service.name();
    Prepared {
        run: Box::new(move |path, mut feed, stop| {
            let mut runner =
                ServiceRunner::open(path, service).map_err(|source| HostError::Service { service: name, source })?;
            tracing::info!(service = name, resume_after = runner.last_seq(), "service started");
            runner.run(&mut *feed, stop).map_err(|source| HostError::Service { service: name, source })?;
            tracing::info!(service = name, last_seq = runner.last_seq(), "service stopped");
            Ok(())
        }),
    }
}

fn run_service(service: Prepared, path: &Path, feed: Box<dyn EventFeed>, stop: &AtomicBool) -> Result<(), HostError> {
    (service.run)(path, feed, stop)
}

fn build(
    name: ServiceName,
    config: &ServicesConfig,
    data_dir: &Path,
    transport: &dyn Transport,
) -> Result<Prepared, HostError> {
    Ok(match name {
        ServiceName::Funds => prepare(services_funds::FundsService::new(transport.sink().map_err(HostError::Setup)?)),
        ServiceName::Portfolio => prepare(services_portfolio::PortfolioService::new()),
        ServiceName::Users => {
            users_master_key(config, data_dir).map_err(HostError::Setup)?;
            prepare(services_users::UsersService::new(Some(transport.sink().map_err(HostError::Setup)?)))
        }
        ServiceName::MarketData => prepare(services_marketdata::MarketDataService::new()),
        ServiceName::Notifications => {
            let mut notify = services_notifications::NotifyConfig::default();
            if let Some(relay) = &config.smtp {
                let (host, port) = relay
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                    .ok_or_else(|| HostError::Setup(format!("services.smtp {relay:?}: expected host:port")))?;
                notify.smtp = Some(services_notifications::SmtpConfig {
                    host,
                    port,
                    from: config.smtp_from.clone(),
                    ..services_notifications::SmtpConfig::default()
                });
            }
            if let Some(url) = &config.sms_url {
                notify.sms = Some(services_notifications::SmsConfig::new(url));
            }
            let clock = Arc::new(services_notifications::SystemClock);
            prepare(
                services_notifications::NotificationService::new(notify, clock)
                    .map_err(|e| HostError::Setup(format!("notifications: {e}")))?,
            )
        }
    })
}
