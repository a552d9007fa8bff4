"""The venue client answers every call the trade loop's code makes of its client.

A backtest and a paper session run `kalshi trade`'s own code against `VenueClient`; a call the
loop gained without the venue learning it fails only when a run reaches it (an AttributeError
in the middle of a backtest). This reads the loop's modules for `client.NAME(` and holds the
venue to every NAME. The session's order group (runner/execution/order_group.py) is the one part a
venue never runs: a backtest and a paper session make no group."""

from __future__ import annotations

import re
from pathlib import Path

from kalshi_cli.venue import VenueClient

ROOT = Path(__file__).resolve().parents[2] / "kalshi_cli"
LOOP_CODE = [
    *sorted((ROOT / "runner").rglob("*.py")),
    *sorted((ROOT / "services" / "orders").glob("*.py")),
    ROOT / "services" / "reconcile.py",
]
NOT_ON_A_VENUE = {
    ROOT / "runner" / "execution" / "order_group.py",
    ROOT / "runner" / "lifecycle" / "launch.py",
}
CALL = re.compile(r"\bclient\.([a-z_]+)\(")
# made only of a client that sends batches (`orders.batch.SendsBatches`: runner/execution/outbox.py
# asks `isinstance` first); the venue is not one, and sends each order on its own
BATCH_CALLS = {"batch_size", "batch_create_orders"}


def test_every_client_call_of_the_loop_is_answered_by_the_venue() -> None:
    called = {
        (name, path.name)
        for path in LOOP_CODE
        if path not in NOT_ON_A_VENUE
        for name in CALL.findall(path.read_text(encoding="utf-8"))
    }
    assert called, "the pattern finds the loop's client calls"
    missing = sorted(
        (name, where)
        for name, where in called
        if not hasattr(VenueClient, name) and name not in BATCH_CALLS
    )
    assert missing == []
    # the batch calls are left out only because the venue is no batch sender at all
    assert not all(hasattr(VenueClient, name) for name in BATCH_CALLS)
