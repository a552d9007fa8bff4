"""A config mistake that would remove a safeguard is refused, with file and line, before any
request reaches the exchange.

`kalshi trade`, `kalshi order place` and `kalshi check` run in process against the test's
simulator, configured through the file; the simulator's own request statistics prove that
nothing was sent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner, Result

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.vocabulary.exit_codes import ExitCode

if TYPE_CHECKING:
    from tests.conftest import SimHarness

T = "KXSTRICT-26JAN01-A"


def write_config(home: Path, sim: SimHarness, sections: str) -> Path:
    """The account's settings, then `sections` (line 7 onwards)."""
    account = sim.account
    path = home / "config.yaml"
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "env: sim\n"
        "sim:\n"
        f"  api_base: {account.api_base}\n"
        f"  ws_url: {account.ws_url}\n"
        f"  api_key_id: {account.key_id}\n"
        f"  private_key_path: {account.private_key_path}\n" + sections,
        encoding="utf-8",
    )
    return path


def kalshi(args: list[str], home: Path) -> Result:
    context = AppContext(environ={"KALSHI_HOME": str(home)})
    return CliRunner().invoke(
        app, args, obj=context, env={"COLUMNS": "100", "NO_COLOR": "1"}, prog_name="kalshi"
    )


def requests_seen(sim: SimHarness) -> int:
    total: int = sim.stats()["total_requests"]
    return total


# (id, the sections, the line named, what the message must name)
BAD_SECTIONS = [
    ("limits-a-list", "limits:\n  - max_order_cost: 5\n", 7, "limits"),
    # a deprecated `limits:` key is read as its `risk:` one, and refused by that name
    ("limit-a-list", "limits:\n  max_order_cost: [5]\n", 8, "risk.max_order_cost"),
    (
        "limit-a-mapping",
        "limits:\n  max_position_per_market: {n: 5}\n",
        8,
        "max_position_per_market",
    ),
    ("risk-a-list", "risk:\n  max_position_per_market: [10]\n", 8, "risk.max_position_per_market"),
    ("risk-a-mapping", "risk:\n  max_total_exposure: {usd: 1}\n", 8, "risk.max_total_exposure"),
    ("risk-a-bool", "risk:\n  max_total_exposure: true\n", 8, "risk.max_total_exposure"),
    ("risk-nan", "risk:\n  daily_loss_limit: .nan\n", 8, "risk.daily_loss_limit"),
    (
        "risk-set-twice",
        "risk:\n  max_position_per_market: 10\n  max_position_per_market: 1000\n",
        9,
        "max_position_per_market",
    ),
    ("section-set-twice", "risk: {}\ntrade: {}\nrisk:\n  min_edge: 0\n", 9, "risk"),
    (
        "strategy-misspelt",
        "strategies:\n  market_maker:\n    spread: 0.04\n",
        8,
        "did you mean `market-maker`",
    ),
    (
        "strategy-param-set-twice",
        "strategies:\n  spike:\n    order_count: 1\n    order_count: 100\n",
        10,
        "order_count",
    ),
    ("strategy-param-a-list", "strategies:\n  spike:\n    order_count: [1]\n", 9, "order_count"),
    ("strategy-param-nan", "strategies:\n  spike:\n    min_edge: .nan\n", 9, "min_edge"),
    ("tick-nan", "trade:\n  tick_interval_s: .nan\n", 8, "trade.tick_interval_s"),
    ("tick-inf", "trade:\n  tick_interval_s: .inf\n", 8, "trade.tick_interval_s"),
    ("status-not-a-number", "trade:\n  status_interval_s: soon\n", 8, "trade.status_interval_s"),
    ("pause-file-a-list", "trade:\n  pause_file: [a, b]\n", 8, "trade.pause_file"),
    ("trade-key-misspelt", "trade:\n  tick_interval: 1\n", 8, "did you mean `tick_interval_s`"),
    ("check-nan", "checks:\n  heartbeat:\n    warn: .nan\n", 9, "checks.heartbeat.warn"),
    ("alerts-nan", "alerts:\n  repeat_interval_s: .nan\n", 8, "alerts.repeat_interval_s"),
    (
        "alerts-channel-type",
        "alerts:\n  channels:\n    ops: {type: slak, url: 'https://h.example/x'}\n",
        9,
        "alerts.channels.ops.type",
    ),
]


