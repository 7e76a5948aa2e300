//! Self-tests of the invariant checks: they must not be vacuous. A run with one event tampered
//! with, or an engine driven by a deliberately wrong book, must fail them.

mod support;

use engine_core::{BalanceReason, CancelReason, Engine, Event, LadderBook};
use support::gen::{GenConfig, Generator};
use support::invariants::Checker;
use support::naive_book::NaiveBook;

/// Tampers with one event of kind `what`; false when `events` has none to tamper with.
fn tamper(what: usize, events: &mut Vec<Event>) -> bool {
    let position = |events: &Vec<Event>, f: &dyn Fn(&Event) -> bool| events.iter().position(f);
    match what {
        0 => match position(events, &|e| matches!(e, Event::Trade(_))) {
            Some(i) => {
                if let Event::Trade(t) = &mut events[i] {
                    t.qty += 1;
                }
                true
            }
            None => false,
        },
        1 => {
            let levels = events.iter().filter(|e| matches!(e, Event::BookLevel { .. })).count();
            match position(events, &|e| matches!(e, Event::BookLevel { .. })) {
                Some(i) if levels == 1 && events.len() <= 3 => {
                    events.remove(i);
                    true
                }
                _ => false,
            }
        }
        2 => match position(events, &|e| {
            matches!(e, Event::BalanceChanged { reason: BalanceReason::TradeSettlement, .. })
        }) {
            Some(i) => {
                if let Event::BalanceChanged { delta, cash, .. } = &mut events[i] {
                    *delta += 1;
                    *cash += 1;
                }
                true
            }
            None => false,
        },
        3 => match position(events, &|e| matches!(e, Event::Cancelled { reason: CancelReason::IocRemainder, .. })) {
            Some(i) => {
                events.remove(i);
                true
            }
            None => false,
        },
        5 => {
            // Swap the first and last of several mass cancellations.
            let mass: Vec<usize> = events
                .iter()
                .enumerate()
                .filter(|(_, e)| {
                    matches!(
                        e,
                        Event::Cancelled {
                            reason: CancelReason::MassCancel | CancelReason::Halt | CancelReason::Expired,
                            ..
                        }
                    )
                })
                .map(|(i, _)| i)
                .collect();
            match (mass.first(), mass.last()) {
                (Some(&a), Some(&b)) if a != b => {
                    events.swap(a, b);
                    true
                }
                _ => false,
            }
        }
        6 => match position(events, &|e| matches!(e, Event::AccountRisk { .. })) {
            Some(i) => {
                events.remove(i);
                true
            }
            None => false,
        },
        7 => {
            // Report two accounts' blocked cash in the wrong order.
            let risks: Vec<usize> = events
                .iter()
                .enumerate()
                .filter(|(_, e)| matches!(e, Event::AccountRisk { .. }))
                .map(|(i, _)| i)
                .collect();
            match risks[..] {
                [a, b, ..] => {
                    events.swap(a, b);
                    true
                }
                _ => false,
            }
        }
        8 => match position(events, &|e| matches!(e, Event::AccountRisk { reserved, .. } if *reserved > 0)) {
            Some(i) => {
                if let Event::AccountRisk { reserved, .. } = &mut events[i] {
                    *reserved -= 1;
                }
                true
            }
            None => false,
        },
        _ => match position(events, &|e| matches!(e, Event::Accepted(_))) {
            Some(i) => {
                if let Event::Accepted(a) = &mut events[i] {
                    a.price += 5;
                }
                true
            }
            None => false,
        },
    }
}

/// The checker is not vacuous: a run with one event tampered with must fail it.
#[test]
fn checker_catches_tampered_events() {
    for what in 0..9 {
        let mut gen = Generator::new(3, GenConfig::default());
        let limits = gen.limits();
        let mut engine: Engine<LadderBook> = Engine::new(limits);
        let mut checker = Checker::new(limits);
        let mut events = Vec::new();
        let mut caught = false;
        for idx in 0..8_000u64 {
            let cmd = gen.next_command();
            events.clear();
            engine.apply(idx + 1, idx, &cmd, &mut events);
            gen.observe(&events);
            let mut seen = events.clone();
            if idx >= 300 && tamper(what, &mut seen) {
                // Some tamperings are harmless (two cancels of equal rank swapped): try again later.
                let mut trial = checker.clone();
                if trial.observe(&cmd, &seen).and_then(|()| trial.check(&engine)).is_err() {
                    caught = true;
                    break;
                }
            }
            checker.observe(&cmd, &events).and_then(|()| checker.check(&engine)).unwrap_or_else(|e| panic!("{e}"));
        }
        assert!(caught, "tampering {what} went unnoticed");
    }
}

