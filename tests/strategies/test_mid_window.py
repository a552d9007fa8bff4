"""The incremental mid windows (strategy_api/window.py, runner/books/portfolio.py `MidHistory`)
against the computations they replaced: the same points, the same window, the same z-score.

The references below are the old code, kept here verbatim as the specification: `MidHistory`
copied its deque into a tuple on every record, `mids_since` filtered that tuple, and
`mean_reversion.zscore` summed the window twice.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_cli.runner.books.portfolio import MidHistory
from kalshi_cli.strategies.mean_reversion import zscore
from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.strategy_api.window import MidWindow
from kalshi_cli.vocabulary.models import Orderbook

ZERO = D(0)


def old_zscore(values: list[D], current: D) -> tuple[D, D] | None:
    mean = sum(values, start=ZERO) / len(values)
    variance = sum(((v - mean) ** 2 for v in values), start=ZERO) / len(values)
    if variance == 0:
        return None
    return mean, (current - mean) / variance.sqrt()


class OldMidHistory:
    def __init__(self, horizon_s: float, *, resample_s: float = 1.0) -> None:
        self.horizon_s = horizon_s
        self.resample_s = resample_s
        self._points: dict[str, deque[tuple[float, D]]] = {}

    def record(self, ticker: str, ts: float, book: Orderbook) -> tuple[tuple[float, D], ...]:
        points = self._points.setdefault(ticker, deque())
        mid = book.mid
        if mid is not None and (
            not points or points[-1][1] != mid or ts - points[-1][0] >= self.resample_s
        ):
            points.append((ts, mid))
        horizon = ts - self.horizon_s
        while points and points[0][0] < horizon:
            points.popleft()
        return tuple(points)


def book_at(yes_bid: D | None, spread: D) -> Orderbook:
    if yes_bid is None:
        return Orderbook("T", (), ())
    return Orderbook("T", ((yes_bid, D(10)),), ((1 - yes_bid - spread, D(10)),))


# prices on a sub-penny grid, so mids carry five decimals and squares ten
prices = st.integers(1, 9_000).map(lambda n: D(n) / 10_000)
mids = st.lists(st.integers(1, 19_999).map(lambda n: D(n) / 20_000), min_size=2, max_size=400)


@settings(max_examples=300, deadline=None)
@given(values=mids, current=prices)
def test_zscore_equals_the_two_pass_formula(values: list[D], current: D) -> None:
    """The mean is the same Decimal; z is the same number to 25 significant digits (the old
    formula rounds every squared deviation, the new one rounds the variance once); both say
    "no spread" for the same windows. Over a running window as over a list."""
    old = old_zscore(values, current)
    for window in (values, MidWindow.of([(float(i), v) for i, v in enumerate(values)])):
        new = zscore(window, current)
        if old is None:
            assert new is None
            continue
        assert new is not None
        assert new[0] == old[0]
        assert abs(new[1] - old[1]) <= abs(old[1]) * D("1e-25") + D("1e-25")


steps = st.lists(
    st.tuples(
        # seconds since the last step: mostly forward, sometimes the wall clock steps back
        st.sampled_from([0.0, 0.1, 0.5, 1.0, 1.5, 7.0, 40.0, -3.0]),
        st.one_of(st.none(), prices),
        st.sampled_from([D("0.01"), D("0.02"), D("0.0005")]),
        # how far back a strategy looks
        st.sampled_from([5.0, 30.0, 60.0, 1e9]),
    ),
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(steps=steps, horizon=st.sampled_from([10.0, 60.0]))
def test_history_windows_equal_the_copied_tuples(
    steps: list[tuple[float, D | None, D, float]], horizon: float
) -> None:
    """Every record gives the points the old deque gave, and every window (its values, first
    value, sums) is what filtering that tuple gave; a window handed out earlier never changes
    as later points come and old ones go."""
    new, old = MidHistory(horizon), OldMidHistory(horizon)
    handed: list[tuple[MidWindow, tuple[tuple[float, D], ...]]] = []
    ts = 1_000.0
    for dt, bid, spread, back in steps:
        ts += dt
        book = book_at(bid, spread)
        window, expected = new.record("T", ts, book), old.record("T", ts, book)
        assert tuple(window) == expected and len(window) == len(expected)
        snap = MarketSnapshot("T", ts, book, window)
        since = ts - back
        wanted = [mid for t, mid in expected if since <= t <= ts]
        assert snap.mids_since(since) == wanted
        view = snap.window(since)
        assert view.values() == wanted
        assert view.first() == (wanted[0] if wanted else None)
        assert view.total() == sum(wanted, start=ZERO)
        assert view.total_of_squares() == sum((m * m for m in wanted), start=ZERO)
        handed.append((window, expected))
    for window, expected in handed:
        assert tuple(window) == expected


def test_a_snapshot_built_from_a_tuple_reads_the_same_window() -> None:
    points = ((1.0, D("0.40")), (2.0, D("0.50")), (3.0, D("0.60")), (9.0, D("0.70")))
    snap = MarketSnapshot("T", 3.0, book_at(D("0.59"), D("0.02")), points)
    assert snap.mids_since(2.0) == [D("0.50"), D("0.60")]
    assert snap.window(2.0).total() == D("1.10")
    assert snap.window(5.0).first() is None
