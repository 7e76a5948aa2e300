//! `exchange`: the engine node, the Aeron bus and the sidecar services, together or apart.
//!
//! ```text
//! exchange [--config FILE] [--seed FILE] [all]   embedded media driver + engine node + every service
//!                                                (+ the demo seed FILE applied: see `seed.rs`)
//! exchange [--config FILE] node                  engine node (over Aeron when [bus] names a driver,
//!                                                else with the local source of [source])
//! exchange [--config FILE] service NAME|all      services on an external driver ([bus] driver_dir)
//! exchange [--config FILE] gateway               the HTTP/WebSocket gateway on an external driver
//! exchange [--config FILE] driver DIR            a standalone media driver in DIR (split deployment)
//! exchange [--config FILE] recover               recover the data directory, print seq and state hash
//! exchange gen-commands FILE COUNT [SEED]        write a command file of synthetic order flow
//! ```
//! Every config key can be overridden as `EXCHANGE_<SECTION>_<KEY>`. Each long-running mode
//! stops cleanly on SIGTERM or SIGINT.

mod gateway;
mod seed;

use exchange::transport;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use engine_bus::{Bus, BusConfig, EmbeddedDriver};
use engine_node::source::{write_command_file, CommandSource, Generator, Next};
use engine_node::{Config, Control};
use services_host::{ServiceName, ServicesConfig};

