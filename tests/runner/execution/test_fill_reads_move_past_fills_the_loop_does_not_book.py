"""The fill reads' cursor moves past every fill a read lists, not only past those the loop books:
a loop whose own markets are quiet, on an account that trades other markets by hand, lists each
of those fills by the next read at most (the reads' margin), never by every read after it (a
read listed every fill since the loop's last own fill, growing with each fill made elsewhere
for as long as the loop made none)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import Fill
from tests.runner.fakes import START, make_rig, new_exchange


# the spec requires neither of a fill's times: one that says only its `created_time` moves the
# cursor as one with its `ts` does
@pytest.mark.parametrize("without_ts", [False, True], ids=["with ts", "created_time only"])
def test_a_fill_in_a_market_the_loop_does_not_trade_is_listed_by_one_read_only(
    tmp_path: Path, without_ts: bool
) -> None:
    clock = ManualClock(START)
    exchange = new_exchange("quiet", clock)
    traded, other, *_ = sorted(exchange.reference.markets)
    rig = make_rig(
        tmp_path / "s.db",
        strategy="market-maker",
        exchange=exchange,
        clock=clock,
        tickers=[traded],
    )
    fills = rig.loop.executor.fills
    listing = rig.client.iter_fills
    listed: list[list[str]] = []

    def recorded(**kwargs: Any) -> Iterator[Fill]:
        found = [
            msgspec.structs.replace(f, ts=None) if without_ts else f for f in listing(**kwargs)
        ]
        assert all(f.created_time for f in found)
        listed.append([f.fill_id for f in found if f.ticker == other])
        return iter(found)

    rig.client.iter_fills = recorded  # type: ignore[method-assign]
    made: list[str] = []
    for _ in range(4):
        rig.clock.advance(60)
        book = rig.client.get_orderbook(other)
        assert book.yes_ask is not None
        rig.hand_buy_yes(other, book.yes_ask[0], Decimal(1))
        listed.clear()
        fills.sync()
        (read,) = listed
        new = [f for f in read if f not in made]
        assert len(new) == 1, read
        # the newest fill an earlier read listed comes again (the reads' margin of a second or
        # two: a fill of the same moment may land after a read), never one before it
        assert set(read) <= {*made[-1:], *new}, "a fill listed by an earlier read is listed again"
        made.extend(new)
