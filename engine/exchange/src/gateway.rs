//! The Kite Connect v3 HTTP/WebSocket gateway on the exchange's bus.

use anyhow::Context;
use engine_bus::Bus;
use engine_node::Config;
use gateway::server::{Deps, Gateway, GatewayConfig};
use services_host::ServicesConfig;

/// `[gateway]` of the configuration.
pub fn config(config: &Config) -> anyhow::Result<GatewayConfig> {
    toml::Value::Table(config.gateway.clone()).try_into().map_err(|e| anyhow::anyhow!("[gateway]: {e}"))
}

/// Starts the gateway (unless `[gateway] enabled = false`) and prints where it listens.
pub fn start(config: &Config, services: &ServicesConfig, bus: &Bus) -> anyhow::Result<Option<Gateway>> {
    let gateway_config = self::config(config)?;
    if !gateway_config.enabled {
        return Ok(None);
    }
    let data_dir = config.node.data_dir.clone();
    let users = services_host::open_users(services, &data_dir, Box::new(bus.command_sink()?))
        .map_err(anyhow::Error::msg)
        .context("the gateway's users database")?;
    let deps = Deps { data_dir, users, feed: Box::new(bus.event_feed()?), sink: Box::new(bus.command_sink()?) };
    let gateway = Gateway::start(&gateway_config, deps).map_err(anyhow::Error::msg)?;
    let addr = gateway.local_addr();
    println!("gateway listening: Kite Connect v3 at http://{addr}/ , ticker at ws://{addr}/ , OpenAPI at http://{addr}/openapi.json");
    println!(
        "log in as Kite's web login does: POST http://{addr}/api/login (user_id, password) -> request_id; \
         POST http://{addr}/api/twofa (user_id, request_id, twofa_value = the TOTP of the user's totp_secret) -> \
         request_token; then KiteConnect(api_key, root=\"http://{addr}\").generate_session(request_token, api_secret) \
         (README.md has the whole example)"
    );
    Ok(Some(gateway))
}
