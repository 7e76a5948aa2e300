//! The engine node's receiver input from the commands stream.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use engine_core::Command;
use engine_node::source::{CommandSource, Next};
use engine_proto::{decode_command, MessageHeader};
use rusteron_client::AeronSubscription;

use crate::bus::{Bus, BusError};
use crate::reassembly::Reassembler;

/// Most fragments taken from the subscription per poll.
const FRAGMENT_LIMIT: usize = 256;

#[derive(Debug, Default)]
pub struct SourceStats {
    /// Commands decoded and handed to the receiver.
    pub received: AtomicU64,
    /// Messages (or the rest of a message) that did not decode as commands, dropped.
    pub undecodable: AtomicU64,
    /// Fragments dropped because their message's first fragment was never seen.
    pub broken_fragments: AtomicU64,
}

/// Implements the node's [`CommandSource`] over the commands stream. A message holds one
/// engine-proto command, or several back to back (each self-delimiting by its header). Input
/// that does not decode is counted, logged and dropped; it never stops the source.
#[derive(Debug)]
pub struct AeronCommandSource {
    subscription: AeronSubscription,
    reassembler: Reassembler,
    ready: VecDeque<Command>,
    stats: Arc<SourceStats>,
    _bus: Bus,
}

impl AeronCommandSource {
    pub fn new(bus: &Bus) -> Result<AeronCommandSource, BusError> {
        let c = bus.config();
        let subscription = bus.add_subscription(&c.commands_channel, c.commands_stream)?;
        Ok(AeronCommandSource {
            subscription,
            reassembler: Reassembler::default(),
            ready: VecDeque::with_capacity(FRAGMENT_LIMIT),
            stats: Arc::new(SourceStats::default()),
            _bus: bus.clone(),
        })
    }

    pub fn stats(&self) -> Arc<SourceStats> {
        Arc::clone(&self.stats)
    }

    /// Whether any publisher (a gateway, a service) is connected.
    pub fn is_connected(&self) -> bool {
        self.subscription.is_connected()
    }

    fn poll(&mut self) {
        let ready = &mut self.ready;
        let reassembler = &mut self.reassembler;
        let stats = &*self.stats;
        let broken_before = reassembler.broken;
        let polled = self.subscription.poll_fn(
            |fragment, header| reassembler.on_fragment(fragment, &header, |message| decode_into(message, ready, stats)),
            FRAGMENT_LIMIT,
        );
        if reassembler.broken > broken_before {
            stats.broken_fragments.fetch_add(reassembler.broken - broken_before, Ordering::Relaxed);
        }
        if let Err(e) = polled {
            tracing::warn!("polling the commands stream: {e}");
        }
    }
}

fn decode_into(message: &[u8], ready: &mut VecDeque<Command>, stats: &SourceStats) {
    let mut at = 0usize;
    while at < message.len() {
        let rest = message.get(at..).unwrap_or_default();
        let decoded = MessageHeader::decode(rest).and_then(|h| {
            let len = h.message_len();
            let frame =
                rest.get(..len).ok_or(engine_proto::DecodeError::Truncated { needed: len, available: rest.len() })?;
            Ok((decode_command(frame)?, len))
        });
        match decoded {
            Ok((command, len)) => {
                ready.push_back(command);
                stats.received.fetch_add(1, Ordering::Relaxed);
                at += len.max(1);
            }
            Err(e) => {
                let n = stats.undecodable.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(undecodable = n, bytes = message.len(), at, "dropping undecodable command input: {e}");
                return;
            }
        }
    }
    if message.is_empty() {
        stats.undecodable.fetch_add(1, Ordering::Relaxed);
        tracing::warn!("dropping an empty command message");
    }
}

impl CommandSource for AeronCommandSource {
    fn next(&mut self) -> Next {
        if self.ready.is_empty() {
            self.poll();
        }
        self.ready.pop_front().map_or(Next::Idle, Next::Command)
    }
}
