//! The engine node's publisher onto the events stream.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use engine_core::Event;
use engine_node::output::EventOutput;
use engine_proto::encode_batch;
use rusteron_client::AeronPublication;

use crate::bus::{with_params, Bus, BusError};
use crate::offer::{offer, Offered};

/// What the event output did with the batches it was given. Every batch is counted once.
#[derive(Debug, Default)]
pub struct OutputStats {
    pub published: AtomicU64,
    /// No subscriber was connected (nobody to deliver to; the event log still has the batch).
    pub not_connected: AtomicU64,
    /// Still back-pressured after the retry time (`bus.publish_retry_ms`).
    pub back_pressured: AtomicU64,
    /// The publication refused the batch (closed, or longer than the longest message).
    pub failed: AtomicU64,
}

impl OutputStats {
    /// Batches not delivered, for whatever reason.
    pub fn not_delivered(&self) -> u64 {
        self.not_connected.load(Ordering::Relaxed)
            + self.back_pressured.load(Ordering::Relaxed)
            + self.failed.load(Ordering::Relaxed)
    }
}

/// Implements the node's [`EventOutput`]: each command's batch (`engine_proto::encode_batch`,
/// empty batches included) is one Aeron message on the events stream. Back-pressure is retried
/// for up to `bus.publish_retry_ms`; nothing is dropped silently: a batch not delivered is
/// counted in [`OutputStats`] and logged, and subscribers recover it through replay.
#[derive(Debug)]
pub struct AeronEventOutput {
    publication: AeronPublication,
    buf: Vec<u8>,
    retry: Duration,
    stats: Arc<OutputStats>,
    _bus: Bus,
}

impl AeronEventOutput {
    pub fn new(bus: &Bus) -> Result<AeronEventOutput, BusError> {
        let c = bus.config();
        // How long an untethered subscriber may lag a window behind before it is cut loose, how
        // long it then lingers and how long it rests before it rejoins (bus.untethered_*;
        // tethered ones are never cut loose).
        let channel = if c.events_channel.starts_with("aeron:ipc") {
            with_params(
                &c.events_channel,
                &format!(
                    "untethered-window-limit-timeout={}ms|untethered-linger-timeout={}ms|untethered-resting-timeout={}ms",
                    c.untethered_window_limit_ms.max(1),
                    c.untethered_tick().as_millis(),
                    c.untethered_resting_ms.max(1)
                ),
            )
        } else {
            c.events_channel.clone()
        };
        let publication = bus.add_publication(&channel, c.events_stream)?;
        Ok(AeronEventOutput {
            publication,
            buf: Vec::with_capacity(4096),
            retry: Duration::from_millis(c.publish_retry_ms),
            stats: Arc::new(OutputStats::default()),
            _bus: bus.clone(),
        })
    }

    /// The counters, shared: they stay readable after the output moves into the pipeline.
    pub fn stats(&self) -> Arc<OutputStats> {
        Arc::clone(&self.stats)
    }

    /// Whether a subscriber is connected to the events stream.
    pub fn is_connected(&self) -> bool {
        self.publication.is_connected()
    }

    /// Publishes an already encoded batch (the replay of a recorded event log, benchmarks).
    pub fn publish_encoded(&mut self, seq: u64, batch: &[u8]) {
        let outcome = offer(&self.publication, batch, self.retry, false);
        self.count(seq, outcome);
    }

    fn count(&self, seq: u64, outcome: Offered) {
        let s = &self.stats;
        match outcome {
            Offered::Sent => {
                s.published.fetch_add(1, Ordering::Relaxed);
            }
            Offered::NotConnected => {
                let n = s.not_connected.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::debug!(seq, not_connected = n, "event batch not delivered: no subscriber connected");
            }
            Offered::BackPressured => {
                let n = s.back_pressured.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(seq, back_pressured = n, retry = ?self.retry, "event batch not delivered: back-pressured past the retry time");
                }
            }
            Offered::Failed(e) => {
                let n = s.failed.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::error!(seq, failed = n, "event batch not delivered: {e}");
                }
            }
        }
    }
}

impl EventOutput for AeronEventOutput {
    fn publish(&mut self, seq: u64, ts_ns: u64, events: &[Event]) {
        self.buf.clear();
        if let Err(e) = encode_batch(seq, ts_ns, events, &mut self.buf) {
            self.count(seq, Offered::Failed(format!("encoding: {e}")));
            return;
        }
        let outcome = offer(&self.publication, &self.buf, self.retry, false);
        self.count(seq, outcome);
    }

    /// Each batch is offered as it comes; nothing is buffered here.
    fn flush(&mut self) {}
}
