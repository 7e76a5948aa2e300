"""Feed the gateway's encodings to the official `kiteconnect` Python client; print what it makes of them.

Usage: python3 kite_client_check.py CASES_JSON TICKS_BIN

TICKS_BIN holds binary WebSocket messages, each preceded by a big-endian u32 length; each is given to
`KiteTicker._parse_binary`. CASES_JSON holds WebSocket text messages (given to `_parse_text_message`)
and canned HTTP responses: each named case calls one `KiteConnect` method against a fake transport that
records the request `requests` would send and answers with the canned status, content type and body.

Prints one JSON object. Floats are written as {"float": x, "bits": <IEEE-754 bits>} so the Rust side can
compare them exactly; datetimes as {"datetime": iso, "epoch": seconds}.
"""

import datetime
import json
import struct
import sys

import requests

import kiteconnect
from kiteconnect import KiteConnect, KiteTicker
from kiteconnect import exceptions as kite_exceptions


def enc(x):
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, float):
        return {"float": x, "bits": struct.unpack(">Q", struct.pack(">d", x))[0]}
    if isinstance(x, datetime.datetime):
        return {"datetime": x.isoformat(), "epoch": int(x.timestamp())}
    if isinstance(x, datetime.date):
        return {"date": x.isoformat()}
    if isinstance(x, bytes):
        return {"bytes": x.decode("utf-8", "replace")}
    if isinstance(x, dict):
        return {str(k): enc(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [enc(v) for v in x]
    raise TypeError("cannot encode {!r}".format(type(x)))


def read_messages(path):
    with open(path, "rb") as f:
        data = f.read()
    messages, i = [], 0
    while i < len(data):
        (n,) = struct.unpack(">I", data[i:i + 4])
        messages.append(data[i + 4:i + 4 + n])
        i += 4 + n
    return messages


class FakeResponse:
    def __init__(self, status, content_type, body):
        self.status_code = status
        self.headers = {"content-type": content_type}
        self.content = body.encode("utf-8")

    def json(self):
        return json.loads(self.content)


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    version = getattr(kiteconnect, "__version__", "?")
    out = {"kiteconnect_version": str(getattr(version, "__version__", version))}

    # --- WebSocket: binary ticks, text messages, what the client sends -------------------------
    kws = KiteTicker("api_key", "access_token")
    out["ticks"] = [enc(kws._parse_binary(m)) for m in read_messages(sys.argv[2])]

    updates, errors = [], []
    kws.on_order_update = lambda ws, data: updates.append(data)
    kws.on_error = lambda ws, code, reason: errors.append([code, reason])
    for text in cases["ws_text"]:
        kws._parse_text_message(text.encode("utf-8"))
    out["order_updates"] = enc(updates)
    out["ws_errors"] = enc(errors)

    sent = []

    class FakeWs:
        def sendMessage(self, payload, isBinary=False):
            sent.append(payload.decode("utf-8"))

    kws.ws = FakeWs()
    kws.subscribe([408065, 738561])
    kws.set_mode(kws.MODE_FULL, [408065])
    kws.set_mode(kws.MODE_LTP, [738561])
    kws.unsubscribe([738561])
    out["ws_sent"] = sent

    # --- HTTP: requests as sent, responses as understood -------------------------------------
    kite = KiteConnect(api_key="kitefront", access_token="acc355", root="http://127.0.0.1:9")
    seen = []
    current = {}

    def fake_request(method, url, json=None, data=None, params=None, headers=None, **kwargs):
        prepared = requests.Request(method, url, json=json, data=data, params=params, headers=headers).prepare()
        body = prepared.body
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        seen.append({
            "method": method,
            "url": prepared.url,
            "body": body,
            "headers": {k.lower(): v for k, v in prepared.headers.items()},
        })
        r = current["response"]
        return FakeResponse(r["status"], r["content_type"], r["body"])

    kite.reqsession.request = fake_request

    calls = {
        "generate_session": lambda: kite.generate_session("req123", api_secret="s3cret"),
        "place_order": lambda: kite.place_order(
            variety="regular", exchange="NSE", tradingsymbol="M&M", transaction_type="BUY", quantity=5,
            product="MIS", order_type="SL", price=1522.5, trigger_price=1520.05, validity="DAY", tag="ab_12-x"),
        "place_iceberg": lambda: kite.place_order(
            variety="iceberg", exchange="NSE", tradingsymbol="INFY", transaction_type="SELL", quantity=100,
            product="CNC", order_type="LIMIT", price=1600, iceberg_legs=4, iceberg_quantity=25),
        "modify_order": lambda: kite.modify_order(variety="regular", order_id="42", price=1530, quantity=3),
        "cancel_order": lambda: kite.cancel_order(variety="regular", order_id="42"),
        "orders": kite.orders,
        "order_history": lambda: kite.order_history("42"),
        "trades": kite.trades,
        "positions": kite.positions,
        "holdings": kite.holdings,
        "margins": kite.margins,
        "margins_equity": lambda: kite.margins("equity"),
        "quote": lambda: kite.quote(["NSE:INFY", "NSE:M&M"]),
        "ohlc": lambda: kite.ohlc("NSE:INFY"),
        "ltp": lambda: kite.ltp("NSE:INFY"),
        "instruments": kite.instruments,
        "historical": lambda: kite.historical_data(408065, "2024-01-15 09:15:00", "2024-01-15 15:30:00", "minute"),
    }

    results = {}
    for case in cases["http"]:
        current["response"] = case["response"]
        before = len(seen)
        try:
            result = {"ok": enc(calls[case["call"]]())}
        except kite_exceptions.KiteException as e:
            result = {"exception": type(e).__name__, "code": e.code, "message": str(e)}
        result["request"] = seen[before] if len(seen) > before else None
        results[case["name"]] = result
    out["http"] = results

    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
