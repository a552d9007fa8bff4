"""Kalshi's WebSocket v2 on the simulator: handshake, commands, channels, sequence numbers and
faults. The hub is called on the one event loop, so a snapshot and the deltas after it are
ordered without locks, and each connection's one queue keeps replies and messages in order.
docs/simulator.md "WebSocket (`/trade-api/ws/v2`)".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from kalshi_cli.sim.core import indices
from kalshi_cli.sim.core import serialize as ser
from kalshi_cli.sim.core.communications import CommsNotice
from kalshi_cli.sim.core.records import (
    Account,
    BookChanged,
    EventCreated,
    EventFeeUpdated,
    FillHappened,
    MarketLifecycle,
    OrderChanged,
    OrderGroupChanged,
    PositionChanged,
    SimNotice,
    TradeHappened,
    owner,
    same_user,
)
from kalshi_cli.sim.server.auth import AuthFailure
from kalshi_cli.sim.server.routes import communications as rfqs
from kalshi_cli.sim.server.routes import multivariate
from kalshi_cli.sim.server.routing import WS_PATH, SimState, nested_error_body
from kalshi_cli.vocabulary.units import ZERO

log = logging.getLogger("kalshi_cli.sim.server.ws")

CHANNELS = (
    "orderbook_delta",
    "ticker",
    "trade",
    "fill",
    "user_orders",
    "market_positions",
    "market_lifecycle_v2",
    "multivariate_market_lifecycle",
    "communications",
    "order_group_updates",
    "cfbenchmarks_value",
    "cfbenchmarks_value_5hz",
    "pyth_value",
)
# every channel but these numbers its messages (`seq`)
SEQUENCED = frozenset(CHANNELS) - {"ticker", "fill", "user_orders", "market_positions"}
# channels that ignore the market tickers of a subscribe (asyncapi: "Market specification ignored")
ALL_MARKETS = frozenset(
    {
        "market_lifecycle_v2",
        "multivariate_market_lifecycle",
        "communications",
        "order_group_updates",
    }
)
LIFECYCLE = frozenset({"market_lifecycle_v2", "multivariate_market_lifecycle"})
NEEDS_MARKET = frozenset({"orderbook_delta"})
MARKET_PARAMS = ("market_ticker", "market_tickers", "market_id", "market_ids")


@dataclass(frozen=True)
class IndexChannel:
    """A channel of reference-index values (asyncapi `cfbenchmarks_value`,
    `cfbenchmarks_value_5hz`, `pyth_value`): which ids it takes, under which parameter, its
    `update_subscription` actions (add, remove, list), the list message and the error code of
    an add or remove without ids."""

    source: indices.Source
    five_hz: bool
    param: str
    add: str
    remove: str
    listing: str
    list_type: str
    missing_code: int
    missing_msg: str


_CF_BENCHMARKS = IndexChannel(
    "cfbenchmarks",
    False,
    "index_ids",
    "subscribe_indices",
    "unsubscribe_indices",
    "indexlist",
    "cfbenchmarks_value_indexlist",
    24,
    "Index IDs required",
)
INDEX_CHANNELS = {
    "cfbenchmarks_value": _CF_BENCHMARKS,
    "cfbenchmarks_value_5hz": replace(
        _CF_BENCHMARKS, five_hz=True, list_type="cfbenchmarks_value_5hz_indexlist"
    ),
    "pyth_value": IndexChannel(
        "pyth",
        False,
        "underlying_tickers",
        "subscribe_underlyings",
        "unsubscribe_underlyings",
        "underlying_list",
        "pyth_value_underlying_list",
        28,
        "Underlying tickers required",
    ),
}

Json = dict[str, Any]


class CommandError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Subscription:
    sid: int
    channel: str
    tickers: set[str] | None  # None: every market
    seq: int = 0
    last_ticker: dict[str, Json] = field(default_factory=dict)
    # an index channel's ids (index_ids or underlying_tickers); "all" tracks every one
    ids: set[str] = field(default_factory=set)
    # orderbook channel: NO-side levels in YES-leg prices (`use_yes_price`, asyncapi's
    # subscribe params; default false, the long-standing NO-leg prices)
    yes_priced: bool = False
    # the `ok` answers to its `update_subscription`s leave out the market list
    # (`skip_ticker_ack`, asyncapi's subscribe params)
    skip_ticker_ack: bool = False

    def covers(self, ticker: str) -> bool:
        return self.tickers is None or ticker in self.tickers

    def next_seq(self) -> int:
        """The subscription's next number, taken by a message on a channel that numbers them and
        by a command's answer about it (REFERENCE.md "Observed on the real wire")."""
        self.seq += 1
        return self.seq


