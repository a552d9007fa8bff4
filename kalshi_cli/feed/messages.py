"""The WebSocket's server messages as types: every frame is decoded here, once, into one member
of the tagged union `Message` (msgspec, tagged on `type`), and nothing below reads a dict.

`decode` reads a live frame's text straight into its Struct: `UnknownMessage` for a type not
known here (the feed skips it), a `ValueError` for a known type in a wrong shape (a malformed
frame, docs/feed.md). A recorded frame only parsed to a dict is converted by `convert_frame`,
which never raises: a wrong shape is `Misshapen`. Each frame is converted to the one Struct its
`type` names (converting into the whole union is slow).

The Structs take what asyncapi.yaml declares and what REFERENCE.md saw on the wire: prices and
counts as strings or numbers (read exactly into `Decimal`), `taker_outcome_side` or the
deprecated `taker_side`, optional money fields on a public trade (a trade missing one is skipped
by whoever applies it, `FeedTrade.terms`, never read as zero). A new message is a Struct here
added to `Message` (CONTRIBUTING.md "A feed message").
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, get_args

import msgspec

from kalshi_cli.vocabulary.models import Order, decode_answer, is_market_result
from kalshi_cli.vocabulary.units import ONE, ZERO, Side, parse_optional_dollars

# --------------------------------------------------------------------------------- bodies


class BookSnapshot(msgspec.Struct, frozen=True, gc=False):
    """An `orderbook_snapshot`'s `msg`: each side's levels as `[price, size]` (an absent side
    is an empty one). `LocalBook` checks the levels, refusing the whole book for one bad.

    `yes`/`no` (cents) and `yes_dollars`/`no_dollars` are the fields a snapshot carried its
    levels in before the `_fp` ones (asyncapi-2026-03.yaml sends all three): kept as sent only
    so that a side given in them alone is refused, not read as an empty side."""

    market_ticker: str
    yes_dollars_fp: list[tuple[Decimal, Decimal]] | None = None
    no_dollars_fp: list[tuple[Decimal, Decimal]] | None = None
    yes: Any = None
    no: Any = None
    yes_dollars: Any = None
    no_dollars: Any = None


class BookDelta(msgspec.Struct, frozen=True, gc=False):
    """An `orderbook_delta`'s `msg`: one signed change of one level. The side and the price are
    kept as sent: an impossible one makes that market's book stale (`LocalBook.apply_delta`),
    not the frame malformed."""

    market_ticker: str
    price_dollars: Any
    delta_fp: Any
    side: Any


# a taker side's text as its `Side`, without the enum's call (a replay reads every trade)
_SIDES = {side.value: side for side in (Side.YES, Side.NO)}


class FeedTrade(msgspec.Struct, frozen=True, gc=False):
    """A public `trade`'s `msg`, the one reading of a trade from the WebSocket (live, recorded,
    exported, applied to a local venue)."""

    market_ticker: str | None = None
    yes_price: Decimal | None = msgspec.field(default=None, name="yes_price_dollars")
    no_price: Decimal | None = msgspec.field(default=None, name="no_price_dollars")
    count: Decimal | None = msgspec.field(default=None, name="count_fp")
    taker_outcome_side: str | None = None
    taker_side: str | None = None  # deprecated, sent beside or instead of the above
    trade_id: str | None = None
    ts: Any = None  # unix seconds (spec) or RFC 3339 (wire), as sent
    ts_ms: int | None = None

    @property
    def taker(self) -> Side | None:
        """The side the taker bought, None when the trade names none."""
        named = self.taker_outcome_side or self.taker_side
        return _SIDES.get(named) if isinstance(named, str) else None

    def terms(self) -> tuple[Decimal, Decimal, Side] | None:
        """(YES price, count, taker side), or None when any is missing or impossible: such a
        trade is skipped (counted `bad_trade`), never read as a zero."""
        price, count, taker = self.yes_price, self.count, self.taker
        if price is None or count is None or taker is None:
            return None
        if not (price.is_finite() and count.is_finite() and count > 0 and ZERO < price < ONE):
            return None  # a price off (0, 1) is no trade's: it would fill what it never met
        return price, count, taker


class Lifecycle(msgspec.Struct, frozen=True, gc=False):
    """A `market_lifecycle_v2`'s `msg`. `result` comes with `determined` (and on the wire with
    `settled`); `price_level_structure` and `price_ranges` with `created`; `close_ts` (unix
    seconds, read as sent: a value of another type is no reason to drop the message) with
    `created` and `close_date_updated`."""

    market_ticker: str | None = None
    event_type: str | None = None
    result: str | None = None
    price_level_structure: str | None = None
    price_ranges: list[Any] | None = None
    settlement_value: Any = None
    close_ts: Any = None

    @property
    def known_result(self) -> tuple[str, Decimal | None] | None:
        """The result the message states (`stated_result`)."""
        return stated_result(self.result, self.settlement_value)


def stated_result(result: Any, value: Any) -> tuple[str, Decimal | None] | None:
    """A market's result as a lifecycle message or a Market body states it: ("yes" or "no",
    None), or ("scalar", what one YES contract pays: its settlement value, from $0 to $1); None
    when it states none that can be paid."""
    if not is_market_result(result):
        return None
    if result != "scalar":
        return result, None
    try:
        paid = parse_optional_dollars(value)
    except (TypeError, ValueError):
        return None
    return ("scalar", paid) if paid is not None and ZERO <= paid <= ONE else None


class SubscribedBody(msgspec.Struct, frozen=True, gc=False):
    channel: str | None = None
    sid: int | None = None


class ErrorBody(msgspec.Struct, frozen=True, gc=False):
    code: int | None = None
    msg: str | None = None


class IndexList(msgspec.Struct, frozen=True, gc=False):
    index_ids: list[str] | None = None
    underlying_tickers: list[str] | None = None

    @property
    def ids(self) -> list[str]:
        return list(self.index_ids if self.index_ids is not None else self.underlying_tickers or [])


# --------------------------------------------------------------------------------- frames


class Frame(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """What every server message may carry: the command `id` it answers, its subscription's
    `sid` and `seq`."""

    id: int | None = None
    sid: int | None = None
    seq: int | None = None


class SnapshotMessage(Frame, tag="orderbook_snapshot", frozen=True, kw_only=True):
    sid: int
    seq: int
    msg: BookSnapshot


class DeltaMessage(Frame, tag="orderbook_delta", frozen=True, kw_only=True):
    sid: int
    seq: int
    msg: BookDelta


class TradeMessage(Frame, tag="trade", frozen=True):
    msg: FeedTrade = msgspec.field(default_factory=FeedTrade)


class LifecycleMessage(Frame, tag="market_lifecycle_v2", frozen=True):
    msg: Lifecycle = msgspec.field(default_factory=Lifecycle)


class EventLifecycleMessage(Frame, tag="event_lifecycle", frozen=True):
    """Sequenced on the lifecycle subscription; nothing of it is applied."""


class EventFeeUpdateMessage(Frame, tag="event_fee_update", frozen=True):
    """Sequenced on the lifecycle subscription; nothing of it is applied."""


class OrderGroupUpdatesMessage(Frame, tag="order_group_updates", frozen=True):
    """News of the account's order groups; nothing of it is applied (the loop reads them over
    REST)."""


class ListSubscriptionsMessage(Frame, tag="list_subscriptions", frozen=True):
    """The answer to `list_subscriptions`; nothing of it is read."""


class FillNotice(msgspec.Struct, frozen=True, gc=False):
    """A `fill` message's `msg`: news that an order of the account filled. The trade loop reads
    the fill itself over REST (a `models.Fill`, strict about money); these ids tell it whether
    the fill is news."""

    order_id: str = ""
    trade_id: str = ""
    market_ticker: str | None = None
    yes_price: Decimal | None = msgspec.field(default=None, name="yes_price_dollars")
    count: Decimal | None = msgspec.field(default=None, name="count_fp")


class MarketNamed(msgspec.Struct, frozen=True, gc=False):
    """The `msg` of a `ticker`, `market_position` or `multivariate_market_lifecycle` message, of
    which the trade loop reads nothing but the market (it takes prices from the book, positions
    from REST)."""

    market_ticker: str | None = None


class UnreadableOrder(msgspec.Struct, frozen=True):
    """A `user_order` message that is not an order's shape: missing means unknown, never "0
    resting", so the trade loop keeps the order as it knew it and reads its fills."""

    order_id: str
    ticker: str | None
    subaccount: int | None
    error: str


