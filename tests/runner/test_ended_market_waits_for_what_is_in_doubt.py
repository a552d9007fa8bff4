"""A settled market leaves the loop only once nothing of the loop's is on its way or in doubt
there (runner/loop/ended_markets.py `in_doubt`): a call out, an order of unknown outcome, or a
set not ended, on its way or broken, with a leg there (read from the state file)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.runner.loop.ended_markets import in_doubt
from kalshi_cli.store import Store
from kalshi_cli.store.leg_sets import SetLeg
from kalshi_cli.vocabulary.units import Side

SETTLED, OTHER = "KXROLL-26JAN01-A", "KXROLL-26JAN01-B"


class _Marked:
    """A dispatch's `busy` or the unknown orders' `holds`: true for the markets named."""

    def __init__(self, *tickers: str) -> None:
        self.tickers = set(tickers)

    def busy(self, ticker: str) -> bool:
        return ticker in self.tickers

    def holds(self, ticker: str) -> bool:
        return ticker in self.tickers


def _in_doubt(store: Store, busy: _Marked, unknown: _Marked, subaccount: int = 0) -> bool:
    fakes: tuple[Any, Any] = (busy, unknown)
    return in_doubt(fakes[0], fakes[1], store, subaccount, SETTLED)


def test_a_call_out_or_an_order_of_unknown_outcome_there_keeps_it(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        assert not _in_doubt(store, _Marked(OTHER), _Marked(OTHER))
        assert _in_doubt(store, _Marked(SETTLED), _Marked())
        assert _in_doubt(store, _Marked(), _Marked(SETTLED))


def test_a_set_not_ended_with_a_leg_there_keeps_it_until_the_set_ends(tmp_path: Path) -> None:
    legs = [
        SetLeg(OTHER, Side.YES, Decimal("0.40"), Decimal(1)),
        SetLeg(SETTLED, Side.NO, Decimal("0.50"), Decimal(1)),
    ]
    with Store.open(tmp_path / "state.db") as store:
        store.leg_sets.begin("set-1", "arbitrage", legs, 0)
        assert _in_doubt(store, _Marked(), _Marked())  # on its way
        store.leg_sets.mark("set-1", "broken")
        assert _in_doubt(store, _Marked(), _Marked())
        assert not _in_doubt(store, _Marked(), _Marked(), subaccount=1)  # another loop's set
        store.leg_sets.mark("set-1", "flat")
        assert not _in_doubt(store, _Marked(), _Marked())


def test_a_set_not_ended_with_no_leg_there_keeps_nothing_there(tmp_path: Path) -> None:
    legs = [SetLeg(OTHER, Side.YES, Decimal("0.40"), Decimal(1))]
    with Store.open(tmp_path / "state.db") as store:
        store.leg_sets.begin("set-1", "arbitrage", legs, 0)
        store.leg_sets.mark("set-1", "broken")
        assert not _in_doubt(store, _Marked(), _Marked())