class SimWsConnection:
    def __init__(self, hub: WsHub, websocket: WebSocket, account: Account) -> None:
        self.hub = hub
        self.websocket = websocket
        self.account = account
        self.subs: dict[int, Subscription] = {}
        self.queue: asyncio.Queue[Json | None] = asyncio.Queue()
        self._next_sid = 1

    def new_sid(self) -> int:
        sid = self._next_sid
        self._next_sid += 1
        return sid

    def reply(self, cmd_id: Any, message: Json) -> None:
        """A command's answer, with the command's `id` when it gave an integer one."""
        if isinstance(cmd_id, int):
            message["id"] = cmd_id
        self.queue.put_nowait(message)

    def emit(self, sub: Subscription, kind: str, msg: Json, *, snapshot: bool = False) -> None:
        seq = None
        if sub.channel in SEQUENCED:
            seq = sub.next_seq()
            if not snapshot and self.hub.state.faults.ws_seq_gap():
                seq = sub.next_seq()
        self.queue.put_nowait(ser.ws_frame(kind, sub.sid, seq, msg))

    async def writer(self) -> None:
        faults = self.hub.state.faults
        while True:
            message = await self.queue.get()
            if message is None:
                return
            if faults.ws_silent():
                continue
            if faults.ws_drop():
                with contextlib.suppress(Exception):
                    await self.websocket.close(code=1011)
                return
            await self.websocket.send_text(json.dumps(message))


