//! Every engine must see the same book as the workload generator: no rejects, and exactly the
//! messages the generator's book says trade. A disagreement would make the timings incomparable.

use perf::adapters::lobster::Lobster;
use perf::adapters::matchcore::Matchcore;
use perf::adapters::obcore::Obcore;
use perf::adapters::orderbook_rs::OrderbookRs;
use perf::adapters::ours::{OursFull, OursMatching};
use perf::adapters::{Adapter, Tally};
use perf::workload::Workload;

const SEED: u64 = 7;
const OPS: usize = 40_000;

fn replay<A: Adapter>(workload: &Workload) -> Tally {
    let mut engine = A::new(workload);
    for op in &workload.prefill {
        engine.apply(op);
    }
    let before = engine.tally();
    for op in &workload.ops {
        engine.apply(op);
    }
    engine.tally().since(before)
}

fn check<A: Adapter>(workload: &Workload) {
    let tally = replay::<A>(workload);
    assert!(tally.rejects.is_none_or(|r| r == 0), "{}: {tally:?}", A::NAME);
    assert_eq!(tally.ops_traded, Some(workload.stats.trading), "{}: traded", A::NAME);
}

#[test]
fn every_engine_sees_the_generators_book() {
    let workload = Workload::generate(SEED, OPS);
    check::<OursMatching>(&workload);
    check::<OursFull>(&workload);
    check::<Obcore>(&workload);
    check::<Matchcore>(&workload);
    check::<Lobster>(&workload);
    check::<OrderbookRs>(&workload);
}

#[test]
fn the_workload_is_deterministic_and_has_the_mix() {
    let a = Workload::generate(SEED, OPS);
    let b = Workload::generate(SEED, OPS);
    assert_eq!(a.prefill, b.prefill);
    assert_eq!(a.ops, b.ops);
    assert_ne!(a.ops, Workload::generate(SEED + 1, OPS).ops);

    let n = OPS as f64;
    let share = |kind: usize| a.stats.kinds[kind] as f64 / n;
    assert!((share(0) - 0.09).abs() < 0.01, "gtc {}", share(0));
    assert!((share(1) - 0.03).abs() < 0.01, "ioc {}", share(1));
    assert!((share(2) - 0.06).abs() < 0.01, "cancel {}", share(2));
    assert!((share(3) - 0.82).abs() < 0.01, "move {}", share(3));
    let traded = a.stats.trading as f64 / n;
    assert!((0.05..0.07).contains(&traded), "traded {traded}");
    assert!((900.0..1_100.0).contains(&a.stats.book_orders_mean), "orders {}", a.stats.book_orders_mean);
    assert!((600.0..900.0).contains(&a.stats.book_levels_mean), "levels {}", a.stats.book_levels_mean);
}
