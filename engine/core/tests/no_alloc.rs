//! Architecture invariant: after `Engine::new` (and instrument setup), the order path allocates
//! nothing. A counting global allocator watches a busy stream of places, modifies, cancels,
//! trades, stop triggers, mass cancels and a session close.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use engine_core::*;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts events without storing them.
struct Sink(u64);

impl EventSink for Sink {
    fn emit(&mut self, _event: Event) {
        self.0 += 1;
    }
}

#[test]
fn the_order_path_does_not_allocate() {
    let limits = Limits { orders_max: 4_096, positions_max: 4_096, accounts_max: 64, ..Limits::small() };
    let mut engine: Engine = Engine::new(limits);
    let mut sink = Sink(0);
    let mut seq = 0u64;
    let mut apply = |engine: &mut Engine, cmd: Command, sink: &mut Sink| {
        seq += 1;
        engine.apply(seq, seq, &cmd, sink);
    };
    let spec = InstrumentSpec {
        token: 7,
        symbol: Symbol::new("SBIN").expect("symbol"),
        tick: 5,
        lot: 1,
        band_bps: 2_000,
        reference_price: 80_000,
        mis_leverage: 5,
    };
    apply(&mut engine, Command::AddInstrument(spec), &mut sink);
    apply(&mut engine, Command::OpenSession, &mut sink);
    for account in 0..8 {
        apply(&mut engine, Command::CreateAccount { account, limits: AccountLimits::default() }, &mut sink);
        apply(&mut engine, Command::ActivateAccount { account }, &mut sink);
        apply(&mut engine, Command::Deposit { client_ref: 0, account, amount: 1_000_000_000_000 }, &mut sink);
        apply(&mut engine, Command::DepositHoldings { account, token: 7, qty: 1_000_000 }, &mut sink);
    }
    apply(&mut engine, Command::SetFeeSchedule(FeeSchedule { bps: 3, cap: 2_000, fee_account: 0 }), &mut sink);

    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut x: u64 = 0x9E37_79B9;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..20_000u64 {
        let r = next();
        let account = (r % 8) as u32;
        let side = if r & 8 == 0 { Side::Buy } else { Side::Sell };
        let price = 78_000 + 5 * ((r >> 8) % 800) as i64;
        let (order_type, validity, trigger, limit) = match (r >> 20) % 10 {
            0 => (OrderType::Market, Validity::Ioc, 0, 0),
            1 => (OrderType::StopLimit, Validity::Day, price, price),
            2 => (OrderType::Limit, Validity::Fok, 0, price),
            3 => (OrderType::Limit, Validity::Ioc, 0, price),
            _ => (OrderType::Limit, Validity::Gtc, 0, price),
        };
        let product = if r & 16 == 0 { Product::Cnc } else { Product::Mis };
        let order = NewOrder {
            client_ref: round,
            account,
            token: 7,
            side,
            order_type,
            validity,
            product,
            price: limit,
            trigger,
            qty: 1 + ((r >> 32) % 50) as i64,
            disclosed: 0,
            post_only: false,
        };
        apply(&mut engine, Command::Place(order), &mut sink);
        let target = 1 + (r >> 40) % (round + 1);
        match (r >> 36) % 4 {
            0 => apply(&mut engine, Command::Cancel { client_ref: 0, account, order_id: target }, &mut sink),
            1 => {
                let modify = ModifyOrder { client_ref: 0, account, order_id: target, price, qty: 60, trigger: 0 };
                apply(&mut engine, Command::Modify(modify), &mut sink);
            }
            _ => {}
        }
        if round % 5_000 == 4_999 {
            apply(&mut engine, Command::MassCancelAccount { account }, &mut sink);
            apply(&mut engine, Command::SquareOffMis { token: 7 }, &mut sink);
        }
    }
    apply(&mut engine, Command::CloseSession, &mut sink);
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert!(sink.0 > 40_000, "the stream did real work: {} events", sink.0);
    assert_eq!(after - before, 0, "allocations on the order path");
}
