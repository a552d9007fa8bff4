"""Conventions users expect: shell completion, `status` in local dates,
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
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock
from tests.conftest import SimHarness
from tests.wire import order_body


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
    assert bash.stdout.split() == ["orderbook", "order", "order-group"]
    sub = run(
        tmp_path, _KALSHI_COMPLETE="complete_bash", COMP_WORDS="kalshi order pl", COMP_CWORD="2"
    )
    assert sub.stdout.split() == ["place"]
    zsh = run(tmp_path, _KALSHI_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS="kalshi check po")
    assert '"positions"' in zsh.stdout
    strategy = run(
        tmp_path,
        _KALSHI_COMPLETE="complete_bash",
        COMP_WORDS="kalshi trade --strategy m",
        COMP_CWORD="3",
    )
    assert strategy.stdout.split() == ["mean-reversion", "market-maker", "model"]
    assert "--install-completion" in run(tmp_path, "--help").stdout


# ------------------------------------------------------------------------------ local dates


def test_status_shows_local_dates_not_epochs(tmp_path: Path) -> None:
    state = tmp_path / "state" / "sim" / "embedded" / "state.db"
    state.parent.mkdir(parents=True)
    clock = ManualClock(1_767_225_600.0)  # 2026-01-01T00:00:00Z
    with Store.open(state, clock=clock) as store:
        store.trading.set_trading_state("HALTED", reason="a test", source="kalshi halt")
        clock.advance(90)
        store.entries.heartbeat(source="trade")
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
    body = order_body(ticker, side="ask", price="0.4000", count="10.00", client_order_id="seller-1")
    sim.placed(seller, body)
    buy = ["order", "place", ticker, "--side", "yes", "--action", "buy", "--count", "6"]
    assert kalshi(tmp_path, sim.account, *buy, "--price", "0.40").exit_code == 0
    document = json.loads(kalshi(tmp_path, sim.account, "positions", "--json").stdout)
    (row,) = document["positions"]
    assert (row["risk_limit"], Decimal(row["risk_use"])) == ("8.00", Decimal("0.75"))
    table = kalshi(tmp_path, sim.account, "positions", "--format", "plain")
    assert "75% of 8.00" in table.stdout
    checked = kalshi(tmp_path, sim.account, "check", "positions", "--no-alert")
    assert "75% of 8" in checked.stdout  # the same limit `check positions` judges against


# ------------------------------------------------------------------------------ config


CONFIG = """\
# my settings
timeout: 5   # seconds
risk:
  # careful with this one
  min_edge: 0.01  # dollars
alerts:
  channels:
    ops: {type: slack, url: "https://hooks.slack.com/services/T0/B0/XYZSECRET"}
  routes: {critical: ops}
"""


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_config_set_edits_in_place_keeping_comments_and_mode(tmp_path: Path) -> None:
    path = _config(tmp_path)
    changed = kalshi(tmp_path, None, "config", "set", "risk.min_edge", "0.02")
    assert changed.exit_code == 0, changed.output
    assert changed.stdout.startswith(f"{path}:5: risk.min_edge = 0.02")
    added = kalshi(tmp_path, None, "config", "set", "risk.max_orders_per_minute", "60")
    assert added.exit_code == 0, added.output
    new_section = kalshi(tmp_path, None, "config", "set", "strategies.market-maker.spread", "0.06")
    assert new_section.exit_code == 0, new_section.output
    per_env = kalshi(tmp_path, None, "config", "set", "tier", "advanced", "--env", "demo")
    assert per_env.exit_code == 0, per_env.output
    text = path.read_text(encoding="utf-8")
    assert text.startswith(
        "# my settings\n"
        "timeout: 5   # seconds\n"
        "risk:\n"
        "  # careful with this one\n"
        "  min_edge: 0.02  # dollars\n"
        "  max_orders_per_minute: 60\n"
        "alerts:\n"
    )
    assert "# my settings" in text and "# careful with this one" in text
    assert "strategies:\n  market-maker:\n    spread: 0.06\n" in text
    assert "demo:\n  tier: advanced\n" in text
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".config")) == []
    got = kalshi(tmp_path, None, "config", "get", "risk.max_orders_per_minute", "--json")
    assert json.loads(got.stdout)["values"] == [
        {
            "key": "risk.max_orders_per_minute",
            "value": "60",
            "source": "file",
            "origin": f"{path}:6",
        }
    ]
    demo = kalshi(tmp_path, None, "config", "get", "tier", "--env", "demo")
    assert demo.stdout.strip() == "advanced"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("risk.max_orders_per_minute", "0", "max_orders_per_minute must be at least 1"),
        ("risk.max_order_per_minute", "5", "did you mean `max_orders_per_minute`?"),
        ("risk.min_edge", "[1, 2]", "give one value"),
        ("timeout", "0", "timeout: expected `float` > 0.0"),
        ("rsk.min_edge", "1", "did you mean `risk`?"),
        ("alerts.channels.ops.url", "x", "flow style"),
        ("private_key", "x", "not accepted in the config file"),
        ("risk.max_order_count", "9" * 26, "risk.max_order_count: expected a number below"),
    ],
)
def test_config_set_refuses_a_bad_key_or_value_and_writes_nothing(
    tmp_path: Path, key: str, value: str, expected: str
) -> None:
    path = _config(tmp_path)
    result = kalshi(tmp_path, None, "config", "set", key, value)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert path.read_text(encoding="utf-8") == CONFIG
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]


def test_config_get_refuses_an_unknown_key(tmp_path: Path) -> None:
    _config(tmp_path)
    result = kalshi(tmp_path, None, "config", "get", "risk.min_edg")
    assert result.exit_code == 2 and "did you mean `risk.min_edge`?" in result.stderr


def test_config_show_prints_every_section_with_secrets_masked(tmp_path: Path) -> None:
    _config(tmp_path)
    shown = kalshi(tmp_path, None, "config", "show", "--json")
    assert shown.exit_code == 0, shown.output
    sections = json.loads(shown.stdout)["sections"]
    for name in ("risk", "strategies", "checks", "alerts", "trade"):
        assert any(key.startswith(name + ".") for key in sections), name
    assert sections["risk.min_edge"]["value"] == "0.01"
    assert sections["risk.min_edge"]["origin"] == f"{tmp_path / 'config.yaml'}:5"
    assert sections["risk.max_orders_per_minute"] == {
        "value": "120",
        "source": "default",
        "origin": "default",
    }
    assert sections["alerts.channels.ops.url"]["value"] == "https://hooks.slack.com/********"
    assert "XYZSECRET" not in shown.stdout
    table = kalshi(tmp_path, None, "config", "show", "--format", "plain")
    assert "strategies.market-maker.spread" in table.stdout and "XYZSECRET" not in table.stdout
