"""`kalshi pnl` keeps each strategy's and each subaccount's own figures, and its local path
leaves out the exchange-side modules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest

from kalshi_cli.services.pnl import summarize, summarize_store
from kalshi_cli.store import FillRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import BookSide

START = 1_700_000_000.0

PROBE = """
import json, sys
sys.argv = ["kalshi", "pnl", "--local", "--json"]
from kalshi_cli.__main__ import main
try:
    main()
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
"""


def test_pnl_local_leaves_out_the_exchange_side_modules(tmp_path: Path) -> None:
    """`kalshi pnl --local` reads the state file only: it prints the report without the
    exchange side (`positions`, the order service, reconciliation), which a report of the
    state file has no use for."""
    state = tmp_path / "state.db"
    with Store.open(state, clock=ManualClock(START)) as store:
        store.fills.record_fills(
            [
                FillRecord(
                    "f1", "o1", None, "A", BookSide.BID, D("0.40"), D("10"), D("0.01"), True, START
                ),
                FillRecord(
                    "f2",
                    "o2",
                    None,
                    "A",
                    BookSide.ASK,
                    D("0.55"),
                    D("4"),
                    D("0.02"),
                    True,
                    START + 1,
                ),
            ]
        )
    env = {
        "KALSHI_HOME": str(tmp_path),
        "KALSHI_STATE": str(state),
        "PATH": "/usr/bin:/bin",
        "NO_COLOR": "1",
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    modules = set(json.loads(done.stderr.rsplit("MODULES ", 1)[1]))
    document = json.loads(done.stdout)
    # 4 sold at 0.55 against an average cost of 0.40: 0.60 gross, 0.03 fees
    assert (document["realized_gross"], document["fees"], document["realized"]) == (
        "0.6000",
        "0.0300",
        "0.5700",
    )
    assert "kalshi_cli.services.pnl" in modules
    assert (
        not {
            "kalshi_cli.services.positions",
            "kalshi_cli.services.orders",
            "kalshi_cli.services.reconcile",
        }
        & modules
    )


def _fill(i: int, side: BookSide, trade: str, fee: str, strategy: str | None) -> FillRecord:
    count, _, price = trade.split()
    return FillRecord(
        f"f{i}", f"o{i}", None, "A", side, D(price), D(count), D(fee), True, START + i, strategy
    )


def test_strategies_taking_turns_in_one_market_each_keep_their_own_figures(
    tmp_path: Path,
) -> None:
    """One market, one stretch of the state-file pass, traded in turn by `mm`, `spike`, no
    strategy and one named "manual", `spike` last (so its fills cross as None): each strategy's
    realized gross, fees and fills are its own sales' (no strategy and "manual" both count as
    "manual", as on the text path), and the market's figures are all of them."""
    bid, ask = BookSide.BID, BookSide.ASK
    fills = [
        _fill(1, bid, "10 @ 0.40", "0.01", "mm"),  # opens 10 YES at 0.40
        _fill(2, ask, "2 @ 0.50", "0.02", "spike"),  # +0.20
        _fill(3, ask, "3 @ 0.60", "0.04", "mm"),  # +0.60
        _fill(4, ask, "1 @ 0.45", "0.08", None),  # +0.05
        _fill(5, ask, "1 @ 0.55", "0.16", "manual"),  # +0.15
        _fill(6, ask, "1 @ 0.70", "0.32", "spike"),  # +0.30, back to a strategy seen before
    ]
    with Store.open(tmp_path / "state.db", clock=ManualClock(START)) as store:
        store.fills.record_fills(fills)
        assert store.fills.last_fill_strategy() == "spike"
        summary = summarize_store(store)
    document = summary.to_json()
    assert {
        k: (v["realized_gross"], v["fees"], v["fills"]) for k, v in document["by_strategy"].items()
    } == {
        "mm": ("0.6000", "0.0500", 2),
        "spike": ("0.5000", "0.3400", 2),
        "manual": ("0.2000", "0.2400", 2),
    }
    a = summary.engine.market("A")
    assert (a.realized_gross, a.fees, a.fills, a.traded, a.position, a.basis) == (
        D("1.3"),
        D("0.63"),
        6,
        18,
        2,
        D("0.8"),
    )
    assert document == summarize(fills, []).to_json()


