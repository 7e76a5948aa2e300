//! Our engine, `engine_core::Engine`, in two modes: matching only (`risk_enabled: false`) and full
//! (pre-trade risk and settlement on, every account funded so that every order passes).

use engine_core::{
    AccountLimits, Command, Engine, Event, EventSink, InstrumentSpec, Limits, ModifyOrder, NewOrder, OrderId,
    OrderType, Product, RejectReason, Symbol, Validity,
};

use super::{Adapter, Tally};
use crate::workload::{Op, Side, Workload, ACCOUNTS, BAND_BPS, REFERENCE_TICKS};

const TOKEN: u32 = 1;
/// Paise per tick.
const TICK: i64 = 5;
/// Cash per account (paise): far above what any account can spend buying over the run.
const DEPOSIT_PAISE: i64 = 100_000_000_000_000;
/// Delivery holdings per account (shares): far above what any account can sell over the run.
const HOLDINGS_SHARES: i64 = 1_000_000_000;

/// Counts what the benchmark needs and drops everything else.
#[derive(Debug)]
struct Sink {
    /// Order id of the last `Accepted` event (0 when the last place was refused).
    last_order_id: OrderId,
    accepted: u64,
    trades: u64,
    rejects: u64,
    reasons: [u64; 256],
    traded: bool,
    ops_traded: u64,
}

impl EventSink for Sink {
    #[inline]
    fn emit(&mut self, event: Event) {
        match event {
            Event::Accepted(accepted) => {
                self.last_order_id = accepted.order_id;
                self.accepted += 1;
            }
            Event::Trade(_) => {
                self.trades += 1;
                self.traded = true;
            }
            Event::Rejected { reason, .. } => {
                self.rejects += 1;
                self.reasons[reason.as_u8() as usize] += 1;
            }
            _ => {}
        }
    }
}

#[derive(Debug)]
pub struct Ours<const RISK: bool> {
    engine: Engine,
    sink: Sink,
    seq: u64,
    /// Logical order index -> engine order id, read from `Accepted`.
    ids: Vec<OrderId>,
    setup_rejects: u64,
}

pub type OursMatching = Ours<false>;
pub type OursFull = Ours<true>;

impl<const RISK: bool> Ours<RISK> {
    fn limits() -> Limits {
        Limits {
            instruments_max: 4,
            accounts_max: 1_024,
            orders_max: 1 << 16,
            positions_max: 1 << 12,
            levels_per_book_max: 1 << 15,
            risk_enabled: RISK,
        }
    }

    #[inline]
    fn step(&mut self, cmd: &Command) {
        self.seq += 1;
        // Time is an argument: a synthetic clock, 1 µs per message.
        self.engine.apply(self.seq, self.seq * 1_000, cmd, &mut self.sink);
    }

    fn setup(&mut self) {
        for command in setup_commands(RISK) {
            self.step(&command);
        }
        self.setup_rejects = self.sink.rejects;
        self.sink.rejects = 0;
        self.sink.reasons = [0; 256];
    }
}

