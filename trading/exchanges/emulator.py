"""Exchange emulator (SPEC T5): a local HTTP server speaking the subset of Binance spot's
REST API that ccxt's unmodified `binance` client uses for markets, balance, orders, open
orders, trades, tickers and klines, so the real client is tested end to end on loopback. It
also serves as the mock exchange for maintenance windows (`python -m trading.exchanges.emulator`
or `manage.py exchange_emulator`).

Faithful where it matters to the adapter: the same stored exchange-info document as
trading.markets, Binance's filter checks and error codes, HMAC-SHA256 signatures checked
against the API key's secret, request weights counted per minute (429 past the limit), client
order ids unique among open orders. Fills come from the paper exchange's model; fees are
charged in the quote currency, unless `buy_fee_in_base` is set: then a buy's fee is charged as
Binance charges it, in the asset received (commissionAsset BTC on a BTC/USDT buy: the fill's
amount x the maker or taker rate, rounded up to 8 decimals, taken from the coins credited, and no
quote fee). Sells always pay in the quote currency. With `fee_asset` set (e.g. "BNB", Binance's "pay fees
with BNB"), every fill's fee is charged in that asset instead: the quote fee (notional x rate)
converted at that asset's last price against the quote (BNBUSDT), rounded up to 8 decimals, and
taken from the asset's balance. The adapter reads the fee currency from each trade either way.

Faults are injected per request (`inject`): latency, timeout (no answer, nothing done), an
HTTP status (429, 5xx), `drop_response` (the request is processed, then the connection is
closed unanswered: "order accepted but response lost") and `not_found` (an existing order is
denied, as exchanges briefly do).
"""

import argparse
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from decimal import ROUND_UP, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from trading.exceptions import OrderRejected
from trading.exchanges.paper import FEE_QUANTUM, PaperExchange, PaperExecution, PaperFill
from trading.exchanges.ratelimit import BINANCE_WEIGHT_PER_MINUTE, BINANCE_WEIGHTS, OPEN_ORDERS_ALL_SYMBOLS_WEIGHT
from trading.markets import Market, exchange_info_document, markets_all

ZERO = Decimal("0")
WEIGHTS = BINANCE_WEIGHTS
WEIGHT_LIMIT_1M = BINANCE_WEIGHT_PER_MINUTE  # REQUEST_WEIGHT in the stored exchange-info document
SIGNED = {"account", "order", "openOrders", "myTrades"}
FAULT_KINDS = ("latency", "timeout", "status", "drop_response", "not_found")


class ApiError(Exception):
    def __init__(self, http_status: int, code: int, msg: str):
        super().__init__(msg)
        self.http_status, self.code, self.msg = http_status, code, msg


@dataclass
class Fault:
    kind: str
    path: str | None = None  # e.g. "order"; None matches every endpoint
    method: str | None = None
    times: int = 1
    delay: float = 0.0
    status: int = 503
    client_order_id: str | None = None  # only requests naming this client order id

    def matches(self, method: str, path: str, params: dict) -> bool:
        if self.client_order_id is not None and self.client_order_id not in (
            params.get("newClientOrderId"),
            params.get("origClientOrderId"),
        ):
            return False
        return (self.path is None or self.path == path) and (self.method is None or self.method == method)


@dataclass
class EmulatorAccount:
    api_key: str
    secret: str
    free: dict[str, Decimal] = field(default_factory=dict)
    locked: dict[str, Decimal] = field(default_factory=dict)


def _fmt(value: Decimal) -> str:
    return f"{value:.8f}"


