#!/usr/bin/env python3
"""The official `kiteconnect` client, unmodified, against the running exchange.

Run by engine/exchange/tests/kite_client.rs with the path of a JSON file that names the gateway
(`base_url`, `ws_url`), the fixture instruments and fees, and three traders with their
credentials: `maker` (cash and holdings of every stock; provides the book), `taker` (cash and
100 SBIN; trades against it and follows the ticker) and `poor` (₹1,000).

Each user logs in once, as Kite's web login does (`/api/login`, `/api/twofa` with a TOTP
computed here per RFC 6238, then `generate_session`). Every expected value is worked out here
from the orders placed, not read back from the exchange: fills, averages, statuses, the book,
ticks, cash after fees, positions, holdings and candles. What the services compute (positions,
holdings, candles) may lag the engine by milliseconds, so those are polled with a deadline;
everything else is read once. Exits non-zero with the first failed check.
"""

import base64
import datetime
import hashlib
import hmac
import json
import struct
import sys
import threading
import time
from decimal import ROUND_HALF_UP, Decimal

import requests
from kiteconnect import KiteConnect, KiteTicker
from kiteconnect import exceptions as kex

# How long anything asynchronous (a tick, an order update, a service's view) may take.
DEADLINE_S = 10.0
IST = datetime.timedelta(hours=5, minutes=30)

with open(sys.argv[1]) as config_file:
    CONFIG = json.load(config_file)
BASE = CONFIG["base_url"]
WS = CONFIG["ws_url"]
TICK = CONFIG["tick_paise"]
FEE_BPS = CONFIG["fee_bps"]
FEE_CAP = CONFIG["fee_cap_paise"]
INSTRUMENTS = {i["symbol"]: i for i in CONFIG["instruments"]}
TOKEN = {s: i["instrument_token"] for s, i in INSTRUMENTS.items()}
REF = {s: i["reference_paise"] for s, i in INSTRUMENTS.items()}
T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:6.2f}s] {msg}", flush=True)


# ------------------------------------------------------------------------------------ checks


class CheckFailed(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise CheckFailed(what)


def eq(actual, expected, what):
    if actual != expected:
        raise CheckFailed(f"{what}: got {actual!r}, expected {expected!r}")


def subset_diff(actual, expected, path=""):
    """The differences between `expected` and the same keys of `actual` (recursively)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: got {actual!r}, expected a dict"]
        out = []
        for k, v in expected.items():
            if k not in actual:
                out.append(f"{path}.{k}: missing")
            else:
                out += subset_diff(actual[k], v, f"{path}.{k}")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: got {actual!r}, expected {expected!r}"]
        out = []
        for i, (a, e) in enumerate(zip(actual, expected)):
            out += subset_diff(a, e, f"{path}[{i}]")
        return out
    # bool is an int in Python: keep True from passing for 1.
    if actual != expected or isinstance(actual, bool) != isinstance(expected, bool):
        return [f"{path}: got {actual!r}, expected {expected!r}"]
    return []


def matches(actual, expected, what):
    diff = subset_diff(actual, expected)
    if diff:
        raise CheckFailed(f"{what}:\n  " + "\n  ".join(diff))


def poll(what, probe, timeout=DEADLINE_S):
    """Calls `probe()` until it returns (True, value); returns value. On timeout fails with the
    last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        ok, seen = probe()
        if ok:
            return seen
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout}s waiting for {what}; last seen:\n  {seen}")
        time.sleep(0.02)


def raises(exc_class, what, fn, *args, **kwargs):
    """Runs fn; it must raise exactly `exc_class` (not a subclass or parent). Returns it."""
    try:
        fn(*args, **kwargs)
    except kex.KiteException as e:
        if type(e) is not exc_class:
            raise CheckFailed(f"{what}: raised {type(e).__name__}({e.code}: {e}), expected {exc_class.__name__}")
        log(f"  {what}: {type(e).__name__} {e.code}: {e}")
        return e
    raise CheckFailed(f"{what}: no exception, expected {exc_class.__name__}")


# ------------------------------------------------------------------------------------- money


def rupees(paise):
    """A rupee amount as the client reads it (json floats and p/100.0 agree bit for bit)."""
    return paise / 100


