//! Canonical serialization of the whole state. The same bytes feed `snapshot()` and, through a
//! hasher, `state_hash()`. Books are written by walking them in priority order through the
//! `Book` trait, so two book implementations holding the same queues serialize identically.

use super::state::{Account, Instrument, Order, Place, Position};
use super::Engine;
use crate::book::{Book, Link};
use crate::command::{AccountLimits, FeeSchedule};
use crate::idmap::IdMap;
use crate::limits::Limits;
use crate::types::{AccountStatus, InstrumentStatus, OrderType, Product, Side, Symbol, Validity};

const MAGIC: [u8; 8] = *b"EXSNAP\0\x01";
/// 2: accounts carry the last funds `client_ref` (`funds_ref`).
const VERSION: u16 = 2;
const END: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    Truncated,
    BadMagic,
    UnsupportedVersion(u16),
    /// The snapshot was taken with other limits; restore needs the same ones.
    LimitsMismatch,
    Corrupt(&'static str),
}

impl core::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SnapshotError::Truncated => write!(f, "snapshot is truncated"),
            SnapshotError::BadMagic => write!(f, "not an engine snapshot"),
            SnapshotError::UnsupportedVersion(v) => write!(f, "unsupported snapshot version {v}"),
            SnapshotError::LimitsMismatch => write!(f, "snapshot limits differ from the engine's"),
            SnapshotError::Corrupt(what) => write!(f, "corrupt snapshot: {what}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

trait Out {
    fn put(&mut self, bytes: &[u8]);
    fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.put(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.put(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.put(&v.to_le_bytes());
    }
}

impl Out for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// FNV-1a, 64 bit.
struct Fnv(u64);

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

impl Out for Fnv {
    fn put(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

impl<B: Book> Engine<B> {
    /// Appends the canonical serialization of the state to `out`, followed by an 8-byte
    /// FNV-1a digest of it, so that `restore` refuses any damaged byte.
    pub fn snapshot(&self, out: &mut Vec<u8>) {
        let start = out.len();
        self.write(out);
        let mut h = Fnv(FNV_OFFSET);
        h.put(&out[start..]);
        out.extend_from_slice(&h.0.to_le_bytes());
    }

    /// A 64-bit digest of the canonical state. Equal states, equal hashes, on any machine.
    pub fn state_hash(&self) -> u64 {
        let mut h = Fnv(FNV_OFFSET);
        self.write(&mut h);
        h.0
    }

    fn write(&self, w: &mut impl Out) {
        w.put(&MAGIC);
        w.u16(VERSION);
        let l = &self.limits;
        for v in [l.instruments_max, l.accounts_max, l.orders_max, l.positions_max, l.levels_per_book_max] {
            w.u32(v);
        }
        w.u8(l.risk_enabled as u8);
        w.u8(self.session_open as u8);
        w.u32(self.fees.bps);
        w.i64(self.fees.cap);
        w.u32(self.fees.fee_account);
        for v in [self.next_order_id, self.next_trade_id, self.last_seq] {
            w.u64(v);
        }
        w.u32(self.instruments.len() as u32);
        for ins in &self.instruments {
            w.u32(ins.token);
            w.put(&ins.symbol.0);
            w.i64(ins.tick);
            w.i64(ins.lot);
            w.u32(ins.band_bps);
            w.i64(ins.band_low);
            w.i64(ins.band_high);
            w.i64(ins.reference);
            w.u32(ins.mis_leverage);
            w.u8(ins.status as u8);
            w.i64(ins.last_price);
            for book in [&ins.book, &ins.stops] {
                for side in [Side::Buy, Side::Sell] {
                    let mut level = book.best(side);
                    while let Some(lv) = level {
                        w.u32(lv);
                        w.u32(book.level(side, lv).orders);
                        book.visit_level(&self.links, side, lv, |slot| {
                            w.u32(slot);
                            true
                        });
                        level = book.next_level(side, lv);
                    }
                    w.u32(END);
                }
            }
        }
        w.u32(self.accounts.iter().filter(|a| a.created).count() as u32);
        for (id, a) in self.accounts.iter().enumerate().filter(|(_, a)| a.created) {
            w.u32(id as u32);
            w.u8(a.status as u8);
            write_limits(w, &a.limits);
            for v in [a.cash, a.reserved, a.margin] {
                w.i64(v);
            }
            w.u32(a.open_orders);
            w.u64(a.funds_ref);
        }
        w.u32(self.positions.iter().filter(|p| p.live).count() as u32);
        for (slot, p) in self.positions.iter().enumerate().filter(|(_, p)| p.live) {
            w.u32(slot as u32);
            w.u32(p.account);
            w.u32(p.instrument);
            for v in [p.holdings, p.holdings_reserved, p.mis_qty, p.mis_value, p.mis_margin, p.open_buy, p.open_sell] {
                w.i64(v);
            }
        }
        write_slots(w, &self.position_free);
        w.u32(self.orders.iter().filter(|o| o.place != Place::Free).count() as u32);
        for (slot, o) in self.orders.iter().enumerate().filter(|(_, o)| o.place != Place::Free) {
            w.u32(slot as u32);
            w.u64(o.id);
            w.u64(o.client_ref);
            w.u32(o.account);
            w.u32(o.instrument);
            w.u32(o.position);
            for v in [o.side as u8, o.order_type as u8, o.validity as u8, o.product as u8] {
                w.u8(v);
            }
            w.u8(o.post_only as u8);
            w.u8(o.triggered as u8);
            w.u8(o.place as u8);
            for v in [o.price, o.trigger, o.qty, o.filled, o.visible, o.disclosed, o.reserve_per_share] {
                w.i64(v);
            }
        }
        write_slots(w, &self.order_free);
    }

    /// Rebuilds an engine from `snapshot()` bytes. Any damage is an error, never a panic.
    pub fn restore(limits: Limits, bytes: &[u8]) -> Result<Self, SnapshotError> {
        let Some(body_len) = bytes.len().checked_sub(8) else { return Err(SnapshotError::Truncated) };
        let (bytes, digest) = bytes.split_at(body_len);
        let mut h = Fnv(FNV_OFFSET);
        h.put(bytes);
        if digest != h.0.to_le_bytes() {
            return Err(if bytes.len() < 8 || bytes[..8] != MAGIC {
                SnapshotError::BadMagic
            } else {
                SnapshotError::Corrupt("digest mismatch")
            });
        }
        let mut r = Reader { bytes, at: 0 };
        if r.take(8)? != MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let version = r.u16()?;
        if version != VERSION {
            return Err(SnapshotError::UnsupportedVersion(version));
        }
        let stored = Limits {
            instruments_max: r.u32()?,
            accounts_max: r.u32()?,
            orders_max: r.u32()?,
            positions_max: r.u32()?,
            levels_per_book_max: r.u32()?,
            risk_enabled: r.bool()?,
        };
        if stored != limits {
            return Err(SnapshotError::LimitsMismatch);
        }
        let mut e = Engine::<B>::new(limits);
        e.session_open = r.bool()?;
        e.fees = FeeSchedule { bps: r.u32()?, cap: r.i64()?, fee_account: r.u32()? };
        e.next_order_id = r.u64()?;
        e.next_trade_id = r.u64()?;
        e.last_seq = r.u64()?;

        // Instruments come before the orders their books hold: keep the queues and fill them
        // once the orders are read.
        let instrument_count = r.u32()?;
        if instrument_count > limits.instruments_max {
            return Err(SnapshotError::Corrupt("instrument count"));
        }
        let mut queues: Vec<(u32, usize, Side, u32, Vec<u32>)> = Vec::new();
        for index in 0..instrument_count {
            let token = r.u32()?;
            let mut symbol = [0u8; 16];
            symbol.copy_from_slice(r.take(16)?);
            let (tick, lot, band_bps) = (r.i64()?, r.i64()?, r.u32()?);
            let (band_low, band_high, reference) = (r.i64()?, r.i64()?, r.i64()?);
            let mis_leverage = r.u32()?;
            let status = InstrumentStatus::from_u8(r.u8()?).ok_or(SnapshotError::Corrupt("instrument status"))?;
            let last_price = r.i64()?;
            let sane = tick > 0
                && lot > 0
                && band_low > 0
                && band_low <= band_high
                && (band_high - band_low) % tick == 0
                && (band_high - band_low) / tick < limits.levels_per_book_max as i64
                && band_low <= last_price
                && last_price <= band_high
                && (last_price - band_low) % tick == 0
                && Symbol(symbol).is_valid()
                && e.tokens.get(token as u64).is_none();
            if !sane {
                return Err(SnapshotError::Corrupt("instrument"));
            }
            let levels = ((band_high - band_low) / tick + 1) as u32;
            for book in 0..2usize {
                for side in [Side::Buy, Side::Sell] {
                    loop {
                        let level = r.u32()?;
                        if level == END {
                            break;
                        }
                        if level >= levels {
                            return Err(SnapshotError::Corrupt("level out of range"));
                        }
                        let count = r.u32()?;
                        if count == 0 || count > limits.orders_max {
                            return Err(SnapshotError::Corrupt("level order count"));
                        }
                        let mut slots = Vec::with_capacity(count as usize);
                        for _ in 0..count {
                            slots.push(r.u32()?);
                        }
                        queues.push((index, book, side, level, slots));
                    }
                }
            }
            e.instruments.push(Instrument {
                token,
                symbol: Symbol(symbol),
                tick,
                lot,
                band_bps,
                band_low,
                band_high,
                reference,
                mis_leverage,
                status,
                last_price,
                book: B::with_levels(levels),
                stops: B::with_levels(levels),
            });
            e.tokens.insert(token as u64, index);
        }

        for _ in 0..r.u32()? {
            let id = r.u32()?;
            let status = AccountStatus::from_u8(r.u8()?).ok_or(SnapshotError::Corrupt("account status"))?;
            let limits = read_limits(&mut r)?;
            let (cash, reserved, margin) = (r.i64()?, r.i64()?, r.i64()?);
            let open_orders = r.u32()?;
            let funds_ref = r.u64()?;
            let slot = e.accounts.get_mut(id as usize).ok_or(SnapshotError::Corrupt("account id"))?;
            if slot.created {
                return Err(SnapshotError::Corrupt("duplicate account"));
            }
            *slot = Account {
                created: true,
                status,
                limits,
                cash,
                reserved,
                margin,
                open_orders,
                funds_ref,
                ..Account::NONE
            };
        }

        let position_count = r.u32()?;
        let mut position_seen = vec![false; limits.positions_max as usize];
        for _ in 0..position_count {
            let slot = r.u32()?;
            let (account, instrument) = (r.u32()?, r.u32()?);
            let mut v = [0i64; 7];
            for x in &mut v {
                *x = r.i64()?;
            }
            if slot >= limits.positions_max
                || position_seen[slot as usize]
                || instrument >= instrument_count
                || !e.accounts.get(account as usize).is_some_and(|a| a.created)
                || e.position_index.get(Position::key(account, instrument)).is_some()
            {
                return Err(SnapshotError::Corrupt("position"));
            }
            position_seen[slot as usize] = true;
            e.positions[slot as usize] = Position {
                live: true,
                account,
                instrument,
                holdings: v[0],
                holdings_reserved: v[1],
                mis_qty: v[2],
                mis_value: v[3],
                mis_margin: v[4],
                open_buy: v[5],
                open_sell: v[6],
            };
            e.position_index.insert(Position::key(account, instrument), slot);
        }
        e.position_free = read_free(&mut r, &mut position_seen)?;

        let order_count = r.u32()?;
        let mut order_seen = vec![false; limits.orders_max as usize];
        for _ in 0..order_count {
            let slot = r.u32()?;
            let (id, client_ref) = (r.u64()?, r.u64()?);
            let (account, instrument, position) = (r.u32()?, r.u32()?, r.u32()?);
            let side = Side::from_u8(r.u8()?).ok_or(SnapshotError::Corrupt("side"))?;
            let order_type = OrderType::from_u8(r.u8()?).ok_or(SnapshotError::Corrupt("order type"))?;
            let validity = Validity::from_u8(r.u8()?).ok_or(SnapshotError::Corrupt("validity"))?;
            let product = Product::from_u8(r.u8()?).ok_or(SnapshotError::Corrupt("product"))?;
            let (post_only, triggered) = (r.bool()?, r.bool()?);
            let place = Place::from_u8(r.u8()?).ok_or(SnapshotError::Corrupt("order place"))?;
            let mut v = [0i64; 7];
            for x in &mut v {
                *x = r.i64()?;
            }
            let position_ok = if limits.risk_enabled {
                (position as usize) < position_seen.len() && e.positions[position as usize].live
            } else {
                position == u32::MAX
            };
            let ins = e.instruments.get(instrument as usize);
            let level_ok = ins.is_some_and(|ins| {
                let key = if place == Place::Stop { v[1] } else { v[0] };
                ins.in_band(key) && ins.on_grid(key - ins.band_low)
            });
            if slot >= limits.orders_max
                || order_seen[slot as usize]
                || !matches!(place, Place::Book | Place::Stop)
                || id == 0
                || id >= e.next_order_id
                || !level_ok
                || !position_ok
                || !e.accounts.get(account as usize).is_some_and(|a| a.created)
                || e.order_index.get(id).is_some()
                || v[2] <= 0
                || v[3] < 0
                || v[3] >= v[2]
                || v[4] < 0
                || v[4] > v[2] - v[3]
            {
                return Err(SnapshotError::Corrupt("order"));
            }
            order_seen[slot as usize] = true;
            e.orders[slot as usize] = Order {
                id,
                client_ref,
                account,
                instrument,
                position,
                side,
                order_type,
                validity,
                product,
                post_only,
                triggered,
                place,
                price: v[0],
                trigger: v[1],
                qty: v[2],
                filled: v[3],
                visible: v[4],
                disclosed: v[5],
                reserve_per_share: v[6],
            };
            e.order_index.insert(id, slot);
        }

        let mut queued = vec![false; limits.orders_max as usize];
        for (index, book, side, level, slots) in queues {
            for slot in slots {
                let Some(o) = e.orders.get(slot as usize).copied() else {
                    return Err(SnapshotError::Corrupt("queued slot"));
                };
                let ins = &mut e.instruments[index as usize];
                let expected_place = if book == 0 { Place::Book } else { Place::Stop };
                let expected_side = if book == 0 { o.side } else { o.side.opposite() };
                let key = if book == 0 { o.price } else { o.trigger };
                if queued[slot as usize]
                    || o.place != expected_place
                    || o.instrument != index
                    || expected_side != side
                    || ins.level_of(key) != level
                {
                    return Err(SnapshotError::Corrupt("queue entry"));
                }
                queued[slot as usize] = true;
                if book == 0 {
                    ins.book.push_back(&mut e.links, side, level, slot, o.visible);
                } else {
                    ins.stops.push_back(&mut e.links, side, level, slot, o.remaining());
                }
            }
        }
        if queued != order_seen {
            return Err(SnapshotError::Corrupt("order missing from its book"));
        }
        e.order_free = read_free(&mut r, &mut order_seen)?;
        if r.at != bytes.len() {
            return Err(SnapshotError::Corrupt("trailing bytes"));
        }
        debug_assert!(e.links.iter().all(|l| *l == Link::DETACHED || l.prev != l.next || l.prev == Link::NONE));
        let _ = IdMap::with_capacity; // keep the import honest across cfgs
        Ok(e)
    }
}

fn write_limits(w: &mut impl Out, l: &AccountLimits) {
    w.i64(l.order_value_max);
    w.u32(l.open_orders_max);
    w.i64(l.position_max);
    w.u32(l.mis_leverage);
}

fn read_limits(r: &mut Reader<'_>) -> Result<AccountLimits, SnapshotError> {
    Ok(AccountLimits {
        order_value_max: r.i64()?,
        open_orders_max: r.u32()?,
        position_max: r.i64()?,
        mis_leverage: r.u32()?,
    })
}

fn write_slots(w: &mut impl Out, slots: &[u32]) {
    w.u32(slots.len() as u32);
    for &s in slots {
        w.u32(s);
    }
}

/// Reads a free list and checks that it holds exactly the slots not in use.
fn read_free(r: &mut Reader<'_>, used: &mut [bool]) -> Result<Vec<u32>, SnapshotError> {
    let len = r.u32()? as usize;
    if len > used.len() {
        return Err(SnapshotError::Corrupt("free list length"));
    }
    let mut free = Vec::with_capacity(used.len());
    let mut seen = vec![false; used.len()];
    for _ in 0..len {
        let slot = r.u32()?;
        let i = slot as usize;
        if i >= used.len() || used[i] || seen[i] {
            return Err(SnapshotError::Corrupt("free list entry"));
        }
        seen[i] = true;
        free.push(slot);
    }
    if used.iter().zip(&seen).any(|(u, s)| !u && !s) {
        return Err(SnapshotError::Corrupt("slot neither used nor free"));
    }
    Ok(free)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        let end = self.at.checked_add(n).ok_or(SnapshotError::Truncated)?;
        let s = self.bytes.get(self.at..end).ok_or(SnapshotError::Truncated)?;
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take(1)?[0])
    }
    fn bool(&mut self) -> Result<bool, SnapshotError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(SnapshotError::Corrupt("bool")),
        }
    }
    fn u16(&mut self) -> Result<u16, SnapshotError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().map_err(|_| SnapshotError::Truncated)?))
    }
    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| SnapshotError::Truncated)?))
    }
    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| SnapshotError::Truncated)?))
    }
    fn i64(&mut self) -> Result<i64, SnapshotError> {
        Ok(self.u64()? as i64)
    }
}
