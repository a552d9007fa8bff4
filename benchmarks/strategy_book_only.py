"""Book only: reads the best bid and ask of each market it is shown, and never orders. The
benchmark's measure of what the replay and the loop cost without any order
(bench_vs_nautilus.py; nautilus_trader runs the same strategy)."""

from collections.abc import Sequence

from kalshi_cli.strategy_api import Decision, MarketSnapshot, Params, PositionView, Strategy

NAME = "bench-book-only"


class BookOnlyParams(Params, frozen=True):
    pass


def decide(snap: MarketSnapshot, pos: PositionView, params: BookOnlyParams) -> Sequence[Decision]:
    snap.book.best_yes_bid  # noqa: B018 - what the strategy reads, as nautilus's reads its book
    snap.book.yes_ask  # noqa: B018
    return ()


def _always(_: PositionView) -> bool:
    return True


STRATEGY = Strategy(NAME, BookOnlyParams, decide, reads_mids=False, clock_free=_always)
