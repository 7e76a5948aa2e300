//! Kite's WebSocket streaming format.
//!
//! Server → client binary messages: a big-endian `u16` packet count, then per packet a `u16`
//! length and the packet. Packets by mode, all fields big-endian 32-bit, prices in paise:
//!
//! | mode | bytes | fields |
//! |---|---|---|
//! | ltp | 8 | token, last price |
//! | quote | 44 | token, last price, last quantity, average price, volume, total buy qty, total sell qty, open, high, low, close |
//! | full | 184 | quote, last trade time, OI, OI day high, OI day low, exchange time, then 10 × (qty `u32`, price `u32`, orders `u16`, 2 padding bytes): 5 bids, 5 asks |
//!
//! A 1-byte binary message is a heartbeat. Text messages are JSON:
//! `{"type":"order","data":{...}}` (an order update, the same object as `GET /orders`),
//! `{"type":"error","data":"..."}`, `{"type":"message","data":"..."}`.
//!
//! Client → server text messages: `{"a":"subscribe","v":[tokens]}`, `{"a":"unsubscribe","v":[tokens]}`,
//! `{"a":"mode","v":["ltp"|"quote"|"full",[tokens]]}`, parsed strictly by [`parse_client_message`].
//!
//! Kite's clients read every field as unsigned and take the price divisor from the token's low
//! byte (see [`crate::kite::instrument_token`]); the encoder only writes values in
//! `0..=i32::MAX`, on which signed and unsigned readers agree, and refuses the rest.

use core::fmt;

use engine_core::{Price, Qty, Token};
use serde::Serialize;

/// The 1-byte heartbeat the server sends when it has nothing else to send.
pub const HEARTBEAT: [u8; 1] = [0];
pub const LTP_LEN: usize = 8;
pub const QUOTE_LEN: usize = 44;
pub const FULL_LEN: usize = 184;
/// Most packets one binary message can count.
pub const PACKETS_PER_MESSAGE_MAX: usize = u16::MAX as usize;
/// Most tokens one connection may subscribe to, as Kite limits it.
pub const TOKENS_PER_CONNECTION_MAX: usize = 3000;
/// Largest client message accepted (a subscribe of 3000 ten-digit tokens fits).
pub const CLIENT_MESSAGE_LEN_MAX: usize = 48 * 1024;

/// Streaming modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    Ltp,
    Quote,
    Full,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Ltp => "ltp",
            Mode::Quote => "quote",
            Mode::Full => "full",
        }
    }

    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "ltp" => Some(Mode::Ltp),
            "quote" => Some(Mode::Quote),
            "full" => Some(Mode::Full),
            _ => None,
        }
    }

    pub fn packet_len(self) -> usize {
        match self {
            Mode::Ltp => LTP_LEN,
            Mode::Quote => QUOTE_LEN,
            Mode::Full => FULL_LEN,
        }
    }
}

/// One depth entry of a full-mode packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DepthEntry {
    pub quantity: Qty,
    pub price: Price,
    pub orders: u32,
}

/// Everything a full-mode packet carries; quote and ltp packets carry a prefix of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tick {
    pub token: Token,
    pub last_price: Price,
    pub last_quantity: Qty,
    /// Today's VWAP in paise.
    pub average_price: Price,
    pub volume: i64,
    pub buy_quantity: Qty,
    pub sell_quantity: Qty,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    /// Previous close.
    pub close: Price,
    /// Unix seconds.
    pub last_trade_time: u32,
    pub oi: i64,
    pub oi_day_high: i64,
    pub oi_day_low: i64,
    /// Unix seconds.
    pub exchange_timestamp: u32,
    pub bids: [DepthEntry; 5],
    pub asks: [DepthEntry; 5],
}

/// A value that does not fit its 32-bit (or 16-bit) field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfRange {
    pub field: &'static str,
    pub value: i64,
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ticker field {} = {} does not fit its packet field", self.field, self.value)
    }
}