class EmulatorState:
    """Everything the emulator knows, behind one lock (requests arrive on several threads)."""

    def __init__(
        self,
        *,
        fill_model: PaperExchange | None = None,
        recv_window_ms: int = 5000,
        buy_fee_in_base: bool = False,
        fee_asset: str | None = None,
    ):
        self.lock = threading.RLock()
        self.buy_fee_in_base = buy_fee_in_base
        self.fee_asset = fee_asset
        self.fill_model = fill_model or PaperExchange()
        self.recv_window_ms = recv_window_ms
        self.markets: dict[str, Market] = {m.id: m for m in markets_all().values()}
        self.accounts: dict[str, EmulatorAccount] = {}
        self.prices: dict[str, Decimal] = {}
        self.candles: dict[str, list[list]] = {}
        self.orders: dict[int, dict] = {}
        self.trades: list[dict] = []
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self._ids = itertools.count(1000)
        self._weights: deque[tuple[float, int]] = deque()

    # --- set-up and inspection -------------------------------------------------------------
    def account_add(self, *, api_key: str, secret: str, balances: dict[str, Decimal] | None = None) -> None:
        with self.lock:
            self.accounts[api_key] = EmulatorAccount(api_key, secret, dict(balances or {}))

    def price_set(self, symbol_id: str, price: Decimal) -> None:
        """Move the last price; resting limit orders it trades through fill as maker."""
        with self.lock:
            self.prices[symbol_id] = price
            minute = int(time.time() // 60 * 60_000)
            bars = self.candles.setdefault(symbol_id, [])
            if bars and bars[-1][0] == minute:
                bar = bars[-1]
                bar[2], bar[3], bar[4] = max(bar[2], price), min(bar[3], price), price
            else:
                bars.append([minute, price, price, price, price, ZERO])
            for order in [o for o in self.orders.values() if o["symbol"] == symbol_id and o["status"] == "NEW"]:
                self._fill_resting(order, price)

    def inject(self, kind: str, **kwargs) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
        fault = Fault(kind, **kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def orders_with_client_id(self, client_order_id: str) -> list[dict]:
        with self.lock:
            return [dict(o) for o in self.orders.values() if o["clientOrderId"] == client_order_id]

    def fault_take(self, method: str, path: str, params: dict) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path, params):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    # --- weights and signatures ------------------------------------------------------------
    def weight_use(self, method: str, path: str, params: dict) -> int:
        weight = WEIGHTS.get((method, path), 1)
        if path == "openOrders" and "symbol" not in params:
            weight = OPEN_ORDERS_ALL_SYMBOLS_WEIGHT
        now = time.monotonic()
        with self.lock:
            while self._weights and now - self._weights[0][0] > 60:
                self._weights.popleft()
            used = sum(w for _, w in self._weights) + weight
            if used > WEIGHT_LIMIT_1M:
                raise ApiError(
                    429, -1003, "Too much request weight used; current limit is 6000 request weight per 1 MINUTE."
                )
            self._weights.append((now, weight))
            return used

    def authenticate(self, api_key: str | None, raw_query: str) -> EmulatorAccount:
        account = self.accounts.get(api_key or "")
        if account is None:
            raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        payload, sep, signature = raw_query.rpartition("&signature=")
        expected = hmac.new(account.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not sep or not hmac.compare_digest(expected, signature):
            raise ApiError(400, -1022, "Signature for this request is not valid.")
        params = dict(parse_qsl(payload))
        try:
            timestamp = int(params["timestamp"])
            window = int(params.get("recvWindow", self.recv_window_ms))
        except (KeyError, ValueError):
            raise ApiError(
                400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
            ) from None
        if abs(time.time() * 1000 - timestamp) > window:
            raise ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return account

    # --- helpers ---------------------------------------------------------------------------
    def market(self, params: dict) -> Market:
        symbol = params.get("symbol")
        if not symbol:
            raise ApiError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        if symbol not in self.markets:
            raise ApiError(400, -1121, "Invalid symbol.")
        return self.markets[symbol]

    def last_price(self, market: Market) -> Decimal:
        if market.id not in self.prices:
            raise ApiError(400, -1013, f"No price for {market.id} on this emulator.")
        return self.prices[market.id]

    def find_order(self, params: dict, *, missing: tuple[int, str]) -> dict:
        market = self.market(params)
        if "orderId" in params:
            order = self.orders.get(int(params["orderId"]))
        elif "origClientOrderId" in params:
            matches = [
                o
                for o in self.orders.values()
                if o["clientOrderId"] == params["origClientOrderId"] and o["symbol"] == market.id
            ]
            # The newest order with that id (a client id may be reused once the first closed).
            order = max(matches, key=lambda o: o["orderId"]) if matches else None
        else:
            raise ApiError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        if order is None or order["symbol"] != market.id:
            raise ApiError(400, *missing)
        return order

    def _fee_charged(self, fill: PaperFill, side: str, market: Market) -> PaperFill:
        """The fill with its fee as this venue charges it: in the base asset for a buy when
        `buy_fee_in_base` is set (amount x rate, rounded up to 8 decimals), in `fee_asset` when that
        is set (the quote fee at the asset's last price, rounded up), else as the model made it."""
        rate = market.maker_fee if fill.liquidity == "maker" else market.taker_fee
        if self.fee_asset:
            price = self.prices[f"{self.fee_asset}{market.quote}"]
            coins = (fill.notional * rate / price).quantize(FEE_QUANTUM, rounding=ROUND_UP)
            return replace(fill, fee=coins, fee_currency=self.fee_asset)
        if not (self.buy_fee_in_base and side == "BUY"):
            return fill
        coins = (fill.amount * rate).quantize(FEE_QUANTUM, rounding=ROUND_UP)
        return replace(fill, fee=coins, fee_currency=market.base)

    def _book(self, account: EmulatorAccount, order: dict, execution: PaperExecution, market: Market) -> None:
        base, quote = market.base, market.quote
        for fill in execution.fills:
            fill = self._fee_charged(fill, order["side"], market)
            trade_id = next(self._ids)
            base_fee = fill.fee if fill.fee_currency == base else ZERO
            quote_fee = fill.fee if fill.fee_currency == quote else ZERO
            if fill.fee_currency not in (base, quote):  # a third asset (BNB) pays the fee
                account.free[fill.fee_currency] = account.free.get(fill.fee_currency, ZERO) - fill.fee
            if order["side"] == "BUY":
                account.free[quote] = account.free.get(quote, ZERO) - fill.notional - quote_fee
                account.free[base] = account.free.get(base, ZERO) + fill.amount - base_fee
            else:
                account.free[base] = account.free.get(base, ZERO) - fill.amount - base_fee
                account.free[quote] = account.free.get(quote, ZERO) + fill.notional - quote_fee
            self.trades.append(
                {
                    "symbol": market.id,
                    "id": trade_id,
                    "orderId": order["orderId"],
                    "orderListId": -1,
                    "price": fill.price,
                    "qty": fill.amount,
                    "quoteQty": fill.notional,
                    "commission": fill.fee,
                    "commissionAsset": fill.fee_currency,
                    "time": int(time.time() * 1000),
                    "isBuyer": order["side"] == "BUY",
                    "isMaker": fill.liquidity == "maker",
                    "isBestMatch": True,
                    "apiKey": account.api_key,
                }
            )
            order["fills"].append(
                {
                    "price": _fmt(fill.price),
                    "qty": _fmt(fill.amount),
                    "commission": _fmt(fill.fee),
                    "commissionAsset": fill.fee_currency,
                    "tradeId": trade_id,
                }
            )
            order["executedQty"] += fill.amount
            order["cummulativeQuoteQty"] += fill.notional
        order["updateTime"] = int(time.time() * 1000)

    def _fill_resting(self, order: dict, price: Decimal) -> None:
        market, account = self.markets[order["symbol"]], self.accounts[order["apiKey"]]
        remaining = order["origQty"] - order["executedQty"]
        execution = self.fill_model.fill_resting(
            market=market, side=order["side"].lower(), amount=remaining, price=order["price"], last_price=price
        )
        if not execution.fills:
            return
        self._unlock(account, order, market)
        self._book(account, order, execution, market)
        order["status"] = "FILLED"

    def _lock_funds(self, account: EmulatorAccount, order: dict, market: Market) -> None:
        remaining = order["origQty"] - order["executedQty"]
        asset, amount = (
            (market.quote, remaining * order["price"]) if order["side"] == "BUY" else (market.base, remaining)
        )
        if amount > account.free.get(asset, ZERO):
            raise ApiError(400, -2010, "Account has insufficient balance for requested action.")
        account.free[asset] = account.free.get(asset, ZERO) - amount
        account.locked[asset] = account.locked.get(asset, ZERO) + amount
        order["lockedAsset"], order["lockedAmount"] = asset, amount

    def _unlock(self, account: EmulatorAccount, order: dict, market: Market) -> None:
        asset, amount = order.pop("lockedAsset", None), order.pop("lockedAmount", ZERO)
        if asset:
            account.locked[asset] -= amount
            account.free[asset] = account.free.get(asset, ZERO) + amount

    # --- endpoints -------------------------------------------------------------------------
    def order_create(self, account: EmulatorAccount, params: dict) -> dict:
        market = self.market(params)
        side, kind = params.get("side", "").upper(), params.get("type", "").upper()
        if side not in ("BUY", "SELL") or kind not in ("MARKET", "LIMIT"):
            raise ApiError(400, -1106, "Invalid side or order type for this emulator (BUY/SELL, MARKET/LIMIT).")
        try:
            amount = Decimal(params["quantity"])
            price = Decimal(params["price"]) if kind == "LIMIT" else None
        except (KeyError, InvalidOperation):
            raise ApiError(
                400, -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."
            ) from None
        client_id = params.get("newClientOrderId") or f"emu-{next(self._ids)}"
        if any(
            o["clientOrderId"] == client_id and o["status"] in ("NEW", "PARTIALLY_FILLED") for o in self.orders.values()
        ):
            raise ApiError(400, -2010, "Duplicate order sent.")
        self._check_filters(market, amount, price)
        now = int(time.time() * 1000)
        order = {
            "symbol": market.id,
            "orderId": next(self._ids),
            "orderListId": -1,
            "clientOrderId": client_id,
            "price": price or ZERO,
            "origQty": amount,
            "executedQty": ZERO,
            "cummulativeQuoteQty": ZERO,
            "status": "NEW",
            "timeInForce": params.get("timeInForce", "GTC") if kind == "LIMIT" else "GTC",
            "type": kind,
            "side": side,
            "time": now,
            "updateTime": now,
            "fills": [],
            "apiKey": account.api_key,
        }
        side_l, last = side.lower(), self.last_price(market)
        quote_free = account.free.get(market.quote, ZERO)
        try:
            if kind == "MARKET":
                execution = self.fill_model.execute_market(
                    market=market, side=side_l, amount=amount, last_price=last, available_quote=quote_free
                )
            else:
                execution = self.fill_model.execute_limit(
                    market=market, side=side_l, amount=amount, price=price, last_price=last, available_quote=quote_free
                )
        except OrderRejected as exc:
            if "insufficient funds" in str(exc):
                raise ApiError(400, -2010, "Account has insufficient balance for requested action.") from None
            raise ApiError(400, -1013, "Filter failure: NOTIONAL") from None
        if side == "SELL" and execution.amount > account.free.get(market.base, ZERO):
            raise ApiError(400, -2010, "Account has insufficient balance for requested action.")
        self._book(account, order, execution, market)
        if kind == "MARKET":
            order["status"] = "FILLED" if execution.complete else "EXPIRED"
        elif execution.resting:
            self._lock_funds(account, order, market)
            order["status"] = "PARTIALLY_FILLED" if execution.fills else "NEW"
        else:
            order["status"] = "FILLED"
        self.orders[order["orderId"]] = order
        return self.order_json(order, full=True)

    def _check_filters(self, market: Market, amount: Decimal, price: Decimal | None) -> None:
        if amount < market.min_amount or (market.max_amount and amount > market.max_amount):
            raise ApiError(400, -1013, "Filter failure: LOT_SIZE")
        if market.floor_amount(amount) != amount:
            raise ApiError(400, -1013, "Filter failure: LOT_SIZE")
        if price is not None:
            if price <= 0 or market.round_price(price, up=False) != price:
                raise ApiError(400, -1013, "Filter failure: PRICE_FILTER")
            if amount * price < market.min_notional:
                raise ApiError(400, -1013, "Filter failure: NOTIONAL")

    def order_cancel(self, account: EmulatorAccount, params: dict) -> dict:
        order = self.find_order(params, missing=(-2011, "Unknown order sent."))
        if order["apiKey"] != account.api_key or order["status"] not in ("NEW", "PARTIALLY_FILLED"):
            raise ApiError(400, -2011, "Unknown order sent.")
        self._unlock(account, order, self.markets[order["symbol"]])
        order["status"], order["updateTime"] = "CANCELED", int(time.time() * 1000)
        return self.order_json(order)

    def order_get(self, account: EmulatorAccount, params: dict) -> dict:
        order = self.find_order(params, missing=(-2013, "Order does not exist."))
        if order["apiKey"] != account.api_key:
            raise ApiError(400, -2013, "Order does not exist.")
        return self.order_json(order)

    def open_orders(self, account: EmulatorAccount, params: dict) -> list[dict]:
        symbol = self.market(params).id if "symbol" in params else None
        return [
            self.order_json(o)
            for o in sorted(self.orders.values(), key=lambda o: o["orderId"])
            if o["apiKey"] == account.api_key
            and o["status"] in ("NEW", "PARTIALLY_FILLED")
            and (symbol is None or o["symbol"] == symbol)
        ]

    def my_trades(self, account: EmulatorAccount, params: dict) -> list[dict]:
        market = self.market(params)
        order_id = int(params["orderId"]) if "orderId" in params else None
        since = int(params.get("startTime", 0))
        rows = [
            t
            for t in self.trades
            if t["apiKey"] == account.api_key
            and t["symbol"] == market.id
            and (order_id is None or t["orderId"] == order_id)
            and t["time"] >= since
        ]
        limit = int(params.get("limit", 500))
        return [self.trade_json(t) for t in rows[-limit:]]

    def balances(self, account: EmulatorAccount) -> dict:
        assets = sorted(set(account.free) | set(account.locked))
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "canTrade": True,
            "canWithdraw": False,
            "canDeposit": False,
            "updateTime": int(time.time() * 1000),
            "accountType": "SPOT",
            "balances": [
                {"asset": a, "free": _fmt(account.free.get(a, ZERO)), "locked": _fmt(account.locked.get(a, ZERO))}
                for a in assets
            ],
            "permissions": ["SPOT"],
        }

    def ticker(self, params: dict) -> dict:
        market = self.market(params)
        last = self.last_price(market)
        bid = self.fill_model.quote_price(market=market, side="sell", last_price=last)
        ask = self.fill_model.quote_price(market=market, side="buy", last_price=last)
        bars = self.candles.get(market.id, [])
        first = bars[0][1] if bars else last
        now = int(time.time() * 1000)
        return {
            "symbol": market.id,
            "priceChange": _fmt(last - first),
            "priceChangePercent": f"{(last - first) / first * 100:.3f}",
            "weightedAvgPrice": _fmt(last),
            "prevClosePrice": _fmt(first),
            "lastPrice": _fmt(last),
            "lastQty": _fmt(ZERO),
            "bidPrice": _fmt(bid),
            "bidQty": _fmt(Decimal("1")),
            "askPrice": _fmt(ask),
            "askQty": _fmt(Decimal("1")),
            "openPrice": _fmt(first),
            "highPrice": _fmt(max((b[2] for b in bars), default=last)),
            "lowPrice": _fmt(min((b[3] for b in bars), default=last)),
            "volume": _fmt(ZERO),
            "quoteVolume": _fmt(ZERO),
            "openTime": now - 86_400_000,
            "closeTime": now,
            "firstId": -1,
            "lastId": -1,
            "count": 0,
        }

    def klines(self, params: dict) -> list[list]:
        market = self.market(params)
        since = int(params.get("startTime", 0))
        limit = int(params.get("limit", 500))
        bars = [b for b in self.candles.get(market.id, []) if b[0] >= since]
        # Binance: the first `limit` bars from startTime, or the most recent ones without it.
        bars = bars[:limit] if "startTime" in params else bars[-limit:]
        return [
            [b[0], _fmt(b[1]), _fmt(b[2]), _fmt(b[3]), _fmt(b[4]), _fmt(b[5]), b[0] + 59_999, "0", 0, "0", "0", "0"]
            for b in bars
        ]

    @staticmethod
    def order_json(order: dict, *, full: bool = False) -> dict:
        out = {
            k: (_fmt(v) if isinstance(v, Decimal) else v)
            for k, v in order.items()
            if k not in ("fills", "apiKey", "lockedAsset", "lockedAmount")
        }
        out.update(stopPrice=_fmt(ZERO), icebergQty=_fmt(ZERO), isWorking=True, workingTime=order["time"])
        out.update(origQuoteOrderQty=_fmt(ZERO), selfTradePreventionMode="EXPIRE_MAKER")
        if full:
            out["transactTime"] = order["updateTime"]
            out["fills"] = list(order["fills"])
        return out

    @staticmethod
    def trade_json(trade: dict) -> dict:
        return {k: (_fmt(v) if isinstance(v, Decimal) else v) for k, v in trade.items() if k != "apiKey"}

    def dispatch(self, method: str, path: str, params: dict, account: EmulatorAccount | None):
        """The response body of one API call (caller holds the lock)."""
        public = {
            ("GET", "ping"): lambda: {},
            ("GET", "time"): lambda: {"serverTime": int(time.time() * 1000)},
            ("GET", "exchangeInfo"): lambda: {**exchange_info_document(), "serverTime": int(time.time() * 1000)},
            ("GET", "ticker/24hr"): lambda: self.ticker(params),
            ("GET", "klines"): lambda: self.klines(params),
        }
        if (method, path) in public:
            return public[(method, path)]()
        private = {
            ("GET", "account"): lambda: self.balances(account),
            ("POST", "order"): lambda: self.order_create(account, params),
            ("DELETE", "order"): lambda: self.order_cancel(account, params),
            ("GET", "order"): lambda: self.order_get(account, params),
            ("GET", "openOrders"): lambda: self.open_orders(account, params),
            ("GET", "myTrades"): lambda: self.my_trades(account, params),
        }
        if (method, path) in private:
            return private[(method, path)]()
        raise ApiError(404, -1000, f"{method} /api/v3/{path} is not served by this emulator.")


class _Handler(BaseHTTPRequestHandler):
    server_version = "genesis-exchange-emulator"
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle's algorithm and the
    # client's delayed ACK add ~40 ms to every answer on loopback.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # quiet: tests run thousands of requests
        pass

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_DELETE(self):
        self._serve("DELETE")

    def _send(self, status: int, body, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        # Close without a status line: the client sees the connection end, not an answer.
        self.close_connection = True

    def _serve(self, method: str) -> None:
        state: EmulatorState = self.server.state
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if url.path.startswith("/_emulator/"):
            return self._control(method, url.path.removeprefix("/_emulator/"), body)
        if not url.path.startswith("/api/v3/"):
            return self._send(404, {"code": -1000, "msg": "Not found."})
        path = url.path.removeprefix("/api/v3/")
        raw = body if method == "POST" else url.query
        params = dict(parse_qsl(raw))
        state.requests.append((method, path))
        fault = state.fault_take(method, path, params)
        if fault and fault.kind in ("latency", "timeout"):
            time.sleep(fault.delay)
            if fault.kind == "timeout":
                return self._drop()
        if fault and fault.kind == "status":
            if fault.status == 429:
                return self._send(429, {"code": -1003, "msg": "Too many requests."}, {"Retry-After": "1"})
            return self._send(fault.status, {"code": -1001, "msg": "Internal error; unable to process your request."})
        try:
            used = state.weight_use(method, path, params)
            with state.lock:
                account = state.authenticate(self.headers.get("X-MBX-APIKEY"), raw) if path in SIGNED else None
                if fault and fault.kind == "not_found" and (method, path) == ("GET", "order"):
                    raise ApiError(400, -2013, "Order does not exist.")
                result = state.dispatch(method, path, params, account)
        except ApiError as exc:
            return self._send(exc.http_status, {"code": exc.code, "msg": exc.msg})
        if fault and fault.kind == "drop_response":
            return self._drop()
        self._send(200, result, {"X-MBX-USED-WEIGHT-1M": str(used)})

    def _control(self, method: str, action: str, body: str) -> None:
        """Operator controls for the standalone emulator (not part of Binance's API)."""
        state: EmulatorState = self.server.state
        try:
            data = json.loads(body or "{}")
            if (method, action) == ("POST", "price"):
                state.price_set(data["symbol"], Decimal(str(data["price"])))
            elif (method, action) == ("POST", "fault"):
                state.inject(data.pop("kind"), **data)
            elif (method, action) == ("POST", "account"):
                balances = {k: Decimal(str(v)) for k, v in data.get("balances", {}).items()}
                state.account_add(api_key=data["api_key"], secret=data["secret"], balances=balances)
            elif (method, action) != ("GET", "state"):
                return self._send(404, {"error": f"unknown control {method} {action}"})
        except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
            return self._send(400, {"error": f"bad control request: {exc}"})
        with state.lock:
            summary = {
                "prices": {k: str(v) for k, v in state.prices.items()},
                "orders": len(state.orders),
                "faults": len(state.faults),
            }
        self._send(200, summary)


class ExchangeEmulator:
    """The emulator's HTTP server on a free loopback port, served from a daemon thread.

    with ExchangeEmulator() as emulator:
        emulator.state.account_add(api_key="k", secret="s", balances={"USDT": Decimal("1000")})
        client = binance_client(base_url=emulator.url, api_key="k", secret="s")
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, state: EmulatorState | None = None):
        """`state` defaults to a fresh EmulatorState (pass EmulatorState(buy_fee_in_base=True) for
        Binance's fee in the asset received)."""
        self.state = state or EmulatorState()
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.state = self.state
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "ExchangeEmulator":
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="exchange-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def __enter__(self) -> "ExchangeEmulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _pairs(values: list[str], what: str) -> dict[str, Decimal]:
    out = {}
    for value in values:
        name, sep, number = value.partition("=")
        try:
            out[name] = Decimal(number)
        except InvalidOperation:
            sep = ""
        if not sep:
            raise SystemExit(f"{what}: expected NAME=NUMBER, got {value!r}")
    return out


def emulator_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9009)
    parser.add_argument("--api-key", default="emulator-key")
    parser.add_argument("--secret", default="emulator-secret")
    parser.add_argument("--balance", action="append", default=[], help="ASSET=AMOUNT, e.g. USDT=10000")
    parser.add_argument("--price", action="append", default=[], help="SYMBOLID=PRICE, e.g. BTCUSDT=60000")
    parser.add_argument(
        "--buy-fee-in-base",
        action="store_true",
        help="Charge a buy's fee in the asset received, as Binance does (default: every fee in the quote currency).",
    )
    parser.add_argument(
        "--fee-asset",
        default=None,
        metavar="ASSET",
        help="Charge every fill's fee in ASSET (e.g. BNB, Binance's 'pay fees with BNB'): the quote fee at ASSET's "
        "price against the quote, rounded up to 8 decimals, taken from ASSET's balance. Needs that price, "
        "e.g. --price BNBUSDT=600. Overrides --buy-fee-in-base.",
    )


def _fee_asset_check(fee_asset: str | None, prices: dict[str, Decimal]) -> None:
    """Refuse a fee asset the emulator could not charge: a fill would need its price against
    the quote (BNBUSDT for BNB on BTC/USDT) and fail the order without one."""
    if fee_asset is None:
        return
    if not (fee_asset.isalnum() and fee_asset.isupper()):
        raise SystemExit(f"--fee-asset: expected an asset code such as BNB, got {fee_asset!r}")
    if not any(symbol_id.startswith(fee_asset) for symbol_id in prices):
        raise SystemExit(f"--fee-asset {fee_asset}: give its price against the quote, e.g. --price {fee_asset}USDT=600")


def emulator_serve(
    *,
    host: str,
    port: int,
    api_key: str,
    secret: str,
    balance: list[str],
    price: list[str],
    buy_fee_in_base: bool = False,
    fee_asset: str | None = None,
) -> None:
    """Run the emulator in the foreground until interrupted."""
    balances, prices = _pairs(balance, "--balance"), _pairs(price, "--price")
    _fee_asset_check(fee_asset, prices)
    state = EmulatorState(buy_fee_in_base=buy_fee_in_base, fee_asset=fee_asset)
    emulator = ExchangeEmulator(host=host, port=port, state=state)
    emulator.state.account_add(api_key=api_key, secret=secret, balances=balances)
    for symbol_id, value in prices.items():
        emulator.state.price_set(symbol_id, value)
    print(f"exchange emulator serving Binance spot API at {emulator.url}/api/v3 (Ctrl-C to stop)", flush=True)
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Binance-compatible exchange emulator on loopback.")
    emulator_arguments(parser)
    args = parser.parse_args(argv)
    emulator_serve(**vars(args))


if __name__ == "__main__":
    main()
