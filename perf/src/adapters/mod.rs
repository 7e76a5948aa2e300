//! One adapter per engine: each maps the abstract [`Op`]s onto the engine's own API and its own
//! order ids. An adapter is built fresh for every pass; `new` does the untimed setup (accounts,
//! instrument, session) and the runner then applies the prefill, untimed too.

pub mod lobster;
pub mod matchcore;
pub mod obcore;
pub mod orderbook_rs;
pub mod ours;

use crate::workload::{Op, Workload};

/// What an engine said about the ops it was given; `None` where its API does not tell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Ops the engine refused (unknown order, risk, validation).
    pub rejects: Option<u64>,
    /// Ops that produced at least one trade.
    pub ops_traded: Option<u64>,
}

impl Tally {
    /// The counts accumulated since `earlier` (the tally after prefill).
    pub fn since(self, earlier: Tally) -> Tally {
        let diff = |now: Option<u64>, then: Option<u64>| Some(now? - then.unwrap_or(0));
        Tally { rejects: diff(self.rejects, earlier.rejects), ops_traded: diff(self.ops_traded, earlier.ops_traded) }
    }
}

pub trait Adapter: Sized {
    /// Row label in the report.
    const NAME: &'static str;
    /// How the workload maps onto this engine's API (emulations included); printed under the table.
    const NOTES: &'static str;

    fn new(workload: &Workload) -> Self;

    fn apply(&mut self, op: &Op);

    fn tally(&self) -> Tally;

    /// Extra report lines (our engine: accepted orders, reject reasons, setup problems).
    fn detail(&self) -> Vec<String> {
        Vec::new()
    }
}
