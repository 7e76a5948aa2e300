//! `exchange`: the engine node.
//!
//! ```text
//! exchange [--config FILE]                      run the node (recover, then receive until SIGTERM/SIGINT)
//! exchange gen-commands FILE COUNT [SEED]       write a command file of synthetic order flow
//! exchange recover [--config FILE]              recover the data directory, print seq and state hash, exit
//! ```
//! Every config key can be overridden as `EXCHANGE_<SECTION>_<KEY>`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use engine_node::source::{write_command_file, CommandSource, Generator, Next};
use engine_node::{Config, Control};

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
    match args.first().map(String::as_str) {
        None | Some("node") => {
            let config = load(config_path.as_deref())?;
            init_logging(&config);
            let control = Arc::new(Control::default());
            on_stop_signal({
                let control = Arc::clone(&control);
                move || control.shutdown.store(true, std::sync::atomic::Ordering::Release)
            })?;
            let report = engine_node::run(&config, control)?;
            println!(
                "{{\"recovered_seq\":{},\"last_seq\":{},\"published_seq\":{},\"received\":{},\"recovery_s\":{:.3},\"run_s\":{:.3}}}",
                report.recovered_seq, report.last_seq, report.published_seq, report.received, report.recovery_s, report.run_s
            );
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
        Some(other) => bail!("unknown command {other:?}; try: exchange [--config FILE] [node|recover|gen-commands]"),
    }
}

/// Runs `action` on the first SIGTERM or SIGINT (from a thread of its own, not a signal handler).
fn on_stop_signal(action: impl Fn() + Send + 'static) -> anyhow::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT])?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        if signals.forever().next().is_some() {
            action();
        }
    })?;
    Ok(())
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
