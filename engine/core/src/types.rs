//! Plain value types shared by commands, events and the state machine.
//!
//! Money is `i64` paise, quantities are `i64` shares. Nothing here is a float.

/// Price in paise (1 rupee = 100 paise).
pub type Price = i64;
/// Quantity in shares.
pub type Qty = i64;
/// Engine-assigned order id, strictly increasing from 1.
pub type OrderId = u64;
/// Account id: a dense index below `Limits::accounts_max`.
pub type AccountId = u32;
/// Instrument token (Kite-style numeric id).
pub type Token = u32;

/// Fixed-width, NUL-padded ASCII symbol ("INFY", "RELIANCE").
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Symbol(pub [u8; 16]);

impl Symbol {
    pub const LEN_MAX: usize = 16;

    /// Builds a symbol; `None` when empty, too long, or not printable ASCII.
    pub fn new(text: &str) -> Option<Symbol> {
        let bytes = text.as_bytes();
        if bytes.is_empty() || bytes.len() > Self::LEN_MAX {
            return None;
        }
        if !bytes.iter().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        let mut raw = [0u8; 16];
        raw[..bytes.len()].copy_from_slice(bytes);
        Some(Symbol(raw))
    }

    pub fn as_str(&self) -> &str {
        let len = self.0.iter().position(|&b| b == 0).unwrap_or(Self::LEN_MAX);
        core::str::from_utf8(&self.0[..len]).unwrap_or("")
    }

    /// A symbol is valid when it is non-empty printable ASCII followed only by NULs.
    pub fn is_valid(&self) -> bool {
        let len = self.0.iter().position(|&b| b == 0).unwrap_or(Self::LEN_MAX);
        len > 0 && self.0[..len].iter().all(|b| b.is_ascii_graphic()) && self.0[len..].iter().all(|&b| b == 0)
    }
}

impl core::fmt::Debug for Symbol {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:expr),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u8)]
        pub enum $name { $($(#[$vmeta])* $variant = $value),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Decodes the wire byte; `None` for an unknown value.
            pub fn from_u8(value: u8) -> Option<$name> {
                match value { $($value => Some($name::$variant),)+ _ => None }
            }

            pub fn as_u8(self) -> u8 { self as u8 }
        }
    };
}
pub(crate) use wire_enum;

wire_enum!(Side { Buy = 0, Sell = 1 });

impl Side {
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

wire_enum!(
    /// LIMIT, MARKET, SL (stop-limit) and SL-M (stop-market), as Kite names them.
    OrderType { Limit = 0, Market = 1, StopLimit = 2, StopMarket = 3 }
);

impl OrderType {
    pub fn is_stop(self) -> bool {
        matches!(self, OrderType::StopLimit | OrderType::StopMarket)
    }
    pub fn has_limit_price(self) -> bool {
        matches!(self, OrderType::Limit | OrderType::StopLimit)
    }
}

wire_enum!(Validity { Day = 0, Ioc = 1, Fok = 2, Gtc = 3 });

wire_enum!(
    /// CNC: delivery (buys need cash, sells need holdings). MIS: intraday on margin.
    Product { Cnc = 0, Mis = 1 }
);

wire_enum!(AccountStatus { Inactive = 0, Active = 1, Suspended = 2 });

wire_enum!(InstrumentStatus { Active = 0, Halted = 1 });
