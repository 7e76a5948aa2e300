//! Kite Connect's names for things, both ways: exchanges, varieties, order statuses and the
//! engine's side / order type / validity / product.

use engine_core::{OrderType, Product, Side, Token, Validity};

/// Exchanges Kite names. The engine trades one market; which of these it lists is up to the
/// instrument lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exchange {
    Nse,
    Bse,
    Nfo,
    Bfo,
    Cds,
    Bcd,
    Mcx,
}

impl Exchange {
    pub const ALL: [Exchange; 7] =
        [Exchange::Nse, Exchange::Bse, Exchange::Nfo, Exchange::Bfo, Exchange::Cds, Exchange::Bcd, Exchange::Mcx];

    pub fn parse(text: &str) -> Option<Exchange> {
        Exchange::ALL.into_iter().find(|e| e.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Exchange::Nse => "NSE",
            Exchange::Bse => "BSE",
            Exchange::Nfo => "NFO",
            Exchange::Bfo => "BFO",
            Exchange::Cds => "CDS",
            Exchange::Bcd => "BCD",
            Exchange::Mcx => "MCX",
        }
    }

    /// The segment code Kite keeps in the low byte of an instrument token
    /// (`instrument_token = exchange_token << 8 | segment`).
    pub fn segment_code(self) -> u8 {
        match self {
            Exchange::Nse => 1,
            Exchange::Nfo => 2,
            Exchange::Cds => 3,
            Exchange::Bse => 4,
            Exchange::Bfo => 5,
            Exchange::Bcd => 6,
            Exchange::Mcx => 7,
        }
    }
}

/// Kite's instrument token for an exchange token: `exchange_token << 8 | segment`.
///
/// Kite's ticker clients read the low byte of every token to pick the price divisor (100 for
/// NSE/BSE, 10^7 for CDS, 10^4 for BCD and NCO) and whether it is an index (segment 9), so a
/// token whose low byte is not its exchange's segment shows wrong prices in those clients.
/// `None` when the exchange token does not fit in 24 bits.
pub fn instrument_token(exchange: Exchange, exchange_token: u32) -> Option<Token> {
    if exchange_token >= 1 << 24 {
        return None;
    }
    Some(exchange_token << 8 | u32::from(exchange.segment_code()))
}

/// The exchange token inside a Kite instrument token.
pub fn exchange_token(instrument_token: Token) -> u32 {
    instrument_token >> 8
}

/// Order varieties, the `:variety` of `/orders/:variety`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variety {
    Regular,
    /// After-market order.
    Amo,
    /// Cover order (with a compulsory stop-loss leg).
    Co,
    Iceberg,
    Auction,
}

impl Variety {
    pub fn parse(text: &str) -> Option<Variety> {
        Some(match text {
            "regular" => Variety::Regular,
            "amo" => Variety::Amo,
            "co" => Variety::Co,
            "iceberg" => Variety::Iceberg,
            "auction" => Variety::Auction,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Variety::Regular => "regular",
            Variety::Amo => "amo",
            Variety::Co => "co",
            Variety::Iceberg => "iceberg",
            Variety::Auction => "auction",
        }
    }
}

/// The order statuses this gateway reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    Open,
    Complete,
    Cancelled,
    Rejected,
    /// A stop-loss order waiting for its trigger.
    TriggerPending,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Open => "OPEN",
            OrderStatus::Complete => "COMPLETE",
            OrderStatus::Cancelled => "CANCELLED",
            OrderStatus::Rejected => "REJECTED",
            OrderStatus::TriggerPending => "TRIGGER PENDING",
        }
    }
}

pub fn side_str(side: Side) -> &'static str {
    match side {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    }
}

pub fn parse_side(text: &str) -> Option<Side> {
    match text {
        "BUY" => Some(Side::Buy),
        "SELL" => Some(Side::Sell),
        _ => None,
    }
}

pub fn order_type_str(order_type: OrderType) -> &'static str {
    match order_type {
        OrderType::Limit => "LIMIT",
        OrderType::Market => "MARKET",
        OrderType::StopLimit => "SL",
        OrderType::StopMarket => "SL-M",
    }
}

pub fn parse_order_type(text: &str) -> Option<OrderType> {
    match text {
        "LIMIT" => Some(OrderType::Limit),
        "MARKET" => Some(OrderType::Market),
        "SL" => Some(OrderType::StopLimit),
        "SL-M" => Some(OrderType::StopMarket),
        _ => None,
    }
}

/// Kite's validity names. The engine's FOK and GTC have no Kite name; they are shown as the
/// engine calls them.
pub fn validity_str(validity: Validity) -> &'static str {
    match validity {
        Validity::Day => "DAY",
        Validity::Ioc => "IOC",
        Validity::Fok => "FOK",
        Validity::Gtc => "GTC",
    }
}

pub fn product_str(product: Product) -> &'static str {
    match product {
        Product::Cnc => "CNC",
        Product::Mis => "MIS",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for e in Exchange::ALL {
            assert_eq!(Exchange::parse(e.as_str()), Some(e));
        }
        for v in [Variety::Regular, Variety::Amo, Variety::Co, Variety::Iceberg, Variety::Auction] {
            assert_eq!(Variety::parse(v.as_str()), Some(v));
        }
        for &s in Side::ALL {
            assert_eq!(parse_side(side_str(s)), Some(s));
        }
        for &t in OrderType::ALL {
            assert_eq!(parse_order_type(order_type_str(t)), Some(t));
        }
        assert_eq!(Exchange::parse("nse"), None);
        assert_eq!(parse_side("buy"), None);
        assert_eq!(Variety::parse("bo"), None);
    }

    #[test]
    fn tokens_carry_the_segment() {
        // INFY on NSE: exchange token 1594, instrument token 408065 in Kite's own dump.
        assert_eq!(instrument_token(Exchange::Nse, 1594), Some(408065));
        assert_eq!(exchange_token(408065), 1594);
        assert_eq!(instrument_token(Exchange::Nse, 1 << 24), None);
    }
}
