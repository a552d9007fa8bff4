"""Conventions users expect (issue #15, item 10): shell completion, `status` in local dates,
`positions` against the trade loop's own limit, `config show` with every section, and `config
get` / `config set`.

Completion and the local dates are run as the installed script, as a shell runs them (the time
zone is the process's `TZ`); the rest in-process, against the simulator over loopback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.clock import ManualClock
from kalshi_cli.sim.embed import AccountInfo
from kalshi_cli.store import Store
from tests.conftest import SimHarness


def script() -> str:
    found = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    assert found is not None, "the kalshi console script is installed next to this Python"
    return found


def run(home: Path, *args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KALSHI_", "_KALSHI"))}
    env.update(KALSHI_HOME=str(home), **environ)
    return subprocess.run(
        [script(), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def kalshi(home: Path, account: AccountInfo | None, *args: str) -> Result:
    environ = {"KALSHI_HOME": str(home)}
    if account is not None:
        environ.update(
            KALSHI_API_BASE=account.api_base,
            KALSHI_API_KEY_ID=account.key_id,
            KALSHI_PRIVATE_KEY_PATH=account.private_key_path,
        )
    return CliRunner().invoke(
        app,
        list(args),
        obj=AppContext(environ=environ),
        env={"COLUMNS": "200", "NO_COLOR": "1"},
        prog_name="kalshi",
    )


# ------------------------------------------------------------------------------ completion


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete --command kalshi")],
)
def test_show_completion_prints_the_script_of_each_shell(
    tmp_path: Path, shell: str, marker: str
) -> None:
    # a person's shell is detected (shellingham); Typer's own test switch names it instead
    done = run(
        tmp_path, "--show-completion", shell, _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1"
    )
    assert done.returncode == 0, done.stderr
    assert marker in done.stdout and "_KALSHI_COMPLETE" in done.stdout


def test_completion_offers_commands_subcommands_and_choices(tmp_path: Path) -> None:
    bash = run(tmp_path, _KALSHI_COMPLETE="complete_bash", COMP_WORDS="kalshi ord", COMP_CWORD="1")
    assert bash.stdout.split() == ["orderbook", "order"]
    sub = run(
        tmp_path, _KALSHI_COMPLETE="complete_bash", COMP_WORDS="kalshi order pl", COMP_CWORD="2"
    )
    assert sub.stdout.split() == ["place"]
    zsh = run(tmp_path, _KALSHI_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS="kalshi check po")
    assert '"positions"' in zsh.stdout
    assert "--install-completion" in run(tmp_path, "--help").stdout


# ------------------------------------------------------------------------------ local dates


def test_status_shows_local_dates_not_epochs(tmp_path: Path) -> None:
    state = tmp_path / "state" / "sim" / "embedded" / "state.db"
    state.parent.mkdir(parents=True)
    clock = ManualClock(1_767_225_600.0)  # 2026-01-01T00:00:00Z
    with Store.open(state, clock=clock) as store:
        store.set_trading_state("HALTED", reason="a test", source="kalshi halt")
        clock.advance(90)
        store.heartbeat(source="trade")
    done = run(tmp_path, "status", TZ="America/New_York")
    assert done.returncode == 0, done.stderr
    assert "set by: kalshi halt at 2025-12-31 19:00:00 EST" in done.stdout
    assert "last heartbeat: trade at 2025-12-31 19:01:30 EST" in done.stdout
    assert not re.search(r"\b1767\d{6}\b", done.stdout), "no Unix seconds for people"
    tokyo = run(tmp_path, "status", TZ="Asia/Tokyo")
    assert "2026-01-01 09:00:00 JST" in tokyo.stdout
    as_json = json.loads(run(tmp_path, "status", "--json", TZ="Asia/Tokyo").stdout)
    assert as_json["since"] == "2026-01-01T00:00:00Z"  # scripts keep UTC
    assert as_json["last_heartbeat"] == "trade at 1767225690"


# ------------------------------------------------------------------------------ risk limit


def test_positions_show_their_use_of_the_trade_loops_limit(sim: SimHarness, tmp_path: Path) -> None:
    ticker = "KXCONV-26JAN01-T1"
    sim.create_market(ticker)
    (tmp_path / "config.yaml").write_text("risk:\n  max_position_per_market: 8\n")
    seller = sim.new_account(balance_cents=1_000_000)
    body = {"ticker": ticker, "side": "ask", "count": "10.00", "price": "0.4000",
            "time_in_force": "good_till_canceled", "client_order_id": "seller-1",
            "self_trade_prevention_type": "taker_at_cross"}  # fmt: skip
    assert sim.signed(seller, "POST", "/portfolio/events/orders", json=body).status_code == 201
    buy = ["order", "place", ticker, "--side", "yes", "--action", "buy", "--count", "6"]
    assert kalshi(tmp_path, sim.account, *buy, "--price", "0.40").exit_code == 0
    document = json.loads(kalshi(tmp_path, sim.account, "positions", "--json").stdout)
    (row,) = document["positions"]
    assert (row["risk_limit"], Decimal(row["risk_use"])) == ("8.00", Decimal("0.75"))
    table = kalshi(tmp_path, sim.account, "positions", "--format", "plain")
    assert "75% of 8.00" in table.stdout
    checked = kalshi(tmp_path, sim.account, "check", "positions", "--no-alert")
    assert "75% of 8" in checked.stdout  # the same limit `check positions` judges against