def order_update(body: Mapping[str, Any]) -> Order | UnreadableOrder:
    """A `user_order` message's `msg` as the `models.Order` it describes (status and counts
    without defaults), else what can be told of it."""
    try:
        return decode_answer(Order, body)
    except (KeyError, TypeError, ValueError) as exc:
        order_id, ticker, number = (
            body.get("order_id"),
            body.get("ticker"),
            body.get("subaccount_number"),
        )
        return UnreadableOrder(
            order_id if isinstance(order_id, str) else "",
            ticker if isinstance(ticker, str) else None,
            number if isinstance(number, int) and not isinstance(number, bool) else None,
            repr(exc),
        )


class TickerMessage(Frame, tag="ticker", frozen=True):
    msg: MarketNamed = msgspec.field(default_factory=MarketNamed)


class PositionMessage(Frame, tag="market_position", frozen=True):
    msg: MarketNamed = msgspec.field(default_factory=MarketNamed)


class MultivariateLifecycleMessage(Frame, tag="multivariate_market_lifecycle", frozen=True):
    """Sequenced on its subscription; nothing of it is applied but its market."""

    msg: MarketNamed = msgspec.field(default_factory=MarketNamed)


class FillMessage(Frame, tag="fill", frozen=True):
    msg: FillNotice = msgspec.field(default_factory=FillNotice)


