"""Read commands catch up by themselves.

A fill made outside this state file (on the website, by another tool) used to leave
`positions` without an entry price, a mark or P&L and `pnl` warning until `kalshi reconcile`
ran. `positions` and `pnl` now bring in the fills and settlements the state file lacks before
they compute, quietly, and say nothing about `reconcile`. Here the fill is made with a plain
signed request to the simulator, as another program would, against a second account's offer.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from typer.testing import Result

from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.store import Store
from tests.conftest import SimHarness
from tests.prime_tier import kalshi_as
from tests.wire import order_body

TICKER = "KXREAD-26JAN01-T1"


def kalshi(home: Path, account: AccountInfo, *args: str) -> Result:
    return kalshi_as(account, home, tier=None, columns=160)(*args)


def order(sim: SimHarness, account: AccountInfo, book_side: str, price: str, count: str) -> None:
    body = order_body(
        TICKER,
        side=book_side,
        price=price,
        count=count,
        client_order_id=f"elsewhere-{book_side}-{price}",
    )
    sim.placed(account, body)


def _setup(sim: SimHarness, home: Path) -> None:
    """A state file that exists (an order placed through `kalshi`), then a fill made
    elsewhere: 5 YES bought at 0.40 from a second account's offer, and the book around it."""
    sim.create_market(TICKER)
    placed = kalshi(
        home, sim.account, "order", "place", TICKER, "--side", "yes", "--action", "buy",
        "--count", "1", "--price", "0.05",
    )  # fmt: skip
    assert placed.exit_code == 0, placed.output
    seller = sim.new_account(balance_cents=1_000_000)
    order(sim, seller, "ask", "0.4000", "5.00")
    order(sim, sim.account, "bid", "0.4000", "5.00")  # the fill the state file does not know
    order(sim, seller, "ask", "0.4500", "10.00")  # a book to mark against
    order(sim, seller, "bid", "0.3500", "10.00")


def test_positions_brings_in_a_fill_made_elsewhere_quietly(sim: SimHarness, tmp_path: Path) -> None:
    _setup(sim, tmp_path)
    result = kalshi(tmp_path, sim.account, "positions", "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # quietly: no difference, no advice to reconcile
    rows = {r["ticker"]: r for r in json.loads(result.stdout)["positions"]}
    row = rows[TICKER]
    assert Decimal(row["contracts"]) == 5
    assert Decimal(row["average_entry"]) == Decimal("0.40")
    assert row["unrealized_pnl"] is not None and Decimal(row["mark_bid"]) == Decimal("0.35")
    again = kalshi(tmp_path, sim.account, "positions", "--json")
    assert again.exit_code == 0 and again.stderr == ""
    path = Path(json.loads(kalshi(tmp_path, sim.account, "state", "path", "--json").stdout)["path"])
    with Store.open(path) as store:
        assert store.fills.count_fills() == 1  # brought in once, not again


def test_pnl_brings_in_a_fill_made_elsewhere_and_marks_it(sim: SimHarness, tmp_path: Path) -> None:
    _setup(sim, tmp_path)
    result = kalshi(tmp_path, sim.account, "pnl", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["differences"] == []
    assert document["unrealized_pnl"] is not None  # no "a book is empty"
    text = kalshi(tmp_path, sim.account, "pnl")
    assert "reconcile" not in text.output and "empty" not in text.output


LOCK_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


def test_a_state_file_that_cannot_be_written_is_read_as_it_is_and_says_why(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Another process holds the write lock (as a stuck writer would; a read-only copy fails
    the same way, but root, who runs this suite, may write any file): `positions` still shows
    the exchange's figures, and its advice names why the state file lags, not `reconcile`."""
    import subprocess
    import sys

    _setup(sim, tmp_path)
    path = Path(json.loads(kalshi(tmp_path, sim.account, "state", "path", "--json").stdout)["path"])
    with subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        try:
            assert holder.stdout.readline().strip() == "locked"
            result = kalshi(tmp_path, sim.account, "positions", "--json")
        finally:
            holder.stdin.write("\n")
            holder.stdin.close()
            holder.wait(timeout=30)
    assert result.exit_code == 0, result.output
    rows = {r["ticker"]: r for r in json.loads(result.stdout)["positions"]}
    assert Decimal(rows[TICKER]["contracts"]) == 5  # the exchange's count, as always
    assert "could not be brought up to date" in result.stderr and "locked" in result.stderr
    assert "reconcile" not in result.stderr
    with Store.open(path) as store:
        assert store.fills.count_fills() == 0  # nothing was written while it was locked