@pytest.mark.parametrize(
    ("sections", "line", "named"),
    [b[1:] for b in BAD_SECTIONS],
    ids=[b[0] for b in BAD_SECTIONS],
)
def test_trade_refuses_a_bad_config_before_any_request(
    sim: SimHarness, tmp_path: Path, sections: str, line: int, named: str
) -> None:
    sim.create_market(T)
    config = write_config(tmp_path, sim, sections)
    before = requests_seen(sim)
    result = kalshi(["trade", "--strategy", "spike", "--once", "--dry-run"], tmp_path)
    assert result.exit_code == ExitCode.CONFIG, result.output
    [message] = result.stderr.splitlines()
    assert f"{config}:{line}:" in message and named in message, message
    assert requests_seen(sim) == before


@pytest.mark.parametrize(
    "sections",
    [
        "limits:\n  - max_order_cost: 5\n",
        "limits:\n  max_order_cost: [5]\n",
        "limits:\n  max_order_cost: 5\n  max_order_cost: 5000\n",
        "limits:\n  max_order_cost: .nan\n",
    ],
    ids=["a-list", "a-list-value", "set-twice", "nan"],
)
def test_order_place_refuses_a_bad_limits_section_before_any_request(
    sim: SimHarness, tmp_path: Path, sections: str
) -> None:
    sim.create_market(T)
    config = write_config(tmp_path, sim, sections)
    before = requests_seen(sim)
    result = kalshi(
        [
            "order",
            "place",
            T,
            "--side",
            "yes",
            "--action",
            "buy",
            "--count",
            "1",
            "--price",
            "0.40",
        ],
        tmp_path,
    )
    assert result.exit_code == ExitCode.CONFIG, result.output
    [message] = result.stderr.splitlines()
    assert f"{config}:" in message and ("limits" in message or "max_order_cost" in message)
    assert requests_seen(sim) == before
    assert sim.signed(sim.account, "GET", "/portfolio/orders").json()["orders"] == []


def test_a_good_config_still_trades(sim: SimHarness, tmp_path: Path) -> None:
    """The example file's sections, as written, pass; the loop then does talk to the exchange."""
    from kalshi_cli.config import example_config

    text = example_config()
    sections = text[text.index("\nrisk:") + 1 :]
    sim.create_market(T)
    write_config(tmp_path, sim, sections)
    # a process of its own: a loop that really runs leaves threads a CliRunner must not share
    done = subprocess.run(
        [sys.executable, "-m", "kalshi_cli", "trade", "--strategy", "spike", "--once", "--dry-run"],
        env={**os.environ, "KALSHI_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert requests_seen(sim) > 0


@pytest.mark.parametrize(
    ("sections", "line", "named"),
    [
        ("checks:\n  positions:\n    warn: [0.8]\n", 9, "checks.positions.warn"),
        ("checks:\n  positions:\n    warn: .nan\n", 9, "checks.positions.warn"),
        ("checks:\n  positions:\n    warn: 0.8\n    warn: 5\n", 10, "checks.positions.warn"),
        ("checks:\n  position:\n    warn: 0.8\n", 8, "did you mean `positions`"),
        ("risk:\n  max_position_per_market: [10]\n", 8, "risk.max_position_per_market"),
    ],
    ids=["a-list", "nan", "set-twice", "misspelt-check", "risk-a-list"],
)
def test_a_check_refuses_a_bad_config_as_unknown_before_any_request(
    sim: SimHarness, tmp_path: Path, sections: str, line: int, named: str
) -> None:
    config = write_config(tmp_path, sim, sections)
    before = requests_seen(sim)
    result = kalshi(["check", "positions", "--no-alert"], tmp_path)
    assert result.exit_code == 3, result.output  # Nagios UNKNOWN
    [message] = result.stdout.splitlines()
    assert message.startswith("KALSHI POSITIONS UNKNOWN - "), message
    assert f"{config}:{line}:" in message and named in message, message
    assert requests_seen(sim) == before
