//! perf: benchmarks for the exchange.
//!
//! `bench-core` (run it with `scripts/bench core`) drives one order book with exchange-core's
//! benchmark mix through our engine (matching only and with risk) and through four crates.io
//! order books, and prints throughput, latency percentiles and one JSON line.
//!
//! `bench-pipeline` (`scripts/bench pipeline`) measures one ring hop (disruptor against crossbeam
//! and std channels, [`hop`]), the engine node end to end under an open-loop offered rate for
//! each durability mode ([`pipeline`]), and recovery from the journal ([`restart`]); [`openloop`]
//! has the pacing shared by both.
//!
//! Code map: [`workload`] generates the seeded messages with the help of the reference book in
//! [`sim`]; [`adapters`] has one module per engine; [`runner`] times the passes; [`report`] prints.

pub mod adapters;
pub mod hop;
pub mod openloop;
pub mod pipeline;
pub mod report;
pub mod restart;
pub mod runner;
pub mod sim;
pub mod workload;