def test_fill_moves_name_the_usual_strategy_with_none(tmp_path: Path) -> None:
    """`iter_fill_moves(usual=...)`: a fill of the usual strategy comes with None, one of no
    strategy with '', any other with its name; `last_fill_strategy` is the strategy of the
    last fill in time (of one subaccount, when asked), None with no fill or none named."""
    fills = [
        FillRecord("f1", "o", None, "A", BookSide.BID, D("0.42"), D(3), D("0.02"), True, 10.0, "s"),
        FillRecord("f2", "o", None, "B", BookSide.ASK, D("0.30"), D("1.5"), D(0), True, 11.0),
        FillRecord("f3", "o", None, "A", BookSide.ASK, D("0.9"), D(1), D(0), True, 12.0, "t"),
        FillRecord(
            "f4", "o", None, "C", BookSide.BID, D("0.5"), D(1), D(0), True, 9.0, "u", subaccount=2
        ),
    ]
    with Store.open(tmp_path / "state.db", clock=ManualClock(2.0)) as store:
        assert store.fills.last_fill_strategy() is None
        store.fills.record_fills(fills)
        assert list(store.fills.iter_fill_moves(10.0, 20.0, usual="s")) == [
            ("A", None, "3", "0.42", "0.02"),
            ("B", "", "-1.5", "1-0.3", "0"),
            ("A", "t", "-1", "1-0.9", "0"),
        ]
        assert [m[1] for m in store.fills.iter_fill_moves(0.0, 20.0)] == ["u", "s", None, "t"]
        assert [m[1] for m in store.fills.iter_fill_moves(0.0, 20.0, subaccount=2, usual="u")] == [
            None
        ]
        assert store.fills.last_fill_strategy() == "t"
        assert store.fills.last_fill_strategy(subaccount=2) == "u"
        assert store.fills.last_fill_strategy(subaccount=0) == "t"
        assert store.fills.last_fill_strategy(subaccount=3) is None
        store.fills.record_fill(
            FillRecord("f5", "o", None, "B", BookSide.BID, D("0.5"), D(1), D(0), True, 13.0)
        )
        assert store.fills.last_fill_strategy() is None


def test_an_account_of_several_subaccounts_has_their_positions_not_a_sum(tmp_path: Path) -> None:
    """Each subaccount is its own book: `kalshi pnl` without `--subaccount` adds their P&L,
    but a market held YES on one and NO on the other is two positions (each marked and
    cross-checked on its own), never netted into one the exchange does not hold: asking the
    account's summary for one set of positions is refused, each book's is there."""
    bid, ask = BookSide.BID, BookSide.ASK
    fills = [
        FillRecord("f1", "o1", None, "A", bid, D("0.40"), D(10), D("0.01"), True, START),
        FillRecord(
            "f2", "o2", None, "A", ask, D("0.30"), D(5), D("0.02"), True, START + 1, subaccount=1
        ),
        FillRecord("f3", "o3", None, "A", ask, D("0.50"), D(4), D(0), True, START + 2),  # +0.40
    ]
    with Store.open(tmp_path / "state.db", clock=ManualClock(START)) as store:
        store.fills.record_fills(fills)
        summary = summarize_store(store)
    with pytest.raises(ValueError, match=r"one set of positions per subaccount: read book\(n\)"):
        _ = summary.engine
    yes, no = summary.book(0).market("A"), summary.book(1).market("A")
    assert (yes.position, yes.basis, no.position, no.basis) == (6, D("2.4"), -5, D("3.5"))
    document = summary.to_json()
    assert (document["realized_gross"], document["fees"], document["realized"]) == (
        "0.4000",
        "0.0300",
        "0.3700",
    )
