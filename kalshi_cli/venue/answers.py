"""The exchange core's records as the client's models, built field by field with the values the
exchange would send. Only what the wire rounds is rounded (a write's averages, to the sixth
place); an answer built in code has an empty `raw`.
"""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.client.requests import AmendResult, CreateOrderResult, DecreaseResult
from kalshi_cli.sim.core.records import (
    SimFill,
    SimOrder,
    SimSettlement,
    amend_counts,
    fill_averages,
    owner,
)
from kalshi_cli.sim.core.serialize import ts_ms
from kalshi_cli.vocabulary.clock import iso_utc
from kalshi_cli.vocabulary.models import Fill, Order, Settlement
from kalshi_cli.vocabulary.units import outcome_side_of, to_micro_dollars


def order(o: SimOrder) -> Order:
    return Order(
        order_id=o.order_id,
        client_order_id=o.client_order_id,
        ticker=o.ticker,
        book_side=o.book_side,
        outcome_side=outcome_side_of(o.book_side),
        side=outcome_side_of(o.book_side).value,
        action="buy",
        status=o.status,
        yes_price=o.price,
        fill_count=o.fill_count,
        remaining_count=o.remaining_count,
        initial_count=o.initial_count,
        taker_fees=o.taker_fees,
        maker_fees=o.maker_fees,
        taker_fill_cost=o.taker_fill_cost,
        maker_fill_cost=o.maker_fill_cost,
        created_time=iso_utc(o.created_time),
        expiration_time=iso_utc(o.expiration_time) if o.expiration_time else None,
        subaccount=owner(o.account_id)[1],
    )


def fill(f: SimFill) -> Fill:
    return Fill(
        fill_id=f.fill_id,
        trade_id=f.trade_id,
        order_id=f.order_id,
        ticker=f.ticker,
        market_ticker=f.ticker,
        book_side=f.book_side,
        side=outcome_side_of(f.book_side).value,
        action="buy",
        count=f.count,
        yes_price=f.price,
        is_taker=f.is_taker,
        fee=f.fee,
        created_time=iso_utc(f.ts),
        ts=int(f.ts),
        subaccount_number=owner(f.account_id)[1],
    )


def settlement(s: SimSettlement) -> Settlement:
    return Settlement(
        ticker=s.ticker,
        event_ticker=s.event_ticker,
        market_result=s.market_result,
        yes_count=s.yes_count,
        yes_total_cost=s.yes_total_cost,
        no_count=s.no_count,
        no_total_cost=s.no_total_cost,
        revenue_cents=s.revenue_cents,
        fee=s.fee_cost,
        settled_time=iso_utc(s.settled_time),
    )


def _averages(fills: list[SimFill]) -> tuple[Decimal | None, Decimal | None]:
    """(average YES price, average fee a contract) of a write's own fills, to the sixth place
    as the exchange prints them; none unfilled."""
    averages = fill_averages(fills)
    if averages is None:
        return None, None
    price, fee = averages
    return to_micro_dollars(price), to_micro_dollars(fee)


def created(now_order: SimOrder, fills: list[SimFill], now: float) -> CreateOrderResult:
    """A create's answer: the order as it stands once the write is done."""
    price, fee = _averages(fills)
    return CreateOrderResult(
        order_id=now_order.order_id,
        client_order_id=now_order.client_order_id,
        fill_count=now_order.fill_count,
        remaining_count=now_order.remaining_count,
        average_fill_price=price,
        average_fee_paid=fee,
        ts_ms=ts_ms(now),
    )


def amended(old: SimOrder, new: SimOrder, fills: list[SimFill], now: float) -> AmendResult:
    """An amend's answer: the counts only when it filled or changed what rests, and then what
    the amend itself filled (`amend_counts`)."""
    price, fee = _averages(fills)
    counts = amend_counts(old, new, fills)
    return AmendResult(
        order_id=new.order_id,
        client_order_id=new.client_order_id,
        remaining_count=None if counts is None else counts[0],
        fill_count=None if counts is None else counts[1],
        average_fill_price=price,
        average_fee_paid=fee,
        ts_ms=ts_ms(now),
    )


def decreased(o: SimOrder, now: float) -> DecreaseResult:
    return DecreaseResult(
        order_id=o.order_id,
        client_order_id=o.client_order_id,
        remaining_count=o.remaining_count,
        ts_ms=ts_ms(now),
    )