impl std::error::Error for OutOfRange {}

fn put_i32(out: &mut Vec<u8>, field: &'static str, value: i64) -> Result<(), OutOfRange> {
    match i32::try_from(value) {
        Ok(v) if v >= 0 => {
            out.extend_from_slice(&v.to_be_bytes());
            Ok(())
        }
        _ => Err(OutOfRange { field, value }),
    }
}

/// Appends the packet of `tick` in `mode` to `out`; on error `out` is left as it was.
pub fn encode_packet(tick: &Tick, mode: Mode, out: &mut Vec<u8>) -> Result<(), OutOfRange> {
    let start = out.len();
    let result = encode_packet_inner(tick, mode, out);
    if result.is_err() {
        out.truncate(start);
    }
    debug_assert!(result.is_err() || out.len() - start == mode.packet_len());
    result
}

fn encode_packet_inner(t: &Tick, mode: Mode, out: &mut Vec<u8>) -> Result<(), OutOfRange> {
    out.extend_from_slice(&t.token.to_be_bytes());
    put_i32(out, "last_price", t.last_price)?;
    if mode == Mode::Ltp {
        return Ok(());
    }
    put_i32(out, "last_quantity", t.last_quantity)?;
    put_i32(out, "average_price", t.average_price)?;
    put_i32(out, "volume", t.volume)?;
    put_i32(out, "buy_quantity", t.buy_quantity)?;
    put_i32(out, "sell_quantity", t.sell_quantity)?;
    put_i32(out, "open", t.open)?;
    put_i32(out, "high", t.high)?;
    put_i32(out, "low", t.low)?;
    put_i32(out, "close", t.close)?;
    if mode == Mode::Quote {
        return Ok(());
    }
    put_i32(out, "last_trade_time", i64::from(t.last_trade_time))?;
    put_i32(out, "oi", t.oi)?;
    put_i32(out, "oi_day_high", t.oi_day_high)?;
    put_i32(out, "oi_day_low", t.oi_day_low)?;
    put_i32(out, "exchange_timestamp", i64::from(t.exchange_timestamp))?;
    for (i, d) in t.bids.iter().chain(t.asks.iter()).enumerate() {
        let bid = i < 5;
        put_i32(out, if bid { "bid.quantity" } else { "ask.quantity" }, d.quantity)?;
        put_i32(out, if bid { "bid.price" } else { "ask.price" }, d.price)?;
        let orders = u16::try_from(d.orders).map_err(|_| OutOfRange {
            field: if bid { "bid.orders" } else { "ask.orders" },
            value: i64::from(d.orders),
        })?;
        out.extend_from_slice(&orders.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
    }
    Ok(())
}

/// Builds one binary message from `(tick, mode)` pairs. Use [`encode_messages`] when there may
/// be more than [`PACKETS_PER_MESSAGE_MAX`].
pub fn encode_message(ticks: &[(Tick, Mode)]) -> Result<Vec<u8>, OutOfRange> {
    if ticks.len() > PACKETS_PER_MESSAGE_MAX {
        return Err(OutOfRange { field: "packet count", value: ticks.len() as i64 });
    }
    let mut out = Vec::with_capacity(2 + ticks.iter().map(|(_, m)| 2 + m.packet_len()).sum::<usize>());
    out.extend_from_slice(&(ticks.len() as u16).to_be_bytes());
    for (tick, mode) in ticks {
        out.extend_from_slice(&(mode.packet_len() as u16).to_be_bytes());
        encode_packet(tick, *mode, &mut out)?;
    }
    Ok(out)
}

/// Splits any number of ticks into as many messages as needed.
pub fn encode_messages(ticks: &[(Tick, Mode)]) -> Result<Vec<Vec<u8>>, OutOfRange> {
    ticks.chunks(PACKETS_PER_MESSAGE_MAX).map(encode_message).collect()
}

/// A decoded server message (the gateway's own tests and tools read what it writes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerMessage {
    Heartbeat,
    Ticks(Vec<(Tick, Mode)>),
}

