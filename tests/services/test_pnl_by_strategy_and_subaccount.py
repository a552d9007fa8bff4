"""`kalshi pnl` keeps each subaccount's own figures, and its local path
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

from kalshi_cli.services.pnl import summarize_store
from kalshi_cli.store import FillRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide

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
