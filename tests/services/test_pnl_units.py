"""`kalshi pnl` over a state file (`summarize_store`: the stretch pass in fixed units) against the
Decimal reference engine (`PnlEngine` through `replay_into`): the same figures to the last digit
on any history, and over the text in Decimal where a fill does not fit the fixed units."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_cli.services.pnl import (
    PnlEngine,
    PnlSummary,
    replay_into,
    summarize,
    summarize_store,
)
from kalshi_cli.store import FillRecord, SettlementRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock, utc_day
from kalshi_cli.vocabulary.units import BookSide

TICKERS = ["A", "B", "C"]
PRICES = [D(c) / 100 for c in range(1, 100)] + [D("0.005"), D("0.995"), D("0.1234")]
COUNTS = [D(1), D(3), D(10), D("0.5"), D("2.25"), D("0.01"), D(1000)]
FEES = [D(0), D("0.01"), D("0.07"), D("0.000123"), D("0.0175")]
START = 1_700_000_000.0

fill = st.tuples(
    st.sampled_from(TICKERS),
    st.sampled_from([BookSide.BID, BookSide.ASK]),
    st.sampled_from(PRICES),
    st.sampled_from(COUNTS),
    st.sampled_from(FEES),
    st.sampled_from([None, "spike", "mm", "manual"]),
)


def records(raw: list[tuple[Any, ...]], steps: list[float]) -> list[FillRecord]:
    ts, out = START, []
    for i, (t, side, p, n, fee, s) in enumerate(raw):
        ts += steps[i % len(steps)]
        out.append(FillRecord(f"f{i}", f"o{i}", None, t, side, p, n, fee, True, ts, s))
    return out


def stored_summary(
    fills: list[FillRecord], settlements: list[SettlementRecord], since: float | None = None
) -> PnlSummary:
    """The summary `kalshi pnl` computes from a state file holding these."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        Store.open(Path(tmp) / "state.db", clock=ManualClock(START)) as store,
    ):
        store.fills.record_fills(fills)
        for s in settlements:
            store.settlements.record_settlement(s)
        return summarize_store(store, since=since)


def assert_equals_the_decimal_engine(
    summary: PnlSummary,
    fills: list[FillRecord],
    settlements: list[SettlementRecord],
    since: float | None,
) -> None:
    reference = PnlEngine()
    by_day: dict[str, D] = defaultdict(D)
    by_market: dict[str, D] = defaultdict(D)
    for event in replay_into(reference, fills, settlements):
        if since is None or event.ts >= since:
            by_day[utc_day(event.ts)] += event.net
            by_market[event.ticker] += event.net
    assert set(summary.engine.markets) == set(reference.markets)
    for ticker, expected in reference.markets.items():
        got = summary.engine.markets[ticker]
        assert (got.position, got.basis, got.realized_gross, got.fees, got.fills) == (
            expected.position,
            expected.basis,
            expected.realized_gross,
            expected.fees,
            expected.fills,
        )
    assert {k: b.net for k, b in summary.groups["day"].items()} == dict(by_day)
    assert {k: b.net for k, b in summary.groups["market"].items()} == dict(by_market)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(fill, max_size=50),
    st.lists(st.sampled_from([1.0, 0.001, 0.0, 20_000.0, 86_399.999]), min_size=1, max_size=4),
    st.dictionaries(st.sampled_from(TICKERS), st.sampled_from(["yes", "no", "void"])),
    st.integers(min_value=0, max_value=49),
    st.sampled_from([None, START + 40_000.0, START + 200_000.0]),
)
def test_the_state_file_pass_gives_the_decimal_engines_figures(
    raw, steps, results, settle_after, since
) -> None:
    """Random fills (same-time fills, several UTC days, positions that close, flip and reopen)
    and settlements, written to a state file: the stretch pass equals the Decimal engine on
    every market's position, basis, realized gross, fees and volume, and on every group."""
    fills = records(raw, steps)
    settle_ts = fills[settle_after].ts if settle_after < len(fills) else START + 1e6
    settlements = [
        SettlementRecord(t, "E", r, D(0), D(0), D(0), D(0), D(0), D("0.02"), settle_ts)
        for t, r in sorted(results.items())
    ]
    summary = stored_summary(fills, settlements, since)
    assert_equals_the_decimal_engine(summary, fills, settlements, since)
    text = summarize(fills, settlements, since=since)
    assert summary.to_json() == text.to_json()