/// A `NaiveBook` with one deliberate bug, to show that the invariant checks (not only the
/// differential comparison) catch a wrong book.
#[derive(Debug)]
struct MutantBook<const M: u8>(NaiveBook);

impl<const M: u8> engine_core::Book for MutantBook<M> {
    fn with_levels(levels: u32) -> Self {
        MutantBook(NaiveBook::with_levels(levels))
    }
    fn push_back(&mut self, links: &mut [engine_core::Link], side: engine_core::Side, level: u32, slot: u32, qty: i64) {
        if M == 0 {
            self.0.push_front_for_mutant(side, level, slot, qty);
        } else {
            self.0.push_back(links, side, level, slot, qty);
        }
    }
    fn remove(&mut self, links: &mut [engine_core::Link], side: engine_core::Side, level: u32, slot: u32, qty: i64) {
        self.0.remove(links, side, level, slot, qty)
    }
    fn adjust_qty(&mut self, side: engine_core::Side, level: u32, delta: i64) {
        self.0.adjust_qty(side, level, delta)
    }
    fn best(&self, side: engine_core::Side) -> Option<u32> {
        match (M, side) {
            // The worst ask instead of the best.
            (1, engine_core::Side::Sell) => {
                let mut worst = self.0.best(side)?;
                while let Some(next) = self.0.next_level(side, worst) {
                    worst = next;
                }
                Some(worst)
            }
            _ => self.0.best(side),
        }
    }
    fn next_level(&self, side: engine_core::Side, level: u32) -> Option<u32> {
        if M == 2 {
            None
        } else {
            self.0.next_level(side, level)
        }
    }
    fn front(&self, links: &[engine_core::Link], side: engine_core::Side, level: u32) -> Option<u32> {
        self.0.front(links, side, level)
    }
    fn visit_level<F: FnMut(u32) -> bool>(
        &self,
        links: &[engine_core::Link],
        side: engine_core::Side,
        level: u32,
        visit: F,
    ) {
        self.0.visit_level(links, side, level, visit)
    }
    fn level(&self, side: engine_core::Side, level: u32) -> engine_core::LevelState {
        let mut state = self.0.level(side, level);
        if M == 3 && state.orders > 1 {
            state.orders -= 1;
        }
        state
    }
    fn levels(&self) -> u32 {
        self.0.levels()
    }
}

fn mutant_caught<B: engine_core::Book>() -> Option<(u64, String)> {
    let mut gen = Generator::new(5, GenConfig::default());
    let limits = gen.limits();
    let mut engine: Engine<B> = Engine::new(limits);
    let mut checker = Checker::new(limits);
    let mut events = Vec::new();
    for idx in 0..5_000u64 {
        let cmd = gen.next_command();
        events.clear();
        let expected = support::oracle::expect(&engine, &cmd);
        let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            engine.apply(idx + 1, idx, &cmd, &mut events);
        }));
        if applied.is_err() {
            return Some((idx, "the engine panicked".to_string()));
        }
        let result = expected
            .verify(&events)
            .and_then(|()| checker.observe(&cmd, &events))
            .and_then(|()| checker.check(&engine));
        if let Err(e) = result {
            return Some((idx, e));
        }
        gen.observe(&events);
    }
    None
}

#[test]
fn checker_catches_mutant_books() {
    let caught = [
        ("LIFO queues", mutant_caught::<MutantBook<0>>()),
        ("worst ask as best", mutant_caught::<MutantBook<1>>()),
        ("no next level", mutant_caught::<MutantBook<2>>()),
        ("level order count off by one", mutant_caught::<MutantBook<3>>()),
    ];
    for (name, result) in &caught {
        match result {
            Some((idx, e)) => println!("mutant {name}: caught at command {idx}: {}", e.lines().next().unwrap_or("")),
            None => panic!("mutant {name} went unnoticed by the invariant checks"),
        }
    }
}
