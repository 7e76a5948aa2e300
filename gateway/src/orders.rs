//! Kite order parameters → engine commands.
//!
//! `POST /orders/:variety` → [`parse_place`] → [`engine_core::NewOrder`];
//! `PUT /orders/:variety/:order_id` → [`parse_modify`] → [`engine_core::ModifyOrder`];
//! `DELETE /orders/:variety/:order_id` → [`parse_cancel`].
//!
//! Varieties: `regular` and `iceberg` are supported (an iceberg's `iceberg_quantity` becomes the
//! engine's disclosed quantity: one leg shows at a time, the next appears when it fills).
//! `amo`, `co` and `auction` are refused with an InputException saying why: the engine has no
//! after-market queue, no two-legged cover orders and no call auction.
//!
//! Everything a client can get wrong here is a 400 InputException whose message names the
//! field. Checks that need the engine's state (funds, holdings, circuit band, trigger against
//! the last price) stay in the engine; its rejections come back through
//! [`crate::envelope::reject_error`].

use engine_core::{
    AccountId, ModifyOrder, NewOrder, OrderId, OrderType, Price, Product, Qty, RejectReason, Token, Validity,
};

use crate::envelope::{reject_message, ApiError, RejectContext};
use crate::form::{printable, Form};
use crate::kite::{parse_order_type, parse_side, Exchange, Variety};
use crate::money::{parse_rupees, RupeeError};

/// What the gateway knows of a tradable instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instrument {
    pub token: Token,
    /// Tick size in paise.
    pub tick: Price,
    /// Lot size in shares.
    pub lot: Qty,
}

/// Finds an instrument by exchange and trading symbol (the gateway's instrument cache).
pub trait InstrumentLookup {
    fn instrument(&self, exchange: Exchange, tradingsymbol: &str) -> Option<Instrument>;
}

impl<F: Fn(Exchange, &str) -> Option<Instrument>> InstrumentLookup for F {
    fn instrument(&self, exchange: Exchange, tradingsymbol: &str) -> Option<Instrument> {
        self(exchange, tradingsymbol)
    }
}

/// Longest `tag` Kite accepts.
pub const TAG_LEN_MAX: usize = 20;
/// Largest quantity accepted at the edge (the engine has its own limits below this).
pub const QUANTITY_MAX: Qty = 1_000_000_000_000;

/// An iceberg's legs as the client asked for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Iceberg {
    pub legs: u32,
    pub leg_quantity: Qty,
}

/// A parsed `POST /orders/:variety`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaceOrder {
    pub variety: Variety,
    pub exchange: Exchange,
    pub tradingsymbol: String,
    pub instrument: Instrument,
    pub order: NewOrder,
    pub tag: Option<String>,
    pub iceberg: Option<Iceberg>,
}

/// The `:variety` of an order route, refusing the ones this exchange does not run.
pub fn parse_variety(text: &str) -> Result<Variety, ApiError> {
    match Variety::parse(text) {
        Some(v @ (Variety::Regular | Variety::Iceberg)) => Ok(v),
        Some(Variety::Amo) => Err(ApiError::input(
            "After market orders (variety `amo`) are not supported: orders are taken only while the market is open. Use variety `regular`.",
        )),
        Some(Variety::Co) => Err(ApiError::input(
            "Cover orders (variety `co`) are not supported. Place a `regular` order and a separate SL or SL-M order.",
        )),
        Some(Variety::Auction) => Err(ApiError::input("Auction orders (variety `auction`) are not supported.")),
        None => Err(ApiError::input(format!(
            "Invalid variety `{}`. Supported varieties: regular, iceberg.",
            printable(text)
        ))),
    }
}

/// An order id from a path: decimal digits, not zero.
pub fn parse_order_id(text: &str) -> Result<OrderId, ApiError> {
    let ok = !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<OrderId>() {
        Ok(id) if ok && id > 0 => Ok(id),
        _ => Err(ApiError::input(format!("Invalid `order_id` `{}`.", printable(text)))),
    }
}

fn field<'a>(form: &'a Form, name: &str) -> Result<Option<&'a str>, ApiError> {
    Ok(form.get(name)?)
}

fn required<'a>(form: &'a Form, name: &str) -> Result<&'a str, ApiError> {
    match field(form, name)? {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ApiError::input(format!("Missing `{name}`."))),
    }
}