def test_a_fill_finer_than_the_units_reads_the_text_and_stays_exact() -> None:
    """A count of 0.005 has no integer in 1e-2 contracts: the whole history is summed from the
    text in Decimal instead, exactly."""
    fills = records(
        [
            ("A", BookSide.BID, D("0.40"), D(10), D("0.0168"), "spike"),
            ("A", BookSide.ASK, D("0.1234567"), D("0.005"), D("0.0000001"), "spike"),
            ("A", BookSide.ASK, D("0.55"), D(4), D("0.0174"), "mm"),
        ],
        [30_000.0],
    )
    summary = stored_summary(fills, [], None)
    assert_equals_the_decimal_engine(summary, fills, [], None)


def test_a_floored_settlement_is_paid_exactly_in_fixed_units() -> None:
    """A floored NO result paying YES $0.25 a contract: the settlement's payout fits the units,
    so the stretch pass applies it, and agrees with the Decimal engine."""
    fills = records([("A", BookSide.BID, D("0.40"), D(4), D("0.01"), None)], [1.0])
    settlements = [SettlementRecord("A", "E", "no", D(4), D(0), D("1.60"), D(0), D(1), D(0), 2e9)]
    summary = stored_summary(fills, settlements, None)
    assert_equals_the_decimal_engine(summary, fills, settlements, None)
    assert summary.engine.market("A").realized_gross == D("-0.60")


def test_a_full_close_releases_the_whole_basis_not_a_rounded_one() -> None:
    """0.01 contracts at $0.123457 (a 6-decimal price: the units hold it) cost $0.00123457, a
    basis finer than the $0.000001 a partial release rounds to; closing all of them releases
    it all, so realized is exactly proceeds less cost and nothing is left in the basis."""
    fills = records(
        [
            ("A", BookSide.BID, D("0.123457"), D("0.01"), D(0), None),
            ("A", BookSide.ASK, D("0.5"), D("0.01"), D(0), None),
        ],
        [1.0],
    )
    summary = stored_summary(fills, [], None)
    a = summary.engine.market("A")
    assert (a.position, a.basis) == (0, 0)
    assert summary.to_json()["by_market"]["A"]["realized_gross"] == "0.00376543"


def test_since_counts_only_later_events_on_the_text_path_too() -> None:
    """A history with a fill finer than the fixed units is summed over the text: `--since`
    still counts only what happened at or after it (positions from the whole history)."""
    fills = records(
        [
            ("A", BookSide.BID, D("0.40"), D(10), D("0.01"), None),
            ("A", BookSide.ASK, D("0.50"), D("0.005"), D(0), None),  # finer than the units
            ("A", BookSide.ASK, D("0.60"), D(5), D("0.02"), None),
        ],
        [100.0],
    )
    summary = stored_summary(fills, [], fills[2].ts)
    document = summary.to_json()
    assert document["fees"] == "0.0200"
    assert document["realized_gross"] == "1.0000"  # 5 sold at 0.60 that cost 0.40 each
    assert document["by_market"]["A"]["fills"] == 1
    assert summary.engine.market("A").position == D("4.995")


def test_what_was_settled_before_a_fill_finer_than_the_units_stays_settled() -> None:
    """The pass goes on in Decimal from the fine fill: a market settled before it stays settled
    (the loop books no settlement twice on a restart) and its settlement stays counted."""
    fills = records(
        [
            ("A", BookSide.BID, D("0.40"), D(3), D(0), None),
            ("B", BookSide.BID, D("0.50"), D("0.005"), D(0), None),  # finer than the units
        ],
        [100.0],
    )
    won = SettlementRecord("A", "E", "yes", D(3), D(0), D("1.20"), D(0), D(3), D(0), START + 150)
    summary = stored_summary(fills, [won], None)
    assert_equals_the_decimal_engine(summary, fills, [won], None)
    assert summary.engine.market("A").settled
    by_market = summary.to_json()["by_market"]
    assert (by_market["A"]["settlements"], by_market["A"]["fills"]) == (1, 1)
