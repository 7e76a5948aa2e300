//! The Aeron transport between the engine node, the gateways and the services.
//!
//! - [`Bus`]: one Aeron client, and the media driver it talks to: embedded (SHARED threading
//!   mode, a fresh directory under `/dev/shm`, deleted on start and shutdown) or external (by
//!   directory, for split deployment). It creates publications and subscriptions from the one
//!   channel table, [`BusConfig`] (the node's `[bus]` section).
//! - Adapters to the engine node's and the services' traits: [`AeronEventOutput`] (the node's
//!   publisher: one Aeron message per command's event batch), [`AeronCommandSource`] (the
//!   node's receiver), [`AeronCommandSink`] (gateways and services submitting commands) and
//!   [`AeronEventFeed`] (a service's live events plus replay, with no gap and no duplicate).
//! - [`ReplayServer`]: answers replay requests from the node's event log (a `journal`
//!   directory whose record payloads are `engine_proto::encode_batch` bytes).
//! - [`run_node`]: an engine node on the bus of its configuration, with its replay server.
//!
//! Streams (defaults; all `aeron:ipc`): commands 1001, events 1002, replay requests 1003,
//! replay responses 1004. The replay messages are specified in [`replay`].
//!
//! Things to know:
//! - A subscriber that stops polling back-pressures its publisher (Aeron's flow control): the
//!   event output then waits up to `bus.publish_retry_ms` per batch before counting it as not
//!   delivered, and every feed on the replay responses slows the replay server. Poll feeds.
//! - Run one replay server per event log: every feed hears every server's answers.
//! - This crate depends on `engine-node` (it implements the node's `EventOutput` and
//!   `CommandSource`), so a binary that runs a node over the bus lives here or above, not in
//!   `engine-node`.

mod bus;
mod driver;
mod feed;
mod node;
mod offer;
mod output;
mod reassembly;
pub mod replay;
mod sink;
mod source;

pub use bus::{wait_until, Bus, BusError};
pub use driver::{remove_stale_driver_dirs, unique_driver_dir, EmbeddedDriver, OWNER_FILE};
pub use engine_node::config::BusConfig;
pub use feed::{AeronEventFeed, FeedStats};
pub use node::{run_node, BusRunReport, EVENT_LOG_DIR};
pub use output::{AeronEventOutput, OutputStats};
pub use replay::{ReplayServer, ReplayStats};
pub use sink::AeronCommandSink;
pub use source::{AeronCommandSource, SourceStats};
