//! Services' events and commands over the Aeron bus.

use engine_bus::Bus;
use services_core::{CommandSink, EventFeed};
use services_host::{ServiceName, Transport};

/// Each service gets its own event feed (live plus replay) and command sink on one bus.
#[derive(Debug)]
pub struct BusTransport {
    bus: Bus,
}

impl BusTransport {
    pub fn new(bus: Bus) -> BusTransport {
        BusTransport { bus }
    }
}

impl Transport for BusTransport {
    fn feed(&self, _service: ServiceName) -> Result<Box<dyn EventFeed>, String> {
        Ok(Box::new(self.bus.service_feed().map_err(|e| e.to_string())?))
    }
    fn sink(&self) -> Result<Box<dyn CommandSink>, String> {
        Ok(Box::new(self.bus.command_sink().map_err(|e| e.to_string())?))
    }
}
