//! A seeded random command generator (ChaCha8): realistic order flow around a moving mid price,
//! every `Command` variant, every order type, validity and product, and a share of invalid
//! commands so that rejections are exercised.
//!
//! The generator is driven in a loop: `next_command()`, apply it, then `observe(&events)`. It
//! learns order ids from `Accepted` events (ids are assigned 1, 2, 3, ... in accept order), so
//! modifies and cancels mostly target live orders. The same seed and the same events give the
//! same stream.

use std::collections::{BTreeMap, VecDeque};

use engine_core::{
    AccountId, AccountLimits, AccountStatus, Command, Event, FeeSchedule, InstrumentSpec, InstrumentStatus, Limits,
    ModifyOrder, NewOrder, OrderId, OrderType, Price, Product, Qty, Side, Symbol, Token, Validity,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The account that receives fees at setup.
pub const FEE_ACCOUNT: AccountId = 0;
/// Trading accounts created at setup: `1..=TRADERS`.
pub const TRADERS: u32 = 30;
/// Accounts `TRADERS - INACTIVE_AT_SETUP + 1..=TRADERS` are created but not activated.
pub const INACTIVE_AT_SETUP: u32 = 3;
/// Dense account ids `0..ACCOUNTS_MAX`; ids above `TRADERS` can be created later.
pub const ACCOUNTS_MAX: u32 = 40;

/// Small tables so that full-table rejections can happen.
pub fn limits(risk_enabled: bool) -> Limits {
    Limits {
        instruments_max: 4,
        accounts_max: ACCOUNTS_MAX,
        orders_max: 80,
        positions_max: 120,
        levels_per_book_max: 1024,
        risk_enabled,
    }
}

fn sym(text: &str) -> Symbol {
    Symbol::new(text).expect("valid symbol")
}

/// An instrument whose band spans more levels than `levels_per_book_max`.
fn wide_spec() -> InstrumentSpec {
    InstrumentSpec {
        token: 105,
        symbol: sym("WIDE"),
        tick: 1,
        lot: 1,
        band_bps: 2_000,
        reference_price: 100_000,
        mis_leverage: 2,
    }
}

/// Instruments added at setup (3) and the one that may be added later in the stream.
pub fn instrument_specs() -> [InstrumentSpec; 4] {
    [
        // 801 levels.
        InstrumentSpec {
            token: 101,
            symbol: sym("INFY"),
            tick: 5,
            lot: 1,
            band_bps: 1000,
            reference_price: 20_000,
            mis_leverage: 5,
        },
        // 501 levels, lot 5.
        InstrumentSpec {
            token: 102,
            symbol: sym("TCS"),
            tick: 10,
            lot: 5,
            band_bps: 500,
            reference_price: 50_000,
            mis_leverage: 4,
        },
        // 801 levels, lot 10, tick 1.
        InstrumentSpec {
            token: 103,
            symbol: sym("YESBANK"),
            tick: 1,
            lot: 10,
            band_bps: 2000,
            reference_price: 2_000,
            mis_leverage: 3,
        },
        // Added mid-stream.
        InstrumentSpec {
            token: 104,
            symbol: sym("SBIN"),
            tick: 5,
            lot: 1,
            band_bps: 300,
            reference_price: 60_000,
            mis_leverage: 5,
        },
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenConfig {
    pub risk_enabled: bool,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig { risk_enabled: true }
    }
}

#[derive(Clone, Copy, Debug)]
struct Inst {
    spec: InstrumentSpec,
    band_low: Price,
    band_high: Price,
    /// Where new flow concentrates; a random walk on the tick grid inside the band.
    mid: Price,
    ltp: Price,
    halted: bool,
}

impl Inst {
    fn clamp(&self, price: Price) -> Price {
        price.clamp(self.band_low, self.band_high)
    }
}

#[derive(Clone, Copy, Debug)]
struct LiveOrder {
    id: OrderId,
    account: AccountId,
    token: Token,
    side: Side,
    order_type: OrderType,
    price: Price,
    trigger: Price,
    qty: Qty,
    remaining: Qty,
    disclosed: Qty,
    triggered: bool,
}

#[derive(Clone, Copy, Debug)]
struct Acct {
    status: AccountStatus,
    cash: i64,
}

#[derive(Debug)]
pub struct Generator {
    rng: ChaCha8Rng,
    config: GenConfig,
    pending: VecDeque<Command>,
    insts: Vec<Inst>,
    accounts: BTreeMap<AccountId, Acct>,
    holdings: BTreeMap<(AccountId, Token), Qty>,
    live: Vec<LiveOrder>,
    live_index: BTreeMap<OrderId, usize>,
    next_order_id: OrderId,
    client_ref: u64,
    session_open: bool,
    generated: u64,
    /// Every instrument spec this generator has proposed, by token.
    proposed: BTreeMap<Token, InstrumentSpec>,
    /// The last funds `client_ref` each account applied (from `BalanceChanged`).
    funds_ref: BTreeMap<AccountId, u64>,
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, choices: &[(T, u32)]) -> T {
    let total: u32 = choices.iter().map(|c| c.1).sum();
    let mut r = rng.gen_range(0..total);
    for &(value, weight) in choices {
        if r < weight {
            return value;
        }
        r -= weight;
    }
    unreachable!("weights sum")
}

impl Generator {
    pub fn new(seed: u64, config: GenConfig) -> Self {
        let mut gen = Generator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            config,
            pending: VecDeque::new(),
            insts: Vec::new(),
            accounts: BTreeMap::new(),
            holdings: BTreeMap::new(),
            live: Vec::new(),
            live_index: BTreeMap::new(),
            next_order_id: 1,
            client_ref: 0,
            session_open: false,
            generated: 0,
            proposed: BTreeMap::new(),
            funds_ref: BTreeMap::new(),
        };
        gen.setup();
        gen
    }

    pub fn limits(&self) -> Limits {
        limits(self.config.risk_enabled)
    }

    /// Number of commands generated so far.
    pub fn generated(&self) -> u64 {
        self.generated
    }

    fn setup(&mut self) {
        let specs = instrument_specs();
        for spec in &specs[..3] {
            self.proposed.insert(spec.token, *spec);
            self.pending.push_back(Command::AddInstrument(*spec));
        }
        // Refused: band too wide.
        self.pending.push_back(Command::AddInstrument(wide_spec()));
        for account in 0..=TRADERS {
            let limits = if account == FEE_ACCOUNT { AccountLimits::default() } else { self.random_limits() };
            self.pending.push_back(Command::CreateAccount { account, limits });
        }
        for account in 0..=TRADERS - INACTIVE_AT_SETUP {
            self.pending.push_back(Command::ActivateAccount { account });
        }
        for account in 1..=TRADERS {
            let amount = if self.rng.gen_bool(0.2) {
                self.rng.gen_range(100_000..2_000_000)
            } else {
                self.rng.gen_range(5_000_000..60_000_000)
            };
            self.pending.push_back(Command::Deposit { client_ref: 0, account, amount });
            for spec in &specs[..3] {
                if self.rng.gen_bool(0.6) {
                    let qty = spec.lot * self.rng.gen_range(10..300);
                    self.pending.push_back(Command::DepositHoldings { account, token: spec.token, qty });
                }
            }
        }
        self.pending.push_back(Command::SetFeeSchedule(FeeSchedule { bps: 3, cap: 2_000, fee_account: FEE_ACCOUNT }));
        self.pending.push_back(Command::OpenSession);
    }

    fn random_limits(&mut self) -> AccountLimits {
        let mut limits = AccountLimits::default();
        if self.rng.gen_bool(0.1) {
            limits.open_orders_max = self.rng.gen_range(2..8);
        }
        if self.rng.gen_bool(0.1) {
            limits.position_max = self.rng.gen_range(100..3_000);
        }
        if self.rng.gen_bool(0.1) {
            limits.order_value_max = self.rng.gen_range(200_000..3_000_000);
        }
        if self.rng.gen_bool(0.1) {
            limits.mis_leverage = self.rng.gen_range(1..7);
        }
        limits
    }

    fn next_ref(&mut self) -> u64 {
        self.client_ref += 1;
        self.client_ref
    }

    /// Learns from the events of the last command.
    pub fn observe(&mut self, events: &[Event]) {
        for event in events {
            match *event {
                Event::InstrumentAdded { spec, band_low, band_high } => {
                    debug_assert_eq!(self.proposed[&spec.token], spec);
                    self.insts.push(Inst {
                        spec,
                        band_low,
                        band_high,
                        mid: spec.reference_price,
                        ltp: spec.reference_price,
                        halted: false,
                    });
                }
                Event::SessionOpened => self.session_open = true,
                Event::SessionClosed => self.session_open = false,
                Event::InstrumentStatusChanged { token, status } => {
                    if let Some(inst) = self.insts.iter_mut().find(|i| i.spec.token == token) {
                        inst.halted = status == InstrumentStatus::Halted;
                    }
                }
                Event::AccountCreated { account, .. } => {
                    self.accounts.insert(account, Acct { status: AccountStatus::Inactive, cash: 0 });
                }
                Event::AccountStatusChanged { account, status } => {
                    if let Some(a) = self.accounts.get_mut(&account) {
                        a.status = status;
                    }
                }
                Event::BalanceChanged { account, cash, client_ref, .. } => {
                    if let Some(a) = self.accounts.get_mut(&account) {
                        a.cash = cash;
                    }
                    if client_ref != 0 {
                        self.funds_ref.insert(account, client_ref);
                    }
                }
                Event::HoldingsChanged { account, token, holdings, .. } => {
                    self.holdings.insert((account, token), holdings);
                }
                Event::Accepted(a) => {
                    self.next_order_id = self.next_order_id.max(a.order_id + 1);
                    let order = LiveOrder {
                        id: a.order_id,
                        account: a.account,
                        token: a.token,
                        side: a.side,
                        order_type: a.order_type,
                        price: a.price,
                        trigger: a.trigger,
                        qty: a.qty,
                        remaining: a.qty,
                        disclosed: a.disclosed,
                        triggered: !a.order_type.is_stop(),
                    };
                    self.live_index.insert(a.order_id, self.live.len());
                    self.live.push(order);
                }
                Event::Triggered { order_id, .. } => {
                    if let Some(&i) = self.live_index.get(&order_id) {
                        self.live[i].triggered = true;
                    }
                }
                Event::Trade(t) => {
                    if let Some(inst) = self.insts.iter_mut().find(|i| i.spec.token == t.token) {
                        inst.ltp = t.price;
                    }
                    self.set_remaining(t.buy_order, t.buy_remaining);
                    self.set_remaining(t.sell_order, t.sell_remaining);
                }
                Event::Modified { order_id, price, qty, trigger, remaining, .. } => {
                    if let Some(&i) = self.live_index.get(&order_id) {
                        let o = &mut self.live[i];
                        o.price = price;
                        o.qty = qty;
                        o.trigger = trigger;
                        o.remaining = remaining;
                    }
                }
                Event::Cancelled { order_id, .. } => self.remove_live(order_id),
                _ => {}
            }
        }
    }

    fn set_remaining(&mut self, order_id: OrderId, remaining: Qty) {
        if remaining == 0 {
            self.remove_live(order_id);
        } else if let Some(&i) = self.live_index.get(&order_id) {
            self.live[i].remaining = remaining;
        }
    }

    fn remove_live(&mut self, order_id: OrderId) {
        if let Some(i) = self.live_index.remove(&order_id) {
            self.live.swap_remove(i);
            if i < self.live.len() {
                self.live_index.insert(self.live[i].id, i);
            }
        }
    }

    /// The next command of the stream.
    pub fn next_command(&mut self) -> Command {
        self.generated += 1;
        if let Some(cmd) = self.pending.pop_front() {
            return cmd;
        }
        self.walk_mids();
        if !self.session_open && self.rng.gen_bool(0.07) {
            return Command::OpenSession;
        }
        if let Some(token) = self.insts.iter().find(|i| i.halted).map(|i| i.spec.token) {
            if self.rng.gen_bool(0.08) {
                return Command::Resume { token };
            }
        }
        if self.rng.gen_bool(0.02) {
            let suspended: Vec<AccountId> =
                self.accounts.iter().filter(|(_, a)| a.status != AccountStatus::Active).map(|(&id, _)| id).collect();
            if !suspended.is_empty() {
                let account = suspended[self.rng.gen_range(0..suspended.len())];
                return Command::ActivateAccount { account };
            }
        }
        let r = self.rng.gen_range(0..1000u32);
        match r {
            0..=599 => self.gen_place(),
            600..=719 => self.gen_modify(),
            720..=829 => self.gen_cancel(),
            830..=864 => self.gen_deposit(),
            865..=884 => self.gen_withdraw(),
            885..=904 => self.gen_deposit_holdings(),
            905..=919 => self.gen_withdraw_holdings(),
            920..=925 => Command::MassCancelAccount { account: self.pick_account() },
            926..=928 => Command::MassCancelInstrument { token: self.pick_token() },
            929..=932 => Command::Halt { token: self.pick_token() },
            933..=934 => Command::Resume { token: self.pick_token() },
            935..=939 => Command::SuspendAccount { account: self.pick_account() },
            940..=944 => Command::ActivateAccount { account: self.pick_account() },
            945..=949 => self.gen_set_limits(),
            950..=951 => self.gen_fee_schedule(),
            952..=953 => self.gen_create_account(),
            954 => self.gen_add_instrument(),
            955..=960 => Command::SquareOffMis { token: self.pick_token() },
            961 => {
                // End of day: square off (sometimes), then close.
                let tokens: Vec<Token> = self.insts.iter().map(|i| i.spec.token).collect();
                if self.rng.gen_bool(0.5) {
                    for token in tokens {
                        self.pending.push_back(Command::SquareOffMis { token });
                    }
                }
                self.pending.push_back(Command::CloseSession);
                self.pending.pop_front().expect("queued")
            }
            962 => {
                if self.session_open {
                    Command::OpenSession
                } else {
                    Command::CloseSession
                }
            }
            _ => self.gen_place(),
        }
    }

    fn walk_mids(&mut self) {
        for inst in &mut self.insts {
            let tick = inst.spec.tick;
            let half = (inst.band_high - inst.band_low) / 2;
            let center = inst.spec.reference_price;
            if self.rng.gen_bool(0.1) {
                let step = if self.rng.gen_bool(0.5) { tick } else { -tick };
                inst.mid += step;
            }
            if self.rng.gen_bool(0.0005) {
                let jump = tick * self.rng.gen_range(-15..=15);
                inst.mid += jump;
            }
            // Mean reversion towards the reference price, and towards the last trade.
            if (inst.mid - center).abs() > half * 6 / 10 {
                inst.mid += if inst.mid > center { -tick } else { tick };
            }
            if (inst.mid - inst.ltp).abs() > 20 * tick {
                inst.mid += if inst.mid > inst.ltp { -tick } else { tick };
            }
            inst.mid = inst.clamp(inst.mid);
        }
    }

    fn pick_inst(&mut self) -> Option<Inst> {
        if self.insts.is_empty() {
            return None;
        }
        let i = self.rng.gen_range(0..self.insts.len());
        Some(self.insts[i])
    }

    /// A known token mostly; sometimes an unknown one.
    fn pick_token(&mut self) -> Token {
        if self.rng.gen_bool(0.03) || self.insts.is_empty() {
            return if self.rng.gen_bool(0.5) { 999 } else { 0 };
        }
        self.pick_inst().expect("instruments").spec.token
    }

    /// A trader mostly; sometimes the fee account, an uncreated id or an id out of range.
    fn pick_account(&mut self) -> AccountId {
        match self.rng.gen_range(0..100) {
            0 => FEE_ACCOUNT,
            1 => self.rng.gen_range(TRADERS + 1..ACCOUNTS_MAX),
            2 => ACCOUNTS_MAX + self.rng.gen_range(0..5),
            3..=5 => {
                // A later-created account, if any.
                let later: Vec<AccountId> = self.accounts.keys().copied().filter(|&a| a > TRADERS).collect();
                if later.is_empty() {
                    self.rng.gen_range(1..=TRADERS)
                } else {
                    later[self.rng.gen_range(0..later.len())]
                }
            }
            _ => self.rng.gen_range(1..=TRADERS),
        }
    }

    fn lots(&mut self) -> i64 {
        match self.rng.gen_range(0..100) {
            0..=49 => self.rng.gen_range(1..=4),
            50..=89 => self.rng.gen_range(1..=20),
            90..=97 => self.rng.gen_range(20..=80),
            _ => self.rng.gen_range(80..=400),
        }
    }

    fn gen_place(&mut self) -> Command {
        let Some(inst) = self.pick_inst() else {
            return Command::OpenSession;
        };
        let mut account = self.pick_account();
        let token = inst.spec.token;
        let tick = inst.spec.tick;
        let lot = inst.spec.lot;
        let side = if self.rng.gen_bool(0.5) { Side::Buy } else { Side::Sell };
        let order_type = pick(
            &mut self.rng,
            &[(OrderType::Limit, 66), (OrderType::Market, 10), (OrderType::StopLimit, 14), (OrderType::StopMarket, 10)],
        );
        let validity =
            pick(&mut self.rng, &[(Validity::Day, 55), (Validity::Gtc, 22), (Validity::Ioc, 14), (Validity::Fok, 9)]);
        let product = if self.rng.gen_bool(0.3) { Product::Mis } else { Product::Cnc };
        if side == Side::Sell && product == Product::Cnc && self.rng.gen_bool(0.85) {
            // Mostly an account that holds the shares.
            let holders: Vec<AccountId> =
                self.holdings.iter().filter(|(k, &q)| k.1 == token && q >= lot).map(|(k, _)| k.0).collect();
            if !holders.is_empty() {
                account = holders[self.rng.gen_range(0..holders.len())];
            }
        }
        let mut lots = self.lots();
        if side == Side::Sell && product == Product::Cnc && self.rng.gen_bool(0.8) {
            // Mostly sell what the account holds.
            let held = self.holdings.get(&(account, token)).copied().unwrap_or(0) / lot;
            if held > 0 {
                lots = lots.min(self.rng.gen_range(1..=held.min(40)));
            }
        }
        let qty = lots * lot;
        let sign = if side == Side::Buy { 1 } else { -1 };
        // Limit price: around the mid, crossing it a quarter of the time.
        let offset = self.rng.gen_range(-4..=12);
        let mut price = match order_type {
            OrderType::Limit => inst.clamp(inst.mid - sign * offset * tick),
            _ => 0,
        };
        let mut trigger = 0;
        if order_type.is_stop() {
            // A buy stop above the last price, a sell stop below it.
            let k = if self.rng.gen_bool(0.03) { 0 } else { self.rng.gen_range(1..=6) };
            trigger = inst.ltp + sign * k * tick;
            if order_type == OrderType::StopLimit {
                price = trigger + sign * self.rng.gen_range(0..=3) * tick;
            }
        }
        let resting = matches!(validity, Validity::Day | Validity::Gtc) && order_type.has_limit_price();
        let disclosed =
            if resting && lots >= 2 && self.rng.gen_bool(0.15) { lot * self.rng.gen_range(1..lots) } else { 0 };
        let post_only = order_type == OrderType::Limit && resting && self.rng.gen_bool(0.06);
        let mut order = NewOrder {
            client_ref: self.next_ref(),
            account,
            token,
            side,
            order_type,
            validity,
            product,
            price,
            trigger,
            qty,
            disclosed,
            post_only,
        };
        if self.rng.gen_bool(0.07) {
            self.spoil_place(&mut order, &inst);
        }
        Command::Place(order)
    }

    /// Makes a placement invalid in one of many ways.
    fn spoil_place(&mut self, o: &mut NewOrder, inst: &Inst) {
        let tick = inst.spec.tick;
        let lot = inst.spec.lot;
        match self.rng.gen_range(0..18) {
            0 => o.qty = -self.rng.gen_range(0..3) * lot,
            1 => o.qty += if lot > 1 { 1 } else { 0 },
            2 => {
                if tick > 1 && o.order_type.has_limit_price() {
                    o.price += 1;
                } else {
                    o.price = -tick;
                }
            }
            3 => o.price = if o.order_type.has_limit_price() { 0 } else { tick * 10 },
            4 => o.price = inst.band_high + tick * self.rng.gen_range(1..4),
            5 => o.price = inst.band_low - tick,
            6 => o.trigger = if o.order_type.is_stop() { inst.band_high + tick } else { inst.mid },
            7 => o.disclosed = o.qty + lot,
            8 => {
                o.disclosed = lot;
                o.validity = if self.rng.gen_bool(0.5) { Validity::Ioc } else { Validity::Fok };
            }
            9 => {
                o.post_only = true;
                if o.order_type == OrderType::Limit {
                    o.validity = Validity::Ioc;
                }
            }
            10 => {
                // SL with the trigger on the wrong side of the limit price.
                o.order_type = OrderType::StopLimit;
                o.price = inst.clamp(inst.ltp);
                o.trigger = if o.side == Side::Buy { o.price + tick } else { o.price - tick };
            }
            11 => o.account = self.rng.gen_range(TRADERS + 1..ACCOUNTS_MAX + 3),
            12 => o.token = 999,
            13 => o.qty = lot * (i64::MAX / lot / 2),
            14 => o.qty = lot * self.rng.gen_range(2_000..200_000),
            15 => {
                // Stop whose trigger the last price has already reached.
                o.order_type = if self.rng.gen_bool(0.5) { OrderType::StopMarket } else { OrderType::StopLimit };
                o.trigger = if o.side == Side::Buy { inst.ltp - tick } else { inst.ltp + tick };
                o.price = if o.order_type == OrderType::StopLimit { o.trigger } else { 0 };
                o.disclosed = 0;
                o.post_only = false;
            }
            16 => o.account = TRADERS - self.rng.gen_range(0..INACTIVE_AT_SETUP),
            _ => o.disclosed = -lot,
        }
    }

    fn pick_live(&mut self) -> Option<LiveOrder> {
        if self.live.is_empty() {
            None
        } else {
            Some(self.live[self.rng.gen_range(0..self.live.len())])
        }
    }

    fn other_account(&mut self, account: AccountId) -> AccountId {
        let other = self.rng.gen_range(1..=TRADERS);
        if other == account {
            other % TRADERS + 1
        } else {
            other
        }
    }

    fn unknown_order_id(&mut self) -> OrderId {
        match self.rng.gen_range(0..3) {
            0 => self.next_order_id + self.rng.gen_range(0..5),
            1 => 0,
            _ => self.rng.gen_range(1..self.next_order_id.max(2)),
        }
    }

    fn gen_modify(&mut self) -> Command {
        let client_ref = self.next_ref();
        let Some(o) = self.pick_live() else {
            return self.gen_place();
        };
        let inst = *self.insts.iter().find(|i| i.spec.token == o.token).expect("instrument of a live order");
        let tick = inst.spec.tick;
        let lot = inst.spec.lot;
        let filled = o.qty - o.remaining;
        let mut m = ModifyOrder {
            client_ref,
            account: o.account,
            order_id: o.id,
            price: o.price,
            qty: o.qty,
            trigger: if o.triggered && self.rng.gen_bool(0.5) { 0 } else { o.trigger },
        };
        let stop_pending = o.order_type.is_stop() && !o.triggered;
        match self.rng.gen_range(0..100) {
            0..=29 if o.order_type.has_limit_price() => {
                let delta = tick * self.rng.gen_range(1..=5) * if self.rng.gen_bool(0.5) { 1 } else { -1 };
                m.price = inst.clamp(o.price + delta);
                if stop_pending {
                    // Keep the trigger on the right side of the price most of the time.
                    let ok = if o.side == Side::Buy { o.trigger <= m.price } else { o.trigger >= m.price };
                    if !ok && self.rng.gen_bool(0.8) {
                        m.price = o.trigger;
                    }
                }
            }
            0..=59 => {
                // New total quantity, up or down.
                let lots = self.rng.gen_range(1..=10) * lot;
                m.qty = if self.rng.gen_bool(0.5) { o.qty + lots } else { (o.qty - lots).max(filled + lot) };
            }
            60..=74 if stop_pending => {
                let sign = if o.side == Side::Buy { 1 } else { -1 };
                m.trigger = inst.clamp(inst.ltp + sign * tick * self.rng.gen_range(0..=6));
                if o.order_type == OrderType::StopLimit {
                    let ok = if o.side == Side::Buy { m.trigger <= m.price } else { m.trigger >= m.price };
                    if !ok {
                        m.price = m.trigger;
                    }
                }
            }
            60..=79 => {
                // Price and quantity together.
                if o.order_type.has_limit_price() {
                    m.price = inst.clamp(o.price + tick * self.rng.gen_range(-3..=3));
                }
                m.qty = filled + lot * self.rng.gen_range(1..=12);
            }
            80..=83 => {} // Nothing changes.
            84..=87 => m.account = self.other_account(o.account),
            88..=89 => m.order_id = self.unknown_order_id(),
            90 => m.qty = filled,
            91 => m.qty = 0,
            92 => m.qty = o.qty + if lot > 1 { 1 } else { 0 },
            93 => m.price = o.price + if tick > 1 { 1 } else { inst.band_high + tick },
            94 => m.price = inst.band_high + tick,
            95 => m.trigger = o.trigger + tick * 3,
            96 => m.qty = o.qty + lot * self.rng.gen_range(5_000..100_000),
            97 => m.price = if o.order_type.has_limit_price() { 0 } else { tick },
            _ => m.qty = (o.disclosed - lot).max(lot) + filled,
        }
        Command::Modify(m)
    }

    fn gen_cancel(&mut self) -> Command {
        let client_ref = self.next_ref();
        match (self.pick_live(), self.rng.gen_range(0..100)) {
            (Some(o), 0..=84) => Command::Cancel { client_ref, account: o.account, order_id: o.id },
            (Some(o), 85..=89) => {
                Command::Cancel { client_ref, account: self.other_account(o.account), order_id: o.id }
            }
            _ => Command::Cancel { client_ref, account: self.pick_account(), order_id: self.unknown_order_id() },
        }
    }

    fn gen_deposit(&mut self) -> Command {
        let account = self.pick_account();
        let amount = match self.rng.gen_range(0..100) {
            0..=1 => -self.rng.gen_range(0..1_000),
            2 if self.config.risk_enabled => {
                // Overflow: only where the cash is known to be positive, so it is refused.
                match self.accounts.get(&account) {
                    Some(a) if a.cash > 0 => i64::MAX - a.cash + 1,
                    _ => 0,
                }
            }
            _ => self.rng.gen_range(10_000..5_000_000),
        };
        let client_ref = self.funds_client_ref(account);
        Command::Deposit { client_ref, account, amount }
    }

    /// A deposit's or withdrawal's `client_ref`: mostly the next one for the account (sometimes
    /// skipping a few), sometimes 0 (no deduplication), sometimes one already applied.
    fn funds_client_ref(&mut self, account: AccountId) -> u64 {
        let last = self.funds_ref.get(&account).copied().unwrap_or(0);
        match self.rng.gen_range(0..100) {
            0..=19 => 0,
            20..=29 if last > 0 => self.rng.gen_range(1..=last),
            _ => last + self.rng.gen_range(1..4),
        }
    }

    fn gen_withdraw(&mut self) -> Command {
        let account = self.pick_account();
        let cash = self.accounts.get(&account).map(|a| a.cash).unwrap_or(0).max(1_000);
        let amount = match self.rng.gen_range(0..100) {
            0..=1 => -self.rng.gen_range(0..1_000),
            2..=21 => cash + self.rng.gen_range(1..100_000),
            _ => self.rng.gen_range(1..=cash / 3 + 1),
        };
        let client_ref = self.funds_client_ref(account);
        Command::Withdraw { client_ref, account, amount }
    }

    fn gen_deposit_holdings(&mut self) -> Command {
        let account = self.pick_account();
        let token = self.pick_token();
        let lot = self.insts.iter().find(|i| i.spec.token == token).map(|i| i.spec.lot).unwrap_or(1);
        let qty =
            if self.rng.gen_bool(0.03) { -lot * self.rng.gen_range(0..2) } else { lot * self.rng.gen_range(1..200) };
        Command::DepositHoldings { account, token, qty }
    }

    fn gen_withdraw_holdings(&mut self) -> Command {
        let account = self.pick_account();
        let token = self.pick_token();
        let held = self.holdings.get(&(account, token)).copied().unwrap_or(0);
        let qty = match self.rng.gen_range(0..100) {
            0..=2 => -self.rng.gen_range(0..2),
            3..=24 => held + self.rng.gen_range(1..50),
            _ => (held / 4).max(1),
        };
        Command::WithdrawHoldings { account, token, qty }
    }

    fn gen_set_limits(&mut self) -> Command {
        let account = self.pick_account();
        let mut limits = self.random_limits();
        if self.rng.gen_bool(0.1) {
            match self.rng.gen_range(0..2) {
                0 => limits.order_value_max = -1,
                _ => limits.position_max = -self.rng.gen_range(1..100),
            }
        }
        Command::SetAccountLimits { account, limits }
    }

    fn gen_fee_schedule(&mut self) -> Command {
        let mut fee = FeeSchedule {
            bps: self.rng.gen_range(0..=12),
            cap: if self.rng.gen_bool(0.5) { 0 } else { self.rng.gen_range(100..5_000) },
            fee_account: if self.rng.gen_bool(0.8) { FEE_ACCOUNT } else { self.rng.gen_range(1..=TRADERS) },
        };
        match self.rng.gen_range(0..20) {
            0 => fee.bps = 10_001 + self.rng.gen_range(0..100),
            1 => fee.cap = -1,
            2 => fee.fee_account = self.rng.gen_range(TRADERS + 1..ACCOUNTS_MAX + 3),
            _ => {}
        }
        Command::SetFeeSchedule(fee)
    }

    fn gen_create_account(&mut self) -> Command {
        let account = match self.rng.gen_range(0..10) {
            0..=1 => self.rng.gen_range(0..=TRADERS),
            2 => ACCOUNTS_MAX + self.rng.gen_range(0..3),
            _ => self.rng.gen_range(TRADERS + 1..ACCOUNTS_MAX),
        };
        let mut limits = self.random_limits();
        if self.rng.gen_bool(0.1) {
            limits.open_orders_max = 3;
            limits.order_value_max = -self.rng.gen_range(1..1_000);
        }
        Command::CreateAccount { account, limits }
    }

    fn gen_add_instrument(&mut self) -> Command {
        let specs = instrument_specs();
        let mut spec = specs[3];
        match self.rng.gen_range(0..10) {
            0..=2 => {}
            3..=4 => spec = specs[self.rng.gen_range(0..3)],
            5 => spec = wide_spec(),
            6 => {
                spec.token = 106;
                spec.symbol = sym("X106");
                spec.tick = 0;
            }
            7 => {
                spec.token = 107;
                spec.symbol = sym("X107");
                spec.reference_price += 1;
            }
            8 => {
                spec.token = 108;
                spec.symbol = sym("X108");
                spec.lot = 0;
            }
            _ => {
                // A valid instrument: refused once the table is full.
                spec.token = 109;
                spec.symbol = sym("WIPRO");
            }
        }
        // The first proposal of a token wins (a duplicate is refused anyway).
        self.proposed.entry(spec.token).or_insert(spec);
        Command::AddInstrument(spec)
    }
}
