"""A backtest through `kalshi mcp` gives the figures `kalshi backtest --json` gives on the same
data, and a sweep reports its progress as MCP progress notifications."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from kalshi_cli.agent import research
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.vocabulary.errors import UsageError
from tests.agent.mcp_session import mcp_session, server_params

pytestmark = pytest.mark.slow
LAL = "KXNBAGAME-SIM-LALGSW-LAL"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("mcp"), seconds=200, tickers=[LAL])


def test_the_tools_backtest_is_the_commands(data: Path, tmp_path: Path) -> None:
    params = server_params(None, tmp_path)
    assert params.env is not None
    done = subprocess.run(
        [sys.executable, "-m", "kalshi_cli", "backtest", "--strategy", "spike", "--data", str(data),
         "--param", "take_profit=0.06", "--json"],
        capture_output=True, text=True, env={**os.environ, **params.env}, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    by_command = json.loads(done.stdout)
    seen: list[tuple[float, float | None]] = []

    async def session() -> dict[str, object]:
        with (tmp_path / "server.log").open("w") as errlog:
            async with mcp_session(params, errlog) as s:
                one = await s.call(
                    "backtest", strategy="spike", data=str(data), params=["take_profit=0.06"]
                )

                async def progress(
                    progress: float, total: float | None, message: str | None
                ) -> None:
                    seen.append((progress, total))

                await s.call(
                    "backtest",
                    progress,
                    strategy="spike",
                    data=str(data),
                    params=["take_profit=0.03,0.06"],
                )
                runs = await s.call("backtest_runs")
                assert [r["kind"] for r in runs["runs"]] == ["run", "run", "sweep"]
                compared = await s.call("backtest_compare", a=runs["runs"][0]["id"], b="last")
                assert compared["figures"]
                return one

    by_tool = anyio.run(session)
    for document in (by_command, by_tool):
        assert document.pop("run_id")
    assert by_tool == by_command
    assert by_command["totals"]["fills"] > 0
    assert seen and seen[-1] == (2, 2)


def test_a_backtest_past_its_time_limit_is_stopped_and_one_too_big_refused(
    data: Path, tmp_path: Path
) -> None:
    ask = research.BacktestAsk(strategy="spike", data=str(data))
    environ = {"KALSHI_HOME": str(tmp_path)}
    request = research.backtest_request(
        ask, config_path=tmp_path / "none.yaml", environ=environ, max_mb=512
    )
    # no interpreter starts, let alone replays 200 s of books, in a microsecond
    with pytest.raises(research.BacktestStopped, match="past the assistant's limit of 1e-06 s"):
        research.run_limited(request, max_s=1e-6, progress=lambda done, total: None)
    size = research.data_megabytes(data)
    with pytest.raises(UsageError, match="over the assistant's limit"):
        research.backtest_request(
            ask, config_path=tmp_path / "none.yaml", environ=environ, max_mb=size / 2
        )


def test_a_backtest_whose_strategy_failed_fails_the_tool_call(data: Path, tmp_path: Path) -> None:
    """The model's only value is a day older than the recording: every decision fails. The
    command exits 23 (STRATEGY_FAILED) after its report; the tool must fail too, not hand the
    assistant the figures of a failed run as a backtest's answer. The run is stored, failed."""
    stale = tmp_path / "stale.csv"
    stale.write_text(f"ticker,fair,time\n{LAL},0.95,2025-12-31T00:00:00Z\n")
    config = f"strategies:\n  model:\n    source: 'file:{stale}'\n"
    params = server_params(None, tmp_path, config)

    async def session() -> tuple[str, str, dict[str, Any]]:
        with (tmp_path / "server.log").open("w") as errlog:
            async with mcp_session(params, errlog) as s:
                one = await s.refused("backtest", strategy="model", data=str(data))
                sweep = await s.refused(
                    "backtest", strategy="model", data=str(data), params=["min_edge=0.02,0.03"]
                )
                return one, sweep, await s.call("backtest_runs")

    one, sweep, runs = anyio.run(session)
    assert "STRATEGY_FAILED: the strategy failed in " in one, one
    assert "s old (max_age_s 60)" in one and "stored as run " in one, one
    assert "STRATEGY_FAILED: 2 of 2 runs failed" in sweep, sweep
    assert [(r["kind"], r["failed"]) for r in runs["runs"]] == [("run", 1), ("sweep", 2)]
