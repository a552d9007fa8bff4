"""The integer summary (`summarize_rows`, what `kalshi pnl` runs) against the Decimal reference
engine (`PnlEngine` through `replay_into`): the same figures on any history, to the 1e-8 dollar."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_cli.models import BookSide
from kalshi_cli.pnl import PnlEngine, day_of, replay_into, summarize
from kalshi_cli.store import FillRecord, SettlementRecord

TICKERS = ["A", "B", "C"]
PRICES = [D(c) / 100 for c in range(1, 100)] + [D("0.005"), D("0.995"), D("0.1234")]
COUNTS = [D(1), D(3), D(10), D("0.5"), D("2.25"), D("0.01")]
FEES = [D(0), D("0.01"), D("0.07"), D("0.000123")]

fill = st.tuples(
    st.sampled_from(TICKERS),
    st.sampled_from([BookSide.BID, BookSide.ASK]),
    st.sampled_from(PRICES),
    st.sampled_from(COUNTS),
    st.sampled_from(FEES),
    st.sampled_from([None, "spike", "mm"]),
)


def records(raw: list[tuple], step: float) -> list[FillRecord]:
    return [
        FillRecord(f"f{i}", f"o{i}", None, t, side, p, n, fee, True, 1_700_000_000 + i * step, s)
        for i, (t, side, p, n, fee, s) in enumerate(raw)
    ]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(fill, max_size=60),
    st.dictionaries(st.sampled_from(TICKERS), st.sampled_from(["yes", "no", "void"])),
    st.integers(min_value=0, max_value=59),
)
def test_integer_summary_equals_the_decimal_engine(raw, results, settle_at) -> None:
    fills = records(raw, step=20_000.0)  # several UTC days
    settle_ts = 1_700_000_000 + settle_at * 20_000.0 + 1
    settlements = [
        SettlementRecord(t, "E", r, D(0), D(0), D(0), D(0), D(0), D("0.02"), settle_ts)
        for t, r in results.items()
    ]
    since = 1_700_000_000 + 10 * 20_000.0

    reference = PnlEngine()
    by_day: dict[str, D] = defaultdict(D)
    by_strategy: dict[str, D] = defaultdict(D)
    for event in replay_into(reference, fills, settlements):
        if event.ts >= since:
            by_day[day_of(event.ts)] += event.net
            key = "settlement" if event.is_settlement else event.strategy or "manual"
            by_strategy[key] += event.net

    summary = summarize(fills, settlements, since=since)
    assert set(summary.engine.markets) == set(reference.markets)
    for ticker, expected in reference.markets.items():
        got = summary.engine.markets[ticker]
        assert (got.position, got.basis, got.realized_gross, got.fees) == (
            expected.position,
            expected.basis,
            expected.realized_gross,
            expected.fees,
        )
    assert {k: b.net for k, b in summary.groups["day"].items()} == {k: v for k, v in by_day.items()}
    assert {k: b.net for k, b in summary.groups["strategy"].items()} == dict(by_strategy)
