//! Submitting commands onto the commands stream (gateways, services).

use std::time::Duration;

use engine_core::Command;
use engine_proto::{encode_command, COMMAND_LEN_MAX};
use rusteron_client::AeronPublication;
use services_core::{CommandSink, SinkError};

use crate::bus::{Bus, BusError};
use crate::offer::{offer, Offered};

/// Implements [`CommandSink`]: one engine-proto command per Aeron message. Back-pressure (and a
/// publication still connecting) is retried for up to `bus.submit_retry_ms`, then reported as
/// [`SinkError::BackPressure`] (or a transport error when no engine is subscribed).
#[derive(Debug)]
pub struct AeronCommandSink {
    publication: AeronPublication,
    buf: [u8; COMMAND_LEN_MAX],
    retry: Duration,
    _bus: Bus,
}

impl AeronCommandSink {
    pub fn new(bus: &Bus) -> Result<AeronCommandSink, BusError> {
        let c = bus.config();
        let publication = bus.add_publication(&c.commands_channel, c.commands_stream)?;
        Ok(AeronCommandSink {
            publication,
            buf: [0; COMMAND_LEN_MAX],
            retry: Duration::from_millis(c.submit_retry_ms),
            _bus: bus.clone(),
        })
    }

    /// Whether an engine node is subscribed to the commands stream.
    pub fn is_connected(&self) -> bool {
        self.publication.is_connected()
    }

    /// Submits already encoded bytes (one or more commands back to back), as-is.
    pub fn submit_raw(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        outcome(offer(&self.publication, bytes, self.retry, true))
    }
}

fn outcome(offered: Offered) -> Result<(), SinkError> {
    match offered {
        Offered::Sent => Ok(()),
        Offered::BackPressured => Err(SinkError::BackPressure),
        Offered::NotConnected => {
            Err(SinkError::Transport("no engine node is subscribed to the commands stream".into()))
        }
        Offered::Failed(e) => Err(SinkError::Transport(e)),
    }
}

impl CommandSink for AeronCommandSink {
    fn submit(&mut self, command: &Command) -> Result<(), SinkError> {
        let n = encode_command(command, &mut self.buf).map_err(|e| SinkError::Transport(format!("encoding: {e}")))?;
        outcome(offer(&self.publication, self.buf.get(..n).unwrap_or_default(), self.retry, true))
    }
}
