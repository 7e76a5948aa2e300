//! What a run exercised: counts of commands, events and reasons, printed as a summary.

use std::collections::BTreeMap;

use engine_core::{
    BalanceReason, CancelReason, CommandKind, Event, HoldingsReason, OrderType, Product, RejectReason, Validity,
};

/// Counts of what a run exercised.
#[derive(Clone, Debug, Default)]
pub struct Coverage {
    pub commands: BTreeMap<CommandKind, u64>,
    pub events: BTreeMap<&'static str, u64>,
    pub rejects: BTreeMap<RejectReason, u64>,
    pub cancels: BTreeMap<CancelReason, u64>,
    pub balances: BTreeMap<BalanceReason, u64>,
    pub holdings: BTreeMap<HoldingsReason, u64>,
    pub accepted: BTreeMap<(OrderType, Validity, Product), u64>,
    pub disclosed_accepted: u64,
    pub post_only_accepted: u64,
    pub self_trade_cancels: u64,
    pub iceberg_trades: u64,
    pub commands_total: u64,
    /// How often the refusal oracle gave one outcome, a set of outcomes, or none.
    pub oracle: [u64; 3],
    /// Peaks of open orders and positions.
    pub open_orders_peak: usize,
    pub positions_peak: usize,
}

pub fn event_name(e: &Event) -> &'static str {
    match e {
        Event::InstrumentAdded { .. } => "InstrumentAdded",
        Event::SessionOpened => "SessionOpened",
        Event::SessionClosed => "SessionClosed",
        Event::InstrumentStatusChanged { .. } => "InstrumentStatusChanged",
        Event::AccountCreated { .. } => "AccountCreated",
        Event::AccountLimitsSet { .. } => "AccountLimitsSet",
        Event::AccountStatusChanged { .. } => "AccountStatusChanged",
        Event::FeeScheduleSet(_) => "FeeScheduleSet",
        Event::Rejected { .. } => "Rejected",
        Event::Accepted(_) => "Accepted",
        Event::Triggered { .. } => "Triggered",
        Event::Trade(_) => "Trade",
        Event::Modified { .. } => "Modified",
        Event::Cancelled { .. } => "Cancelled",
        Event::BalanceChanged { .. } => "BalanceChanged",
        Event::HoldingsChanged { .. } => "HoldingsChanged",
        Event::BookLevel { .. } => "BookLevel",
        Event::AccountRisk { .. } => "AccountRisk",
    }
}

impl Coverage {
    pub fn merge(&mut self, other: &Coverage) {
        fn add<K: Ord + Copy>(a: &mut BTreeMap<K, u64>, b: &BTreeMap<K, u64>) {
            for (k, v) in b {
                *a.entry(*k).or_default() += v;
            }
        }
        add(&mut self.commands, &other.commands);
        add(&mut self.events, &other.events);
        add(&mut self.rejects, &other.rejects);
        add(&mut self.cancels, &other.cancels);
        add(&mut self.balances, &other.balances);
        add(&mut self.holdings, &other.holdings);
        add(&mut self.accepted, &other.accepted);
        self.disclosed_accepted += other.disclosed_accepted;
        self.post_only_accepted += other.post_only_accepted;
        self.self_trade_cancels += other.self_trade_cancels;
        self.iceberg_trades += other.iceberg_trades;
        self.commands_total += other.commands_total;
        for k in 0..3 {
            self.oracle[k] += other.oracle[k];
        }
        self.open_orders_peak = self.open_orders_peak.max(other.open_orders_peak);
        self.positions_peak = self.positions_peak.max(other.positions_peak);
    }

    pub fn summary(&self) -> String {
        let mut s = format!("coverage over {} commands\n", self.commands_total);
        s += &format!("  commands: {:?}\n", self.commands);
        s += &format!("  events:   {:?}\n", self.events);
        s += &format!("  rejects ({} distinct): {:?}\n", self.rejects.len(), self.rejects);
        s += &format!("  cancels:  {:?}\n", self.cancels);
        s += &format!("  balances: {:?}\n", self.balances);
        s += &format!("  holdings: {:?}\n", self.holdings);
        s += &format!("  accepted (type, validity, product): {} combinations\n", self.accepted.len());
        s += &format!(
            "  accepted with disclosed qty: {}, post-only: {}, iceberg trades: {}\n",
            self.disclosed_accepted, self.post_only_accepted, self.iceberg_trades
        );
        s += &format!(
            "  refusal oracle: {} exact, {} one-of, {} not specified\n",
            self.oracle[0], self.oracle[1], self.oracle[2]
        );
        s += &format!("  peak open orders: {}, peak positions: {}\n", self.open_orders_peak, self.positions_peak);
        s
    }
}
