"""Write docs/dashboard.svg: `kalshi dashboard` at 160x40 (three columns of panels) on the
prepared state of its tests.

    python scripts/dashboard_screenshot.py

The exchange's panels show what they show without credentials; the local panels show the
state file and trade log of tests/dashboard/prepared.py.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZE = (160, 40)


def screenshot(workdir: Path) -> str:
    sys.path.insert(0, str(ROOT))
    from kalshi_cli.cli.dashboard_app import DashboardApp, Wiring
    from kalshi_cli.dashboard.snapshot import Sources
    from tests.dashboard.prepared import prepare

    sources = Sources(
        state_path=workdir / "state.db",
        env="sim",
        pause_file=workdir / "trade.pause",
        log_path=workdir / "trade.log",
    )
    clock = prepare(sources.state_path, workdir / "trade.log")
    app = DashboardApp(
        Wiring(sources=sources, clock=clock, no_client_reason="no API key configured")
    )

    async def main() -> str:
        async with app.run_test(size=SIZE) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            return app.export_screenshot(title="kalshi dashboard")

    return asyncio.run(main())


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        svg = screenshot(Path(tmp))
    # the state file's path is a temporary directory: show a stable one
    svg = svg.replace(tmp, "/var/lib/kalshi/sim")
    (ROOT / "docs" / "dashboard.svg").write_text(svg, encoding="utf-8")
    print("wrote docs/dashboard.svg")