def average(fills):
    """Kite's average price of fills [(price_paise, qty)]: 4 decimals, rounded half up."""
    value = sum(p * q for p, q in fills)
    qty = sum(q for _, q in fills)
    return float((Decimal(value) / Decimal(qty * 100)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def fee(notional):
    f = -(-notional * FEE_BPS // 10000)
    return min(f, FEE_CAP) if FEE_CAP > 0 else f


def ist_now():
    """The wall clock in IST, naive, as the client parses Kite's timestamps."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + IST


# ------------------------------------------------------------------------------------- login


def totp(secret_b32, unix):
    """RFC 6238: HMAC-SHA1 over the 30 s step, dynamic truncation, 6 digits."""
    clean = secret_b32.replace(" ", "").replace("-", "").upper()
    key = base64.b32decode(clean + "=" * (-len(clean) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(unix) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def login(user):
    """Kite's web login with requests, then the client's own `generate_session`."""
    web = requests.Session()
    r = web.post(f"{BASE}/api/login", data={"user_id": user["user_id"], "password": user["password"]}, timeout=10)
    eq(r.status_code, 200, f"/api/login of {user['user_id']} ({r.text})")
    body = r.json()
    eq(body["status"], "success", "/api/login status")
    eq(body["data"]["user_id"], user["user_id"], "/api/login user_id")
    eq(body["data"]["twofa_type"], "totp", "/api/login twofa_type")
    request_id = body["data"]["request_id"]
    check(isinstance(request_id, str) and request_id, f"/api/login request_id {request_id!r}")
    r = web.post(
        f"{BASE}/api/twofa",
        data={"user_id": user["user_id"], "request_id": request_id, "twofa_value": totp(user["totp_secret"], time.time())},
        timeout=10,
    )
    eq(r.status_code, 200, f"/api/twofa of {user['user_id']} ({r.text})")
    request_token = r.json()["data"]["request_token"]
    check(isinstance(request_token, str) and request_token, f"request_token {request_token!r}")

    kite = KiteConnect(user["api_key"], root=BASE)
    session = kite.generate_session(request_token, api_secret=user["api_secret"])
    eq(session["user_id"], user["user_id"], "session user_id")
    eq(session["api_key"], user["api_key"], "session api_key")
    eq(session["email"], user["email"], "session email")
    check(isinstance(session["access_token"], str) and len(session["access_token"]) > 10, "session access_token")
    eq(kite.access_token, session["access_token"], "the client kept the access token")
    login_time = session["login_time"]
    check(isinstance(login_time, datetime.datetime), f"login_time parsed to a datetime: {login_time!r}")
    skew = abs((login_time - ist_now()).total_seconds())
    check(skew < 120, f"login_time {login_time} is IST now ({ist_now()}), off by {skew:.0f}s")
    # A request token is good for one session only.
    raises(kex.TokenException, "reusing a request token", KiteConnect(user["api_key"], root=BASE).generate_session,
           request_token, api_secret=user["api_secret"])
    return kite, session


# ------------------------------------------------------------------------------- market model


class Market:
    """What one instrument's market should look like: the resting levels and the day's trades.

    Each level holds one resting order in this script, so a level's order count is 1 until it
    is used up."""

    def __init__(self, symbol):
        self.symbol = symbol
        self.token = TOKEN[symbol]
        self.close = REF[symbol]
        self.levels = {"buy": {}, "sell": {}}
        self.trades = []  # (price, qty), in order

    def rest(self, side, price, qty):
        level = self.levels[side].setdefault(price, [0, 0])
        level[0] += qty
        level[1] += 1

    def remove(self, side, price, qty):
        level = self.levels[side][price]
        level[0] -= qty
        level[1] -= 1
        if level[0] == 0:
            del self.levels[side][price]

    def trade(self, maker_side, price, qty):
        """A fill of `qty` at `price` against the resting `maker_side` level."""
        level = self.levels[maker_side][price]
        check(level[0] >= qty, f"model: {self.symbol} {maker_side} {price} has {level[0]} < {qty}")
        level[0] -= qty
        if level[0] == 0:
            del self.levels[maker_side][price]
        self.trades.append((price, qty))

    def depth(self, side):
        prices = sorted(self.levels[side], reverse=(side == "buy"))[:5]
        out = [{"price": rupees(p), "quantity": self.levels[side][p][0], "orders": self.levels[side][p][1]} for p in prices]
        return out + [{"price": 0, "quantity": 0, "orders": 0}] * (5 - len(out))

    def total(self, side):
        return sum(q for q, _ in self.levels[side].values())

    @property
    def last(self):
        return self.trades[-1][0] if self.trades else self.close

    @property
    def volume(self):
        return sum(q for _, q in self.trades)

    def vwap(self):
        if not self.trades:
            return 0
        v = self.volume
        turnover = sum(p * q for p, q in self.trades)
        return (turnover * 2 + v) // (v * 2)

    def ohlc(self):
        if not self.trades:
            return {"open": 0, "high": 0, "low": 0, "close": rupees(self.close)}
        prices = [p for p, _ in self.trades]
        return {
            "open": rupees(prices[0]),
            "high": rupees(max(prices)),
            "low": rupees(min(prices)),
            "close": rupees(self.close),
        }

    def change(self):
        last, close = self.last / 100.0, self.close / 100.0
        return (last - close) * 100 / close

    def tick(self, mode):
        t = {"mode": mode, "tradable": True, "instrument_token": self.token, "last_price": rupees(self.last)}
        if mode == "ltp":
            return t
        t.update(
            {
                "last_traded_quantity": self.trades[-1][1] if self.trades else 0,
                "average_traded_price": rupees(self.vwap()),
                "volume_traded": self.volume,
                "total_buy_quantity": self.total("buy"),
                "total_sell_quantity": self.total("sell"),
                "ohlc": self.ohlc(),
                "change": self.change(),
            }
        )
        if mode == "full":
            t.update(
                {
                    "oi": 0,
                    "oi_day_high": 0,
                    "oi_day_low": 0,
                    "depth": {"buy": self.depth("buy"), "sell": self.depth("sell")},
                }
            )
        return t

    def quote(self):
        band = REF[self.symbol] * CONFIG["band_bps"] // 10000
        return {
            "instrument_token": self.token,
            "last_price": rupees(self.last),
            "last_quantity": self.trades[-1][1] if self.trades else 0,
            "volume": self.volume,
            "average_price": rupees(self.vwap()),
            "buy_quantity": self.total("buy"),
            "sell_quantity": self.total("sell"),
            "net_change": rupees(self.last - self.close),
            "lower_circuit_limit": rupees(REF[self.symbol] - band),
            "upper_circuit_limit": rupees(REF[self.symbol] + band),
            "ohlc": self.ohlc(),
            "depth": {"buy": self.depth("buy"), "sell": self.depth("sell")},
        }


# ------------------------------------------------------------------------------------ ticker


class TickerLog:
    """Everything a KiteTicker callback saw, for the main thread to wait on."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ticks = []
        self.order_updates = []
        self.errors = []
        self.connected = threading.Event()
        self.closed = threading.Event()
        self.close_code = None

    def latest(self, token, mode):
        with self.lock:
            for t in reversed(self.ticks):
                if t["instrument_token"] == token and t["mode"] == mode:
                    return t
        return None

    def updates(self):
        with self.lock:
            return list(self.order_updates)


def start_ticker(api_key, access_token, subscriptions):
    """Connects a KiteTicker; on connect subscribes and sets each token's mode, as Kite's
    example does."""
    ticker_log = TickerLog()
    kt = KiteTicker(api_key, access_token, root=WS, reconnect=False)

    def on_connect(ws, response):
        ws.subscribe(list(subscriptions))
        for token, mode in subscriptions.items():
            ws.set_mode(mode, [token])
        ticker_log.connected.set()

    def on_ticks(ws, ticks):
        with ticker_log.lock:
            ticker_log.ticks.extend(ticks)

    def on_order_update(ws, data):
        with ticker_log.lock:
            ticker_log.order_updates.append(data)

    def on_error(ws, code, reason):
        with ticker_log.lock:
            ticker_log.errors.append((code, str(reason)))

    def on_close(ws, code, reason):
        ticker_log.close_code = code
        ticker_log.closed.set()

    kt.on_connect = on_connect
    kt.on_ticks = on_ticks
    kt.on_order_update = on_order_update
    kt.on_error = on_error
    kt.on_close = on_close
    kt.connect(threaded=True)
    return kt, ticker_log


def wait_tick(ticker_log, market, mode, what):
    expected = market.tick(mode)

    def probe():
        t = ticker_log.latest(market.token, mode)
        if t is None:
            return False, f"no {mode} tick for {market.symbol} yet"
        diff = subset_diff(t, expected)
        return not diff, "\n  ".join(diff)

    poll(f"{market.symbol} {mode} tick {what}", probe)
    return ticker_log.latest(market.token, mode)


# ---------------------------------------------------------------------------------- the run


class Run:
    """One pass over the API. Each step is a method; they run in order and share what the
    exchange should now show: the markets, the taker's orders and fills, its cash."""

    def __init__(self):
        self.users = CONFIG["users"]
        self.kites = {}
        self.markets = {s: Market(s) for s in INSTRUMENTS}
        self.maker_orders = []  # order ids, oldest first
        self.placed = {}  # the taker's order id -> (symbol, side, product, order type)
        self.final_status = {}  # the taker's order id -> the status it ends in
        self.fills = []  # the taker's fills: (symbol, side, product, price, qty, order id)
        self.deposits = self.users["taker"]["cash_paise"]
        self.ticker = None  # the taker's KiteTicker
        self.ticks = None  # what it received (TickerLog)
        self.subscriptions = {}  # token -> mode

    # The three sessions, and the taker's user record.
    maker = property(lambda self: self.kites["maker"])
    taker = property(lambda self: self.kites["taker"])
    poor = property(lambda self: self.kites["poor"])
    tu = property(lambda self: self.users["taker"])

    # ------------------------------------------------------------------------ login, profile

    def log_in(self):
        tc = CONFIG["totp_check"]
        eq(totp(tc["secret"], tc["unix"]), tc["code"], "our RFC 6238 TOTP against the exchange's")
        poor = self.users["poor"]
        r = requests.post(f"{BASE}/api/login", data={"user_id": poor["user_id"], "password": "wrong"}, timeout=10)
        check(r.status_code in (400, 403), f"wrong password: HTTP {r.status_code} {r.text}")
        eq(r.json()["status"], "error", "wrong password status")
        bogus = KiteConnect(poor["api_key"], root=BASE, access_token="not-a-token")
        raises(kex.TokenException, "a made-up access token", bogus.profile)
        for name in ("maker", "taker", "poor"):
            self.kites[name], _ = login(self.users[name])
            log(f"logged in {name} {self.users[name]['user_id']}")

    def profiles(self):
        for name, kite in self.kites.items():
            u = self.users[name]
            expected = {
                "user_id": u["user_id"],
                "user_name": u["user_name"],
                "email": u["email"],
                "exchanges": ["NSE"],
                "products": ["CNC", "MIS"],
                "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
            }
            matches(kite.profile(), expected, f"profile of {name}")

    def margins(self, kite, cash, blocked, payin, what):
        """margins() and margins("equity"): cash, what open orders block, today's deposits."""
        equity = {
            "enabled": True,
            "net": rupees(cash - blocked),
            "available": {
                "cash": rupees(cash),
                "live_balance": rupees(cash - blocked),
                "opening_balance": 0,
                "intraday_payin": rupees(payin),
            },
            "utilised": {"debits": rupees(blocked)},
        }
        m = kite.margins()
        matches(m["equity"], equity, f"margins().equity {what}")
        eq(m["commodity"]["enabled"], False, "commodity segment")
        matches(kite.margins("equity"), equity, f"margins('equity') {what}")

    def margins_after_deposits(self):
        for name, kite in self.kites.items():
            cash = self.users[name]["cash_paise"]
            self.margins(kite, cash, 0, cash, f"of {name} after the deposits")
        raises(kex.InputException, "margins of an unknown segment", self.taker.margins, "crypto")

    # ------------------------------------------------------------------ instruments, prices

    def instruments(self):
        for rows in (self.taker.instruments(), self.taker.instruments("NSE")):
            eq(sorted(r["tradingsymbol"] for r in rows), sorted(INSTRUMENTS), "instrument symbols")
            for r in rows:
                i = INSTRUMENTS[r["tradingsymbol"]]
                expected = {
                    "instrument_token": i["instrument_token"],
                    "exchange_token": str(i["exchange_token"]),
                    "name": r["tradingsymbol"],
                    "last_price": rupees(i["reference_paise"]),
                    "expiry": "",
                    "strike": 0.0,
                    "tick_size": TICK / 100,
                    "lot_size": 1,
                    "instrument_type": "EQ",
                    "segment": "NSE",
                    "exchange": "NSE",
                }
                matches(r, expected, f"instruments row {r['tradingsymbol']}")
        eq(TICK / 100, 0.05, "the fixtures' tick")
        eq(self.taker.instruments("BSE"), [], "no BSE instruments")
        eq(
            self.taker.ltp("NSE:INFY", "NSE:TCS", "NSE:SBIN", "NSE:NOPE"),
            {f"NSE:{s}": {"instrument_token": TOKEN[s], "last_price": rupees(REF[s])} for s in INSTRUMENTS},
            "ltp before any trade: the reference prices; unknown instruments left out",
        )

    # -------------------------------------------------------------------------------- ticker

    def start_ticker(self):
        m = self.markets
        self.subscriptions = {m["INFY"].token: "full", m["TCS"].token: "quote", m["SBIN"].token: "ltp"}
        self.ticker, self.ticks = start_ticker(self.tu["api_key"], self.taker.access_token, self.subscriptions)
        check(self.ticks.connected.wait(DEADLINE_S), "the ticker connected")
        for market in m.values():
            self.tick(market, "on subscribing")
        log("ticker subscribed: INFY full, TCS quote, SBIN ltp")

    def tick(self, market, what):
        """Waits until the ticker's latest tick of `market` (in its mode) is what it should be."""
        return wait_tick(self.ticks, market, self.subscriptions[market.token], what)

    # -------------------------------------------------------------------- the maker's book

    def maker_rests(self, symbol, side, price, qty):
        maker = self.maker
        oid = maker.place_order(
            variety=maker.VARIETY_REGULAR,
            exchange=maker.EXCHANGE_NSE,
            tradingsymbol=symbol,
            transaction_type=side.upper(),
            quantity=qty,
            product=maker.PRODUCT_CNC,
            order_type=maker.ORDER_TYPE_LIMIT,
            price=rupees(price),
        )
        check(isinstance(oid, str) and oid.isdigit(), f"order id is a string of digits: {oid!r}")
        self.maker_orders.append(oid)
        self.markets[symbol].rest(side, price, qty)

    def maker_book(self):
        for symbol, side, levels in (
            ("INFY", "sell", ((150000, 10), (150050, 20), (150100, 30))),
            ("INFY", "buy", ((149900, 10), (149850, 20))),
            ("TCS", "sell", ((350000, 10), (350050, 10), (350100, 10))),
            ("TCS", "buy", ((349900, 10), (349800, 10))),
            ("SBIN", "buy", ((79900, 50), (79850, 50))),
            ("SBIN", "sell", ((80050, 50),)),
        ):
            for price, qty in levels:
                self.maker_rests(symbol, side, price, qty)
        book = self.maker.orders()
        eq([o["order_id"] for o in book], self.maker_orders, "the maker's order book, oldest first")
        eq({o["status"] for o in book}, {"OPEN"}, "the maker's orders are open")
        q = self.taker.quote("NSE:INFY", "NSE:TCS", "NSE:SBIN")
        for m in self.markets.values():
            matches(q[f"NSE:{m.symbol}"], m.quote(), f"quote of {m.symbol}: the depth is the maker's orders")
            self.tick(m, "with the maker's book")
        log("the maker's book is in the quotes and the ticks")

    # ------------------------------------------------------------------- the taker's orders

    def place(self, symbol, side, product, order_type, qty, price=None, trigger=None):
        taker = self.taker
        oid = taker.place_order(
            variety=taker.VARIETY_REGULAR,
            exchange=taker.EXCHANGE_NSE,
            tradingsymbol=symbol,
            transaction_type=side.upper(),
            quantity=qty,
            product=product,
            order_type=order_type,
            price=None if price is None else rupees(price),
            trigger_price=None if trigger is None else rupees(trigger),
            validity=taker.VALIDITY_DAY,
        )
        check(isinstance(oid, str) and oid.isdigit(), f"order id is a string of digits: {oid!r}")
        self.placed[oid] = (symbol, side, product, order_type)
        return oid

    def modify(self, oid, **changes):
        eq(self.taker.modify_order(self.taker.VARIETY_REGULAR, oid, **changes), oid, "modify answers the order id")

    def cancel(self, oid):
        eq(self.taker.cancel_order(self.taker.VARIETY_REGULAR, oid), oid, "cancel answers the order id")
        self.final_status[oid] = "CANCELLED"

    def filled(self, oid, maker_fills):
        """The taker's order `oid` filled against the maker's levels `[(price, qty)]`."""
        symbol, side, product, _ = self.placed[oid]
        maker_side = "sell" if side == "buy" else "buy"
        for price, qty in maker_fills:
            self.markets[symbol].trade(maker_side, price, qty)
            self.fills.append((symbol, side, product, price, qty, oid))
        self.final_status[oid] = "COMPLETE"

    def order_fills(self, oid):
        return [(p, q) for *_, p, q, o in self.fills if o == oid]

    def expect_order(self, oid, status, qty, what, price=0, trigger=0):
        """The order's last state in order_history(); its fills and average from `filled`."""
        history = self.taker.order_history(oid)
        check(history, f"history of {oid} is not empty")
        eq({h["order_id"] for h in history}, {oid}, "order_history order ids")
        symbol, side, product, order_type = self.placed[oid]
        fills = self.order_fills(oid)
        filled = sum(q for _, q in fills)
        expected = {
            "order_id": oid,
            "exchange_order_id": oid,
            "placed_by": self.tu["user_id"],
            "status": status,
            "tradingsymbol": symbol,
            "exchange": "NSE",
            "instrument_token": TOKEN[symbol],
            "transaction_type": side.upper(),
            "product": product,
            "order_type": order_type,
            "validity": "DAY",
            "variety": "regular",
            "quantity": qty,
            "filled_quantity": filled,
            "pending_quantity": qty - filled if status in ("OPEN", "TRIGGER PENDING") else 0,
            "cancelled_quantity": qty - filled if status == "CANCELLED" else 0,
            "average_price": average(fills) if fills else 0,
            "price": rupees(price),
            "trigger_price": rupees(trigger),
        }
        matches(history[-1], expected, f"{what}: order {oid}")
        stamp = history[-1]["order_timestamp"]
        check(isinstance(stamp, datetime.datetime), f"order_timestamp is a datetime: {stamp!r}")
        got = self.taker.order_trades(oid)
        eq([(t["quantity"], t["average_price"]) for t in got], [(q, rupees(p)) for p, q in fills], f"{what}: fills")
        for t in got:
            expected = {
                "order_id": oid,
                "exchange_order_id": oid,
                "tradingsymbol": symbol,
                "exchange": "NSE",
                "instrument_token": TOKEN[symbol],
                "transaction_type": side.upper(),
                "product": product,
            }
            matches(t, expected, f"{what}: trade {t.get('trade_id')}")
            check(isinstance(t["trade_id"], str) and t["trade_id"].isdigit(), f"trade_id {t['trade_id']!r}")
            check(isinstance(t["fill_timestamp"], datetime.datetime), "fill_timestamp is a datetime")
        return history

    def ltp(self, symbol, rupee_price):
        eq(self.taker.ltp(f"NSE:{symbol}")[f"NSE:{symbol}"]["last_price"], rupee_price, f"{symbol} ltp")

    def infy_cnc(self):
        """INFY (full ticks), CNC buys: a LIMIT rests, is modified and cancelled, blocking cash
        meanwhile; a MARKET takes two levels; an SL-M waits, is modified, and a LIMIT buy that
        trades through its trigger sets it off."""
        infy, cash = self.markets["INFY"], self.deposits

        def blocked(qty, price):  # a CNC buy blocks its price and the fee on it, per share
            return qty * (price + fee(price))

        oid = self.place("INFY", "buy", "CNC", "LIMIT", 5, price=149000)
        infy.rest("buy", 149000, 5)
        self.expect_order(oid, "OPEN", 5, "LIMIT CNC resting", price=149000)
        self.margins(self.taker, cash, blocked(5, 149000), self.deposits, "with a LIMIT buy resting")
        self.modify(oid, quantity=8, price=rupees(149100))
        infy.remove("buy", 149000, 5)
        infy.rest("buy", 149100, 8)
        history = self.expect_order(oid, "OPEN", 8, "LIMIT CNC modified", price=149100)
        eq([(h["status"], h["price"], h["modified"]) for h in history],
           [("OPEN", 1490.0, False), ("OPEN", 1491.0, True)], "history: placed, modified")
        self.margins(self.taker, cash, blocked(8, 149100), self.deposits, "after the modification")
        matches(self.taker.quote("NSE:INFY")["NSE:INFY"], infy.quote(), "INFY quote with the taker's bid")
        self.tick(infy, "with the taker's bid")
        self.cancel(oid)
        infy.remove("buy", 149100, 8)
        self.expect_order(oid, "CANCELLED", 8, "LIMIT CNC cancelled", price=149100)
        self.margins(self.taker, cash, 0, self.deposits, "after the cancel")
        taker = self.taker
        raises(kex.OrderException, "cancelling a cancelled order", taker.cancel_order, "regular", oid)
        raises(kex.OrderException, "modifying a cancelled order", taker.modify_order, "regular", oid, quantity=9)
        log("INFY LIMIT CNC: placed, modified, cancelled")

        oid = self.place("INFY", "buy", "CNC", "MARKET", 15)
        self.filled(oid, [(150000, 10), (150050, 5)])
        self.expect_order(oid, "COMPLETE", 15, "MARKET CNC")
        self.ltp("INFY", 1500.5)
        self.tick(infy, "after the MARKET buy")
        log("INFY MARKET CNC: filled at two levels; the full tick shows it")

        sl_m = self.place("INFY", "buy", "CNC", "SL-M", 10, trigger=150060)
        self.expect_order(sl_m, "TRIGGER PENDING", 10, "SL-M CNC placed", trigger=150060)
        self.modify(sl_m, trigger_price=rupees(150075))
        self.expect_order(sl_m, "TRIGGER PENDING", 10, "SL-M CNC modified", trigger=150075)
        self.tick(infy, "with a stop pending (stops are not in the depth)")
        oid = self.place("INFY", "buy", "CNC", "LIMIT", 20, price=150100)
        self.filled(oid, [(150050, 15), (150100, 5)])
        self.filled(sl_m, [(150100, 10)])
        self.expect_order(oid, "COMPLETE", 20, "LIMIT CNC through the trigger", price=150100)
        history = self.expect_order(sl_m, "COMPLETE", 10, "SL-M CNC triggered", trigger=150075)
        statuses = [h["status"] for h in history]
        eq(statuses[:2], ["TRIGGER PENDING", "TRIGGER PENDING"], "SL-M history: placed, modified")
        check("OPEN" in statuses[2:-1], f"SL-M history shows the trigger (OPEN) before COMPLETE: {statuses}")
        self.ltp("INFY", 1501.0)
        full = self.tick(infy, "after the stop traded")
        for field in ("last_trade_time", "exchange_timestamp"):
            t = full[field]
            off = abs((t - datetime.datetime.now()).total_seconds()) if isinstance(t, datetime.datetime) else None
            check(off is not None and off < 60, f"full tick {field} is now: {t!r}")
        log("INFY SL-M CNC: pending, modified, set off by a LIMIT, filled")

    def tcs_mis(self):
        """TCS (quote ticks), MIS: a LIMIT fills at once; an SL waits and is modified; an SL-M
        is modified and cancelled; a MARKET buy sets the SL off; a MARKET sell goes flat."""
        tcs = self.markets["TCS"]
        oid = self.place("TCS", "buy", "MIS", "LIMIT", 4, price=350000)
        self.filled(oid, [(350000, 4)])
        self.expect_order(oid, "COMPLETE", 4, "LIMIT MIS", price=350000)
        self.tick(tcs, "after the LIMIT MIS buy")
        sl = self.place("TCS", "buy", "MIS", "SL", 6, price=350050, trigger=350025)
        self.expect_order(sl, "TRIGGER PENDING", 6, "SL MIS placed", price=350050, trigger=350025)
        self.modify(sl, price=rupees(350100), trigger_price=rupees(350040))
        self.expect_order(sl, "TRIGGER PENDING", 6, "SL MIS modified", price=350100, trigger=350040)
        sl_m = self.place("TCS", "sell", "MIS", "SL-M", 4, trigger=340000)
        self.expect_order(sl_m, "TRIGGER PENDING", 4, "SL-M MIS placed", trigger=340000)
        self.modify(sl_m, trigger_price=rupees(345000))
        self.expect_order(sl_m, "TRIGGER PENDING", 4, "SL-M MIS modified", trigger=345000)
        self.cancel(sl_m)
        self.expect_order(sl_m, "CANCELLED", 4, "SL-M MIS cancelled", trigger=345000)
        raises(kex.InputException, "an SL whose trigger is already hit", self.taker.place_order, variety="regular",
               exchange="NSE", tradingsymbol="TCS", transaction_type="BUY", quantity=1, product="MIS",
               order_type="SL", price=3499.0, trigger_price=3499.0)
        oid = self.place("TCS", "buy", "MIS", "MARKET", 8)
        self.filled(oid, [(350000, 6), (350050, 2)])
        self.filled(sl, [(350050, 6)])
        self.expect_order(oid, "COMPLETE", 8, "MARKET MIS buy")
        self.expect_order(sl, "COMPLETE", 6, "SL MIS triggered", price=350100, trigger=350040)
        self.tick(tcs, "after the SL went off")
        oid = self.place("TCS", "sell", "MIS", "MARKET", 18)
        self.filled(oid, [(349900, 10), (349800, 8)])
        self.expect_order(oid, "COMPLETE", 18, "MARKET MIS sell")
        quote = self.tick(tcs, "after going flat")
        check("depth" not in quote and "last_trade_time" not in quote, f"a quote tick has no depth: {quote}")
        log("TCS MIS: LIMIT, SL (set off), SL-M (cancelled), MARKET buy and sell")

    def sbin_cnc(self):
        """SBIN (ltp ticks), CNC sells out of holdings: an SL waits, is modified and cancelled;
        a LIMIT and a MARKET sell fill."""
        sbin = self.markets["SBIN"]
        sl = self.place("SBIN", "sell", "CNC", "SL", 10, price=79750, trigger=79800)
        self.expect_order(sl, "TRIGGER PENDING", 10, "SL CNC sell placed", price=79750, trigger=79800)
        self.modify(sl, quantity=12)
        self.expect_order(sl, "TRIGGER PENDING", 12, "SL CNC sell modified", price=79750, trigger=79800)
        self.cancel(sl)
        self.expect_order(sl, "CANCELLED", 12, "SL CNC sell cancelled", price=79750, trigger=79800)
        oid = self.place("SBIN", "sell", "CNC", "LIMIT", 30, price=79900)
        self.filled(oid, [(79900, 30)])
        self.expect_order(oid, "COMPLETE", 30, "LIMIT CNC sell", price=79900)
        tick = self.tick(sbin, "after the LIMIT sell")
        eq(sorted(tick), ["instrument_token", "last_price", "mode", "tradable"], "ltp tick fields")
        oid = self.place("SBIN", "sell", "CNC", "MARKET", 30)
        self.filled(oid, [(79900, 20), (79850, 10)])
        self.expect_order(oid, "COMPLETE", 30, "MARKET CNC sell")
        self.tick(sbin, "after the MARKET sell")
        self.ltp("SBIN", 798.5)
        log("SBIN CNC: SL sell cancelled, LIMIT and MARKET sells filled")

    # ---------------------------------------------------------------------------- refusals

    def error_paths(self):
        order = dict(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY", quantity=1,
                     product="CNC", order_type="LIMIT")
        place = self.taker.place_order
        e = raises(kex.InputException, "a price off the tick", place, **order, price=1500.03)
        check(f"{TICK / 100:.2f}" in str(e), f"the tick size is in the message: {e}")
        raises(kex.InputException, "a trigger off the tick", place, **{**order, "order_type": "SL-M",
               "transaction_type": "SELL", "product": "MIS"}, trigger_price=1400.01)
        raises(kex.InputException, "an unknown symbol", place, **{**order, "tradingsymbol": "NOPE"}, price=1.0)
        raises(kex.InputException, "NRML", place, **{**order, "product": "NRML"}, price=1500.0)
        raises(kex.InputException, "a price outside the circuit band", place, **order, price=1900.0)
        # The client has no class for MarginException and HoldingException: it raises
        # GeneralException with the HTTP status, as it does against Kite.
        e = raises(kex.GeneralException, "insufficient funds", self.poor.place_order, **{**order, "quantity": 10},
                   price=1499.0)
        eq(e.code, 400, "insufficient funds HTTP status")
        e = raises(kex.GeneralException, "insufficient holdings", place, **{**order, "tradingsymbol": "SBIN",
                   "transaction_type": "SELL", "quantity": 41}, price=798.5)
        eq(e.code, 400, "insufficient holdings HTTP status")
        poor = self.users["poor"]
        raw = requests.post(
            f"{BASE}/orders/regular",
            headers={"Authorization": f"token {poor['api_key']}:{self.poor.access_token}", "X-Kite-Version": "3"},
            data={**order, "quantity": "10", "price": "1499"},
            timeout=10,
        ).json()
        eq((raw["status"], raw["error_type"]), ("error", "MarginException"), "the error_type on the wire")
        self.margins(self.poor, poor["cash_paise"], 0, poor["cash_paise"], "of poor after the refusals")
        raises(kex.OrderException, "history of an unknown order", self.taker.order_history, "999999999")
        theirs = self.maker_orders[-1]
        eq(self.maker.order_history(theirs)[-1]["status"], "OPEN", "the maker's SBIN ask is open")
        try:
            self.taker.cancel_order("regular", theirs)
            raise CheckFailed("the taker cancelled the maker's order")
        except (kex.OrderException, kex.PermissionException) as err:
            log(f"  cancelling another user's order: {type(err).__name__} {err.code}: {err}")
        eq(self.maker.order_history(theirs)[-1]["status"], "OPEN", "the maker's order is still open")
        log("refusals raise the client's exceptions")

    # ------------------------------------------------------------------ after the trading

    def books(self):
        book = self.taker.orders()
        eq([o["order_id"] for o in book], list(self.placed), "the taker's order book: its own orders, oldest first")
        eq({o["order_id"]: o["status"] for o in book}, self.final_status, "final statuses")
        trades = self.taker.trades()
        eq(
            sorted((t["order_id"], t["tradingsymbol"], t["quantity"], t["average_price"]) for t in trades),
            sorted((oid, s, q, rupees(p)) for s, _, _, p, q, oid in self.fills),
            "the taker's trade book is its fills",
        )
        eq(len({t["trade_id"] for t in trades}), len(trades), "trade ids are distinct")
        eq(len(self.maker.trades()), len(self.fills), "the maker is on the other side of every fill")
        check(not {o["order_id"] for o in self.maker.orders()} & set(self.placed), "the maker's book is its own")

    def quotes(self):
        markets = self.markets.values()
        q = self.taker.quote("NSE:INFY", "NSE:TCS", "NSE:SBIN")
        for m in markets:
            matches(q[f"NSE:{m.symbol}"], m.quote(), f"quote of {m.symbol} after the trading")
            ltt = q[f"NSE:{m.symbol}"]["last_trade_time"]
            check(isinstance(ltt, datetime.datetime), f"quote last_trade_time {ltt!r}")
        eq(
            self.taker.ohlc("NSE:INFY", "NSE:TCS", "NSE:SBIN"),
            {f"NSE:{m.symbol}": {"instrument_token": m.token, "last_price": rupees(m.last), "ohlc": m.ohlc()}
             for m in markets},
            "ohlc",
        )
        eq(
            self.taker.ltp("NSE:INFY", "NSE:TCS", "NSE:SBIN"),
            {f"NSE:{m.symbol}": {"instrument_token": m.token, "last_price": rupees(m.last)} for m in markets},
            "ltp is each last trade's price",
        )
        for r in self.taker.instruments():
            eq(r["last_price"], rupees(self.markets[r["tradingsymbol"]].last), f"instruments {r['tradingsymbol']}")

    def cash(self):
        """Deposits, less what was bought, plus what was sold, less a fee per fill. The MIS
        position is flat, so its P&L is settled in cash too."""
        cash = self.deposits
        for _, side, _, price, qty, _ in self.fills:
            notional = price * qty
            cash += (notional if side == "sell" else -notional) - fee(notional)
        self.margins(self.taker, cash, 0, self.deposits, "after the trading: deposits, fills and fees")

    def position(self, symbol, product):
        mine = [(side, p, q) for s, side, prod, p, q, _ in self.fills if s == symbol and prod == product]
        buy_q = sum(q for side, _, q in mine if side == "buy")
        buy_v = sum(p * q for side, p, q in mine if side == "buy")
        sell_q = sum(q for side, _, q in mine if side == "sell")
        sell_v = sum(p * q for side, p, q in mine if side == "sell")
        last = self.markets[symbol].last
        return {
            "tradingsymbol": symbol,
            "exchange": "NSE",
            "instrument_token": TOKEN[symbol],
            "product": product,
            "quantity": buy_q - sell_q,
            "overnight_quantity": 0,
            "day_buy_quantity": buy_q,
            "day_buy_value": rupees(buy_v),
            "day_sell_quantity": sell_q,
            "day_sell_value": rupees(sell_v),
            "buy_quantity": buy_q,
            "sell_quantity": sell_q,
            "last_price": rupees(last),
            "value": rupees(sell_v - buy_v),
            "pnl": rupees(sell_v - buy_v + (buy_q - sell_q) * last),
        }

    def portfolio(self):
        """Positions and holdings, from the portfolio service's database (polled)."""
        net = {k: self.position(*k) for k in (("INFY", "CNC"), ("TCS", "MIS"), ("SBIN", "CNC"))}
        eq([net[k]["quantity"] for k in net], [45, 0, -60], "the plan: 45 INFY bought, TCS flat, 60 SBIN sold")
        day_fields = ("quantity", "day_buy_quantity", "day_sell_quantity")

        def positions():
            p = self.taker.positions()
            got = {(r["tradingsymbol"], r["product"]): r for r in p["net"]}
            day = {(r["tradingsymbol"], r["product"]): r for r in p["day"]}
            diffs = [] if set(got) == set(net) else [f"net positions {sorted(got)}"]
            for k, e in net.items():
                diffs += subset_diff(got.get(k, {}), e, f"net{k}")
                diffs += subset_diff(day.get(k, {}), {f: e[f] for f in day_fields}, f"day{k}")
            return not diffs, "\n  ".join(diffs)

        poll("the taker's positions", positions)
        infy = self.markets["INFY"]
        infy_fills = [(p, q) for s, _, _, p, q, _ in self.fills if s == "INFY"]
        infy_cost = sum(p * q for p, q in infy_fills)
        expected = {
            # Bought shares enter at the traded price (fees excluded).
            "INFY": {
                "quantity": 45,
                "average_price": average(infy_fills),
                "last_price": rupees(infy.last),
                "close_price": rupees(REF["INFY"]),
                "pnl": rupees(45 * infy.last - infy_cost),
                "product": "CNC",
                "exchange": "NSE",
                "instrument_token": TOKEN["INFY"],
            },
            # Deposited shares enter at zero cost; 60 of 100 sold leaves 40.
            "SBIN": {
                "quantity": 40,
                "average_price": 0,
                "last_price": rupees(self.markets["SBIN"].last),
                "product": "CNC",
                "instrument_token": TOKEN["SBIN"],
            },
        }

        def holdings():
            got = {r["tradingsymbol"]: r for r in self.taker.holdings()}
            diffs = [] if set(got) == set(expected) else [f"holdings {sorted(got)}"]
            for s, e in expected.items():
                diffs += subset_diff(got.get(s, {}), e, s)
            return not diffs, "\n  ".join(diffs)

        poll("the taker's holdings", holdings)
        log("positions and holdings follow the fills")

    def candles(self):
        """historical_data, from the market data service's database (polled): one day candle
        and minute candles that add up to the day's trades."""
        now = ist_now()
        frm = (now - datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        to = now + datetime.timedelta(days=1)
        for m in self.markets.values():
            prices = [p for p, _ in m.trades]
            high, low = rupees(max(prices)), rupees(min(prices))
            day = {"open": rupees(prices[0]), "high": high, "low": low, "close": rupees(prices[-1]), "volume": m.volume}

            def day_candles(m=m, day=day):
                c = self.taker.historical_data(m.token, frm, to, "day")
                return not subset_diff(c, [day]), c

            start = poll(f"{m.symbol} day candle", day_candles)[0]["date"]
            check(start.utcoffset() == IST and (start.hour, start.minute) == (0, 0) and start.date() == now.date(),
                  f"the day candle starts at IST midnight today: {start!r}")

            def minute_candles(m=m):
                fmt = "%Y-%m-%d %H:%M:%S"
                c = self.taker.historical_data(m.token, frm.strftime(fmt), to.strftime(fmt), "minute")
                return sum(x["volume"] for x in c) == m.volume, c

            minutes = poll(f"{m.symbol} minute candles", minute_candles)
            eq(minutes[0]["open"], day["open"], f"{m.symbol} first minute open")
            eq(minutes[-1]["close"], day["close"], f"{m.symbol} last minute close")
            eq((max(x["high"] for x in minutes), min(x["low"] for x in minutes)), (high, low), f"{m.symbol} range")
            for x in minutes:
                check(x["date"].second == 0 and x["date"].utcoffset() == IST, f"minute candle time {x['date']!r}")
        raises(kex.InputException, "an interval not kept", self.taker.historical_data, TOKEN["INFY"], frm, to,
               "3minute")
        log("historical candles carry the traded volume")

    def order_updates(self):
        """Each of the taker's orders ends, on the ticker, in its final state; nobody else's
        orders show up."""

        def final_updates():
            last = {u["order_id"]: u["status"] for u in self.ticks.updates()}
            return last == self.final_status, last

        poll("an order update with the final status of each of the taker's orders", final_updates)
        updates = self.ticks.updates()
        for u in updates:
            eq(u["placed_by"], self.tu["user_id"], "order updates are the user's own")
            check(u["order_id"] in self.placed, f"order update for an order the taker placed: {u['order_id']}")
        seen = {u["status"] for u in updates}
        check({"OPEN", "TRIGGER PENDING", "COMPLETE", "CANCELLED"} <= seen, f"update statuses {seen}")
        for oid, u in {u["order_id"]: u for u in updates}.items():
            if u["status"] == "COMPLETE":
                eq((u["filled_quantity"], u["average_price"]), (u["quantity"], average(self.order_fills(oid))),
                   f"the last update of {oid}: filled, at the average price")
        log(f"{len(updates)} order updates, all the taker's, ending in each order's final status")

    def close_ticker(self):
        self.ticker.close(1000, "done")
        check(self.ticks.closed.wait(DEADLINE_S), "the ticker closed")
        eq((self.ticks.close_code, self.ticks.errors), (1000, []), "the ticker closed cleanly, with no errors")
        check(not self.ticker.is_connected(), "the ticker is disconnected")
        # The client's reactor runs in a daemon thread and ends with the process. (Stopping it
        # here races with twisted's own teardown of the closed connection, which then logs a
        # harmless EBADF.)
        log(f"ok: {len(self.placed)} orders, {len(self.fills)} fills, {len(self.ticks.ticks)} ticks")


def main():
    run = Run()
    run.log_in()
    run.profiles()
    run.margins_after_deposits()
    run.instruments()
    run.start_ticker()
    run.maker_book()
    run.infy_cnc()
    run.tcs_mis()
    run.sbin_cnc()
    run.error_paths()
    run.books()
    run.quotes()
    run.cash()
    run.portfolio()
    run.candles()
    run.order_updates()
    run.close_ticker()


if __name__ == "__main__":
    try:
        main()
    except CheckFailed as e:
        log(f"FAILED: {e}")
        sys.exit(1)
