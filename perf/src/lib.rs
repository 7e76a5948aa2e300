//! perf: benchmarks for the exchange.
//!
//! `bench-core` (run it with `scripts/bench core`) drives one order book with exchange-core's
//! benchmark mix through our engine (matching only and with risk) and through four crates.io
//! order books, and prints throughput, latency percentiles and one JSON line.
//!
//! Code map: [`workload`] generates the seeded messages with the help of the reference book in
//! [`sim`]; [`adapters`] has one module per engine; [`runner`] times the passes; [`report`] prints.

pub mod adapters;
pub mod report;
pub mod runner;
pub mod sim;
pub mod workload;