/// A field that is absent or empty counts as not given.
fn optional<'a>(form: &'a Form, name: &str) -> Result<Option<&'a str>, ApiError> {
    Ok(field(form, name)?.filter(|v| !v.is_empty()))
}

fn invalid(name: &str, value: &str, why: &str) -> ApiError {
    ApiError::input(format!("Invalid `{name}` `{}`: {why}.", printable(value)))
}

/// A non-negative whole number of shares (or legs).
fn parse_count(name: &str, text: &str) -> Result<Qty, ApiError> {
    if let Some(rest) = text.strip_prefix('-') {
        if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(name, text, "it should not be negative"));
        }
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(name, text, "it should be a whole number"));
    }
    let significant = text.trim_start_matches('0');
    if significant.len() > 13 {
        return Err(invalid(name, text, "it is too large"));
    }
    let value = significant.bytes().fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0'));
    if value > QUANTITY_MAX {
        return Err(invalid(name, text, "it is too large"));
    }
    Ok(value)
}

/// A whole number greater than 0.
fn parse_positive(name: &str, text: &str) -> Result<Qty, ApiError> {
    match parse_count(name, text) {
        Ok(0) => Err(invalid(name, text, "it should be greater than 0")),
        Err(e) if text.starts_with('-') && e.message.contains("negative") => {
            Err(invalid(name, text, "it should be greater than 0"))
        }
        other => other,
    }
}

fn parse_price(name: &str, text: &str) -> Result<Price, ApiError> {
    parse_rupees(text).map_err(|e| match e {
        RupeeError::NotADecimal if text.starts_with('-') => invalid(name, text, "it should not be negative"),
        e => invalid(name, text, &e.to_string()),
    })
}

fn tick_error(tick: Price) -> ApiError {
    ApiError::input(reject_message(RejectReason::TickSizeViolation, RejectContext { tick: Some(tick), lot: None }))
}

fn check_tick(value: Price, tick: Price) -> Result<(), ApiError> {
    if tick > 0 && value % tick != 0 {
        return Err(tick_error(tick));
    }
    Ok(())
}

fn check_lot(name: &str, qty: Qty, lot: Qty) -> Result<(), ApiError> {
    if lot > 1 && qty % lot != 0 {
        return Err(ApiError::input(format!("`{name}` {qty} should be a multiple of the lot size {lot}.")));
    }
    Ok(())
}

fn parse_validity(text: Option<&str>) -> Result<Validity, ApiError> {
    match text {
        None | Some("DAY") => Ok(Validity::Day),
        Some("IOC") => Ok(Validity::Ioc),
        Some("TTL") => Err(ApiError::input(
            "Validity `TTL` (minutes) is not supported. Use `DAY`, or `IOC` for immediate or cancel.",
        )),
        Some(other) => Err(invalid("validity", other, "use DAY or IOC")),
    }
}

fn parse_product(text: &str) -> Result<Product, ApiError> {
    match text {
        "CNC" => Ok(Product::Cnc),
        "MIS" => Ok(Product::Mis),
        "NRML" => Err(ApiError::input(
            "Product `NRML` (carry-forward for futures and options) is not supported. Use `CNC` for delivery or `MIS` for intraday.",
        )),
        "MTF" => Err(ApiError::input("Product `MTF` (margin trading facility) is not supported. Use `CNC` or `MIS`.")),
        other => Err(invalid("product", other, "use CNC or MIS")),
    }
}

fn parse_tag(text: &str) -> Result<String, ApiError> {
    let ok = text.len() <= TAG_LEN_MAX && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        return Err(invalid("tag", text, "it should be at most 20 letters, digits, `_` or `-`"));
    }
    Ok(text.to_string())
}

/// The limit price an order type takes: required and positive for LIMIT and SL, absent or 0
/// for MARKET and SL-M.
fn price_for(order_type: OrderType, text: Option<&str>, tick: Price) -> Result<Price, ApiError> {
    if order_type.has_limit_price() {
        let Some(text) = text else {
            return Err(ApiError::input("Missing `price` (LIMIT and SL orders need one)."));
        };
        let price = parse_price("price", text)?;
        if price == 0 {
            return Err(invalid("price", text, "it should be greater than 0 for LIMIT and SL orders"));
        }
        check_tick(price, tick)?;
        Ok(price)
    } else {
        match text {
            None => Ok(0),
            Some(text) if parse_price("price", text)? == 0 => Ok(0),
            Some(_) => {
                Err(ApiError::input("`price` is not allowed for MARKET and SL-M orders: leave it out or send 0."))
            }
        }
    }
}

