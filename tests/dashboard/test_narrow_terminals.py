"""The dashboard never cuts what a trader reads: at 80, 100 and 120 columns every panel shows
whole tickers and whole dollar figures (no `…`), falling back to one column of panels and to a
record layout for a table wider than its panel, as the command line's tables do."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from pathlib import Path

import pytest

from kalshi_cli.cli.dashboard_app import DashboardApp, Wiring
from kalshi_cli.dashboard.snapshot import OrderLine, PositionLine, RemoteSnapshot, Sources
from tests.dashboard.prepared import NOW, prepare
from tests.waiting import wait_until_async

LONG = "KXNBAGAME-26NOV23BOSNYK-BOS"
PANELS = ("top", "trading", "health", "pnl", "positions", "orders", "fills", "denials", "checks")


def remote() -> RemoteSnapshot:
    return RemoteSnapshot(
        at=NOW,
        error=None,
        positions=(
            PositionLine(
                LONG, "yes", D(300), D(136) / D(300), D("0.41"), D("-1234.5"), D(3), D(100)
            ),
        ),
        unrealized=D("-1234.5"),
        orders=(OrderLine("ord-2", LONG, "no", "buy", D("0.305"), D(6), "", "spike"),),
    )


def screens(tmp_path: Path, width: int) -> dict[str, str]:
    sources = Sources(
        state_path=tmp_path / "state.db",
        env="sim",
        pause_file=tmp_path / "trade.pause",
        log_path=tmp_path / "trade.log",
        limit=D(100),
    )
    clock = prepare(sources.state_path, tmp_path / "trade.log")
    # the test's snapshot is the exchange's only answer: no timer asks again while it reads (on a
    # busy machine the 5 s refresh came first, and the panels showed "no API key" instead)
    app = DashboardApp(Wiring(sources=sources, clock=clock, remote_s=3600.0))
    snapshot = remote()
    read: list[dict[str, str]] = [{}]

    def settled() -> bool:
        """The panels read the same twice in a row, at the widths of the laid-out screen."""
        now = {key: app.panel_text(key) for key in PANELS}
        before, read[0] = read[0], now
        return app.remote is snapshot and now == before

    async def main() -> None:
        async with app.run_test(size=(width, 40)) as pilot:
            await app.workers.wait_for_complete()
            app._got_remote(snapshot)
            await wait_until_async(
                settled, f"the panels laid out at {width} columns", between=pilot.pause
            )

    asyncio.run(main())
    return read[0]


@pytest.mark.parametrize("width", [80, 100, 120])
def test_no_panel_cuts_a_ticker_or_a_figure(tmp_path: Path, width: int) -> None:
    seen = screens(tmp_path, width)
    for key, text in seen.items():
        assert "…" not in text, f"{key} at {width} columns:\n{text}"
    for key in ("positions", "orders"):
        assert LONG in seen[key], f"{key} at {width} columns:\n{seen[key]}"
    assert "-$1,234.50" in seen["positions"] and "$0.4533" in seen["positions"]
    assert "$0.3050" in seen["orders"]
