//! Differential simulator: `Engine<LadderBook>` against `Engine<NaiveBook>` on the same seeded
//! command streams. Every command's events must be equal, `state_hash()` must agree every 100
//! commands and at the end, and the invariants of `support::invariants` must hold after every
//! command on both engines.
//!
//! Replay one seed: `SEED=<n> [COMMANDS=<n>] [RISK=off] cargo test -p engine-core --test differential`.
//! Explore more seeds: `SEED_FROM=<n> SEEDS=<k> cargo test ...`. Seeds that once failed live in
//! `tests/regressions.txt` and always run first.

mod support;

use std::cell::Cell;
use std::collections::VecDeque;

use engine_core::{BalanceReason, CancelReason, Command, Engine, Event, HoldingsReason, LadderBook, RejectReason};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use support::gen::{GenConfig, Generator};
use support::invariants::{Checker, Coverage};
use support::naive_book::NaiveBook;
use support::oracle::Expect;

const SEEDS_DEFAULT: u64 = 8;
const COMMANDS_DEFAULT: u64 = 15_000;
const HASH_EVERY: u64 = 100;
const RECENT_MAX: usize = 12;

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(text.trim().parse().unwrap_or_else(|_| panic!("{name}={text} is not a number")))
}

fn risk_from_env() -> bool {
    !matches!(std::env::var("RISK").as_deref(), Ok("off") | Ok("0") | Ok("false"))
}

/// Prints the seed and the command index if the run panics (engine panic, book assertion).
struct FailureContext<'a> {
    seed: u64,
    risk: bool,
    index: &'a Cell<u64>,
}

impl Drop for FailureContext<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "SEED={} RISK={} panicked at command index {}",
                self.seed,
                if self.risk { "on" } else { "off" },
                self.index.get()
            );
        }
    }
}

fn first_difference(a: &[Event], b: &[Event]) -> String {
    let at = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    format!(
        "first difference at event {at}:\n  ladder: {:?}\n  naive:  {:?}\n  ladder events: {a:#?}\n  naive events:  {b:#?}",
        a.get(at),
        b.get(at)
    )
}

/// Runs one seed; `Err` describes the first failure with the seed and the command index.
fn run_seed(seed: u64, commands: u64, config: GenConfig) -> Result<Coverage, String> {
    let mut gen = Generator::new(seed, config);
    let limits = gen.limits();
    let mut fast: Engine<LadderBook> = Engine::new(limits);
    let mut naive: Engine<NaiveBook> = Engine::new(limits);
    let mut checker = Checker::new(limits);
    let mut fast_events: Vec<Event> = Vec::with_capacity(256);
    let mut naive_events: Vec<Event> = Vec::with_capacity(256);
    let mut recent: VecDeque<Command> = VecDeque::with_capacity(RECENT_MAX);
    let index = Cell::new(0);
    let _context = FailureContext { seed, risk: config.risk_enabled, index: &index };
    let fail = |idx: u64, recent: &VecDeque<Command>, what: String| {
        let mut s = format!(
            "SEED={seed} RISK={} failed at command index {idx} (COMMANDS={} replays it)\n{what}\nlast commands:\n",
            if config.risk_enabled { "on" } else { "off" },
            idx + 1
        );
        let first = idx + 1 - recent.len() as u64;
        for (k, c) in recent.iter().enumerate() {
            s += &format!("  [{}] {c:?}\n", first + k as u64);
        }
        s
    };
    for idx in 0..commands {
        index.set(idx);
        let cmd = gen.next_command();
        if recent.len() == RECENT_MAX {
            recent.pop_front();
        }
        recent.push_back(cmd);
        fast_events.clear();
        naive_events.clear();
        let expected = support::oracle::expect(&fast, &cmd);
        checker.coverage.oracle[match expected {
            Expect::Accept | Expect::Reject(_) => 0,
            Expect::AnyOf { .. } => 1,
            Expect::Unknown => 2,
        }] += 1;
        let seq = idx + 1;
        let ts_ns = 1_700_000_000_000_000_000 + idx * 1_000;
        fast.apply(seq, ts_ns, &cmd, &mut fast_events);
        naive.apply(seq, ts_ns, &cmd, &mut naive_events);
        if fast_events != naive_events {
            return Err(fail(idx, &recent, first_difference(&fast_events, &naive_events)));
        }
        expected
            .verify(&fast_events)
            .map_err(|e| fail(idx, &recent, format!("refusal rules: {e}\n{fast_events:#?}")))?;
        checker
            .observe(&cmd, &fast_events)
            .map_err(|e| fail(idx, &recent, format!("events: {e}\n{fast_events:#?}")))?;
        checker.check(&fast).map_err(|e| fail(idx, &recent, format!("ladder engine: {e}\n{fast_events:#?}")))?;
        checker.check(&naive).map_err(|e| fail(idx, &recent, format!("naive engine: {e}\n{fast_events:#?}")))?;
        if seq % HASH_EVERY == 0 && fast.state_hash() != naive.state_hash() {
            return Err(fail(idx, &recent, "state_hash differs".to_string()));
        }
        gen.observe(&fast_events);
    }
    if fast.state_hash() != naive.state_hash() {
        return Err(fail(commands.saturating_sub(1), &recent, "final state_hash differs".to_string()));
    }
    Ok(checker.coverage)
}

fn regression_seeds() -> Vec<u64> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/regressions.txt");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                None
            } else {
                Some(line.parse().unwrap_or_else(|_| panic!("regressions.txt: bad seed line {line:?}")))
            }
        })
        .collect()
}