fn main() {
    if let Err(e) = real_main() {
        eprintln!("exchange: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut config_path: Option<PathBuf> = None;
    if let Some(i) = args.iter().position(|a| a == "--config") {
        let path = args.get(i + 1).context("--config needs a file")?.clone();
        config_path = Some(PathBuf::from(path));
        args.drain(i..i + 2);
    }
    let mut seed_path: Option<PathBuf> = None;
    if let Some(i) = args.iter().position(|a| a == "--seed") {
        seed_path = Some(PathBuf::from(args.get(i + 1).context("--seed needs a file")?));
        args.drain(i..i + 2);
        if !matches!(args.first().map(String::as_str), None | Some("all")) {
            bail!("--seed goes with the all-in-one exchange: exchange [--config FILE] [--seed FILE] [all]");
        }
    }
    match args.first().map(String::as_str) {
        None | Some("all") => {
            let config = load(config_path.as_deref())?;
            init_logging(&config);
            let seed = seed_path.as_deref().map(seed::Seed::load).transpose()?;
            all_in_one(&config, seed.as_ref())
        }
        Some("node") => {
            let config = load(config_path.as_deref())?;
            init_logging(&config);
            let control = stop_on_signal()?;
            let report = if config.bus.driver_dir.is_empty() {
                engine_node::run(&config, control)?
            } else {
                engine_bus::run_node(&config, control)?.node
            };
            println!(
                "{{\"recovered_seq\":{},\"last_seq\":{},\"published_seq\":{},\"received\":{},\"recovery_s\":{:.3},\"run_s\":{:.3}}}",
                report.recovered_seq, report.last_seq, report.published_seq, report.received, report.recovery_s, report.run_s
            );
            Ok(())
        }
        Some("service") => {
            let config = load(config_path.as_deref())?;
            init_logging(&config);
            let which = args.get(1).context("usage: exchange service NAME|all")?;
            let names = if which == "all" {
                ServiceName::ALL.to_vec()
            } else {
                vec![which.parse::<ServiceName>().map_err(anyhow::Error::msg)?]
            };
            if config.bus.driver_dir.is_empty() {
                bail!("a standalone service needs the media driver of the running exchange: set [bus] driver_dir (EXCHANGE_BUS_DRIVER_DIR)");
            }
            let bus = Bus::start(&config.bus)?;
            let services = services_config(&config)?;
            let running = services_host::start(
                &names,
                &services,
                &config.node.data_dir,
                Arc::new(transport::BusTransport::new(bus)),
            )?;
            let control = stop_on_signal()?;
            wait_for(&control.shutdown);
            running.stop()?;
            Ok(())
        }
        Some("gateway") => {
            let config = load(config_path.as_deref())?;
            init_logging(&config);
            if config.bus.driver_dir.is_empty() {
                bail!("a standalone gateway needs the media driver of the running exchange: set [bus] driver_dir (EXCHANGE_BUS_DRIVER_DIR)");
            }
            let bus = Bus::start(&config.bus)?;
            let services = services_config(&config)?;
            let gateway = gateway::start(&config, &services, &bus)?;
            let control = stop_on_signal()?;
            wait_for(&control.shutdown);
            if let Some(gateway) = gateway {
                gateway.stop();
            }
            Ok(())
        }
        Some("driver") => {
            let config = load(config_path.as_deref())?;
            init_logging(&config);
            let dir = args.get(1).context("usage: exchange driver DIR")?;
            let driver = EmbeddedDriver::launch_in(PathBuf::from(dir), &config.bus)?;
            tracing::info!(dir = %driver.dir().display(), "media driver running");
            println!("media driver running in {}", driver.dir().display());
            let control = stop_on_signal()?;
            wait_for(&control.shutdown);
            drop(driver);
            Ok(())
        }
        Some("recover") => {
            let config = load(config_path.as_deref())?;
            init_logging(&config);
            let r = engine_node::recover(&config.node.data_dir, config.limits(), config.snapshot.keep)?;
            println!(
                "{{\"last_seq\":{},\"snapshot_seq\":{},\"replayed\":{},\"elapsed_s\":{:.3},\"state_hash\":\"{:016x}\"}}",
                r.last_seq,
                r.snapshot_seq.map_or("null".to_string(), |s| s.to_string()),
                r.replayed,
                r.elapsed_s,
                r.engine.state_hash()
            );
            Ok(())
        }
        Some("gen-commands") => {
            let (Some(path), Some(count)) = (args.get(1), args.get(2)) else {
                bail!("usage: exchange gen-commands FILE COUNT [SEED]");
            };
            let count: u64 = count.parse().context("COUNT")?;
            let seed: u64 = args.get(3).map_or(Ok(1), |s| s.parse()).context("SEED")?;
            let mut generator = Generator::new(seed, count, 100, 0);
            let mut commands = Vec::new();
            while let Next::Command(c) = generator.next() {
                commands.push(c);
            }
            write_command_file(std::path::Path::new(path), &commands)?;
            println!("{} commands written to {path}", commands.len());
            Ok(())
        }
        Some(other) => {
            bail!("unknown command {other:?}; try: exchange [--config FILE] [all|node|service NAME|gateway|driver DIR|recover|gen-commands]")
        }
    }
}

/// The whole exchange in one process: an embedded media driver, the engine node on it, and every
/// enabled service subscribed to the node's events; then the seed, if one was given.
fn all_in_one(config: &Config, seed: Option<&seed::Seed>) -> anyhow::Result<()> {
    let bus_config = BusConfig { driver_dir: String::new(), ..config.bus.clone() };
    let bus = Bus::start(&bus_config)?;
    let mut node_config = config.clone();
    node_config.bus.driver_dir = bus.dir().display().to_string();
    tracing::info!(driver_dir = %bus.dir().display(), "embedded media driver running");
    let control = stop_on_signal()?;
    let node = {
        let control = Arc::clone(&control);
        std::thread::Builder::new()
            .name("engine-node".into())
            .spawn(move || engine_bus::run_node(&node_config, control))?
    };
    let services = services_config(config)?;
    let names = services.enabled().map_err(anyhow::Error::msg)?;
    let running = services_host::start(
        &names,
        &services,
        &config.node.data_dir,
        Arc::new(transport::BusTransport::new(bus.clone())),
    )?;
    if let Err(e) = seed.map_or(Ok(()), |s| seed::run(s, &config.node.data_dir, &services, &bus, &control.shutdown)) {
        control.shutdown.store(true, Ordering::Release);
        let _ = node.join();
        let _ = running.stop();
        return Err(e);
    }
    let gateway = gateway::start(config, &services, &bus)?;
    println!("exchange running: media driver {}, data {}", bus.dir().display(), config.node.data_dir.display());
    let report = node.join().map_err(|_| anyhow::anyhow!("the engine node panicked"))??;
    if let Some(gateway) = gateway {
        gateway.stop();
    }
    running.stop()?;
    println!(
        "{{\"last_seq\":{},\"published_seq\":{},\"received\":{}}}",
        report.node.last_seq, report.node.published_seq, report.node.received
    );
    Ok(())
}

fn services_config(config: &Config) -> anyhow::Result<ServicesConfig> {
    toml::Value::Table(config.services.clone()).try_into().map_err(|e| anyhow::anyhow!("[services]: {e}"))
}

/// A control block whose shutdown flag SIGTERM and SIGINT set.
fn stop_on_signal() -> anyhow::Result<Arc<Control>> {
    let control = Arc::new(Control::default());
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT])?;
    let flag = Arc::clone(&control);
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        if signals.forever().next().is_some() {
            flag.shutdown.store(true, Ordering::Release);
        }
    })?;
    Ok(control)
}

fn wait_for(flag: &AtomicBool) {
    while !flag.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn load(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    Config::load(path, std::env::vars()).map_err(anyhow::Error::msg)
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init();
    }
}
