//! (c) Recovery: a journal of `n` commands written by the node itself (unpaced, durability
//! `written`, every segment kept), then `engine_node::recover` timed twice: with the final
//! snapshot the clean stop wrote, and with the snapshots deleted (the whole journal replayed).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use engine_node::output::NullOutput;
use engine_node::source::{CommandSource, Next};
use engine_node::{recover, Config, Control};

use crate::openloop::{count, Schedule};
use crate::pipeline::{run_node, Flow, NodeRun};

#[derive(Debug)]
pub struct Restart {
    pub commands: u64,
    pub build: NodeRun,
    pub journal_bytes: u64,
    pub segments: usize,
    /// The event log the publisher wrote beside the journal (`<data>/events`).
    pub event_log_bytes: u64,
    /// `journal::scan_journal` over the event log, which a node's start-up also does.
    pub event_log_scan_s: f64,
    /// `recover` with the final snapshot in place.
    pub with_snapshot_s: f64,
    pub snapshot_seq: Option<u64>,
    /// `journal::scan_journal` alone (every segment read and CRC-checked), which `recover` does
    /// first whether or not there is a snapshot.
    pub scan_s: f64,
    /// `recover` with no snapshot: every command replayed.
    pub without_snapshot_s: f64,
    pub replayed: u64,
    pub hashes_agree: bool,
    /// A whole node start on the data dir, still without a snapshot, one command, and a clean
    /// stop: `engine_node::run_with` (event log scan, journal scan and replay, pipeline start,
    /// final snapshot, shutdown).
    pub node_restart_s: f64,
}

impl Restart {
    /// Commands replayed per second of the snapshot-less `recover` (scan included).
    pub fn replay_per_s(&self) -> f64 {
        self.replayed as f64 / self.without_snapshot_s
    }
}

/// Builds a journal of the first `commands` of `flow` with a node configured by `config`
/// (durability `written`, every segment kept: see [`crate::pipeline::node_config`]), printing
/// progress, then times both recoveries.
pub fn run(config: &Config, flow: &Arc<Flow>, commands: u64) -> Result<Restart> {
    let data_dir: &Path = &config.node.data_dir;
    if config.durability().ok() != Some(journal::Durability::Written) || !config.journal.retain_all {
        bail!("the recovery journal is built with durability written and every segment kept");
    }
    let progress = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = {
        let (progress, stop) = (Arc::clone(&progress), Arc::clone(&stop));
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut printed = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                if printed.elapsed() >= Duration::from_secs(1) {
                    printed = Instant::now();
                    let done = progress.load(Ordering::Relaxed);
                    println!(
                        "  building the journal: {done} / {commands} commands ({:.0}%), {:.1}s",
                        100.0 * done as f64 / commands as f64,
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        })
    };
    let build = run_node(config, flow, Schedule::UNPACED, commands, progress);
    stop.store(true, Ordering::Relaxed);
    let _ = ticker.join();
    let build = build?;
    println!(
        "  built: {} commands in {:.2}s ({}/s), wait {}",
        build.published.commands,
        build.report.run_s,
        count(build.achieved_per_s),
        build.report.wait
    );

    let journal_dir = data_dir.join("journal");
    let segments = journal::list_segments(&journal_dir)?;
    let journal_bytes = bytes_of(&segments);
    let events_dir = engine_node::eventlog::event_log_dir(data_dir);
    let event_log_bytes = bytes_of(&journal::list_segments(&events_dir)?);
    let started = Instant::now();
    journal::scan_journal(&events_dir, false)?;
    let event_log_scan_s = started.elapsed().as_secs_f64();
    let limits = config.limits();

    let with = recover(data_dir, limits, config.snapshot.keep).context("recover with the final snapshot")?;
    let (with_snapshot_s, snapshot_seq, hash_with) = (with.elapsed_s, with.snapshot_seq, with.engine.state_hash());
    if with.last_seq != commands {
        bail!("recovered up to seq {} of {commands}", with.last_seq);
    }
    drop(with);

    std::fs::remove_dir_all(data_dir.join("snapshots")).context("deleting the snapshots")?;
    let started = Instant::now();
    journal::scan_journal(&journal_dir, false)?;
    let scan_s = started.elapsed().as_secs_f64();
    let without = recover(data_dir, limits, config.snapshot.keep).context("recover from the journal alone")?;
    if without.replayed != commands {
        bail!("replayed {} commands of {commands}", without.replayed);
    }
    let hashes_agree = without.engine.state_hash() == hash_with;
    let without_snapshot_s = without.elapsed_s;
    drop(without);

    let started = Instant::now();
    let open = |_: u64| -> Result<Box<dyn CommandSource>> { Ok(Box::new(OneCommand(false))) };
    let report = engine_node::run_with(config, open, Box::new(NullOutput::default()), Arc::new(Control::default()))
        .context("restarting the node")?;
    let node_restart_s = started.elapsed().as_secs_f64();
    if report.recovered_seq != commands {
        bail!("the restarted node recovered up to seq {} of {commands}", report.recovered_seq);
    }
    Ok(Restart {
        commands,
        journal_bytes,
        segments: segments.len(),
        event_log_bytes,
        event_log_scan_s,
        with_snapshot_s,
        snapshot_seq,
        scan_s,
        without_snapshot_s,
        replayed: commands,
        hashes_agree,
        node_restart_s,
        build,
    })
}

fn bytes_of(segments: &[journal::Segment]) -> u64 {
    segments.iter().map(|s| std::fs::metadata(&s.path).map_or(0, |m| m.len())).sum()
}

/// One command, then the end: the node starts, takes it, stops and shuts down cleanly. (With
/// no command at all, the clean stop's snapshot waits for a published seq that never comes.)
#[derive(Debug)]
struct OneCommand(bool);

impl CommandSource for OneCommand {
    fn next(&mut self) -> Next {
        if std::mem::replace(&mut self.0, true) {
            return Next::End;
        }
        // Refused (no such order), but journaled and published like any other command.
        Next::Command(engine_core::Command::Cancel { client_ref: 0, account: 0, order_id: u64::MAX })
    }
}
