//! Running an engine node over the bus.

use std::sync::Arc;

use engine_node::{Config, Control, RunReport};

use crate::bus::Bus;
use crate::output::OutputStats;
use crate::replay::ReplayStats;
use crate::source::SourceStats;

/// The event log's directory under the node's data directory: a `journal` whose record for seq
/// N holds the `encode_batch` bytes of seq N. The node writes it; the replay server reads it.
pub const EVENT_LOG_DIR: &str = "events";

/// What a node run over the bus did.
#[derive(Debug)]
pub struct BusRunReport {
    pub node: RunReport,
    pub output: Arc<OutputStats>,
    pub source: Arc<SourceStats>,
    pub replay: Arc<ReplayStats>,
}

/// Runs an engine node on the bus of its configuration (`[bus]`): commands from the commands
/// stream, events onto the events stream, and a replay server on the node's event log
/// (`<data_dir>/events`), until `control` stops it.
pub fn run_node(config: &Config, control: Arc<Control>) -> anyhow::Result<BusRunReport> {
    let bus = Bus::start(&config.bus)?;
    let replay = bus.replay_server(&config.node.data_dir.join(EVENT_LOG_DIR))?;
    let output = bus.event_output()?;
    // Subscribed before recovery, so commands sent meanwhile wait in the stream.
    let source = bus.command_source()?;
    let (output_stats, source_stats, replay_stats) = (output.stats(), source.stats(), replay.stats());
    let node = engine_node::run_with(config, move |_recovered| Ok(Box::new(source)), Box::new(output), control)?;
    Ok(BusRunReport { node, output: output_stats, source: source_stats, replay: replay_stats })
}