/// Why a binary message did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    Empty,
    Truncated {
        at: usize,
    },
    /// A packet whose length is none of 8, 44 or 184.
    BadPacketLength {
        len: usize,
    },
    /// Bytes after the counted packets.
    TrailingBytes {
        len: usize,
    },
    /// A depth entry whose two padding bytes are not zero.
    NonZeroPadding {
        at: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for DecodeError {}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    i64::from(u32_at(b, at))
}

fn decode_packet(p: &[u8]) -> Result<(Tick, Mode), DecodeError> {
    let mode = match p.len() {
        LTP_LEN => Mode::Ltp,
        QUOTE_LEN => Mode::Quote,
        FULL_LEN => Mode::Full,
        len => return Err(DecodeError::BadPacketLength { len }),
    };
    let mut t = Tick { token: u32_at(p, 0), last_price: i64_at(p, 4), ..Tick::default() };
    if mode != Mode::Ltp {
        t.last_quantity = i64_at(p, 8);
        t.average_price = i64_at(p, 12);
        t.volume = i64_at(p, 16);
        t.buy_quantity = i64_at(p, 20);
        t.sell_quantity = i64_at(p, 24);
        t.open = i64_at(p, 28);
        t.high = i64_at(p, 32);
        t.low = i64_at(p, 36);
        t.close = i64_at(p, 40);
    }
    if mode == Mode::Full {
        t.last_trade_time = u32_at(p, 44);
        t.oi = i64_at(p, 48);
        t.oi_day_high = i64_at(p, 52);
        t.oi_day_low = i64_at(p, 56);
        t.exchange_timestamp = u32_at(p, 60);
        for i in 0..10 {
            let at = 64 + 12 * i;
            if p[at + 10] != 0 || p[at + 11] != 0 {
                return Err(DecodeError::NonZeroPadding { at: at + 10 });
            }
            let d = DepthEntry {
                quantity: i64_at(p, at),
                price: i64_at(p, at + 4),
                orders: u32::from(u16::from_be_bytes([p[at + 8], p[at + 9]])),
            };
            if i < 5 {
                t.bids[i] = d;
            } else {
                t.asks[i - 5] = d;
            }
        }
    }
    Ok((t, mode))
}

/// Decodes a binary server message strictly: every counted packet present, no bytes after.
pub fn decode_message(bytes: &[u8]) -> Result<ServerMessage, DecodeError> {
    match bytes.len() {
        0 => return Err(DecodeError::Empty),
        1 => return Ok(ServerMessage::Heartbeat),
        _ => {}
    }
    let count = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
    let mut at = 2;
    let mut ticks = Vec::with_capacity(count.min(bytes.len() / 10));
    for _ in 0..count {
        let len_bytes = bytes.get(at..at + 2).ok_or(DecodeError::Truncated { at })?;
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        at += 2;
        let packet = bytes.get(at..at + len).ok_or(DecodeError::Truncated { at })?;
        ticks.push(decode_packet(packet)?);
        at += len;
    }
    if at != bytes.len() {
        return Err(DecodeError::TrailingBytes { len: bytes.len() - at });
    }
    Ok(ServerMessage::Ticks(ticks))
}

/// `{"type":"order","data":<order>}`: pass [`crate::format::order_json`].
pub fn order_update_message<T: Serialize>(order: &T) -> Result<String, serde_json::Error> {
    #[derive(Serialize)]
    struct Msg<'a, T> {
        #[serde(rename = "type")]
        kind: &'static str,
        data: &'a T,
    }
    serde_json::to_string(&Msg { kind: "order", data: order })
}

/// `{"type":"error","data":"..."}`: the Python client reports it through `on_error` with code 0.
pub fn error_message(text: &str) -> String {
    serde_json::json!({"type": "error", "data": text}).to_string()
}

/// `{"type":"message","data":"..."}`: a broadcast note.
pub fn text_message(text: &str) -> String {
    serde_json::json!({"type": "message", "data": text}).to_string()
}

