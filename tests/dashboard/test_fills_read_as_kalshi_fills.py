"""A fill of an order placed elsewhere (on the website, by another program) reads the same on
the dashboard's last fills and in `kalshi fills`: the side it positioned the account for (the
spec's `outcome_side`, `book_side` ask for NO), bought, at that side's price."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from kalshi_cli.dashboard.snapshot import Sources, local_snapshot
from kalshi_cli.vocabulary.clock import SystemClock
from tests.cli.test_read_catch_up import TICKER, kalshi, order
from tests.conftest import SimHarness


def test_a_fill_placed_elsewhere_reads_the_same_on_the_dashboard_and_in_kalshi_fills(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The account sells 5 YES at 0.40 elsewhere into a second account's bid (it holds NO 5):
    `kalshi positions` brings the fill into the state file, and both the dashboard and
    `kalshi fills --json` read it `buy no` at 0.60."""
    sim.create_market(TICKER)
    placed = kalshi(
        tmp_path, sim.account, "order", "place", TICKER, "--side", "yes", "--action", "buy",
        "--count", "1", "--price", "0.05",
    )  # fmt: skip
    assert placed.exit_code == 0, placed.output
    buyer = sim.new_account(balance_cents=1_000_000)
    order(sim, buyer, "bid", "0.4000", "5.00")
    order(sim, sim.account, "ask", "0.4000", "5.00")  # the fill the state file does not know
    assert kalshi(tmp_path, sim.account, "positions", "--json").exit_code == 0
    listed = kalshi(tmp_path, sim.account, "fills", "--json")
    assert listed.exit_code == 0, listed.output
    (fill,) = json.loads(listed.stdout)["fills"]
    assert (fill["action"], fill["side"], Decimal(fill["price"])) == ("buy", "no", Decimal("0.6"))
    state = json.loads(kalshi(tmp_path, sim.account, "state", "path", "--json").stdout)["path"]
    snap = local_snapshot(
        Sources(state_path=Path(state), pause_file=tmp_path / "pause", log_path=None),
        SystemClock(),
    )
    (line,) = snap.fills
    assert (line.action, line.side, line.price) == (fill["action"], fill["side"], Decimal("0.6"))