class WsHub:
    def __init__(self, state: SimState) -> None:
        self.state = state
        self.connections: set[SimWsConnection] = set()
        state.exchange.reference.add_listener(self.on_notice)
        rfqs.comms(state).listeners.append(self.on_comms)
        indices.of(state.exchange).add_listener(self.on_index)

    # -- connection lifecycle ---------------------------------------------------------------

    async def endpoint(self, websocket: WebSocket) -> None:
        try:
            account = self.state.auth.authenticate("GET", WS_PATH, websocket.headers)
        except AuthFailure as exc:
            body = nested_error_body(exc.code, exc.message, exc.details)
            if "websocket.http.response" in websocket.scope.get("extensions", {}):
                await websocket.send_denial_response(JSONResponse(body, status_code=401))
            else:
                await websocket.close(code=1008)
            return
        await websocket.accept()
        conn = SimWsConnection(self, websocket, account)
        self.connections.add(conn)
        writer = asyncio.create_task(conn.writer())
        reader = asyncio.create_task(self._read(conn))
        try:
            await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.connections.discard(conn)
            for task in (writer, reader):
                task.cancel()
            with contextlib.suppress(Exception):
                await websocket.close()

    async def _read(self, conn: SimWsConnection) -> None:
        try:
            while True:
                text = await conn.websocket.receive_text()
                self.handle_command(conn, text)
        except (WebSocketDisconnect, RuntimeError):
            return

    async def close_all(self) -> None:
        for conn in list(self.connections):
            conn.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await conn.websocket.close(code=1001)

    # -- commands ---------------------------------------------------------------------------

    def handle_command(self, conn: SimWsConnection, text: str) -> None:
        cmd_id: Any = None
        try:
            try:
                command = json.loads(text)
            except ValueError:
                raise CommandError(1, "Unable to process message: invalid JSON") from None
            if not isinstance(command, dict):
                raise CommandError(1, "Unable to process message: expected an object")
            cmd_id = command.get("id")
            name = command.get("cmd")
            params = command.get("params")
            if name == "list_subscriptions":
                self._list(conn, cmd_id)
                return
            if name not in ("subscribe", "unsubscribe", "update_subscription"):
                raise CommandError(5, "Unknown command")
            if not isinstance(params, dict):
                raise CommandError(2, "Params required")
            if _subscribes(name, params) and self.state.faults.ws_refuse_subscribe():
                # a refusal that may pass: the client is to ask again (asyncapi.yaml's code 18)
                raise CommandError(18, "Command timeout")
            if name == "subscribe":
                self._subscribe(conn, cmd_id, params)
            elif name == "unsubscribe":
                self._unsubscribe(conn, cmd_id, params)
            else:
                self._update(conn, cmd_id, params)
        except CommandError as exc:
            conn.reply(cmd_id, {"type": "error", "msg": {"code": exc.code, "msg": exc.message}})

    def _tickers(self, params: Json) -> list[str] | None:
        tickers: list[str] = []
        if "market_ticker" in params:
            if not isinstance(params["market_ticker"], str):
                raise CommandError(11, "Invalid parameter: market_ticker")
            tickers.append(params["market_ticker"])
        if "market_tickers" in params:
            value = params["market_tickers"]
            if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
                raise CommandError(11, "Invalid parameter: market_tickers")
            tickers.extend(value)
        ids: list[Any] = []
        if "market_id" in params:
            ids.append(params["market_id"])
        if isinstance(params.get("market_ids"), list):
            ids.extend(params["market_ids"])
        if ids:
            by_id = {ser.market_id(t): t for t in self.state.exchange.reference.markets}
            for market_id in ids:
                if market_id not in by_id:
                    raise CommandError(11, f"Invalid parameter: unknown market_id {market_id}")
                tickers.append(by_id[market_id])
        if not tickers:
            return None
        for ticker in tickers:
            if ticker not in self.state.exchange.reference.markets:
                raise CommandError(11, f"Invalid parameter: unknown market ticker {ticker}")
        return list(dict.fromkeys(tickers))

    def _subscribe(self, conn: SimWsConnection, cmd_id: Any, params: Json) -> None:
        channels = params.get("channels")
        if not isinstance(channels, list) or not channels:
            raise CommandError(3, "Channels required")
        for channel in channels:
            if channel not in CHANNELS:
                raise CommandError(8, f"Unknown channel name {channel}")
        index_ids = _index_ids(channels, params)
        tickers = self._tickers(params)
        for channel in channels:
            if channel in NEEDS_MARKET and tickers is None:
                raise CommandError(14, "Market Ticker required")
        yes_priced = _flag(params, "use_yes_price")
        skip_ticker_ack = _flag(params, "skip_ticker_ack")
        for channel in dict.fromkeys(channels):
            cover = None if channel in ALL_MARKETS or tickers is None else set(tickers)
            sub = Subscription(
                conn.new_sid(),
                channel,
                cover,
                ids=set(index_ids.get(channel, ())),
                yes_priced=yes_priced and channel == "orderbook_delta",
                skip_ticker_ack=skip_ticker_ack,
            )
            conn.subs[sub.sid] = sub
            conn.reply(cmd_id, {"type": "subscribed", "msg": {"channel": channel, "sid": sub.sid}})
            if channel == "orderbook_delta":
                for ticker in tickers or []:
                    self._snapshot(conn, sub, ticker)
            elif channel == "ticker" and params.get("send_initial_snapshot") is True:
                for ticker in tickers or list(self.state.exchange.reference.markets):
                    self._ticker(conn, sub, ticker)

    def _unsubscribe(self, conn: SimWsConnection, cmd_id: Any, params: Json) -> None:
        sids = params.get("sids")
        if not isinstance(sids, list) or not sids:
            raise CommandError(4, "Subscription IDs required")
        for sid in sids:
            sub = conn.subs.pop(sid, None) if isinstance(sid, int) else None
            if sub is None:
                raise CommandError(7, "Unknown subscription ID")
            # the answer takes the subscription's next number, as `ok` does; asyncapi requires
            # a `seq` of at least 1 here
            conn.reply(cmd_id, {"type": "unsubscribed", "sid": sub.sid, "seq": sub.next_seq()})

    def _update(self, conn: SimWsConnection, cmd_id: Any, params: Json) -> None:
        """`update_subscription`: the one subscription it names, then what the action asks of
        it (the spec's actions, each a step below; an index channel has actions of its own)."""
        action = params.get("action")
        if action is None:
            raise CommandError(15, "Action required")
        sub = self._named_subscription(conn, params)
        if sub.channel in INDEX_CHANNELS:
            self._update_ids(conn, cmd_id, sub, action, params)
            return
        if action not in ("add_markets", "delete_markets", "get_snapshot"):
            raise CommandError(13, "Unsupported action")
        tickers = self._tickers(params)
        if action == "get_snapshot":
            self._resend_snapshots(conn, sub, tickers)
        else:
            self._update_markets(conn, cmd_id, sub, action == "add_markets", tickers)

    @staticmethod
    def _named_subscription(conn: SimWsConnection, params: Json) -> Subscription:
        """The one subscription an `update_subscription` names (`sid`, or `sids` of one)."""
        sids = params.get("sids")
        if "sid" in params:
            sid = params["sid"]
        elif isinstance(sids, list) and len(sids) == 1:
            sid = sids[0]
        else:
            raise CommandError(12, "Exactly one subscription ID is required")
        sub = conn.subs.get(sid) if isinstance(sid, int) else None
        if sub is None:
            raise CommandError(7, "Unknown subscription ID")
        return sub

    def _resend_snapshots(
        self, conn: SimWsConnection, sub: Subscription, tickers: list[str] | None
    ) -> None:
        """`get_snapshot`: an orderbook snapshot of each market asked for (default: every
        market the subscription covers), on the subscription's own sequence."""
        if sub.channel != "orderbook_delta":
            raise CommandError(13, "Unsupported action: get_snapshot is for orderbook_delta")
        for ticker in tickers or sorted(sub.tickers or ()):
            self._snapshot(conn, sub, ticker)

    def _update_markets(
        self,
        conn: SimWsConnection,
        cmd_id: Any,
        sub: Subscription,
        add: bool,
        tickers: list[str] | None,
    ) -> None:
        """`add_markets` (`add`) or `delete_markets` on a subscription of named markets; the
        markets added to an orderbook subscription get a snapshot each, then the `ok`."""
        if sub.tickers is None:
            raise CommandError(13, "Unsupported action: this subscription covers every market")
        if tickers is None:
            raise CommandError(14, "Market Ticker required")
        if add:
            new = [t for t in tickers if t not in sub.tickers]
            sub.tickers.update(new)
            if sub.channel == "orderbook_delta":
                for ticker in new:
                    self._snapshot(conn, sub, ticker)
        else:
            sub.tickers.difference_update(tickers)
        reply: Json = {"type": "ok", "sid": sub.sid}
        if sub.channel in SEQUENCED:
            # Kalshi's `ok` consumes a sequence number, interleaved with the snapshots and
            # deltas (REFERENCE.md "Observed on the real wire"): repeating the last one would
            # read as a duplicate, and a client counting numbers would see a gap later
            reply["seq"] = sub.next_seq()
        if not sub.skip_ticker_ack:
            reply["msg"] = {"market_tickers": sorted(sub.tickers)}
        conn.reply(cmd_id, reply)

    def _update_ids(
        self, conn: SimWsConnection, cmd_id: Any, sub: Subscription, action: Any, params: Json
    ) -> None:
        """`update_subscription` on an index channel: add or remove ids (an `ok` taking the
        next `seq`), or list the ids available (the channel's list message, which takes it
        too: asyncapi's examples number it), the subscription unchanged."""
        kind = INDEX_CHANNELS[sub.channel]
        if action not in (kind.add, kind.remove, kind.listing):
            raise CommandError(13, "Unsupported action")
        reply: Json
        if action == kind.listing:
            listed = indices.of(self.state.exchange).ids(kind.source, five_hz=kind.five_hz)
            reply = {"type": kind.list_type, "sid": sub.sid, "seq": sub.next_seq()}
            reply["msg"] = {kind.param: listed}
        else:
            ids = _ids(params, kind.param)
            if not ids:
                raise CommandError(kind.missing_code, kind.missing_msg)
            if action == kind.add:
                sub.ids.update(ids)
            else:
                sub.ids.difference_update(ids)
            reply = {"type": "ok", "sid": sub.sid, "seq": sub.next_seq()}
        conn.reply(cmd_id, reply)

    def _list(self, conn: SimWsConnection, cmd_id: Any) -> None:
        reply: Json = {
            "type": "ok",
            "msg": [{"channel": s.channel, "sid": s.sid} for s in conn.subs.values()],
        }
        conn.reply(cmd_id if isinstance(cmd_id, int) else 0, reply)

    # -- channel messages -------------------------------------------------------------------

    def _snapshot(self, conn: SimWsConnection, sub: Subscription, ticker: str) -> None:
        msg = ser.ws_snapshot_msg(self.state.exchange.engine, ticker, yes_priced=sub.yes_priced)
        conn.emit(sub, "orderbook_snapshot", msg, snapshot=True)

    def _ticker(self, conn: SimWsConnection, sub: Subscription, ticker: str) -> None:
        exchange = self.state.exchange
        market = exchange.reference.markets.get(ticker)
        if market is None:
            return
        # asyncapi: "contracts in last trade", the market's, whatever moved the ticker
        trades = exchange.history.trade_timeline(ticker)
        size = trades.between(len(trades) - 1, len(trades))[0].count if len(trades) else ZERO
        msg = ser.ws_ticker_msg(exchange.engine, market, size, self.state.clock.wall())
        comparable = {k: v for k, v in msg.items() if k not in ("ts", "ts_ms", "time")}
        if sub.last_ticker.get(ticker) == comparable:
            return
        sub.last_ticker[ticker] = comparable
        conn.emit(sub, "ticker", msg)

    def on_notice(self, notice: SimNotice) -> None:
        try:
            for conn in list(self.connections):
                self._deliver(conn, notice)
        except Exception:
            log.exception("websocket fan-out failed")

    def _deliver(self, conn: SimWsConnection, notice: SimNotice) -> None:
        """One notice to each of the connection's subscriptions whose channel carries it, by
        the kind of notice: public market data, an account's own records, or the lifecycle of
        markets and events."""
        mine = conn.account.account_id
        for sub in list(conn.subs.values()):
            if isinstance(notice, (BookChanged, TradeHappened)):
                self._deliver_market_data(conn, sub, notice)
            elif isinstance(
                notice, (FillHappened, OrderChanged, PositionChanged, OrderGroupChanged)
            ):
                self._deliver_own(conn, sub, notice, mine)
            else:
                self._deliver_lifecycle(conn, sub, notice)

    def _deliver_market_data(
        self, conn: SimWsConnection, sub: Subscription, event: BookChanged | TradeHappened
    ) -> None:
        """A book change to `orderbook_delta`, a trade to `trade`; either to `ticker`."""
        channel = sub.channel
        if isinstance(event, BookChanged):
            if channel == "orderbook_delta" and sub.covers(event.ticker):
                msg = self._delta_msg(event, conn.account.account_id, yes_priced=sub.yes_priced)
                conn.emit(sub, "orderbook_delta", msg)
            elif channel == "ticker" and sub.covers(event.ticker):
                self._ticker(conn, sub, event.ticker)
            return
        trade = event.trade
        if channel == "trade" and sub.covers(trade.ticker):
            conn.emit(sub, "trade", ser.ws_trade_msg(trade))
        elif channel == "ticker" and sub.covers(trade.ticker):
            self._ticker(conn, sub, trade.ticker)

    def _deliver_own(
        self,
        conn: SimWsConnection,
        sub: Subscription,
        event: FillHappened | OrderChanged | PositionChanged | OrderGroupChanged,
        mine: str,
    ) -> None:
        """A fill, an order, a position or an order group, to its channel on the connections
        of the user whose (sub)account it is."""
        channel = sub.channel
        if isinstance(event, FillHappened):
            fill = event.fill
            if channel == "fill" and owner(fill.account_id)[0] == mine and sub.covers(fill.ticker):
                shard = self.state.exchange.reference.markets[fill.ticker].exchange_index
                conn.emit(sub, "fill", ser.ws_fill_msg(fill, shard))
        elif isinstance(event, OrderChanged):
            order = event.order
            if (
                channel == "user_orders"
                and owner(order.account_id)[0] == mine
                and sub.covers(order.ticker)
            ):
                shard = self.state.exchange.reference.markets[order.ticker].exchange_index
                conn.emit(sub, "user_order", ser.ws_user_order_msg(order, shard))
        elif isinstance(event, PositionChanged):
            if (
                channel == "market_positions"
                and owner(event.account_id)[0] == mine
                and sub.covers(event.ticker)
            ):
                position = next(
                    (
                        p
                        for p in self.state.exchange.accounts.positions(event.account_id)
                        if p.ticker == event.ticker
                    ),
                    None,
                )
                conn.emit(
                    sub,
                    "market_position",
                    ser.ws_position_msg(event.account_id, event.ticker, position),
                )
        elif channel == "order_group_updates" and owner(event.account_id)[0] == mine:
            conn.emit(sub, "order_group_updates", ser.ws_order_group_msg(event))

    def _deliver_lifecycle(
        self,
        conn: SimWsConnection,
        sub: Subscription,
        event: MarketLifecycle | EventCreated | EventFeeUpdated,
    ) -> None:
        """A market's or an event's lifecycle, and an event's fee update, to the lifecycle
        channel of its kind: `multivariate_market_lifecycle` for a multivariate one,
        `market_lifecycle_v2` for every other (Kalshi's changelog took the multivariate ones
        off it, in all its message types)."""
        channel = sub.channel
        if channel not in LIFECYCLE:
            return
        if isinstance(event, MarketLifecycle):
            ticker = event.ticker
        elif isinstance(event, EventCreated):
            ticker = event.event_ticker
        else:
            ticker = event.change.event_ticker
        if (channel == "multivariate_market_lifecycle") != multivariate.is_multivariate(
            self.state.exchange, ticker
        ):
            return
        if isinstance(event, MarketLifecycle):
            self._lifecycle(conn, sub, event)
        elif isinstance(event, EventCreated):
            ev = self.state.exchange.reference.events.get(event.event_ticker)
            if ev is not None:
                conn.emit(sub, "event_lifecycle", ser.ws_event_lifecycle_msg(ev))
        elif channel == "market_lifecycle_v2":
            # asyncapi: "Delivered on the `market_lifecycle_v2` channel only."
            conn.emit(sub, "event_fee_update", ser.ws_event_fee_msg(event.change))

    def _lifecycle(self, conn: SimWsConnection, sub: Subscription, event: MarketLifecycle) -> None:
        market = self.state.exchange.reference.markets.get(event.ticker)
        if market is None:
            return
        if sub.channel == "market_lifecycle_v2":
            msg = ser.ws_lifecycle_msg(market, event.event_type, event.ts)
            conn.emit(sub, "market_lifecycle_v2", msg)
        elif event.event_type in ser.MVE_LIFECYCLE_EVENTS:
            msg = ser.ws_mve_lifecycle_msg(market, event.event_type, event.ts)
            conn.emit(sub, "multivariate_market_lifecycle", msg)

    def on_comms(self, notice: CommsNotice) -> None:
        """RFQ events go to every `communications` subscriber, quote events only to the quote's
        maker and the RFQ's creator (asyncapi.yaml, channel `communications`)."""
        try:
            c = rfqs.comms(self.state)
            for conn in list(self.connections):
                mine = conn.account.account_id
                if notice.to is not None and mine not in notice.to:
                    continue
                for sub in list(conn.subs.values()):
                    if sub.channel == "communications":
                        conn.emit(sub, notice.kind, rfqs.ws_message(c, notice, mine))
        except Exception:
            log.exception("websocket fan-out failed")

    def on_index(self, tick: indices.SimIndexTick) -> None:
        """An index value to every subscription of a channel that carries it and tracks its
        id (or "all")."""
        try:
            for conn in list(self.connections):
                for sub in list(conn.subs.values()):
                    kind = INDEX_CHANNELS.get(sub.channel)
                    if (
                        kind is None
                        or kind.source != tick.source
                        or (kind.five_hz and tick.index_id not in indices.FIVE_HZ)
                        or (not kind.five_hz and not tick.whole_second)
                        or not (tick.index_id in sub.ids or "all" in sub.ids)
                    ):
                        continue
                    conn.emit(sub, sub.channel, ser.ws_index_msg(sub.channel, tick))
        except Exception:
            log.exception("websocket fan-out failed")

    def _delta_msg(self, event: BookChanged, account_id: str, *, yes_priced: bool) -> Json:
        msg = ser.ws_delta_msg(event, self.state.clock.wall(), yes_priced=yes_priced)
        if event.client_order_id and event.account_id and same_user(event.account_id, account_id):
            msg["client_order_id"] = event.client_order_id
            msg["subaccount"] = owner(event.account_id)[1]
        return msg