/// Runs `seeds` on two threads (the machine has two cores); panics on the first failure.
fn run_seeds(seeds: &[u64], commands: u64, config: GenConfig) -> Coverage {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<Coverage, String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&seed) = seeds.get(i) else { break };
                        let result = run_seed(seed, commands, config);
                        let failed = result.is_err();
                        out.push(result);
                        if failed {
                            // Stop handing out work.
                            next.store(seeds.len(), std::sync::atomic::Ordering::Relaxed);
                            break;
                        }
                    }
                    out
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("worker panicked (see SEED= above)")).collect()
    });
    let mut coverage = Coverage::default();
    for result in results {
        match result {
            Ok(c) => coverage.merge(&c),
            Err(e) => panic!("{e}"),
        }
    }
    coverage
}

fn assert_coverage(c: &Coverage) {
    let core = [
        "Trade",
        "Triggered",
        "Modified",
        "Cancelled",
        "Rejected",
        "BookLevel",
        "BalanceChanged",
        "HoldingsChanged",
        "AccountRisk",
    ];
    let mut missing: Vec<String> =
        core.iter().filter(|k| c.events.get(*k).copied().unwrap_or(0) == 0).map(|k| format!("event {k}")).collect();
    for reason in CancelReason::ALL {
        if c.cancels.get(reason).copied().unwrap_or(0) == 0 {
            missing.push(format!("cancel reason {reason:?}"));
        }
    }
    for reason in BalanceReason::ALL {
        if c.balances.get(reason).copied().unwrap_or(0) == 0 {
            missing.push(format!("balance reason {reason:?}"));
        }
    }
    for reason in HoldingsReason::ALL {
        if c.holdings.get(reason).copied().unwrap_or(0) == 0 {
            missing.push(format!("holdings reason {reason:?}"));
        }
    }
    // Rejections the generator aims at.
    use RejectReason::*;
    let targeted = [
        UnknownInstrument,
        DuplicateInstrument,
        InstrumentTableFull,
        BandTooWide,
        SessionClosed,
        SessionAlreadyOpen,
        InstrumentHalted,
        InstrumentNotHalted,
        UnknownAccount,
        DuplicateAccount,
        AccountIdOutOfRange,
        AccountNotActive,
        AccountStatusUnchanged,
        InvalidAmount,
        InsufficientFunds,
        InsufficientHoldings,
        InvalidQuantity,
        LotSizeViolation,
        TickSizeViolation,
        InvalidPrice,
        PriceOutOfBand,
        InvalidTrigger,
        TriggerAlreadyHit,
        InvalidDisclosedQuantity,
        InvalidOrderCombination,
        PostOnlyWouldCross,
        OrderValueLimitExceeded,
        OpenOrdersLimitExceeded,
        PositionLimitExceeded,
        UnknownOrder,
        NotOrderOwner,
        InvalidModify,
        NothingToModify,
        ValueOverflow,
        InvalidFeeSchedule,
        InvalidLimits,
        DuplicateRequest,
    ];
    for reason in targeted {
        if c.rejects.get(&reason).copied().unwrap_or(0) == 0 {
            missing.push(format!("reject reason {reason:?}"));
        }
    }
    for kind in engine_core::CommandKind::ALL {
        if c.commands.get(kind).copied().unwrap_or(0) == 0 {
            missing.push(format!("command {kind:?}"));
        }
    }
    if c.iceberg_trades == 0 {
        missing.push("iceberg trades".to_string());
    }
    if c.accepted.len() < 24 {
        missing.push(format!("only {} of 32 (type, validity, product) combinations accepted", c.accepted.len()));
    }
    assert!(missing.is_empty(), "the run did not exercise: {missing:#?}\n{}", c.summary());
}

#[test]
fn differential_ladder_vs_naive() {
    let commands = env_u64("COMMANDS").unwrap_or(COMMANDS_DEFAULT);
    let config = GenConfig { risk_enabled: risk_from_env() };
    if let Some(seed) = env_u64("SEED") {
        let coverage = run_seed(seed, commands, config).unwrap_or_else(|e| panic!("{e}"));
        println!("SEED={seed}: {}", coverage.summary());
        return;
    }
    let regressions = regression_seeds();
    let mut coverage = run_seeds(&regressions, commands, GenConfig::default());
    let from = env_u64("SEED_FROM").unwrap_or(1);
    let count = env_u64("SEEDS").unwrap_or(SEEDS_DEFAULT);
    let seeds: Vec<u64> = (from..from + count).collect();
    coverage.merge(&run_seeds(&seeds, commands, GenConfig::default()));
    println!("differential: {} regression seeds + {} seeds x {commands} commands", regressions.len(), seeds.len());
    println!("{}", coverage.summary());
    assert_coverage(&coverage);
}

/// Matching only (`risk_enabled = false`): the books must still agree and the book invariants hold.
#[test]
fn differential_risk_off() {
    if env_u64("SEED").is_some() {
        return;
    }
    let config = GenConfig { risk_enabled: false };
    let coverage = run_seeds(&[1_001, 1_002], 4_000, config);
    assert!(coverage.events.get("Trade").copied().unwrap_or(0) > 0, "{}", coverage.summary());
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/differential.proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// Short streams from proptest-chosen seeds; a failure prints `SEED=`.
    #[test]
    fn differential_short_streams(seed in any::<u64>(), risk in prop::bool::weighted(0.8)) {
        let result = run_seed(seed, 600, GenConfig { risk_enabled: risk });
        prop_assert!(result.is_ok(), "{}", result.err().unwrap_or_default());
    }
}
