"""The trade log tells of an answer once the state file holds it: with the loop's calls off
its deciding path, the answers of one drain are booked in one transaction, and each line a
booking writes (`order_placed`, `order_cancelled`, `fill_received`, ...) is written when that
transaction commits. A person or a script that reads "order_placed" and then looks at the state
file from another process finds the order there, not its intent still pending."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kalshi_cli.store import Store
from tests.conftest import SimHarness
from tests.runner.sim_rig import rig
from tests.waiting import pause, poll_until

TICKERS = ["KXBOOKED-SIM-A", "KXBOOKED-SIM-B"]


def test_each_order_placed_line_is_written_once_another_process_reads_the_order(
    sim: SimHarness, tmp_path: Path
) -> None:
    with rig(
        sim, tmp_path, TICKERS, strategy="market-maker", params={}, batch_wait_s=0.0,
        send_workers=2,
    ) as r:  # fmt: skip
        log = r.loop.log
        seen: list[str | None] = []
        write = log._write

        def probe(kind: str, fields: Any) -> None:
            if kind == "order_placed":
                other = Store.open_readonly(r.store.path)
                assert other is not None
                with other:
                    intent = other.orders.intent_by_order_id(str(fields["order_id"]))
                seen.append(None if intent is None else intent.status)
            write(kind, fields)

        log._write = probe  # type: ignore[method-assign]

        def placed() -> bool:
            r.loop.tick(r.feed.drain_messages(), full=False)
            pause()
            return len(seen) >= 4

        r.loop.tick(r.feed.drain_messages(), full=True)
        assert poll_until(placed)
        assert seen and set(seen) == {"resting"}, seen