class UserOrderMessage(Frame, tag="user_order", frozen=True):
    """Its `msg` is read as an order by `order_update` (an unreadable order is news for the
    loop, not a malformed frame that would resync every book)."""

    msg: dict[str, Any] = msgspec.field(default_factory=dict)


class IndexValueMessage(Frame, frozen=True):
    """A reference index value; `feed.index.decode_tick` reads its body per channel, and a
    malformed one is that channel's error, not the frame's."""

    msg: Any = None


class CfbValueMessage(IndexValueMessage, tag="cfbenchmarks_value", frozen=True):
    pass


class Cfb5HzValueMessage(IndexValueMessage, tag="cfbenchmarks_value_5hz", frozen=True):
    pass


class PythValueMessage(IndexValueMessage, tag="pyth_value", frozen=True):
    pass


class IndexListMessage(Frame, frozen=True):
    msg: IndexList = msgspec.field(default_factory=IndexList)


class CfbIndexList(IndexListMessage, tag="cfbenchmarks_value_indexlist", frozen=True):
    pass


class Cfb5HzIndexList(IndexListMessage, tag="cfbenchmarks_value_5hz_indexlist", frozen=True):
    pass


class PythUnderlyingList(IndexListMessage, tag="pyth_value_underlying_list", frozen=True):
    pass


class Subscribed(Frame, tag="subscribed", frozen=True):
    msg: SubscribedBody = msgspec.field(default_factory=SubscribedBody)


class Unsubscribed(Frame, tag="unsubscribed", frozen=True):
    pass


class Ok(Frame, tag="ok", frozen=True):
    pass


# REFERENCE.md's WS error codes that end a subscription: 10 channel error, 25 buffer overflow
# (its messages were dropped: "you must resubscribe")
TERMINAL_ERROR_CODES = frozenset({10, 25})


class Error(Frame, tag="error", frozen=True):
    msg: ErrorBody = msgspec.field(default_factory=ErrorBody)

    @property
    def terminal(self) -> bool:
        """The subscription `sid` names has ended: its books may have lost messages."""
        return self.msg.code in TERMINAL_ERROR_CODES


class UnknownMessage(msgspec.Struct, frozen=True):
    """A message of a type this module does not know (or with no `type`): skipped, counted. A
    recorded one keeps the market its `msg` names, if any (`data info` counts its rows)."""

    type: str | None
    market_ticker: str | None = None