/// The trigger an order type takes: required and positive for SL and SL-M, absent or 0 else.
fn trigger_for(order_type: OrderType, text: Option<&str>, tick: Price) -> Result<Price, ApiError> {
    if order_type.is_stop() {
        let Some(text) = text else {
            return Err(ApiError::input("Missing `trigger_price` (SL and SL-M orders need one)."));
        };
        let trigger = parse_price("trigger_price", text)?;
        if trigger == 0 {
            return Err(invalid("trigger_price", text, "it should be greater than 0 for SL and SL-M orders"));
        }
        check_tick(trigger, tick)?;
        Ok(trigger)
    } else {
        match text {
            None => Ok(0),
            Some(text) if parse_price("trigger_price", text)? == 0 => Ok(0),
            Some(_) => Err(ApiError::input(
                "`trigger_price` is only for SL and SL-M orders: leave it out or send 0 for LIMIT and MARKET orders.",
            )),
        }
    }
}

/// Parses `POST /orders/:variety` for `account`; `client_ref` is echoed by the engine.
pub fn parse_place(
    variety: &str,
    form: &Form,
    lookup: &impl InstrumentLookup,
    account: AccountId,
    client_ref: u64,
) -> Result<PlaceOrder, ApiError> {
    let variety = parse_variety(variety)?;

    let tradingsymbol = required(form, "tradingsymbol")?;
    let exchange_text = required(form, "exchange")?;
    let side_text = required(form, "transaction_type")?;
    let order_type_text = required(form, "order_type")?;
    let quantity_text = required(form, "quantity")?;
    let product_text = required(form, "product")?;

    let exchange =
        Exchange::parse(exchange_text).ok_or_else(|| invalid("exchange", exchange_text, "use NSE or BSE"))?;
    let side = parse_side(side_text).ok_or_else(|| invalid("transaction_type", side_text, "use BUY or SELL"))?;
    let order_type = parse_order_type(order_type_text)
        .ok_or_else(|| invalid("order_type", order_type_text, "use LIMIT, MARKET, SL or SL-M"))?;
    let product = parse_product(product_text)?;
    let validity = parse_validity(optional(form, "validity")?)?;
    let qty = parse_positive("quantity", quantity_text)?;

    let instrument = lookup.instrument(exchange, tradingsymbol).ok_or_else(|| {
        ApiError::input(format!(
            "Invalid `tradingsymbol`: no instrument `{}` on {}.",
            printable(tradingsymbol),
            exchange.as_str()
        ))
    })?;

    let price = price_for(order_type, optional(form, "price")?, instrument.tick)?;
    let trigger = trigger_for(order_type, optional(form, "trigger_price")?, instrument.tick)?;
    check_lot("quantity", qty, instrument.lot)?;

    let mut disclosed = match optional(form, "disclosed_quantity")? {
        None => 0,
        Some(text) => {
            let d = parse_count("disclosed_quantity", text)?;
            if d > qty {
                return Err(invalid("disclosed_quantity", text, "it should not be more than `quantity`"));
            }
            if d > 0 && (matches!(order_type, OrderType::Market | OrderType::StopMarket) || validity != Validity::Day) {
                return Err(ApiError::input("`disclosed_quantity` is only for LIMIT and SL orders of validity DAY."));
            }
            check_lot("disclosed_quantity", d, instrument.lot)?;
            d
        }
    };

    let legs_text = optional(form, "iceberg_legs")?;
    let leg_qty_text = optional(form, "iceberg_quantity")?;
    let iceberg = if variety == Variety::Iceberg {
        let legs_text =
            legs_text.ok_or_else(|| ApiError::input("Missing `iceberg_legs` (iceberg orders need 2 to 10 legs)."))?;
        let leg_qty_text = leg_qty_text.ok_or_else(|| ApiError::input("Missing `iceberg_quantity`."))?;
        let legs = parse_count("iceberg_legs", legs_text)?;
        if !(2..=10).contains(&legs) {
            return Err(invalid("iceberg_legs", legs_text, "an iceberg order has 2 to 10 legs"));
        }
        let leg_quantity = parse_positive("iceberg_quantity", leg_qty_text)?;
        if leg_quantity >= qty || leg_quantity * legs < qty {
            return Err(invalid(
                "iceberg_quantity",
                leg_qty_text,
                "it should be less than `quantity`, and `iceberg_legs` legs of it should cover `quantity`",
            ));
        }
        check_lot("iceberg_quantity", leg_quantity, instrument.lot)?;
        if !order_type.has_limit_price() || validity != Validity::Day {
            return Err(ApiError::input("Iceberg orders must be LIMIT or SL orders of validity DAY."));
        }
        if disclosed != 0 {
            return Err(ApiError::input(
                "`disclosed_quantity` is not allowed on iceberg orders: `iceberg_quantity` sets what shows.",
            ));
        }
        disclosed = leg_quantity;
        // legs is in 2..=10.
        Some(Iceberg { legs: legs as u32, leg_quantity })
    } else {
        if legs_text.is_some() || leg_qty_text.is_some() {
            return Err(ApiError::input("`iceberg_legs` and `iceberg_quantity` are only for variety `iceberg`."));
        }
        None
    };

    let tag = optional(form, "tag")?.map(parse_tag).transpose()?;
    if let Some(text) = optional(form, "autoslice")? {
        if text != "false" {
            return Err(ApiError::input("`autoslice` is not supported: send the quantity in one order."));
        }
    }
    if let Some(text) = optional(form, "market_protection")? {
        // Accepted for compatibility; the engine's circuit band already bounds MARKET orders.
        let ok = text == "-1" || parse_count("market_protection", text).is_ok_and(|v| v <= 100);
        if !ok {
            return Err(invalid("market_protection", text, "use 0 to 100, or -1"));
        }
    }

    let order = NewOrder {
        client_ref,
        account,
        token: instrument.token,
        side,
        order_type,
        validity,
        product,
        price,
        trigger,
        qty,
        disclosed,
        post_only: false,
    };
    Ok(PlaceOrder { variety, exchange, tradingsymbol: tradingsymbol.to_string(), instrument, order, tag, iceberg })
}

