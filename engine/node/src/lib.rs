//! The engine node: the LMAX-style pipeline around engine-core.
//!
//! `topology` shows the whole pipeline in one place; `node::run` recovers the state, starts the
//! pipeline and runs the receiver until it is told to stop.

pub mod config;
pub mod eventlog;
pub mod mailbox;
pub mod node;
pub mod output;
pub mod recovery;
pub mod slot;
pub mod source;
pub mod topology;
pub mod wait;

pub use config::Config;
pub use node::{open_source, run, run_with, Control, RunReport};
pub use recovery::{recover, recover_with, Recovered, RecoveryError};