impl<const RISK: bool> Adapter for Ours<RISK> {
    const NAME: &'static str = if RISK { "ours (full)" } else { "ours (matching)" };
    const NOTES: &'static str = if RISK {
        "engine_core::Engine, risk on: CNC orders; 1,000 accounts created, activated, funded (Deposit) and \
         credited shares (DepositHoldings) before the run. Place LIMIT GTC/IOC, Modify (price), Cancel."
    } else {
        "engine_core::Engine, Limits { risk_enabled: false }: accounts created and activated, no funds. \
         Place LIMIT GTC/IOC, Modify (price, same qty), Cancel."
    };

    fn new(workload: &Workload) -> Self {
        let mut ours = Ours {
            engine: Engine::new(Self::limits()),
            sink: Sink {
                last_order_id: 0,
                accepted: 0,
                trades: 0,
                rejects: 0,
                reasons: [0; 256],
                traded: false,
                ops_traded: 0,
            },
            seq: 0,
            ids: vec![0; workload.orders_total as usize],
            setup_rejects: 0,
        };
        ours.setup();
        ours
    }

    #[inline]
    fn apply(&mut self, op: &Op) {
        self.sink.traded = false;
        match *op {
            Op::Place { order, .. } => {
                self.sink.last_order_id = 0;
                self.step(&command_for(op, 0));
                self.ids[order as usize] = self.sink.last_order_id;
            }
            Op::Cancel { order, .. } | Op::Move { order, .. } => {
                self.step(&command_for(op, self.ids[order as usize]));
            }
        }
        self.sink.ops_traded += self.sink.traded as u64;
    }

    fn tally(&self) -> Tally {
        Tally { rejects: Some(self.sink.rejects), ops_traded: Some(self.sink.ops_traded) }
    }

    fn detail(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "{}: {} orders accepted, {} trade events, {} rejects",
            Self::NAME,
            self.sink.accepted,
            self.sink.trades,
            self.sink.rejects
        )];
        if self.sink.accepted == 0 {
            lines.push(format!(
                "WARNING {}: no Accepted events at all -- is engine/core/src/engine.rs still the API stub?",
                Self::NAME
            ));
        }
        if self.setup_rejects > 0 {
            lines.push(format!("WARNING {}: {} setup commands rejected", Self::NAME, self.setup_rejects));
        }
        for (code, &count) in self.sink.reasons.iter().enumerate() {
            if count > 0 {
                let reason = RejectReason::from_u8(code as u8).map_or(format!("code {code}"), |r| format!("{r:?}"));
                lines.push(format!("{}: rejected {count} x {reason}", Self::NAME));
            }
        }
        lines
    }
}

/// Our set-up before any order: the instrument, the accounts created and activated and, with
/// risk on, funded with cash (`Deposit`) and shares (`DepositHoldings`); then the session opens.
pub fn setup_commands(risk: bool) -> Vec<Command> {
    let spec = InstrumentSpec {
        token: TOKEN,
        symbol: Symbol::new("BENCH").expect("valid symbol"),
        tick: TICK,
        lot: 1,
        band_bps: BAND_BPS,
        reference_price: REFERENCE_TICKS as i64 * TICK,
        mis_leverage: 1,
    };
    let mut commands = vec![Command::AddInstrument(spec)];
    for account in 0..ACCOUNTS {
        commands.push(Command::CreateAccount { account, limits: AccountLimits::default() });
        commands.push(Command::ActivateAccount { account });
        if risk {
            commands.push(Command::Deposit { client_ref: 0, account, amount: DEPOSIT_PAISE });
            commands.push(Command::DepositHoldings { account, token: TOKEN, qty: HOLDINGS_SHARES });
        }
    }
    commands.push(Command::OpenSession);
    commands
}

/// The engine command for `op`: a LIMIT GTC/IOC CNC place, a price modify (same quantity) or a
/// cancel. `order_id` is the engine's id for the op's order (places ignore it).
pub fn command_for(op: &Op, order_id: OrderId) -> Command {
    match *op {
        Op::Place { order, account, side, price, qty, ioc } => Command::Place(NewOrder {
            client_ref: order as u64,
            account,
            token: TOKEN,
            side: side_of(side),
            order_type: OrderType::Limit,
            validity: if ioc { Validity::Ioc } else { Validity::Gtc },
            product: Product::Cnc,
            price: price as i64 * TICK,
            trigger: 0,
            qty: qty as i64,
            disclosed: 0,
            post_only: false,
        }),
        Op::Cancel { order, account } => Command::Cancel { client_ref: order as u64, account, order_id },
        Op::Move { order, account, price, qty, .. } => Command::Modify(ModifyOrder {
            client_ref: order as u64,
            account,
            order_id,
            price: price as i64 * TICK,
            qty: qty as i64,
            trigger: 0,
        }),
    }
}

fn side_of(side: Side) -> engine_core::Side {
    match side {
        Side::Buy => engine_core::Side::Buy,
        Side::Sell => engine_core::Side::Sell,
    }
}