def _subscribes(name: Any, params: Json) -> bool:
    """Whether a command asks for a subscription or for more markets on one: what the fault
    `ws_refuse_subscribe_rate` refuses."""
    return name == "subscribe" or (
        name == "update_subscription" and params.get("action") == "add_markets"
    )


def _flag(params: Json, name: str) -> bool:
    """A subscribe's boolean flag (false when absent); any other value is refused."""
    value = params.get(name, False)
    if not isinstance(value, bool):
        raise CommandError(11, f"Invalid parameter: {name} must be a boolean")
    return value


def _index_ids(channels: list[Any], params: Json) -> dict[str, list[str]]:
    """The ids each index channel of a subscribe seeds (none when its parameter is absent)."""
    out: dict[str, list[str]] = {}
    for channel in channels:
        kind = INDEX_CHANNELS.get(channel)
        if kind is None:
            continue
        # asyncapi: market_ticker(s)/market_id(s) "are not supported for this channel"
        for name in MARKET_PARAMS:
            if name in params:
                raise CommandError(11, f"Invalid parameter: {name} is not supported on {channel}")
        out[channel] = _ids(params, kind.param) or []
    return out


def _ids(params: Json, name: str) -> list[str] | None:
    """An index channel's ids parameter: None when absent, else a non-empty list of strings."""
    if name not in params:
        return None
    value = params[name]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise CommandError(11, f"Invalid parameter: {name}")
    return list(dict.fromkeys(value))
