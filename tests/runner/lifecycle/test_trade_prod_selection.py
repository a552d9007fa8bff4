"""`kalshi trade` on prod trades only what it is told to.

With no `--markets`, `--series` or `--event` (and none in the config's `trade:` section) the loop
selects every open market; on prod that is thousands of real markets. It is refused before any
request, with one line that says how to choose, exit 2. The exchange here is a loopback
simulator posing as prod, so "nothing sent" is counted, not assumed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.conftest import SimHarness


def _trade(sim: SimHarness, home: Path, *args: str, config: str | None = None) -> object:
    environ = {
        "KALSHI_HOME": str(home),
        "KALSHI_API_BASE": sim.account.api_base,
        "KALSHI_WS_URL": sim.account.ws_url,
        "KALSHI_API_KEY_ID": sim.account.key_id,
        "KALSHI_PRIVATE_KEY_PATH": sim.account.private_key_path,
    }
    if config is not None:
        (home / "config.yaml").write_text(config, encoding="utf-8")
    return CliRunner().invoke(
        app,
        ["trade", "--env", "prod", "--strategy", "spike", *args],
        obj=AppContext(environ=environ),
        env={"COLUMNS": "120", "NO_COLOR": "1"},
        prog_name="kalshi",
    )


@pytest.mark.parametrize("mode", ["--live", "--dry-run"])
def test_prod_without_a_selection_is_refused_and_nothing_is_sent(
    sim: SimHarness, tmp_path: Path, mode: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    sim.create_market("KXT-EV-M01")
    before = sim.stats()["total_requests"]
    result = _trade(sim, home, mode, "--once")
    assert result.exit_code == ExitCode.USAGE, result.output  # type: ignore[attr-defined]
    stderr = result.stderr  # type: ignore[attr-defined]
    assert "every open market" in stderr and "--markets" in stderr and "--series" in stderr
    assert len(stderr.strip().splitlines()) <= 2
    assert sim.stats()["total_requests"] == before
    assert not (home / "state" / "prod" / "state.db").exists()


def test_prod_with_a_selection_in_the_config_is_not_refused_for_it(
    sim: SimHarness, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    sim.create_market("KXT-EV-M01")
    result = _trade(sim, home, "--dry-run", "--max-ticks", "1", config="trade:\n  series: KXT\n")
    assert "every open market" not in result.stderr  # type: ignore[attr-defined]
