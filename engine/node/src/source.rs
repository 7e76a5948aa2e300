//! Local command sources for the receiver: a file of encoded commands, or a synthetic order
//! flow. (Network gateways publish into the same receiver later.)

use engine_core::{
    AccountLimits, Command, InstrumentSpec, ModifyOrder, NewOrder, OrderType, Product, Side, Symbol, Validity,
};
use engine_proto::{decode_command, encode_command, MessageHeader, COMMAND_LEN_MAX};

#[derive(Debug)]
pub enum Next {
    Command(Command),
    /// Nothing right now; ask again.
    Idle,
    End,
}

pub trait CommandSource: Send {
    fn next(&mut self) -> Next;
}

/// Never produces anything; the node idles until it is stopped.
#[derive(Debug)]
pub struct NoSource;

impl CommandSource for NoSource {
    fn next(&mut self) -> Next {
        Next::Idle
    }
}

/// A file of concatenated engine-proto command messages (each self-delimiting by its header).
#[derive(Debug)]
pub struct FileSource {
    bytes: Vec<u8>,
    at: usize,
    index: u64,
}

impl FileSource {
    /// Opens `path` and skips the first `skip` commands (already journaled).
    pub fn open(path: &std::path::Path, skip: u64) -> Result<FileSource, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut source = FileSource { bytes, at: 0, index: 0 };
        for _ in 0..skip {
            match source.read() {
                Ok(Some(_)) => {}
                Ok(None) => return Err(format!("{}: holds fewer than {skip} commands", path.display())),
                Err(e) => return Err(e),
            }
        }
        Ok(source)
    }

    fn read(&mut self) -> Result<Option<Command>, String> {
        if self.at >= self.bytes.len() {
            return Ok(None);
        }
        let rest = &self.bytes[self.at..];
        let header =
            MessageHeader::decode(rest).map_err(|e| format!("command {} at byte {}: {e}", self.index, self.at))?;
        let len = header.message_len();
        let frame =
            rest.get(..len).ok_or_else(|| format!("command {} at byte {} is cut short", self.index, self.at))?;
        let command = decode_command(frame).map_err(|e| format!("command {} at byte {}: {e}", self.index, self.at))?;
        self.at += len;
        self.index += 1;
        Ok(Some(command))
    }
}

impl CommandSource for FileSource {
    fn next(&mut self) -> Next {
        match self.read() {
            Ok(Some(c)) => Next::Command(c),
            Ok(None) => Next::End,
            Err(e) => {
                tracing::error!("command file: {e}; stopping the source");
                Next::End
            }
        }
    }
}

/// Writes `commands` to `path` as a command file.
pub fn write_command_file(path: &std::path::Path, commands: &[Command]) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(commands.len() * 64);
    let mut buf = [0u8; COMMAND_LEN_MAX];
    for c in commands {
        let n = encode_command(c, &mut buf).map_err(|e| std::io::Error::other(e.to_string()))?;
        bytes.extend_from_slice(&buf[..n]);
    }
    std::fs::write(path, bytes)
}

/// A deterministic synthetic order flow on one instrument: set-up commands first (instrument,
/// funded accounts, session open), then about 1,000 resting orders kept live around a fixed
/// mid: new GTC orders, price moves, cancels and crossing IOC orders. Order ids are predicted
/// (the engine numbers accepted orders 1, 2, 3, ...; every generated order is valid and funded).
#[derive(Debug)]
pub struct Generator {
    setup: Vec<Command>,
    produced: u64,
    count: u64,
    rng: u64,
    accounts: u32,
    mid: i64,
    next_order_id: u64,
    /// Orders believed resting: id, owner, side.
    live: Vec<(u64, u32, Side)>,
}

impl Generator {
    pub const TOKEN: u32 = 408_065;
    const LIVE_TARGET: usize = 1_000;

