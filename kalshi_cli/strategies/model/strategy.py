"""The `model` strategy: trade a fair-value source. It buys the side whose ask the source's
probability clears by `min_edge` after fees, sized by a fraction of the Kelly stake (with
`quote`, post-only bids instead), and sells what it holds at the bid when that clears `min_edge`
(`_close`). A `ModelError` is left to the trade loop's containment. docs/models.md "The rule".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import ROUND_FLOOR, Decimal
from typing import Annotated

import msgspec

from kalshi_cli.strategies.deadline import CALL_DEADLINE_MS, START_S
from kalshi_cli.strategies.model.sources import (
    ModelAnswer,
    ModelError,
    ModelSource,
    fingerprint,
    parse_source,
)
from kalshi_cli.strategy_api import (
    Cancel,
    Decision,
    Intent,
    MarketSnapshot,
    Params,
    PositionView,
    Range,
    Strategy,
    Updatable,
    best_ask,
    close_at_bid,
    side_value,
    snap_to_grid,
)
from kalshi_cli.vocabulary.units import ONE, ZERO, Action, Side, TimeInForce

NAME = "model"


class ModelParams(Params, frozen=True, dict=True):
    # python:package.module:function | command:COMMAND | file:PATH (or `--model`)
    source: str = ""
    min_edge: Annotated[Decimal, Range(ge=0), Updatable] = Decimal("0.02")  # after fees
    kelly_fraction: Annotated[Decimal, Range(gt=0, le=1), Updatable] = Decimal("0.25")
    # dollars the Kelly stake is a share of
    bankroll: Annotated[Decimal, Range(gt=0), Updatable] = Decimal("100")
    max_count: Annotated[Decimal, Range(gt=0), Updatable] = Decimal("50")  # per order
    min_confidence: Annotated[Decimal, Range(ge=0, le=1), Updatable] = Decimal("0")
    # rest a post-only bid at the best price that clears min_edge (below the ask), kept while
    # the model's fair value holds it there, instead of taking the ask
    quote: bool = False
    # the deadline of one answer (python and command sources)
    timeout_ms: Annotated[int, msgspec.Meta(gt=0)] = CALL_DEADLINE_MS
    # a file source's value older than this is never traded on
    max_age_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    # a command's first answer may take this long (its start)
    start_s: Annotated[float, msgspec.Meta(gt=0)] = START_S

    def __post_init__(self) -> None:
        live = (
            parse_source(
                self.source,
                timeout_ms=self.timeout_ms,
                max_age_s=self.max_age_s,
                start_s=self.start_s,
            )
            if self.source
            else None
        )
        # the running source (a child process, a worker thread, a file's last reading): one
        # per params object, i.e. one per loop; kept beside the fields (`dict=True`), so
        # neither compared nor printed nor validated
        self.__dict__["_live"] = live

    def code_fingerprint(self) -> str:
        """The model's own files, for a backtest cache's key (`sources.fingerprint`)."""
        return fingerprint(self.source) if self.source else ""

    @property
    def live_source(self) -> ModelSource:
        live: ModelSource | None = self.__dict__.get("_live")
        if live is None:
            raise ModelError("the model strategy has no source: give --model")
        return live


def decide(snap: MarketSnapshot, pos: PositionView, params: ModelParams) -> Sequence[Decision]:
    source = params.live_source
    answer = source.ask(snap)
    wanted: dict[Side, Intent | None] = dict.fromkeys((Side.YES, Side.NO))
    if answer is not None and answer.confidence >= params.min_confidence:
        exit_ = _close(snap, pos, params, answer, label=source.label)
        if exit_ is not None:
            cancels = [Cancel(pos.ticker, o.order_id, "model: closing") for o in pos.resting]
            return [*cancels, exit_]
        for side in wanted:
            wanted[side] = _buy(snap, pos, params, answer, side=side, label=source.label)
    if params.quote:
        return _requote(pos, wanted)
    # the side with the larger edge (on a book whose asks add up to $1 or more, the only one)
    found = [i for i in wanted.values() if i is not None]
    return [max(found, key=lambda i: i.edge_after_fees)] if found else []


def _requote(pos: PositionView, wanted: dict[Side, Intent | None]) -> Sequence[Decision]:
    """A quote per side, around the fair value: kept when one rests already at its price and
    count, else placed in place of that side's resting orders (`replaces`); a side with none
    to rest (no edge left, no opinion, not confident enough) has its resting orders cancelled."""
    out: list[Decision] = []
    for side, quote in wanted.items():
        mine = [o for o in pos.resting if o.side is side]
        if quote is None:
            out += [Cancel(pos.ticker, o.order_id, "model: no quote to keep") for o in mine]
            continue
        if len(mine) == 1 and (mine[0].price, mine[0].remaining) == (quote.price, quote.count):
            continue
        out.append(replace(quote, replaces=tuple(o.order_id for o in mine)))
    return out


def _close(
    snap: MarketSnapshot, pos: PositionView, params: ModelParams, answer: ModelAnswer, *, label: str
) -> Intent | None:
    """The exit: a reducing IOC sale of what this strategy holds (`pos.position`, its own part
    in a loop) at the held side's best bid, when the bid beats the model's fair value of that
    side by `min_edge` after the fee: the entry's edge rule applied to the sale, so a position
    is never sold at an expected loss against the model, and one the model has turned against
    is closed before anything is bought the other way."""
    held = pos.held_side
    if held is None:
        return None
    fair = side_value(held, answer.fair)
    intent = close_at_bid(snap, pos, fair=fair, reason="", strategy=NAME)
    if intent is None or intent.edge_after_fees < params.min_edge:
        return None
    edge = intent.edge_after_fees.quantize(Decimal("0.0001"))
    return replace(
        intent,
        reason=f"{_said(label, answer)}, {held.value} bid "
        f"{intent.price}, edge {edge} after fees on the sale: closing",
    )


def _said(label: str, answer: ModelAnswer) -> str:
    """What a decision's reason opens with: the model, its version when it gives one, and the
    fair value it said."""
    version = f" version {answer.version}" if answer.version else ""
    return f"model {label}{version}: fair YES {answer.fair}"


def _fee_each(fee_rate: Decimal, price: Decimal) -> Decimal:
    """One contract's fee at `price`, unrounded: `trading_fee`'s formula before its round up
    per order."""
    return fee_rate * price * (ONE - price)


def kelly_share(fair: Decimal, price: Decimal, fee_rate: Decimal) -> Decimal:
    """The Kelly share of the bankroll for buying at `price` a contract that pays $1 with
    probability `fair`, the fee (unrounded) counted in its cost; zero without an edge."""
    cost = price + _fee_each(fee_rate, price)
    if cost >= ONE:
        return ZERO
    return max((fair - cost) / (ONE - cost), ZERO)


def kelly_count(
    fair: Decimal, price: Decimal, fee_rate: Decimal, *, fraction: Decimal, bankroll: Decimal
) -> Decimal:
    """Whole contracts of `fraction` of the Kelly stake at `price` (the contracts to hold)."""
    share = kelly_share(fair, price, fee_rate)
    cost = price + _fee_each(fee_rate, price)
    return (fraction * share * bankroll / cost).to_integral_value(rounding=ROUND_FLOOR)


def _buy(
    snap: MarketSnapshot,
    pos: PositionView,
    params: ModelParams,
    answer: ModelAnswer,
    *,
    side: Side,
    label: str,
) -> Intent | None:
    ask = best_ask(snap.book, side)
    fair = side_value(side, answer.fair)
    if params.quote:
        rate = snap.maker_fee_rate
        price = _quote_price(snap, fair, params.min_edge, below=None if ask is None else ask[0])
        depth = params.max_count
    else:
        rate = snap.fee_rate
        price = None if ask is None else snap_to_grid(ask[0], snap.price_ranges, up=False)
        depth = ZERO if ask is None else ask[1]
    if price is None:
        return None
    share = kelly_share(fair, price, rate)
    if share <= 0:
        return None
    target = kelly_count(
        fair, price, rate, fraction=params.kelly_fraction, bankroll=params.bankroll
    )
    held = pos.contracts if pos.held_side is side else ZERO
    count = min(target - held, params.max_count, depth)
    if count < 1:
        return None
    intent = Intent(
        ticker=snap.ticker,
        side=side,
        action=Action.BUY,
        price=price,
        count=count,
        model_fair=fair,
        reason="",
        strategy=NAME,
        post_only=params.quote,
        time_in_force=TimeInForce.GTC if params.quote else TimeInForce.IOC,
        fee_rate=rate,
    )
    edge = intent.edge_after_fees
    if edge < params.min_edge:
        return None
    reason = (
        f"{_said(label, answer)} (confidence {answer.confidence}), "
        f"{side.value} at {price}, edge {edge.quantize(Decimal('0.0001'))} after fees, "
        f"kelly {share.quantize(Decimal('0.0001'))} x {params.kelly_fraction} of "
        f"{params.bankroll} -> {target} held"
    )
    return replace(intent, reason=reason)


# below the smallest tick of any documented grid: a price this much lower snaps to the next tick
_UNDER_A_TICK = Decimal("0.00001")


def _quote_price(
    snap: MarketSnapshot, fair: Decimal, min_edge: Decimal, *, below: Decimal | None
) -> Decimal | None:
    """The highest tick at which a resting bid clears `min_edge` before its maker fee (the
    caller checks the edge after it), strictly below the ask so that it never takes."""
    price = snap_to_grid(fair - min_edge, snap.price_ranges, up=False)
    if price is not None and below is not None and price >= below:
        price = snap_to_grid(below - _UNDER_A_TICK, snap.price_ranges, up=False)
    if price is None:
        return None
    # the maker fee, rounded up per order, can take a tick's worth of edge: one tick lower
    if fair - price - _fee_each(snap.maker_fee_rate, price) < min_edge:
        price = snap_to_grid(price - _UNDER_A_TICK, snap.price_ranges, up=False)
    return price


# asks its source on every call (the answer may change with nothing else): never quiet; a
# model may price from the reference index (`builtin:crypto` does), so the loop hands it
STRATEGY = Strategy(NAME, ModelParams, decide, reads_index=True)