/// The state of an open order that a modification starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenOrder {
    pub order_id: OrderId,
    pub variety: Variety,
    pub order_type: OrderType,
    pub validity: Validity,
    pub price: Price,
    pub trigger: Price,
    /// Total quantity, filled part included.
    pub qty: Qty,
    pub disclosed: Qty,
    pub instrument: Instrument,
}

fn check_variety(path_variety: &str, current: &OpenOrder) -> Result<(), ApiError> {
    let variety = parse_variety(path_variety)?;
    if variety != current.variety {
        return Err(ApiError::input(format!(
            "Order {} is a `{}` order: use /orders/{}/{}.",
            current.order_id,
            current.variety.as_str(),
            current.variety.as_str(),
            current.order_id
        )));
    }
    Ok(())
}

/// Parses `PUT /orders/:variety/:order_id` against the order's current state. Fields left out
/// keep their values; `quantity` is the new total quantity.
pub fn parse_modify(
    variety: &str,
    form: &Form,
    current: &OpenOrder,
    account: AccountId,
    client_ref: u64,
) -> Result<ModifyOrder, ApiError> {
    check_variety(variety, current)?;
    let tick = current.instrument.tick;

    if let Some(text) = optional(form, "order_type")? {
        let order_type =
            parse_order_type(text).ok_or_else(|| invalid("order_type", text, "use LIMIT, MARKET, SL or SL-M"))?;
        if order_type != current.order_type {
            return Err(ApiError::input(
                "Changing `order_type` is not supported: cancel the order and place a new one.",
            ));
        }
    }
    if let Some(text) = optional(form, "validity")? {
        if parse_validity(Some(text))? != current.validity {
            return Err(ApiError::input("Changing `validity` is not supported: cancel the order and place a new one."));
        }
    }
    if let Some(text) = optional(form, "disclosed_quantity")? {
        if parse_count("disclosed_quantity", text)? != current.disclosed {
            return Err(ApiError::input(
                "Changing `disclosed_quantity` is not supported: cancel the order and place a new one.",
            ));
        }
    }
    if optional(form, "parent_order_id")?.is_some() {
        return Err(ApiError::input("`parent_order_id` is only for cover orders, which are not supported."));
    }

    let qty = match optional(form, "quantity")? {
        Some(text) => {
            let qty = parse_positive("quantity", text)?;
            check_lot("quantity", qty, current.instrument.lot)?;
            qty
        }
        None => current.qty,
    };
    let price = match optional(form, "price")? {
        None => current.price,
        Some(text) => price_for(current.order_type, Some(text), tick)?,
    };
    let trigger = match optional(form, "trigger_price")? {
        None => current.trigger,
        Some(text) => trigger_for(current.order_type, Some(text), tick)?,
    };
    Ok(ModifyOrder { client_ref, account, order_id: current.order_id, price, qty, trigger })
}

