"""A fill booked as nobody's while its order's answer was lost, and given to that order's
strategy once the order is found, leaves every strategy's part of the market, and what each
realized today, as a restart computes them: every fill and settlement applied afresh in order,
each fill with the owner known by then."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.store import FillRecord
from kalshi_cli.vocabulary.clock import utc_day
from kalshi_cli.vocabulary.models import Market
from kalshi_cli.vocabulary.units import BookSide

D = Decimal
TICKERS = ["KXTEST-26JAN02-A", "KXTEST-26JAN02-B"]
OWNERS = ["mm", "spike"]
MIDNIGHT = datetime(2026, 1, 2, tzinfo=UTC).timestamp()


@dataclass
class History:
    """What the state file holds, in order: fills with the owner known so far, settlements."""

    events: list[FillRecord | tuple[str, str, float]] = field(default_factory=list)
    owner: dict[str, str | None] = field(default_factory=dict)  # fill id -> its strategy

    def restart(self) -> Portfolio:
        portfolio = Portfolio([Market(ticker=t) for t in TICKERS])
        for name in OWNERS:
            portfolio.owners.own(name)
        for event in self.events:
            if isinstance(event, tuple):
                ticker, result, ts = event
                portfolio.apply_settlement(ticker, result, ts=ts, fee=D(0))
            else:
                portfolio.apply_fill(
                    event.ticker,
                    event.book_side,
                    event.yes_price,
                    event.count,
                    event.fee,
                    ts=event.ts,
                    strategy=self.owner[event.fill_id],
                )
        return portfolio


def parts(portfolio: Portfolio, day: str) -> dict[tuple[str, str], object]:
    seen: dict[tuple[str, str], object] = {}
    for name in OWNERS:
        seen[(name, "today")] = portfolio.owners.realized_today(name, day)
        for ticker in TICKERS:
            seen[(name, ticker)] = portfolio.view_for(ticker, name).own
    return seen


@pytest.mark.parametrize("seed", range(12))
def test_a_late_fill_given_leaves_every_part_as_a_restart_builds_it(seed: int) -> None:
    rng = random.Random(seed)
    live = Portfolio([Market(ticker=t) for t in TICKERS])
    for name in OWNERS:
        live.owners.own(name)
    history = History()
    lost: dict[str, tuple[str, str, list[FillRecord]]] = {}  # order id -> market, owner, fills
    settled: set[str] = set()
    ts = MIDNIGHT - 120.0  # the run crosses midnight
    given = 0
    for step in range(160):
        ts += rng.choice([0.5, 1.0, 3.0])
        open_markets = [t for t in TICKERS if t not in settled]
        ticker = rng.choice(open_markets)
        kind = rng.random()
        if kind < 0.1:  # an order's answer is lost
            order_id = f"o{step}"
            lost[order_id] = (ticker, rng.choice(OWNERS), [])
            live.owners.keep_replay(ticker)
        elif kind < 0.2 and lost:  # a lookup finds a lost order
            order_id = rng.choice(sorted(lost))
            market, owner, fills = lost.pop(order_id)
            for fill in fills:
                history.owner[fill.fill_id] = owner
            live.give_fills(owner, fills)
            given += len(fills)
            if all(m != market for m, _, _ in lost.values()):
                live.owners.drop_replay(market)
        elif kind < 0.215 and len(open_markets) > 1:
            result = rng.choice(["yes", "no"])
            history.events.append((ticker, result, ts))
            live.apply_settlement(ticker, result, ts=ts, fee=D(0))
            settled.add(ticker)
        else:
            of_lost = [o for o, (m, _, _) in lost.items() if m == ticker]
            order_id = rng.choice(of_lost) if of_lost and rng.random() < 0.5 else f"x{step}"
            strategy = None if order_id in lost else rng.choice([*OWNERS, None])
            fill = FillRecord(
                f"f{step}",
                order_id,
                None,
                ticker,
                rng.choice([BookSide.BID, BookSide.BID, BookSide.ASK]),
                D(rng.randint(20, 80)) / 100,
                D(rng.randint(1, 8)),
                D("0.01"),
                True,
                ts,
            )
            if order_id in lost:
                lost[order_id][2].append(fill)
            history.events.append(fill)
            history.owner[fill.fill_id] = strategy
            live.apply_fill(
                ticker,
                fill.book_side,
                fill.yes_price,
                fill.count,
                fill.fee,
                ts=ts,
                strategy=strategy,
                fill_id=fill.fill_id,
            )
        day = utc_day(ts)
        assert parts(live, day) == parts(history.restart(), day), step
    assert given > 0 and utc_day(MIDNIGHT) == utc_day(ts)


def test_once_no_order_of_a_market_is_of_unknown_outcome_none_of_its_fills_is_given() -> None:
    portfolio = Portfolio([Market(ticker=TICKERS[0])])
    portfolio.owners.own("mm")
    fill = FillRecord(
        "f1", "o1", None, TICKERS[0], BookSide.BID, D("0.40"), D(3), D(0), False, MIDNIGHT
    )
    portfolio.owners.keep_replay(fill.ticker)
    portfolio.apply_fill(
        fill.ticker,
        fill.book_side,
        fill.yes_price,
        fill.count,
        fill.fee,
        ts=fill.ts,
        strategy=None,
        fill_id=fill.fill_id,
    )
    portfolio.owners.drop_replay(fill.ticker)  # the order was found, and it was not this one
    portfolio.give_fills("mm", [fill])
    assert portfolio.view_for(fill.ticker, "mm").position == 0
