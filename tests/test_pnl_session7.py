"""`kalshi pnl` speed work of issue #17, session 7 (docs/benchmarks.md, "P&L, issue #17
session 7 (helper pnl3)"): what each cut must keep.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

from kalshi_cli.clock import ManualClock
from kalshi_cli.models import BookSide
from kalshi_cli.store import FillRecord, Store

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
    """`kalshi pnl --local` reads the state file only: it does not import `positions` (with
    the order and reconcile modules behind it) nor `models`' response dataclasses, which
    cost a cron job's run about 30-50 ms before its first fill is read; and it still prints
    the report."""
    state = tmp_path / "state.db"
    with Store.open(state, clock=ManualClock(START)) as store:
        store.record_fills(
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
        "0.6",
        "0.03",
        "0.57",
    )
    assert "kalshi_cli.pnl" in modules
    assert not {"kalshi_cli.positions", "kalshi_cli.orders", "kalshi_cli.reconcile"} & modules
    assert "kalshi_cli.models" not in modules