/// What a client asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientMessage {
    Subscribe(Vec<Token>),
    Unsubscribe(Vec<Token>),
    SetMode(Mode, Vec<Token>),
}

/// Why a client message was refused; the text goes back in an `error` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientMessageError(pub String);

impl fmt::Display for ClientMessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClientMessageError {}

fn refuse(text: impl Into<String>) -> ClientMessageError {
    ClientMessageError(text.into())
}

fn tokens(value: &serde_json::Value) -> Result<Vec<Token>, ClientMessageError> {
    let list = value.as_array().ok_or_else(|| refuse("`v` must be a list of instrument tokens"))?;
    if list.len() > TOKENS_PER_CONNECTION_MAX {
        return Err(refuse(format!("at most {TOKENS_PER_CONNECTION_MAX} instrument tokens per message")));
    }
    list.iter()
        .map(|v| {
            v.as_u64()
                .and_then(|n| Token::try_from(n).ok())
                .ok_or_else(|| refuse("instrument tokens must be whole numbers from 0 to 4294967295"))
        })
        .collect()
}

/// Parses a client text message strictly: a JSON object with exactly the keys `a` and `v`,
/// a known action, tokens as JSON integers that fit a `u32`, a known mode.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, ClientMessageError> {
    if text.len() > CLIENT_MESSAGE_LEN_MAX {
        return Err(refuse(format!("message too long (at most {CLIENT_MESSAGE_LEN_MAX} bytes)")));
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| refuse("message is not valid JSON"))?;
    let object = value.as_object().ok_or_else(|| refuse("message must be a JSON object"))?;
    if object.len() != 2 || !object.contains_key("a") || !object.contains_key("v") {
        return Err(refuse("message must have exactly the keys `a` and `v`"));
    }
    let action = object["a"].as_str().ok_or_else(|| refuse("`a` must be a string"))?;
    let v = &object["v"];
    match action {
        "subscribe" => Ok(ClientMessage::Subscribe(tokens(v)?)),
        "unsubscribe" => Ok(ClientMessage::Unsubscribe(tokens(v)?)),
        "mode" => {
            let pair =
                v.as_array().filter(|p| p.len() == 2).ok_or_else(|| refuse("`v` of mode must be [mode, [tokens]]"))?;
            let mode = pair[0]
                .as_str()
                .and_then(Mode::parse)
                .ok_or_else(|| refuse("mode must be \"ltp\", \"quote\" or \"full\""))?;
            Ok(ClientMessage::SetMode(mode, tokens(&pair[1])?))
        }
        other => Err(refuse(format!("unknown action `{}`", crate::form::printable(other)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tick() -> Tick {
        let mut t = Tick {
            token: 408065,
            last_price: 152250,
            last_quantity: 4,
            average_price: 152105,
            volume: 123456,
            buy_quantity: 3000,
            sell_quantity: 2500,
            open: 151000,
            high: 153000,
            low: 150500,
            close: 150000,
            last_trade_time: 1_705_290_299,
            oi: 0,
            oi_day_high: 0,
            oi_day_low: 0,
            exchange_timestamp: 1_705_290_300,
            ..Tick::default()
        };
        for i in 0..5 {
            t.bids[i] = DepthEntry { quantity: 100 + i as i64, price: 152200 - 5 * i as i64, orders: 1 + i as u32 };
            t.asks[i] = DepthEntry { quantity: 200 + i as i64, price: 152300 + 5 * i as i64, orders: 10 + i as u32 };
        }
        t
    }

    #[test]
    fn packet_layouts() {
        let t = tick();
        let mut ltp = Vec::new();
        encode_packet(&t, Mode::Ltp, &mut ltp).unwrap();
        assert_eq!(ltp, [0, 6, 58, 1, 0, 2, 82, 186]);
        let mut quote = Vec::new();
        encode_packet(&t, Mode::Quote, &mut quote).unwrap();
        assert_eq!(quote.len(), 44);
        assert_eq!(&quote[..8], &ltp[..]);
        assert_eq!(&quote[40..44], &150000u32.to_be_bytes());
        let mut full = Vec::new();
        encode_packet(&t, Mode::Full, &mut full).unwrap();
        assert_eq!(full.len(), 184);
        assert_eq!(&full[..44], &quote[..]);
        assert_eq!(&full[44..48], &1_705_290_299u32.to_be_bytes());
        // First bid at 64: quantity, price, orders, padding.
        assert_eq!(&full[64..76], &[0, 0, 0, 100, 0, 2, 82, 136, 0, 1, 0, 0]);
        // First ask at 64 + 5 × 12.
        assert_eq!(&full[124..128], &200u32.to_be_bytes());
    }

    #[test]
    fn message_framing() {
        let t = tick();
        let msg = encode_message(&[(t, Mode::Ltp), (t, Mode::Full)]).unwrap();
        assert_eq!(&msg[..4], &[0, 2, 0, 8]);
        assert_eq!(&msg[12..14], &[0, 184]);
        assert_eq!(msg.len(), 2 + 2 + 8 + 2 + 184);
        let ServerMessage::Ticks(decoded) = decode_message(&msg).unwrap() else { panic!("ticks") };
        assert_eq!(decoded[0], (Tick { token: t.token, last_price: t.last_price, ..Tick::default() }, Mode::Ltp));
        assert_eq!(decoded[1], (t, Mode::Full));
        assert_eq!(decode_message(&HEARTBEAT), Ok(ServerMessage::Heartbeat));
        assert_eq!(encode_message(&[]).unwrap(), [0, 0]);
        assert_eq!(decode_message(&msg[..msg.len() - 1]), Err(DecodeError::Truncated { at: 14 }));
        let mut extra = msg.clone();
        extra.push(0);
        assert_eq!(decode_message(&extra), Err(DecodeError::TrailingBytes { len: 1 }));
        assert_eq!(decode_message(&[0, 1, 0, 3, 1, 2, 3]), Err(DecodeError::BadPacketLength { len: 3 }));
        assert_eq!(encode_messages(&vec![(t, Mode::Ltp); PACKETS_PER_MESSAGE_MAX + 1]).unwrap().len(), 2);
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let mut t = tick();
        t.volume = i64::from(i32::MAX) + 1;
        let mut out = vec![9];
        assert_eq!(encode_packet(&t, Mode::Quote, &mut out), Err(OutOfRange { field: "volume", value: 2_147_483_648 }));
        assert_eq!(out, [9]);
        // The ltp packet does not carry volume.
        assert!(encode_packet(&t, Mode::Ltp, &mut out).is_ok());
        let mut t = tick();
        t.last_price = -5;
        assert!(encode_message(&[(t, Mode::Ltp)]).is_err());
        let mut t = tick();
        t.asks[4].orders = 65_536;
        assert_eq!(encode_packet(&t, Mode::Full, &mut Vec::new()).unwrap_err().field, "ask.orders");
    }

    #[test]
    fn text_messages() {
        let v: serde_json::Value = serde_json::from_str(
            &order_update_message(&serde_json::json!({"order_id": "1", "status": "COMPLETE"})).unwrap(),
        )
        .unwrap();
        assert_eq!(v, serde_json::json!({"type": "order", "data": {"order_id": "1", "status": "COMPLETE"}}));
        assert_eq!(error_message("bad \"x\""), r#"{"data":"bad \"x\"","type":"error"}"#);
    }

    #[test]
    fn client_messages() {
        // Exactly what the Python client sends (json.dumps).
        assert_eq!(
            parse_client_message(r#"{"a": "subscribe", "v": [738561, 408065]}"#),
            Ok(ClientMessage::Subscribe(vec![738561, 408065]))
        );
        assert_eq!(parse_client_message(r#"{"a":"unsubscribe","v":[]}"#), Ok(ClientMessage::Unsubscribe(vec![])));
        assert_eq!(
            parse_client_message(r#"{"a": "mode", "v": ["full", [738561]]}"#),
            Ok(ClientMessage::SetMode(Mode::Full, vec![738561]))
        );
        for bad in [
            r#"{"a":"subscribe"}"#,
            r#"{"a":"subscribe","v":[1],"x":1}"#,
            r#"{"a":"subscribe","v":[1.0]}"#,
            r#"{"a":"subscribe","v":[-1]}"#,
            r#"{"a":"subscribe","v":[4294967296]}"#,
            r#"{"a":"subscribe","v":["1"]}"#,
            r#"{"a":"subscribe","v":1}"#,
            r#"{"a":"SUBSCRIBE","v":[1]}"#,
            r#"{"a":"mode","v":["FULL",[1]]}"#,
            r#"{"a":"mode","v":["full"]}"#,
            r#"{"a":"mode","v":["full",[1],2]}"#,
            r#"{"a":"mode","v":[[1],"full"]}"#,
            r#"["subscribe",[1]]"#,
            "subscribe",
            "",
        ] {
            assert!(parse_client_message(bad).is_err(), "{bad}");
        }
        let many = format!(r#"{{"a":"subscribe","v":[{}]}}"#, vec!["1"; 3001].join(","));
        assert!(parse_client_message(&many).unwrap_err().0.contains("at most 3000"));
        let ok = format!(r#"{{"a":"subscribe","v":[{}]}}"#, vec!["4294967295"; 3000].join(","));
        assert_eq!(
            parse_client_message(&ok).map(|m| matches!(m, ClientMessage::Subscribe(t) if t.len() == 3000)),
            Ok(true)
        );
    }

    fn arb_tick() -> impl Strategy<Value = Tick> {
        let v = 0i64..=i64::from(i32::MAX);
        let d = (v.clone(), v.clone(), 0u32..=65_535).prop_map(|(quantity, price, orders)| DepthEntry {
            quantity,
            price,
            orders,
        });
        (
            (any::<u32>(), v.clone(), v.clone(), v.clone(), v.clone(), v.clone(), v.clone()),
            (v.clone(), v.clone(), v.clone(), v.clone(), 0u32..=i32::MAX as u32, v.clone(), v.clone()),
            (v.clone(), 0u32..=i32::MAX as u32, prop::array::uniform5(d.clone()), prop::array::uniform5(d)),
        )
            .prop_map(
                |((token, lp, lq, ap, vol, bq, sq), (o, h, l, c, ltt, oi, oih), (oil, ets, bids, asks))| Tick {
                    token,
                    last_price: lp,
                    last_quantity: lq,
                    average_price: ap,
                    volume: vol,
                    buy_quantity: bq,
                    sell_quantity: sq,
                    open: o,
                    high: h,
                    low: l,
                    close: c,
                    last_trade_time: ltt,
                    oi,
                    oi_day_high: oih,
                    oi_day_low: oil,
                    exchange_timestamp: ets,
                    bids,
                    asks,
                },
            )
    }

    proptest! {
        #[test]
        fn full_ticks_round_trip(ticks in proptest::collection::vec(arb_tick(), 0..8)) {
            let pairs: Vec<(Tick, Mode)> = ticks.into_iter().map(|t| (t, Mode::Full)).collect();
            let msg = encode_message(&pairs).unwrap();
            prop_assert_eq!(decode_message(&msg), Ok(ServerMessage::Ticks(pairs)));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(ServerMessage::Ticks(ticks)) = decode_message(&bytes) {
                // Values above i32::MAX decode (clients read unsigned) but are not written.
                if let Ok(again) = encode_message(&ticks) {
                    prop_assert_eq!(again, bytes);
                }
            }
        }

        #[test]
        fn client_parse_never_panics(text in "\\PC{0,64}") {
            let _ = parse_client_message(&text);
        }
    }
}
