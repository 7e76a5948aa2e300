//! The WebSocket ticker end to end, with a real WebSocket client: the handshake refuses a
//! missing or bad token; subscriptions in each mode get binary ticks that decode to the
//! market after real trades placed over HTTP; an idle connection gets 1-byte heartbeats; order
//! updates go to their owner's connections only; a malformed client message gets an error
//! message and the connection stays usable.

mod gateway_support;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use exchange::stack::{Stack, Trader, INFY, TCS};
use gateway::ticker::{decode_message, DepthEntry, Mode, ServerMessage, Tick};
use gateway_support::{auth, limit_order, session, Client};
use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// How long a test waits for something the ticker should send.
const PATIENCE: Duration = Duration::from_secs(10);

/// A ticker connection and everything it received, in order.
struct Conn {
    who: &'static str,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    ticks: Vec<(Tick, Mode)>,
    texts: Vec<Value>,
    heartbeats: usize,
}

impl Conn {
    fn open(addr: SocketAddr, who: &'static str, t: &Trader, access_token: &str) -> Conn {
        let url = format!("ws://{addr}/?api_key={}&access_token={access_token}", t.api_key);
        let (ws, response) = tungstenite::connect(url).unwrap_or_else(|e| panic!("{who}: {e}"));
        assert_eq!(response.status().as_u16(), 101);
        match ws.get_ref() {
            MaybeTlsStream::Plain(s) => s.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout"),
            _ => unreachable!("plain TCP"),
        }
        Conn { who, ws, ticks: Vec::new(), texts: Vec::new(), heartbeats: 0 }
    }

    fn send(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).unwrap_or_else(|e| panic!("{}: {e}", self.who));
    }

    /// Reads one message, if one comes within the read timeout.
    fn poll(&mut self) {
        match self.ws.read() {
            Ok(Message::Binary(bytes)) => match decode_message(&bytes) {
                Ok(ServerMessage::Heartbeat) => {
                    assert_eq!(&bytes[..], &[0], "{}: heartbeat", self.who);
                    self.heartbeats += 1;
                }
                Ok(ServerMessage::Ticks(ticks)) => {
                    assert!(!ticks.is_empty(), "{}: an empty tick message", self.who);
                    self.ticks.extend(ticks);
                }
                Err(e) => panic!("{}: undecodable binary message ({e}): {bytes:?}", self.who),
            },
            Ok(Message::Text(text)) => {
                let v: Value =
                    serde_json::from_str(text.as_str()).unwrap_or_else(|e| panic!("{}: {e}: {text}", self.who));
                self.texts.push(v);
            }
            Ok(Message::Close(frame)) => panic!("{}: the server closed the connection: {frame:?}", self.who),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("{}: {e}", self.who),
        }
    }

    /// Reads until `done` holds.
    fn until(&mut self, what: &str, done: impl Fn(&Conn) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "{}: no {what} within {PATIENCE:?}; ticks {:?}, texts {:?}",
                self.who,
                self.ticks,
                self.texts
            );
            self.poll();
        }
    }

    /// Reads whatever comes for `d`.
    fn drain(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.poll();
        }
    }

    fn last(&self, token: u32, mode: Mode) -> Option<Tick> {
        self.ticks.iter().rev().find(|(t, m)| t.token == token && *m == mode).map(|(t, _)| *t)
    }

    fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.texts.iter().filter(|v| v["type"] == kind).collect()
    }

    /// Ids of the orders this connection had updates for.
    fn order_ids(&self) -> Vec<String> {
        self.of_type("order").iter().map(|v| v["data"]["order_id"].as_str().expect("order_id").to_string()).collect()
    }
}

/// The handshake's answer when it is refused: (HTTP status, body).
fn refused(addr: SocketAddr, query: &str) -> (u16, String) {
    match tungstenite::connect(format!("ws://{addr}/{query}")) {
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default().into_owned();
            (response.status().as_u16(), body)
        }
        Ok(_) => panic!("{query}: the handshake succeeded"),
        Err(e) => panic!("{query}: {e}"),
    }
}

