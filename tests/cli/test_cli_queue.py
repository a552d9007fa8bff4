"""`kalshi order list --queue`: each resting order's queue position from the exchange."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from tests.cli.test_cli_sim import account_env, kalshi
from tests.wire import order_body

if TYPE_CHECKING:
    from kalshi_cli.sim.server.announce import AccountInfo
    from tests.conftest import SimHarness

T = "KXCLIQ-26JAN01-A"


def bid(sim: SimHarness, who: AccountInfo, count: str) -> str:
    body = order_body(T, count=count)
    return str(sim.placed(who, body)["order_id"])


def test_order_list_queue_shows_contracts_ahead(sim: SimHarness, tmp_path: Path) -> None:
    sim.create_market(T)
    me = sim.account
    bid(sim, sim.new_account(), "7")
    mine = bid(sim, me, "2")
    gone = bid(sim, me, "1")
    assert sim.signed(me, "DELETE", f"/portfolio/events/orders/{gone}").status_code == 200
    environ = account_env(me)

    listed = kalshi(["order", "list", "--queue", "--json"], tmp_path, environ)
    assert listed.exit_code == 0, listed.output
    positions = {o["order_id"]: o["queue_position"] for o in json.loads(listed.stdout)["orders"]}
    assert positions == {mine: "7.00", gone: None}

    table = kalshi(["order", "list", "--queue", "--ticker", T], tmp_path, environ)
    assert table.exit_code == 0, table.output
    assert "ahead" in table.stdout
    [row] = [line for line in table.stdout.splitlines() if mine in line]
    assert " 7" in row

    plain = kalshi(["order", "list", "--json"], tmp_path, environ)
    assert "queue_position" not in json.loads(plain.stdout)["orders"][0]
