"""Through `kalshi` on the simulator: a person buys 10 YES by hand with `kalshi order place`,
then `kalshi trade` runs the example strategy file on the same account. It buys 5 of its own,
and when the bid pays its take-profit it sells those 5 and only those: the person's 10 stay."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.runner.simproc import (
    Book,
    client_for,
    log_events,
    observer_for,
    trade_command,
    trade_env,
)
from tests.waiting import poll_until

if TYPE_CHECKING:
    from tests.conftest import SimHarness

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "strategies" / "fair_value.py"
TICKER = "KXOWNPOS-SIM-A"


def _fills(log: Path) -> list[dict[str, object]]:
    return [e for e in log_events(log) if e["event"] == "fill_received"]


# the installed script beside this interpreter (the venv's bin need not be on PATH)
KALSHI = shutil.which("kalshi", path=str(Path(sys.executable).parent)) or "kalshi"


@pytest.mark.slow
def test_a_take_profit_through_the_cli_leaves_the_hand_bought_contracts(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    market = Book(client_for(sim.new_account(balance_cents=100_000_000)), TICKER)
    market.quote("0.49", "0.51")
    trader = sim.new_account(balance_cents=10_000_000)
    env = trade_env(trader, tmp_path / "home", tmp_path / "state.db")
    hand = subprocess.run(
        [KALSHI, "order", "place", TICKER, "--side", "yes", "--action", "buy",
         "--count", "10", "--price", "0.51", "--yes"],
        env={**env, "PATH": os.environ["PATH"]}, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert hand.returncode == 0, hand.stderr
    params = tmp_path / "fv.yaml"
    params.write_text("fair: 0.60\nedge: 0.02\ntake_profit: 0.03\norder_count: 5\n")
    log = tmp_path / "trade.log"
    command = [*trade_command(str(EXAMPLE), TICKER, log, "--duration", "200"), "--params",
               str(params)]  # fmt: skip
    with (tmp_path / "trade.stderr").open("w") as stderr:
        loop = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            assert poll_until(lambda: len(_fills(log)) >= 1), log_events(log)
            market.quote("0.55", "0.57")  # the bid now pays 0.51 + 0.03
            assert poll_until(lambda: len(_fills(log)) >= 2), log_events(log)
        finally:
            loop.send_signal(signal.SIGTERM)
            loop.wait(timeout=60)
    bought, sold = _fills(log)[:2]
    assert (bought["action"], Decimal(str(bought["count"]))) == ("buy", 5), bought
    assert (sold["action"], Decimal(str(sold["count"]))) == ("sell", 5), sold
    (held,) = [p for p in observer_for(trader).portfolio.get_positions() if p.ticker == TICKER]
    assert held.position == Decimal("10")
