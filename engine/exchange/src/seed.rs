//! The demo seed: instruments, a fee schedule, users with known credentials, their cash and
//! holdings, and resting orders, read from a TOML file (`scripts/demo-seed.toml`) and applied to
//! the running exchange by [`apply`]. For demo and test environments only: the file holds
//! passwords and secrets in the clear.
//!
//! [`Seed::load`] refuses anything the engine or the users service would refuse later, naming
//! the entry (`instruments[2] (RELIANCE): reference_price "2900.03" is not on the tick grid of
//! 0.05`), so that a bad file stops the exchange before it changes anything. Rupee amounts are
//! strings read into integer paise by `gateway::money::parse_rupees`; no float is involved.

mod apply;
mod run;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use ::gateway::kite::{instrument_token, Exchange};
use ::gateway::money::{parse_rupees, rupees_string};
use anyhow::{bail, ensure, Context};
use engine_core::{FeeSchedule, InstrumentSpec, Price, Qty, Side, Symbol, Token};
use serde::Deserialize;
use services_users::{normalize_user_id, Role, SeedUser};

pub use run::run;

/// Most entries of each kind a seed may hold: it describes a demo, not a market.
const INSTRUMENTS_MAX: usize = 256;
const USERS_MAX: usize = 256;
const ORDERS_MAX: usize = 4_096;
/// `client_ref` of the i-th resting order (from 0) is `ORDER_REF_BASE + i`: a restart after a
/// crash in the middle of the first seeding finds the ones the engine already accepted.
pub const ORDER_REF_BASE: u64 = 0x5EED_0000_0000;

// ------------------------------------------------------------------------------- the file