    /// `count` order-flow commands after the set-up (0 = unbounded), `skip` already journaled.
    pub fn new(seed: u64, count: u64, accounts: u32, skip: u64) -> Generator {
        let mut setup = vec![Command::AddInstrument(InstrumentSpec {
            token: Self::TOKEN,
            symbol: Symbol::new("INFY").unwrap_or_default(),
            tick: 5,
            lot: 1,
            band_bps: 2_000,
            reference_price: 150_000,
            mis_leverage: 5,
        })];
        for account in 0..accounts {
            setup.push(Command::CreateAccount { account, limits: AccountLimits::default() });
            setup.push(Command::ActivateAccount { account });
            setup.push(Command::Deposit { client_ref: 0, account, amount: 1 << 50 });
            setup.push(Command::DepositHoldings { account, token: Self::TOKEN, qty: 1 << 30 });
        }
        setup.push(Command::OpenSession);
        let mut g = Generator {
            setup,
            produced: 0,
            count,
            rng: seed | 1,
            accounts,
            mid: 150_000,
            next_order_id: 1,
            live: Vec::with_capacity(Self::LIVE_TARGET * 2),
        };
        for _ in 0..skip {
            g.step();
        }
        g
    }

    fn rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn place(&mut self, account: u32, side: Side, price: i64, qty: i64, validity: Validity, flow: u64) -> Command {
        let id = self.next_order_id;
        self.next_order_id += 1;
        if validity == Validity::Gtc {
            self.live.push((id, account, side));
        }
        Command::Place(NewOrder {
            client_ref: flow,
            account,
            token: Self::TOKEN,
            side,
            order_type: OrderType::Limit,
            validity,
            product: Product::Cnc,
            price,
            trigger: 0,
            qty,
            disclosed: 0,
            post_only: false,
        })
    }

    fn step(&mut self) -> Option<Command> {
        let i = self.produced as usize;
        if i < self.setup.len() {
            self.produced += 1;
            return Some(self.setup[i]);
        }
        let flow = self.produced - self.setup.len() as u64;
        if self.count > 0 && flow >= self.count {
            return None;
        }
        self.produced += 1;
        let r = self.rand();
        let side = if r & (1 << 20) == 0 { Side::Buy } else { Side::Sell };
        let away = 5 + 5 * ((r >> 8) % 40) as i64;
        let passive = if side == Side::Buy { self.mid - away } else { self.mid + away };
        let qty = 1 + ((r >> 48) % 10) as i64;
        let account = (r % self.accounts as u64) as u32;
        let roll = (r >> 40) % 100;
        if self.live.len() < Self::LIVE_TARGET || roll < 9 {
            return Some(self.place(account, side, passive, qty, Validity::Gtc, flow));
        }
        if roll < 12 {
            // Takes a little at the touch: small, and only as far as the first level.
            let touch = if side == Side::Buy { self.mid + 5 } else { self.mid - 5 };
            return Some(self.place(account, side, touch, 1 + qty % 3, Validity::Ioc, flow));
        }
        let pick = ((r >> 24) as usize) % self.live.len();
        if roll < 18 || self.live.len() > 2 * Self::LIVE_TARGET {
            let (order_id, account, _) = self.live.swap_remove(pick);
            return Some(Command::Cancel { client_ref: flow, account, order_id });
        }
        // A move stays on the order's own side of the mid, so it rests rather than trades.
        let (order_id, account, side) = self.live[pick];
        let price = if side == Side::Buy { self.mid - away } else { self.mid + away };
        Some(Command::Modify(ModifyOrder { client_ref: flow, account, order_id, price, qty: 10, trigger: 0 }))
    }
}

impl CommandSource for Generator {
    fn next(&mut self) -> Next {
        match self.step() {
            Some(c) => Next::Command(c),
            None => Next::End,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_core::{Engine, Event, Limits};

    #[test]
    fn the_generated_flow_is_mostly_accepted_and_keeps_a_bounded_book() {
        let mut generator = Generator::new(3, 50_000, 100, 0);
        let mut engine: Engine = Engine::new(Limits { accounts_max: 1_024, ..Limits::small() });
        let (mut seq, mut rejects, mut trades) = (0u64, 0u64, 0u64);
        let mut reasons = std::collections::BTreeMap::new();
        let mut events = Vec::new();
        while let Next::Command(command) = generator.next() {
            seq += 1;
            events.clear();
            engine.apply(seq, seq, &command, &mut events);
            for e in &events {
                if let Event::Rejected { reason, .. } = e {
                    rejects += 1;
                    *reasons.entry(format!("{reason:?}")).or_insert(0u64) += 1;
                }
            }
            trades += events.iter().filter(|e| matches!(e, Event::Trade(_))).count() as u64;
        }
        assert!(rejects * 10 < seq, "{rejects} of {seq} commands rejected: {reasons:?}");
        assert!(trades > 1_000, "{trades} trades");
        let open = engine.open_orders().count();
        assert!((500..=3_000).contains(&open), "{open} resting orders");
    }
}
