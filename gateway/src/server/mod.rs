//! The HTTP and WebSocket gateway: Kite Connect v3 over axum, on the engine's Aeron bus.
//!
//! ```text
//!  client ──HTTP──▶ routes ──Command──▶ CommandSink ──Aeron──▶ engine node
//!    ▲                 ▲                                          │
//!    │                 └── answer (client_ref) ◀── EngineLink ◀──Aeron events
//!    └──WebSocket── ticker ◀── ticks and order updates ◀──┘  (the view: orders, funds, market)
//! ```
//!
//! Reads come from the gateway's own view of the event stream (orders, trades, funds, quotes,
//! instruments) and from the services' databases (positions and holdings from portfolio,
//! candles from market data, users and sessions from users).

mod admin;
pub mod engine_link;
mod http;
pub mod notes;
pub mod openapi;
mod routes;
pub mod view;
mod ws;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::{get, post, put};
use axum::Router;
use serde::Deserialize;
use services_core::{CommandSink, EventFeed};
use services_users::Users;

use crate::ratelimit::{Rate, RateLimits};
use engine_link::EngineLink;
use http::App;

/// Requests per second of each route class.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RateConfig {
    pub orders: u32,
    pub quote: u32,
    pub historical: u32,
    pub other: u32,
}

impl Default for RateConfig {
    /// Kite Connect's: orders 10/s, quote 1/s, historical 3/s, others 10/s.
    fn default() -> RateConfig {
        RateConfig { orders: 10, quote: 1, historical: 3, other: 10 }
    }
}

impl RateConfig {
    pub fn limits(&self) -> RateLimits {
        RateLimits {
            orders: Rate::per_second(self.orders),
            quote: Rate::per_second(self.quote),
            historical: Rate::per_second(self.historical),
            other: Rate::per_second(self.other),
        }
    }
}

/// Limits of one API key (an algo desk's, a benchmark's).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeyLimits {
    pub api_key: String,
    #[serde(flatten)]
    pub rates: RateConfig,
}

impl KeyLimits {
    pub fn limits(&self) -> RateLimits {
        self.rates.limits()
    }
}

/// `[gateway]` configuration; every key optional.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Run the gateway in the all-in-one process. Default true.
    pub enabled: bool,
    /// Address to listen on. Default `127.0.0.1:8000`; port 0 picks a free one.
    pub listen: String,
    /// Async worker threads; 0 = one per core. Default 0.
    pub workers: usize,
    /// How long a request waits for the engine's answer. Default 10 000 ms.
    pub answer_timeout_ms: u64,
    /// Largest request body. Default 64 KiB.
    pub body_bytes_max: usize,
    /// Default limits of every API key.
    pub rate_limits: RateConfig,
    /// Per-key overrides: `[[gateway.keys]] api_key = "..." orders = 100000 ...`.
    pub keys: Vec<KeyLimits>,
    /// How long start-up waits for the view to catch up with the event log. Default 120 s.
    pub catch_up_timeout_s: u64,
}

impl Default for GatewayConfig {
    fn default() -> GatewayConfig {
        GatewayConfig {
            enabled: true,
            listen: "127.0.0.1:8000".into(),
            workers: 0,
            answer_timeout_ms: 10_000,
            body_bytes_max: 64 * 1024,
            rate_limits: RateConfig::default(),
            keys: Vec::new(),
            catch_up_timeout_s: 120,
        }
    }
}

/// What the gateway runs on.
pub struct Deps {
    /// The exchange's data directory (services' databases under `services/`).
    pub data_dir: PathBuf,
    /// The users database, opened with the users service's master key.
    pub users: Users,
    /// The engine's events (the gateway replays from seq 1, then follows).
    pub feed: Box<dyn EventFeed>,
    /// Where the gateway's commands go.
    pub sink: Box<dyn CommandSink>,
}

impl std::fmt::Debug for Deps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deps").field("data_dir", &self.data_dir).finish_non_exhaustive()
    }
}

/// A running gateway. Dropping it stops it as [`Gateway::stop`] does.
pub struct Gateway {
    addr: SocketAddr,
    link: Arc<EngineLink>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
    events: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("addr", &self.addr).finish_non_exhaustive()
    }
}