fn paise(v: &Value) -> i64 {
    (v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")) * 100.0).round() as i64
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

/// `GET /quote` of one instrument as a full tick (without the timestamps, which it writes as
/// IST date-times).
fn tick_from_quote(q: &Value) -> Tick {
    let depth = |side: &str| {
        let mut out = [DepthEntry::default(); 5];
        for (slot, l) in out.iter_mut().zip(q["depth"][side].as_array().expect("depth")) {
            *slot = DepthEntry {
                quantity: int(&l["quantity"]),
                price: paise(&l["price"]),
                orders: int(&l["orders"]) as u32,
            };
        }
        out
    };
    Tick {
        token: int(&q["instrument_token"]) as u32,
        last_price: paise(&q["last_price"]),
        last_quantity: int(&q["last_quantity"]),
        average_price: paise(&q["average_price"]),
        volume: int(&q["volume"]),
        buy_quantity: int(&q["buy_quantity"]),
        sell_quantity: int(&q["sell_quantity"]),
        open: paise(&q["ohlc"]["open"]),
        high: paise(&q["ohlc"]["high"]),
        low: paise(&q["ohlc"]["low"]),
        close: paise(&q["ohlc"]["close"]),
        bids: depth("buy"),
        asks: depth("sell"),
        ..Tick::default()
    }
}

fn without_times(t: Tick) -> Tick {
    Tick { last_trade_time: 0, exchange_timestamp: 0, ..t }
}

/// What a quote-mode packet carries of a full tick.
fn quote_part(t: Tick) -> Tick {
    Tick { last_trade_time: 0, exchange_timestamp: 0, bids: Default::default(), asks: Default::default(), ..t }
}

fn level(quantity: i64, price: i64) -> DepthEntry {
    DepthEntry { quantity, price, orders: 1 }
}

#[test]
fn ticker() {
    let mut stack = Stack::start_with(gateway_support::unlimited());
    ticker_on(&mut stack);
    stack.stop();
}

fn ticker_on(stack: &mut Stack) {
    stack.market();
    let buyer = stack.trader(&[], 100_000_000, &[]);
    let seller = stack.trader(&[], 0, &[(INFY, 100)]);
    let idle = stack.trader(&[], 0, &[]);
    let buyer_token = session(stack, &buyer, 0);
    let seller_token = session(stack, &seller, 0);
    let idle_token = session(stack, &idle, 0);
    let addr = stack.addr;
    let http = Client::new(stack);
    let (infy, tcs) = (INFY.token(), TCS.token());

    // ---- the handshake checks the session
    let logged_out = session(stack, &idle, 1);
    let r = http.delete(&format!("/session/token?api_key={}&access_token={logged_out}", idle.api_key), None);
    assert_eq!(r.data(), true);
    for (what, query) in [
        ("no query", String::new()),
        ("no access_token", format!("?api_key={}", buyer.api_key)),
        ("no api_key", format!("?access_token={buyer_token}")),
        ("a bad token", format!("?api_key={}&access_token=not-a-token", buyer.api_key)),
        ("another user's api_key", format!("?api_key={}&access_token={buyer_token}", seller.api_key)),
        ("a logged-out token", format!("?api_key={}&access_token={logged_out}", idle.api_key)),
        ("a malformed query", format!("?api_key={}&access_token={buyer_token}%", buyer.api_key)),
    ] {
        let (status, body) = refused(addr, &query);
        let kind = serde_json::from_str::<Value>(&body).map(|v| v["error_type"].clone()).unwrap_or_default();
        let expected =
            if what == "a malformed query" { (400, json!("InputException")) } else { (403, json!("TokenException")) };
        assert_eq!((status, kind), expected, "{what}: {body}");
    }
    // A plain GET with a good session is not a ticker connection.
    let r = http.get(&format!("/?api_key={}&access_token={buyer_token}", buyer.api_key), None);
    r.expect_error(
        400,
        "InputException",
        "This is the WebSocket ticker: connect with a WebSocket client (Upgrade: websocket).",
    );

    let mut a = Conn::open(addr, "buyer", &buyer, &buyer_token);
    let mut b = Conn::open(addr, "seller", &seller, &seller_token);
    let mut c = Conn::open(addr, "idle", &idle, &idle_token);

    // ---- subscriptions: the current tick at once, in the subscription's mode
    let before = Tick { token: infy, last_price: INFY.reference, close: INFY.reference, ..Tick::default() };
    a.send(&format!(r#"{{"a":"subscribe","v":[{infy}]}}"#));
    a.until("a quote tick (the default mode)", |c| c.last(infy, Mode::Quote).is_some());
    assert_eq!(a.last(infy, Mode::Quote), Some(before));
    a.send(&format!(r#"{{"a":"mode","v":["full",[{infy}]]}}"#));
    a.until("a full tick", |c| c.last(infy, Mode::Full).is_some());
    assert_eq!(a.last(infy, Mode::Full).map(without_times), Some(before));
    c.send(&format!(r#"{{"a": "subscribe", "v": [{infy}]}}"#));
    c.send(&format!(r#"{{"a": "mode", "v": ["ltp", [{infy}]]}}"#));
    c.until("an ltp tick", |c| c.last(infy, Mode::Ltp).is_some());
    assert_eq!(c.last(infy, Mode::Ltp), Some(Tick { token: infy, last_price: INFY.reference, ..Tick::default() }));
    c.ticks.clear();

    // ---- real trades over HTTP
    let place = |who: &Trader, token: &str, side: &str, qty: u32, price: &str| {
        let r = http.form("post", "/orders/regular", Some(&auth(who, token)), &limit_order("INFY", side, qty, price));
        r.data()["order_id"].as_str().expect("order_id").to_string()
    };
    let sell_10 = place(&seller, &seller_token, "SELL", 10, "1510");
    let buy_4 = place(&buyer, &buyer_token, "BUY", 4, "1510"); // trades 4 at 1510
    let buy_3 = place(&buyer, &buyer_token, "BUY", 3, "1495");
    let buy_2 = place(&buyer, &buyer_token, "BUY", 2, "1490");
    let sell_5 = place(&seller, &seller_token, "SELL", 5, "1520");
    let mut after = Tick {
        token: infy,
        last_price: 151_000,
        last_quantity: 4,
        average_price: 151_000,
        volume: 4,
        buy_quantity: 5,
        sell_quantity: 11,
        open: 151_000,
        high: 151_000,
        low: 151_000,
        close: INFY.reference,
        ..Tick::default()
    };
    after.bids[..2].copy_from_slice(&[level(3, 149_500), level(2, 149_000)]);
    after.asks[..2].copy_from_slice(&[level(6, 151_000), level(5, 152_000)]);
    a.until("the full tick after the trades", |c| c.last(infy, Mode::Full).map(without_times) == Some(after));
    let full = a.last(infy, Mode::Full).expect("full tick");
    assert!(full.last_trade_time > 0 && full.exchange_timestamp >= full.last_trade_time, "{full:?}");
    // The ticker and the quote API tell the same market.
    let quote = http.get("/quote?i=NSE:INFY", Some(&auth(&buyer, &buyer_token))).data();
    assert_eq!(tick_from_quote(&quote["NSE:INFY"]), after, "{quote}");
    c.until("the ltp after the trades", |c| c.last(infy, Mode::Ltp).is_some_and(|t| t.last_price == 151_000));
    assert!(c.ticks.iter().all(|(t, m)| *m == Mode::Ltp && t.token == infy && t.last_quantity == 0), "{:?}", c.ticks);

    // Changing the mode sends the tick again in the new mode.
    a.send(&format!(r#"{{"a":"mode","v":["ltp",[{infy}]]}}"#));
    a.until("an ltp tick", |c| c.last(infy, Mode::Ltp).is_some());
    assert_eq!(a.last(infy, Mode::Ltp), Some(Tick { token: infy, last_price: 151_000, ..Tick::default() }));
    a.send(&format!(r#"{{"a":"mode","v":["quote",[{infy}]]}}"#));
    a.until("a quote tick", |c| c.last(infy, Mode::Quote).is_some_and(|t| t.volume > 0));
    assert_eq!(a.last(infy, Mode::Quote), Some(quote_part(after)));

    // ---- order updates: each user's own, on each user's connections only
    let buyer_orders = [buy_4.clone(), buy_3, buy_2];
    let seller_orders = [sell_10.clone(), sell_5];
    a.until("the buyer's order updates", |c| buyer_orders.iter().all(|id| c.order_ids().contains(id)));
    b.until("the seller's order updates", |c| seller_orders.iter().all(|id| c.order_ids().contains(id)));
    let complete = |c: &Conn, id: &str, status: &str, filled: i64| {
        c.of_type("order").iter().any(|v| {
            v["data"]["order_id"] == id && v["data"]["status"] == status && v["data"]["filled_quantity"] == filled
        })
    };
    a.until("the buyer's fill", |c| complete(c, &buy_4, "COMPLETE", 4));
    b.until("the seller's partial fill", |c| complete(c, &sell_10, "OPEN", 4));
    c.drain(Duration::from_millis(300));
    assert!(a.order_ids().iter().all(|id| buyer_orders.contains(id)), "{:?}", a.texts);
    assert!(b.order_ids().iter().all(|id| seller_orders.contains(id)), "{:?}", b.texts);
    assert!(a.of_type("order").iter().all(|v| v["data"]["placed_by"] == buyer.user_id.as_str()));
    assert!(c.texts.is_empty(), "the idle user got {:?}", c.texts);
    // The seller subscribed to nothing: no ticks.
    assert!(b.ticks.is_empty(), "{:?}", b.ticks);

    // ---- heartbeats when there is nothing to say
    let (a_beats, c_beats) = (a.heartbeats, c.heartbeats);
    a.until("a heartbeat", |c| c.heartbeats > a_beats);
    c.until("a heartbeat", |conn| conn.heartbeats > c_beats);

    // ---- unsubscribe: no more ticks of that instrument on that connection
    a.send(&format!(r#"{{"a":"unsubscribe","v":[{infy}]}}"#));
    a.drain(Duration::from_millis(300));
    let (a_ticks, c_ticks) = (a.ticks.len(), c.ticks.len());
    place(&seller, &seller_token, "SELL", 1, "1530");
    c.until("a tick of the new ask", |conn| conn.ticks.len() > c_ticks);
    a.drain(Duration::from_millis(300));
    assert_eq!(a.ticks.len(), a_ticks, "{:?}", &a.ticks[a_ticks..]);

    // ---- malformed client messages: an error message each, and the connection still works
    for (message, error) in [
        ("hello", "message is not valid JSON"),
        (r#"["subscribe",[1]]"#, "message must be a JSON object"),
        (r#"{"a":"subscribe"}"#, "message must have exactly the keys `a` and `v`"),
        (r#"{"a":"unsub","v":[1]}"#, "unknown action `unsub`"),
        (r#"{"a":"subscribe","v":["408065"]}"#, "instrument tokens must be whole numbers from 0 to 4294967295"),
        (r#"{"a":"subscribe","v":[-1]}"#, "instrument tokens must be whole numbers from 0 to 4294967295"),
        (r#"{"a":"mode","v":["FULL",[1]]}"#, "mode must be \"ltp\", \"quote\" or \"full\""),
        (r#"{"a":"mode","v":["full"]}"#, "`v` of mode must be [mode, [tokens]]"),
    ] {
        let errors = a.of_type("error").len();
        a.send(message);
        a.until("an error message", |c| c.of_type("error").len() > errors);
        assert_eq!(a.of_type("error").last().copied(), Some(&json!({"type": "error", "data": error})), "{message}");
    }
    a.send(&format!(r#"{{"a":"subscribe","v":[{tcs}]}}"#));
    a.until("a tick of TCS", |c| c.last(tcs, Mode::Quote).is_some());
    assert_eq!(
        a.last(tcs, Mode::Quote),
        Some(Tick { token: tcs, last_price: TCS.reference, close: TCS.reference, ..Tick::default() })
    );
    drop((a, b, c));
}
