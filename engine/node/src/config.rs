//! Node configuration: one TOML file, every key optional, overridable from the environment as
//! `EXCHANGE_<SECTION>_<KEY>` (e.g. `EXCHANGE_JOURNAL_DURABILITY=fsync`).

use std::path::{Path, PathBuf};

use engine_core::Limits;
use journal::Durability;
use serde::Deserialize;

use crate::topology::Layout;
use crate::wait::WaitKind;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub node: NodeSection,
    pub journal: JournalSection,
    pub snapshot: SnapshotSection,
    pub pipeline: PipelineSection,
    pub engine: EngineSection,
    pub source: SourceSection,
    pub output: OutputSection,
    pub log: LogSection,
    /// `[services]`: read by the exchange binary's service host (kept as a table here so the
    /// node stays independent of the services).
    pub services: toml::Table,
    /// `[gateway]`: read by the exchange binary's HTTP gateway (a table here for the same reason).
    pub gateway: toml::Table,
    pub bus: BusConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeSection {
    /// Journal and snapshots live here.
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JournalSection {
    /// `none`, `written` (default) or `fsync`.
    pub durability: String,
    pub segment_bytes_max: u64,
    /// Keep every segment (an audit trail); otherwise segments older than the oldest snapshot
    /// kept are deleted.
    pub retain_all: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SnapshotSection {
    /// Seconds between snapshots; 0 = only on request and at shutdown.
    pub interval_s: u64,
    /// Snapshots kept on disk.
    pub keep: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineSection {
    /// Ring entries (power of two).
    pub ring_size: usize,
    /// `auto` (parallel when every stage has a core, else fused), `parallel`, `fused`: see
    /// `topology`.
    pub layout: String,
    /// `auto` (busy-spin when every thread of the layout has a core, else yield), `busy-spin`,
    /// `yield`, `blocking`.
    pub wait: String,
    /// `auto` (pin when every thread of the layout has a core), `on`, `off`.
    pub pin: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineSection {
    pub instruments_max: u32,
    pub accounts_max: u32,
    pub orders_max: u32,
    pub positions_max: u32,
    pub levels_per_book_max: u32,
    pub risk_enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceSection {
    /// `file` (encoded commands), `generator` (synthetic order flow) or `none` (idle until stopped).
    pub kind: String,
    pub path: PathBuf,
    /// Commands per second offered; 0 = as fast as the ring takes them.
    pub rate: u64,
    /// Generator: commands to produce after its set-up commands (0 = unbounded).
    pub count: u64,
    pub seed: u64,
    /// Stop (drain, snapshot, exit) when the source is exhausted.
    pub exit_at_end: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutputSection {
    /// `null` (count only) or `file` (append every published command's events to `path`).
    pub kind: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// `human` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `engine_node=debug`.
    pub filter: String,
}

/// The Aeron bus (crate `engine-bus`): the media driver and the one table of channels and stream
/// ids (ARCHITECTURE.md, "Streams and ports"). Defaults: an embedded driver, everything on
/// `aeron:ipc`. Split deployment: commands over UDP unicast, events over UDP multicast.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    /// Empty: an embedded media driver in a fresh directory under `/dev/shm`, deleted on start
    /// and shutdown. Otherwise the directory of an external driver to connect to.
    pub driver_dir: String,
    pub commands_channel: String,
    pub commands_stream: i32,
    pub events_channel: String,
    pub events_stream: i32,
    pub replay_request_channel: String,
    pub replay_request_stream: i32,
    pub replay_response_channel: String,
    pub replay_response_stream: i32,
    /// Client and driver liveness timeouts (Aeron's default is 10 s; slow CI machines need more).
    pub timeout_ms: u64,
    /// Term buffer length of the embedded driver's publications, IPC and UDP (a power of two,
    /// 64 KiB to 1 GiB); the longest message is an eighth of it.
    pub term_length: u32,
    /// How long the event output retries a back-pressured batch before counting it as not
    /// delivered (subscribers then recover it from the event log through replay).
    pub publish_retry_ms: u64,
    /// How long a command sink retries before it reports back-pressure to its caller.
    pub submit_retry_ms: u64,
    /// Whether the services' subscriptions to an `aeron:ipc` events stream may hold the engine's
    /// publisher back (Aeron's tether). Default false: a service that falls more than a
    /// publication window behind is cut loose after `untethered_window_limit_ms` (it is
    /// checked from three quarters of a window on, so with the default 16 MiB term a quarter
    /// window, some 5,000 batches, is left before the publisher would wait), rejoins the
    /// live stream `untethered_resting_ms` later and fills the gap from the event log through
    /// replay, so a slow service never stalls the exchange. The gateway's subscription stays
    /// tethered: it answers the orders. Over UDP, flow control decides instead.
    pub service_feed_tethered: bool,
    pub untethered_window_limit_ms: u64,
    pub untethered_resting_ms: u64,
}

impl BusConfig {
    /// How often the embedded driver runs its timed checks, and how long a subscriber cut loose
    /// lingers (still holding the publisher) before it rests: a fifth of
    /// `untethered_window_limit_ms`, from 1 ms to 1 s.
    pub fn untethered_tick(&self) -> std::time::Duration {
        std::time::Duration::from_millis((self.untethered_window_limit_ms / 5).clamp(1, 1_000))
    }
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            driver_dir: String::new(),
            commands_channel: "aeron:ipc".into(),
            commands_stream: 1001,
            events_channel: "aeron:ipc".into(),
            events_stream: 1002,
            replay_request_channel: "aeron:ipc".into(),
            replay_request_stream: 1003,
            replay_response_channel: "aeron:ipc".into(),
            replay_response_stream: 1004,
            timeout_ms: 30_000,
            term_length: 16 << 20,
            publish_retry_ms: 1_000,
            submit_retry_ms: 50,
            service_feed_tethered: false,
            untethered_window_limit_ms: 50,
            untethered_resting_ms: 500,
        }
    }
}

impl Default for NodeSection {
    fn default() -> Self {
        NodeSection { data_dir: PathBuf::from("data") }
    }
}
impl Default for JournalSection {
    fn default() -> Self {
        JournalSection { durability: "written".into(), segment_bytes_max: 256 << 20, retain_all: false }
    }
}
impl Default for SnapshotSection {
    fn default() -> Self {
        SnapshotSection { interval_s: 300, keep: 3 }
    }
}
impl Default for PipelineSection {
    fn default() -> Self {
        // 8,192 slots: about 3.6 MB touched per pass (slot plus its first events), and still
        // 2.7 ms of buffering at 3M commands/s. 65,536 was slower in `scripts/bench pipeline`
        // (more memory touched per pass over the ring) and only lengthened the queue.
        PipelineSection { ring_size: 1 << 13, layout: "auto".into(), wait: "auto".into(), pin: "auto".into() }
    }
}
impl Default for EngineSection {
    fn default() -> Self {
        let l = Limits::default();
        EngineSection {
            instruments_max: l.instruments_max,
            accounts_max: 1 << 16,
            orders_max: 1 << 20,
            positions_max: 1 << 20,
            levels_per_book_max: l.levels_per_book_max,
            risk_enabled: true,
        }
    }
}
impl Default for SourceSection {
    fn default() -> Self {
        SourceSection {
            kind: "none".into(),
            path: PathBuf::from("commands.bin"),
            rate: 0,
            count: 0,
            seed: 1,
            exit_at_end: false,
        }
    }
}
impl Default for OutputSection {
    fn default() -> Self {
        OutputSection { kind: "null".into(), path: PathBuf::from("events.bin") }
    }
}
impl Default for LogSection {
    fn default() -> Self {
        LogSection { format: "human".into(), filter: "info".into() }
    }
}

impl Config {
    /// Reads `path` (if given), then applies `EXCHANGE_*` overrides from `env`.
    pub fn load(path: Option<&Path>, env: impl Iterator<Item = (String, String)>) -> Result<Config, String> {
        let mut table: toml::Table = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?
            }
            None => toml::Table::new(),
        };
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("EXCHANGE_") else { continue };
            let Some((section, key)) = rest.split_once('_') else { continue };
            let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
            let entry = table.entry(section.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(t) = entry else { return Err(format!("[{section}] is not a table")) };
            t.insert(key, parse_scalar(&value));
        }
        let config: Config = toml::Value::Table(table).try_into().map_err(|e| format!("configuration: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        self.durability()?;
        self.layout(1)?;
        self.wait_kind(1)?;
        if !self.pipeline.ring_size.is_power_of_two() {
            return Err(format!("pipeline.ring_size {} is not a power of two", self.pipeline.ring_size));
        }
        if !matches!(self.pipeline.pin.as_str(), "auto" | "on" | "off") {
            return Err(format!("pipeline.pin {:?}: expected auto, on or off", self.pipeline.pin));
        }
        if !matches!(self.source.kind.as_str(), "file" | "generator" | "none") {
            return Err(format!("source.kind {:?}: expected file, generator or none", self.source.kind));
        }
        if !matches!(self.output.kind.as_str(), "null" | "file") {
            return Err(format!("output.kind {:?}: expected null or file", self.output.kind));
        }
        Ok(())
    }

    pub fn durability(&self) -> Result<Durability, String> {
        self.journal.durability.parse()
    }

    /// The pipeline layout for a machine with `cores` cores.
    pub fn layout(&self, cores: usize) -> Result<Layout, String> {
        match self.pipeline.layout.as_str() {
            "auto" => Ok(Layout::for_cores(cores)),
            other => other.parse(),
        }
    }

    /// The wait strategy for a machine with `cores` cores.
    pub fn wait_kind(&self, cores: usize) -> Result<WaitKind, String> {
        match self.pipeline.wait.as_str() {
            "auto" => Ok(WaitKind::for_cores(cores, self.layout(cores)?.threads())),
            other => other.parse(),
        }
    }

    pub fn limits(&self) -> Limits {
        let e = &self.engine;
        Limits {
            instruments_max: e.instruments_max,
            accounts_max: e.accounts_max,
            orders_max: e.orders_max,
            positions_max: e.positions_max,
            levels_per_book_max: e.levels_per_book_max,
            risk_enabled: e.risk_enabled,
        }
    }
}

fn parse_scalar(value: &str) -> toml::Value {
    if let Ok(i) = value.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    match value {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_and_environment_overrides() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("exchange.toml");
        std::fs::write(&path, "[journal]\ndurability = \"fsync\"\n[pipeline]\nring_size = 1024\n").expect("write");
        let env = [
            ("EXCHANGE_PIPELINE_WAIT".to_string(), "blocking".to_string()),
            ("EXCHANGE_ENGINE_ORDERS_MAX".to_string(), "4096".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ];
        let config = Config::load(Some(&path), env.into_iter()).expect("load");
        assert_eq!(config.durability(), Ok(Durability::Fsync));
        assert_eq!(config.pipeline.ring_size, 1024);
        assert_eq!(config.wait_kind(64), Ok(WaitKind::Blocking));
        assert_eq!(config.limits().orders_max, 4096);
        assert_eq!(config.snapshot.keep, 3, "defaults fill the rest");
    }

    #[test]
    fn bad_values_are_named() {
        let env = [("EXCHANGE_JOURNAL_DURABILITY".to_string(), "sometimes".to_string())];
        let err = Config::load(None, env.into_iter()).expect_err("bad durability");
        assert!(err.contains("sometimes"), "{err}");
        let env = [("EXCHANGE_JOURNAL_COLOUR".to_string(), "blue".to_string())];
        let err = Config::load(None, env.into_iter()).expect_err("unknown key");
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn the_layout_and_wait_follow_the_cores_unless_set() {
        let auto = Config::load(None, std::iter::empty()).expect("defaults");
        assert_eq!(auto.layout(2), Ok(Layout::Fused));
        assert_eq!(auto.wait_kind(2), Ok(WaitKind::Yield), "two threads on two cores leave none for the OS");
        assert_eq!(auto.layout(4), Ok(Layout::Fused));
        assert_eq!(auto.wait_kind(4), Ok(WaitKind::BusySpin));
        assert_eq!(auto.layout(8), Ok(Layout::Parallel));
        assert_eq!(auto.wait_kind(8), Ok(WaitKind::BusySpin));
        let set = |layout: &str| {
            Config::load(None, [("EXCHANGE_PIPELINE_LAYOUT".to_string(), layout.to_string())].into_iter())
        };
        assert_eq!(set("parallel").expect("parallel").layout(2), Ok(Layout::Parallel));
        assert_eq!(set("parallel").expect("parallel").wait_kind(2), Ok(WaitKind::Yield));
        let err = set("diagonal").expect_err("an unknown layout");
        assert!(err.contains("expected parallel or fused"), "{err}");
    }
}