/// Checks `DELETE /orders/:variety/:order_id` against the order's variety.
pub fn parse_cancel(variety: &str, form: &Form, current: &OpenOrder) -> Result<OrderId, ApiError> {
    check_variety(variety, current)?;
    if optional(form, "parent_order_id")?.is_some() {
        return Err(ApiError::input("`parent_order_id` is only for cover orders, which are not supported."));
    }
    Ok(current.order_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::ErrorType;
    use crate::form::FormLimits;
    use engine_core::Side;
    use proptest::prelude::*;

    const INFY: Instrument = Instrument { token: 408065, tick: 5, lot: 1 };
    const NIFTY_FUT: Instrument = Instrument { token: 5720322, tick: 5, lot: 75 };

    fn lookup(exchange: Exchange, symbol: &str) -> Option<Instrument> {
        match (exchange, symbol) {
            (Exchange::Nse, "INFY") => Some(INFY),
            (Exchange::Nse, "LOTTY") => Some(NIFTY_FUT),
            _ => None,
        }
    }

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form::from_pairs(pairs.iter().copied())
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("tradingsymbol", "INFY"),
            ("exchange", "NSE"),
            ("transaction_type", "BUY"),
            ("order_type", "LIMIT"),
            ("quantity", "10"),
            ("product", "CNC"),
            ("price", "1522.5"),
        ]
    }

    fn with(changes: &[(&'static str, &'static str)]) -> Form {
        let mut pairs = base();
        for &(k, v) in changes {
            pairs.retain(|(key, _)| *key != k);
            if !v.is_empty() {
                pairs.push((k, v));
            }
        }
        form(&pairs)
    }

    fn place(variety: &str, f: &Form) -> Result<PlaceOrder, ApiError> {
        parse_place(variety, f, &lookup, 7, 99)
    }

    fn message(variety: &str, f: &Form) -> String {
        let e = place(variety, f).unwrap_err();
        assert_eq!(e.kind, ErrorType::InputException, "{e}");
        assert_eq!(e.status(), 400);
        e.message
    }

    #[test]
    fn a_regular_limit_buy() {
        let p = place("regular", &with(&[("tag", "my_algo-1")])).unwrap();
        assert_eq!(p.variety, Variety::Regular);
        assert_eq!(p.exchange, Exchange::Nse);
        assert_eq!(p.tradingsymbol, "INFY");
        assert_eq!(p.tag.as_deref(), Some("my_algo-1"));
        assert_eq!(
            p.order,
            NewOrder {
                client_ref: 99,
                account: 7,
                token: 408065,
                side: Side::Buy,
                order_type: OrderType::Limit,
                validity: Validity::Day,
                product: Product::Cnc,
                price: 152250,
                trigger: 0,
                qty: 10,
                disclosed: 0,
                post_only: false,
            }
        );
    }

    #[test]
    fn prices_are_exact_paise() {
        for (text, paise) in [("1522.5", 152250), ("1522.50", 152250), ("1522", 152200), ("0.05", 5)] {
            assert_eq!(place("regular", &with(&[("price", text)])).unwrap().order.price, paise, "{text}");
        }
        for bad in ["1522.505", "-1522.5", "NaN", "1e3", "inf", " 1522.5", "1522,5", "0x10"] {
            let m = message("regular", &with(&[("price", bad)]));
            assert!(m.starts_with("Invalid `price`"), "{bad}: {m}");
        }
        assert!(message("regular", &with(&[("price", "-5")])).contains("negative"));
        assert!(message("regular", &with(&[("price", "1.234")])).contains("more than two decimal places"));
    }

    #[test]
    fn order_types() {
        let market = place("regular", &with(&[("order_type", "MARKET"), ("price", "")])).unwrap();
        assert_eq!((market.order.order_type, market.order.price, market.order.trigger), (OrderType::Market, 0, 0));
        let market0 = place("regular", &with(&[("order_type", "MARKET"), ("price", "0")])).unwrap();
        assert_eq!(market0.order.price, 0);
        let sl = place("regular", &with(&[("order_type", "SL"), ("trigger_price", "1520")])).unwrap();
        assert_eq!((sl.order.order_type, sl.order.price, sl.order.trigger), (OrderType::StopLimit, 152250, 152000));
        let slm =
            place("regular", &with(&[("order_type", "SL-M"), ("price", ""), ("trigger_price", "1520.05")])).unwrap();
        assert_eq!((slm.order.order_type, slm.order.price, slm.order.trigger), (OrderType::StopMarket, 0, 152005));

        assert!(message("regular", &with(&[("order_type", "MARKET")])).contains("not allowed for MARKET"));
        assert!(message("regular", &with(&[("price", "")])).starts_with("Missing `price`"));
        assert!(message("regular", &with(&[("price", "0")])).contains("greater than 0"));
        assert!(message("regular", &with(&[("order_type", "SL")])).starts_with("Missing `trigger_price`"));
        assert!(message("regular", &with(&[("trigger_price", "1")])).contains("only for SL and SL-M"));
        assert!(place("regular", &with(&[("trigger_price", "0")])).is_ok());
        assert!(message("regular", &with(&[("order_type", "STOP")])).starts_with("Invalid `order_type` `STOP`"));
        assert!(message("regular", &with(&[("order_type", "limit")])).starts_with("Invalid `order_type`"));
    }

    #[test]
    fn missing_fields_are_named() {
        for name in ["tradingsymbol", "exchange", "transaction_type", "order_type", "quantity", "product"] {
            assert_eq!(message("regular", &with(&[(name, "")])), format!("Missing `{name}`."));
        }
        // An empty value is as missing as no field.
        let mut pairs = base();
        pairs.retain(|(k, _)| *k != "quantity");
        pairs.push(("quantity", ""));
        assert_eq!(message("regular", &form(&pairs)), "Missing `quantity`.");
    }

    #[test]
    fn quantities() {
        assert_eq!(
            message("regular", &with(&[("quantity", "0")])),
            "Invalid `quantity` `0`: it should be greater than 0."
        );
        assert_eq!(
            message("regular", &with(&[("quantity", "-5")])),
            "Invalid `quantity` `-5`: it should be greater than 0."
        );
        assert_eq!(
            message("regular", &with(&[("quantity", "1.5")])),
            "Invalid `quantity` `1.5`: it should be a whole number."
        );
        assert!(message("regular", &with(&[("quantity", "99999999999999999999")])).contains("too large"));
        let lot = message("regular", &with(&[("tradingsymbol", "LOTTY"), ("quantity", "100")]));
        assert_eq!(lot, "`quantity` 100 should be a multiple of the lot size 75.");
        assert_eq!(place("regular", &with(&[("tradingsymbol", "LOTTY"), ("quantity", "150")])).unwrap().order.qty, 150);
    }

    #[test]
    fn tick_grid() {
        let m = message("regular", &with(&[("price", "1522.52")]));
        assert_eq!(
            m,
            "Tick size for this script is 0.05. Kindly enter trigger price / price in the multiple of tick size for this script"
        );
        let m = message("regular", &with(&[("order_type", "SL"), ("trigger_price", "1520.01")]));
        assert!(m.starts_with("Tick size for this script is 0.05."), "{m}");
    }

    #[test]
    fn unknown_symbol_and_exchange() {
        assert_eq!(
            message("regular", &with(&[("tradingsymbol", "NOPE")])),
            "Invalid `tradingsymbol`: no instrument `NOPE` on NSE."
        );
        assert_eq!(
            message("regular", &with(&[("exchange", "BSE")])),
            "Invalid `tradingsymbol`: no instrument `INFY` on BSE."
        );
        assert!(message("regular", &with(&[("exchange", "NYSE")])).starts_with("Invalid `exchange` `NYSE`"));
    }

    #[test]
    fn products_validities_and_sides() {
        assert_eq!(place("regular", &with(&[("product", "MIS")])).unwrap().order.product, Product::Mis);
        assert!(message("regular", &with(&[("product", "NRML")])).starts_with("Product `NRML`"));
        assert!(message("regular", &with(&[("product", "XYZ")])).starts_with("Invalid `product`"));
        assert_eq!(place("regular", &with(&[("validity", "IOC")])).unwrap().order.validity, Validity::Ioc);
        assert_eq!(place("regular", &with(&[("validity", "DAY")])).unwrap().order.validity, Validity::Day);
        assert!(message("regular", &with(&[("validity", "TTL")])).starts_with("Validity `TTL`"));
        assert!(message("regular", &with(&[("validity", "GTC")])).starts_with("Invalid `validity`"));
        assert_eq!(place("regular", &with(&[("transaction_type", "SELL")])).unwrap().order.side, Side::Sell);
        assert!(message("regular", &with(&[("transaction_type", "SHORT")])).starts_with("Invalid `transaction_type`"));
    }

    #[test]
    fn varieties() {
        for (variety, start) in [
            ("amo", "After market orders"),
            ("co", "Cover orders"),
            ("auction", "Auction orders"),
            ("bo", "Invalid variety `bo`"),
            ("REGULAR", "Invalid variety"),
        ] {
            let m = message(variety, &with(&[]));
            assert!(m.starts_with(start), "{variety}: {m}");
        }
    }

    #[test]
    fn icebergs() {
        let ice = with(&[("quantity", "100"), ("iceberg_legs", "4"), ("iceberg_quantity", "25")]);
        let p = place("iceberg", &ice).unwrap();
        assert_eq!(p.iceberg, Some(Iceberg { legs: 4, leg_quantity: 25 }));
        assert_eq!((p.order.qty, p.order.disclosed), (100, 25));
        assert!(message("iceberg", &with(&[("quantity", "100")])).starts_with("Missing `iceberg_legs`"));
        assert!(message("iceberg", &with(&[("quantity", "100"), ("iceberg_legs", "11"), ("iceberg_quantity", "10")]))
            .contains("2 to 10 legs"));
        assert!(message("iceberg", &with(&[("quantity", "100"), ("iceberg_legs", "3"), ("iceberg_quantity", "25")]))
            .starts_with("Invalid `iceberg_quantity`"));
        assert!(message(
            "iceberg",
            &with(&[
                ("quantity", "100"),
                ("iceberg_legs", "4"),
                ("iceberg_quantity", "25"),
                ("order_type", "MARKET"),
                ("price", "")
            ])
        )
        .starts_with("Iceberg orders must be LIMIT or SL"));
        assert!(message("regular", &with(&[("iceberg_legs", "4")])).contains("only for variety `iceberg`"));
    }

    #[test]
    fn disclosed_tag_and_extras() {
        assert_eq!(place("regular", &with(&[("disclosed_quantity", "5")])).unwrap().order.disclosed, 5);
        assert!(message("regular", &with(&[("disclosed_quantity", "11")])).contains("not be more than `quantity`"));
        assert!(message("regular", &with(&[("disclosed_quantity", "5"), ("validity", "IOC")]))
            .contains("only for LIMIT and SL orders"));
        assert!(message("regular", &with(&[("tag", "has space")])).starts_with("Invalid `tag`"));
        assert!(message("regular", &with(&[("tag", "abcdefghijklmnopqrstu")])).starts_with("Invalid `tag`"));
        assert!(place("regular", &with(&[("market_protection", "-1")])).is_ok());
        assert!(place("regular", &with(&[("market_protection", "2")])).is_ok());
        assert!(message("regular", &with(&[("market_protection", "101")])).starts_with("Invalid `market_protection`"));
        assert!(message("regular", &with(&[("autoslice", "true")])).starts_with("`autoslice`"));
        // Fields Kite defines that do not apply here are ignored, as Kite ignores unknown ones.
        assert!(place("regular", &with(&[("algo_id", "x"), ("validity_ttl", "0")])).is_ok());
        // A field given twice is an error, not a silent pick.
        let mut pairs = base();
        pairs.push(("price", "1600"));
        assert_eq!(message("regular", &form(&pairs)), "Field `price` is given more than once");
    }

    #[test]
    fn the_form_the_python_client_sends() {
        // kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
        //                  quantity=1, product="CNC", order_type="LIMIT", price=1522.5, tag="t1")
        let body = b"exchange=NSE&tradingsymbol=INFY&transaction_type=BUY&quantity=1&product=CNC&order_type=LIMIT&price=1522.5&tag=t1";
        let f = Form::decode(body, &FormLimits::default()).unwrap();
        let p = place("regular", &f).unwrap();
        assert_eq!((p.order.qty, p.order.price, p.tag.as_deref()), (1, 152250, Some("t1")));
    }

    fn open() -> OpenOrder {
        OpenOrder {
            order_id: 42,
            variety: Variety::Regular,
            order_type: OrderType::Limit,
            validity: Validity::Day,
            price: 152250,
            trigger: 0,
            qty: 10,
            disclosed: 0,
            instrument: INFY,
        }
    }

    #[test]
    fn modify() {
        let m = parse_modify("regular", &form(&[("price", "1530")]), &open(), 7, 5).unwrap();
        assert_eq!(m, ModifyOrder { client_ref: 5, account: 7, order_id: 42, price: 153000, qty: 10, trigger: 0 });
        let m = parse_modify("regular", &form(&[("quantity", "4"), ("order_type", "LIMIT")]), &open(), 7, 5).unwrap();
        assert_eq!((m.price, m.qty), (152250, 4));
        let err = |f: Form| parse_modify("regular", &f, &open(), 7, 5).unwrap_err().message;
        assert!(err(form(&[("order_type", "MARKET")])).starts_with("Changing `order_type`"));
        assert!(err(form(&[("validity", "IOC")])).starts_with("Changing `validity`"));
        assert!(err(form(&[("quantity", "0")])).contains("greater than 0"));
        assert!(err(form(&[("price", "1530.01")])).starts_with("Tick size"));
        assert!(err(form(&[("trigger_price", "1500")])).contains("only for SL and SL-M"));
        assert!(parse_modify("iceberg", &form(&[]), &open(), 7, 5).unwrap_err().message.contains("/orders/regular/42"));
        assert_eq!(parse_cancel("regular", &form(&[]), &open()).unwrap(), 42);
        assert!(parse_cancel("amo", &form(&[]), &open()).is_err());
    }

    #[test]
    fn order_ids() {
        assert_eq!(parse_order_id("151220000000000").unwrap(), 151220000000000);
        for bad in ["", "0", "-1", "+1", "1.0", "abc", "99999999999999999999999", " 1"] {
            assert!(parse_order_id(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_forms_never_panic(pairs in proptest::collection::vec(
            (prop::sample::select(vec!["tradingsymbol", "exchange", "transaction_type", "order_type", "quantity",
                "product", "price", "trigger_price", "disclosed_quantity", "validity", "tag", "iceberg_legs",
                "iceberg_quantity", "market_protection", "autoslice"]),
             prop_oneof!["\\PC{0,12}", "[0-9.\\-]{0,8}", prop::sample::select(vec!["INFY", "NSE", "BUY", "SELL",
                "LIMIT", "MARKET", "SL", "SL-M", "CNC", "MIS", "DAY", "IOC", "1", "10", "1522.5", "0"]).prop_map(String::from)]),
            0..16),
            variety in prop::sample::select(vec!["regular", "iceberg", "amo", "x"])) {
            let f = Form::from_pairs(pairs);
            match place(variety, &f) {
                Ok(p) => {
                    prop_assert!(p.order.qty > 0);
                    prop_assert!(p.order.price % INFY.tick == 0 && p.order.trigger % INFY.tick == 0);
                    prop_assert!(p.order.disclosed >= 0 && p.order.disclosed <= p.order.qty);
                }
                Err(e) => prop_assert_eq!(e.kind, ErrorType::InputException),
            }
        }

        #[test]
        fn any_valid_price_on_the_grid_round_trips(ticks in 1i64..10_000_000) {
            let paise = ticks * 5;
            let text = crate::money::rupees_string(paise);
            let f = with(&[]);
            let mut pairs: Vec<(String, String)> = f.pairs().to_vec();
            pairs.retain(|(k, _)| k != "price");
            pairs.push(("price".into(), text));
            prop_assert_eq!(place("regular", &Form::from_pairs(pairs)).unwrap().order.price, paise);
        }
    }
}