class Misshapen(msgspec.Struct, frozen=True):
    """A recorded frame of a known `type` that is not that message's shape (`convert_frame`):
    what a reader of recordings can still tell of it, its subscription's `sid` and `seq` and
    its market, each None when absent or not of its type. The live feed never sees one: there
    such a frame is malformed (`decode` raises)."""

    type: str
    sid: int | None = None
    seq: int | None = None
    market_ticker: str | None = None


Message = (
    SnapshotMessage
    | DeltaMessage
    | TradeMessage
    | LifecycleMessage
    | EventLifecycleMessage
    | EventFeeUpdateMessage
    | MultivariateLifecycleMessage
    | OrderGroupUpdatesMessage
    | ListSubscriptionsMessage
    | TickerMessage
    | FillMessage
    | UserOrderMessage
    | PositionMessage
    | CfbValueMessage
    | Cfb5HzValueMessage
    | PythValueMessage
    | CfbIndexList
    | Cfb5HzIndexList
    | PythUnderlyingList
    | Subscribed
    | Unsubscribed
    | Ok
    | Error
)
# each message class by its `type`, and the `type`s decoded (any other is `UnknownMessage`)
BY_TYPE: dict[str, type[Message]] = {
    str(cls.__struct_config__.tag): cls for cls in get_args(Message)
}
TYPES = frozenset(BY_TYPE)
TYPE_OF: dict[type[Any], str] = {cls: kind for kind, cls in BY_TYPE.items()}
BOOK_TYPES = frozenset({"orderbook_snapshot", "orderbook_delta"})

_decoder = msgspec.json.Decoder(Message)
_any = msgspec.json.Decoder()


def decode(text: str | bytes) -> Message | UnknownMessage:
    """One text frame as received. Raises a `ValueError` when it is not JSON, not an object, or
    a known type in a wrong shape."""
    try:
        message: Message = _decoder.decode(text)
    except msgspec.ValidationError:
        unknown = _unknown(_any.decode(text))
        if unknown is None:
            raise
        return unknown
    return message


def convert_frame(obj: Any) -> Message | UnknownMessage | Misshapen:
    """A frame parsed to a dict (a recorded one) as its Struct, `UnknownMessage` when its type
    is not known, `Misshapen` when it is and the frame is not that message's shape. Never
    raises."""
    kind = obj.get("type") if type(obj) is dict else None
    cls = BY_TYPE.get(kind) if type(kind) is str else None
    body = obj.get("msg") if type(obj) is dict else None
    ticker = body.get("market_ticker") if type(body) is dict else None
    ticker = ticker if type(ticker) is str else None
    if cls is None:
        return UnknownMessage(kind if type(kind) is str else None, ticker)
    try:
        message: Message = msgspec.convert(obj, cls)
    except msgspec.ValidationError:
        sid, seq = obj.get("sid"), obj.get("seq")
        return Misshapen(
            str(kind), sid if type(sid) is int else None, seq if type(seq) is int else None, ticker
        )
    return message


def type_of(message: Message | UnknownMessage | Misshapen) -> str | None:
    """The `type` a message came with (None for a message with no `type`, or not a string)."""
    kind = TYPE_OF.get(type(message))
    if kind is not None:
        return kind
    return message.type if isinstance(message, UnknownMessage | Misshapen) else None


def market_of(message: Message | UnknownMessage | Misshapen) -> str | None:
    """The market a message's `msg` names (`market_ticker`), else None."""
    if isinstance(message, UnknownMessage | Misshapen):
        return message.market_ticker
    ticker = getattr(getattr(message, "msg", None), "market_ticker", None)
    return ticker if type(ticker) is str else None


def _unknown(obj: Any) -> UnknownMessage | None:
    """The message a tagged decoding refused, as `UnknownMessage` when its type is not known; None
    when it is a known type in a wrong shape (or not an object at all): malformed."""
    if not isinstance(obj, dict):
        return None
    kind = obj.get("type")
    if kind in TYPES:
        return None
    return UnknownMessage(kind if isinstance(kind, str) else None)