/// The routes, for the server and for tests.
fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(ws::upgrade))
        .route("/api/login", post(routes::login))
        .route("/api/twofa", post(routes::twofa))
        .route("/session/token", post(routes::session_token).delete(routes::logout))
        .route("/user/profile", get(routes::profile))
        .route("/user/margins", get(routes::margins))
        .route("/user/margins/{segment}", get(routes::margins))
        .route("/orders", get(routes::orders))
        .route("/orders/{p1}", get(routes::order_history).post(routes::place_order))
        .route("/orders/{p1}/trades", get(routes::order_trades))
        .route("/orders/{p1}/{p2}", put(routes::modify_order).delete(routes::cancel_order))
        .route("/trades", get(routes::trades))
        .route("/portfolio/positions", get(routes::positions))
        .route("/portfolio/holdings", get(routes::holdings))
        .route("/quote", get(routes::quote))
        .route("/quote/ohlc", get(routes::quote_ohlc))
        .route("/quote/ltp", get(routes::quote_ltp))
        .route("/instruments", get(routes::instruments))
        .route("/instruments/{exchange}", get(routes::instruments))
        .route("/instruments/historical/{token}/{interval}", get(routes::historical))
        .route("/openapi.json", get(openapi::serve))
        .merge(admin::routes())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::not_found)
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&app), http::buffer_body))
        .with_state(app)
}

impl Gateway {
    /// Starts the event thread, waits until the view has caught up with the event log, then
    /// listens.
    pub fn start(config: &GatewayConfig, deps: Deps) -> Result<Gateway, String> {
        let notes = notes::Notes::open(&deps.data_dir, rand_u32())?;
        let answer_timeout = Duration::from_millis(config.answer_timeout_ms);
        let link = Arc::new(EngineLink::new(deps.sink, notes.ref_base, answer_timeout, notes.notes, notes.loaded));
        let events = {
            let link = Arc::clone(&link);
            let feed = deps.feed;
            std::thread::Builder::new()
                .name("gateway-events".into())
                .spawn(move || {
                    if let Err(e) = Arc::clone(&link).run_events(feed) {
                        tracing::error!("gateway: the event stream stopped: {e}");
                    }
                })
                .map_err(|e| format!("starting the gateway's event thread: {e}"))?
        };
        let deadline = Instant::now() + Duration::from_secs(config.catch_up_timeout_s);
        while !link.caught_up() {
            if Instant::now() > deadline || events.is_finished() {
                link.stop();
                return Err("the gateway could not catch up with the engine's event log".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if config.workers > 0 {
            builder.worker_threads(config.workers);
        }
        let stop_events = |e: String| {
            link.stop();
            e
        };
        let runtime = builder
            .thread_name("gateway-http")
            .enable_all()
            .build()
            .map_err(|e| stop_events(format!("starting the gateway's runtime: {e}")))?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(&config.listen))
            .map_err(|e| stop_events(format!("gateway: listening on {}: {e}", config.listen)))?;
        let addr = listener.local_addr().map_err(|e| stop_events(e.to_string()))?;
        let app = Arc::new(App::new(Arc::clone(&link), deps.users, config.clone(), deps.data_dir));
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let service = router(app).into_make_service_with_connect_info::<SocketAddr>();
        runtime.spawn(async move {
            let served = axum::serve(listener, service)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!("gateway: {e}");
            }
        });
        tracing::info!(%addr, "gateway listening");
        Ok(Gateway { addr, link, shutdown: Some(shutdown), runtime: Some(runtime), events: Some(events) })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops listening, closes connections (waiting up to 5 s for requests in flight), stops
    /// the event thread and flushes the order notes. Must not be called (nor the gateway
    /// dropped) on one of its own async workers.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
        self.link.stop();
        if let Some(events) = self.events.take() {
            let _ = events.join();
        }
        self.link.notes.close();
    }
}

/// Random bits for the client refs of this gateway instance (so refs of a restarted gateway
/// do not repeat those of the last run).
fn rand_u32() -> u32 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    nanos ^ std::process::id().rotate_left(16)
}