/// No `Debug` on the raw entries: they hold the secrets (see [`User`]'s).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    fees: FeesEntry,
    instruments: Vec<InstrumentEntry>,
    #[serde(default)]
    users: Vec<UserEntry>,
    #[serde(default)]
    quotes: Vec<QuotesEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeesEntry {
    bps: u32,
    cap: String,
    fee_account: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstrumentEntry {
    tradingsymbol: String,
    name: String,
    exchange: String,
    exchange_token: u32,
    tick: String,
    lot: i64,
    band_pct: u32,
    reference_price: String,
    mis_leverage: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    user_id: String,
    name: String,
    email: String,
    phone: String,
    password: String,
    totp_secret: String,
    api_key: String,
    api_secret: String,
    roles: Vec<Role>,
    kyc_verified: bool,
    #[serde(default)]
    cash: Option<String>,
    #[serde(default)]
    holdings: Vec<HoldingEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldingEntry {
    symbol: String,
    quantity: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotesEntry {
    user_id: String,
    symbol: String,
    #[serde(default)]
    bids: Vec<LevelEntry>,
    #[serde(default)]
    asks: Vec<LevelEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelEntry {
    price: String,
    quantity: i64,
}

// ------------------------------------------------------------------------------- the seed

/// A seed file, checked and in engine units.
#[derive(Debug)]
pub struct Seed {
    pub path: PathBuf,
    pub fees: FeeSchedule,
    pub instruments: Vec<Instrument>,
    pub users: Vec<User>,
    /// Resting orders, CNC LIMIT DAY, in file order.
    pub orders: Vec<Order>,
}

#[derive(Debug, Clone)]
pub struct Instrument {
    pub tradingsymbol: String,
    /// Company name (the instruments list shows it).
    pub name: String,
    pub exchange: Exchange,
    /// `token` is Kite's instrument token: `exchange_token << 8 | segment`.
    pub spec: InstrumentSpec,
    pub band_low: Price,
    pub band_high: Price,
}

#[derive(Clone)]
pub struct User {
    /// Normalized ("AB1234").
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub password: String,
    pub totp_secret: String,
    pub api_key: String,
    pub api_secret: String,
    pub roles: Vec<Role>,
    pub kyc_verified: bool,
    /// Paise deposited on the first start (0: none).
    pub cash: i64,
    pub holdings: Vec<Holding>,
}

impl User {
    pub fn as_seed_user(&self) -> SeedUser<'_> {
        SeedUser {
            user_id: &self.user_id,
            name: &self.name,
            email: &self.email,
            phone: &self.phone,
            password: &self.password,
            totp_secret: &self.totp_secret,
            api_key: &self.api_key,
            api_secret: &self.api_secret,
            roles: &self.roles,
            kyc_verified: self.kyc_verified,
        }
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("seed", &self.as_seed_user())
            .field("cash", &self.cash)
            .field("holdings", &self.holdings)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub symbol: String,
    pub token: Token,
    pub qty: Qty,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub user_id: String,
    pub symbol: String,
    pub token: Token,
    pub side: Side,
    pub price: Price,
    pub qty: Qty,
    pub client_ref: u64,
}

impl Order {
    /// "MM0001 BUY 100 INFY @ 1519.50", for messages.
    pub fn describe(&self) -> String {
        let side = if self.side == Side::Buy { "BUY" } else { "SELL" };
        format!("{} {side} {} {} @ {}", self.user_id, self.qty, self.symbol, rupees_string(self.price))
    }
}

fn rupees(field: &str, text: &str) -> anyhow::Result<i64> {
    parse_rupees(text).map_err(|e| anyhow::anyhow!("{field} {text:?}: {e}"))
}

fn valid_symbol(text: &str) -> bool {
    (1..=Symbol::LEN_MAX).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || matches!(b, b'&' | b'-' | b'_'))
}

impl Seed {
    /// Reads and checks a seed file.
    pub fn load(path: &Path) -> anyhow::Result<Seed> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading the seed file {}", path.display()))?;
        let mut seed = Seed::parse(&text).with_context(|| format!("seed file {}", path.display()))?;
        seed.path = path.to_path_buf();
        Ok(seed)
    }

    /// Checks a seed given as TOML text.
    pub fn parse(text: &str) -> anyhow::Result<Seed> {
        let file: SeedFile = toml::from_str(text)?;
        ensure!(!file.instruments.is_empty(), "no [[instruments]]");
        ensure!(file.instruments.len() <= INSTRUMENTS_MAX, "more than {INSTRUMENTS_MAX} instruments");
        ensure!(file.users.len() <= USERS_MAX, "more than {USERS_MAX} users");
        let fees = FeeSchedule {
            bps: file.fees.bps,
            cap: rupees("[fees] cap", &file.fees.cap)?,
            fee_account: file.fees.fee_account,
        };
        ensure!(fees.bps <= 10_000, "[fees] bps {} is above 10000 (100 %)", fees.bps);
        let instruments = file
            .instruments
            .iter()
            .enumerate()
            .map(|(i, e)| instrument(e).with_context(|| format!("instruments[{i}] ({})", e.tradingsymbol)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut seen = BTreeMap::new();
        for (i, ins) in instruments.iter().enumerate() {
            for key in [format!("tradingsymbol {}", ins.tradingsymbol), format!("token {}", ins.spec.token)] {
                if let Some(first) = seen.insert(key.clone(), i) {
                    bail!("instruments[{i}] ({}): {key} is also instruments[{first}]'s", ins.tradingsymbol);
                }
            }
        }
        let by_symbol: BTreeMap<&str, &Instrument> =
            instruments.iter().map(|i| (i.tradingsymbol.as_str(), i)).collect();
        let users = file
            .users
            .iter()
            .enumerate()
            .map(|(i, e)| user(e, &by_symbol).with_context(|| format!("users[{i}] ({})", e.user_id)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut seen = BTreeMap::new();
        for (i, u) in users.iter().enumerate() {
            let keys = [
                format!("user_id {}", u.user_id),
                format!("email {}", u.email.trim().to_ascii_lowercase()),
                format!("api_key {}", u.api_key),
            ];
            for key in keys {
                if let Some(first) = seen.insert(key.clone(), i) {
                    bail!("users[{i}] ({}): {key} is also users[{first}]'s", u.user_id);
                }
            }
        }
        let orders = orders(&file.quotes, &by_symbol, &users, fees.bps)?;
        Ok(Seed { path: PathBuf::new(), fees, instruments, users, orders })
    }
}

fn instrument(e: &InstrumentEntry) -> anyhow::Result<Instrument> {
    ensure!(
        valid_symbol(&e.tradingsymbol),
        "tradingsymbol {:?}: 1 to {} characters of A-Z, 0-9, &, - and _",
        e.tradingsymbol,
        Symbol::LEN_MAX
    );
    let symbol = Symbol::new(&e.tradingsymbol).context("tradingsymbol")?;
    let name = e.name.trim();
    ensure!(!name.is_empty() && name.len() <= 100 && !name.chars().any(char::is_control), "name: 1 to 100 characters");
    let exchange = match Exchange::parse(&e.exchange) {
        Some(x @ (Exchange::Nse | Exchange::Bse)) => x,
        _ => bail!("exchange {:?}: only the equity segments NSE and BSE are supported", e.exchange),
    };
    let token = instrument_token(exchange, e.exchange_token)
        .filter(|_| e.exchange_token > 0)
        .with_context(|| format!("exchange_token {}: 1 to {}", e.exchange_token, (1u32 << 24) - 1))?;
    let tick = rupees("tick", &e.tick)?;
    ensure!(tick > 0, "tick {:?} must be more than zero", e.tick);
    ensure!(e.lot >= 1, "lot {} must be 1 or more", e.lot);
    ensure!((1..=99).contains(&e.band_pct), "band_pct {}: 1 to 99", e.band_pct);
    let reference = rupees("reference_price", &e.reference_price)?;
    ensure!(reference > 0, "reference_price must be more than zero");
    ensure!(
        reference % tick == 0,
        "reference_price {:?} is not on the tick grid of {}",
        e.reference_price,
        rupees_string(tick)
    );
    ensure!(e.mis_leverage >= 1, "mis_leverage {} must be 1 or more", e.mis_leverage);
    let band_bps = e.band_pct * 100;
    // As the engine computes it (docs/engine-semantics.md, "Instrument").
    let offset = (i128::from(reference) * i128::from(band_bps) / 10_000) as i64;
    let band_low = ((reference - offset + tick - 1) / tick * tick).max(tick);
    let band_high = (reference + offset) / tick * tick;
    let spec = InstrumentSpec {
        token,
        symbol,
        tick,
        lot: e.lot,
        band_bps,
        reference_price: reference,
        mis_leverage: e.mis_leverage,
    };
    Ok(Instrument {
        tradingsymbol: e.tradingsymbol.clone(),
        name: name.to_string(),
        exchange,
        spec,
        band_low,
        band_high,
    })
}

fn user(e: &UserEntry, instruments: &BTreeMap<&str, &Instrument>) -> anyhow::Result<User> {
    let user_id = normalize_user_id(&e.user_id)
        .with_context(|| format!("user_id {:?}: two letters and four digits", e.user_id))?;
    let cash = match &e.cash {
        Some(text) => rupees("cash", text)?,
        None => 0,
    };
    let mut holdings = Vec::new();
    for h in &e.holdings {
        let ins =
            instruments.get(h.symbol.as_str()).with_context(|| format!("holdings: unknown symbol {:?}", h.symbol))?;
        ensure!(
            h.quantity > 0 && h.quantity % ins.spec.lot == 0,
            "holdings of {}: quantity {} must be a positive multiple of the lot ({})",
            h.symbol,
            h.quantity,
            ins.spec.lot
        );
        ensure!(!holdings.iter().any(|x: &Holding| x.symbol == h.symbol), "holdings: {} is listed twice", h.symbol);
        holdings.push(Holding { symbol: h.symbol.clone(), token: ins.spec.token, qty: h.quantity });
    }
    let user = User {
        user_id,
        name: e.name.clone(),
        email: e.email.clone(),
        phone: e.phone.clone(),
        password: e.password.clone(),
        totp_secret: e.totp_secret.clone(),
        api_key: e.api_key.clone(),
        api_secret: e.api_secret.clone(),
        roles: e.roles.clone(),
        kyc_verified: e.kyc_verified,
        cash,
        holdings,
    };
    user.as_seed_user().validate()?;
    Ok(user)
}

/// The resting orders of `[[quotes]]`, checked against the instruments (grid, band, lot),
/// against each other (no bid at or above an ask in the same instrument: the seed's orders must
/// not trade with each other), and against their users (KYC verified, buys covered by cash with
/// brokerage, sells by holdings).
fn orders(
    quotes: &[QuotesEntry],
    instruments: &BTreeMap<&str, &Instrument>,
    users: &[User],
    bps: u32,
) -> anyhow::Result<Vec<Order>> {
    let mut orders = Vec::new();
    for (i, q) in quotes.iter().enumerate() {
        let at = || format!("quotes[{i}] ({} {})", q.user_id, q.symbol);
        let user_id = normalize_user_id(&q.user_id).unwrap_or_default();
        let user = users.iter().find(|u| u.user_id == user_id).with_context(|| format!("{}: unknown user", at()))?;
        ensure!(user.kyc_verified, "{}: the user's KYC is not verified, so the account cannot trade", at());
        let ins = instruments.get(q.symbol.as_str()).with_context(|| format!("{}: unknown symbol", at()))?;
        ensure!(!q.bids.is_empty() || !q.asks.is_empty(), "{}: no bids and no asks", at());
        for (side, levels) in [(Side::Buy, &q.bids), (Side::Sell, &q.asks)] {
            for level in levels {
                let price = rupees("price", &level.price).with_context(at)?;
                ensure!(
                    price > 0 && price % ins.spec.tick == 0,
                    "{}: price {:?} is not on the tick grid of {}",
                    at(),
                    level.price,
                    rupees_string(ins.spec.tick)
                );
                ensure!(
                    (ins.band_low..=ins.band_high).contains(&price),
                    "{}: price {:?} is outside the circuit band {} to {}",
                    at(),
                    level.price,
                    rupees_string(ins.band_low),
                    rupees_string(ins.band_high)
                );
                ensure!(
                    level.quantity > 0 && level.quantity % ins.spec.lot == 0,
                    "{}: quantity {} must be a positive multiple of the lot ({})",
                    at(),
                    level.quantity,
                    ins.spec.lot
                );
                ensure!(orders.len() < ORDERS_MAX, "more than {ORDERS_MAX} resting orders");
                orders.push(Order {
                    user_id: user.user_id.clone(),
                    symbol: q.symbol.clone(),
                    token: ins.spec.token,
                    side,
                    price,
                    qty: level.quantity,
                    client_ref: ORDER_REF_BASE + orders.len() as u64,
                });
            }
        }
    }
    for ins in instruments.values() {
        let of = |side| orders.iter().filter(move |o: &&Order| o.token == ins.spec.token && o.side == side);
        if let (Some(bid), Some(ask)) = (of(Side::Buy).max_by_key(|o| o.price), of(Side::Sell).min_by_key(|o| o.price))
        {
            ensure!(
                bid.price < ask.price,
                "quotes for {}: the bid at {} is at or above the ask at {}; the seed's orders must not trade",
                ins.tradingsymbol,
                rupees_string(bid.price),
                rupees_string(ask.price)
            );
        }
    }
    for user in users {
        let mine = || orders.iter().filter(|o| o.user_id == user.user_id);
        // What the engine reserves for a CNC buy: price plus brokerage per share, uncapped.
        let buys: i128 = mine()
            .filter(|o| o.side == Side::Buy)
            .map(|o| {
                i128::from(o.qty) * (i128::from(o.price) + (i128::from(o.price) * i128::from(bps) + 9_999) / 10_000)
            })
            .sum();
        ensure!(
            buys <= i128::from(user.cash),
            "quotes of {}: the bids block {} rupees with brokerage, more than the user's cash of {}",
            user.user_id,
            rupees_string(i64::try_from(buys).unwrap_or(i64::MAX)),
            rupees_string(user.cash)
        );
        let symbols: BTreeSet<&str> = mine().map(|o| o.symbol.as_str()).collect();
        for symbol in symbols {
            let sells: Qty = mine().filter(|o| o.side == Side::Sell && o.symbol == symbol).map(|o| o.qty).sum();
            let held = user.holdings.iter().find(|h| h.symbol == symbol).map_or(0, |h| h.qty);
            ensure!(
                sells <= held,
                "quotes of {}: the asks in {symbol} sell {sells} shares, more than the {held} held",
                user.user_id
            );
        }
    }
    Ok(orders)
}

#[cfg(test)]
mod tests;
