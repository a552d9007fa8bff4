"""The integer summary (`summarize_rows`, what `kalshi pnl` runs) against the Decimal reference
engine (`PnlEngine` through `replay_into`): the same figures on any history, to the 1e-8 dollar."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal as D
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_cli.services.pnl import PnlEngine, replay_into, summarize
from kalshi_cli.store import FillRecord, SettlementRecord
from kalshi_cli.vocabulary.clock import utc_day
from kalshi_cli.vocabulary.units import BookSide

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


def records(raw: list[tuple[Any, ...]], step: float) -> list[FillRecord]:
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
    for event in replay_into(reference, fills, settlements):
        if event.ts >= since:
            by_day[utc_day(event.ts)] += event.net

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


def _figures(engine: PnlEngine) -> dict[str, tuple[D, D, D, D]]:
    return {t: (m.position, m.basis, m.realized_gross, m.fees) for t, m in engine.markets.items()}


def test_a_value_finer_than_the_fixed_units_goes_on_in_decimal_not_refused() -> None:
    """A count of 0.005 and a price of $0.1234567 do not fit the integer units (1e-2 contracts,
    1e-6 dollars): the pass switches to Decimal at that fill, carrying what it has so far, and
    still equals the Decimal engine exactly."""
    fills = records(
        [
            ("A", BookSide.BID, D("0.40"), D(10), D("0.0168"), "spike"),
            ("B", BookSide.ASK, D("0.30"), D(3), D("0.0147"), None),
            ("A", BookSide.ASK, D("0.1234567"), D("0.005"), D("0.0000001"), "spike"),
            ("A", BookSide.ASK, D("0.55"), D(4), D("0.0174"), "mm"),
            ("B", BookSide.BID, D("0.20"), D(5), D("0.0112"), None),
        ],
        step=30_000.0,
    )
    settlements = [
        SettlementRecord("B", "E", "no", D(0), D(2), D(0), D("1.40"), D(0), D("0.01"), 2e9)
    ]
    reference = PnlEngine()
    events = list(replay_into(reference, fills, settlements))
    summary = summarize(fills, settlements)
    assert _figures(summary.engine) == _figures(reference)
    assert summary.realized == sum((e.net for e in events), D(0))


def test_a_settlement_paying_a_value_finer_than_the_units_is_exact_too() -> None:
    """A floored NO result whose revenue over 3 contracts is a third of a dollar each: the
    summary pays what the Decimal engine pays (it used to round the payout to $0.000001)."""
    fills = records([("A", BookSide.BID, D("0.40"), D(3), D(0), None)], step=1.0)
    settlements = [SettlementRecord("A", "E", "no", D(3), D(0), D("1.20"), D(0), D(1), D(0), 2e9)]
    reference = PnlEngine()
    list(replay_into(reference, fills, settlements))
    summary = summarize(fills, settlements)
    assert summary.engine.market("A").realized_gross == reference.market("A").realized_gross
    assert abs(reference.market("A").realized_gross - (D(1) - D("1.20"))) < D("1e-20")
