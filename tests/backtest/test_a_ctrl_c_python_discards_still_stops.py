"""A Ctrl-C whose KeyboardInterrupt Python discards still stops a backtest. The interrupt is raised
wherever the main thread is when the signal is handled; when that is inside a finalizer (a
`__del__`, a weakref callback: an object the garbage collector takes at that moment, as one of
SQLAlchemy's under a search's study) Python prints "Exception ignored in" and goes on, and a search
would go on through all its trials. Here the Ctrl-C is made to land in a finalizer every time."""

from __future__ import annotations

from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.backtest import BacktestSpec, run_backtest
from kalshi_cli.backtest.executors import LocalPool
from kalshi_cli.backtest.search import Axis, search
from kalshi_cli.backtest.sweep import grid
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.strategy_api import Params, Strategy
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.process import interruptible
from tests.backtest.in_process import kalshi
from tests.backtest.unruly_strategy import CtrlCInAFinalizer

UNRULY = str(Path(__file__).with_name("unruly_strategy.py"))
LAL = "KXNBAGAME-SIM-LALGSW-LAL"
# what Python reports of each interrupt it discards: the point of these tests
pytestmark = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <function CtrlCInAFinalizer.__del__"
    ":pytest.PytestUnraisableExceptionWarning"
)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("data"), seconds=60, tickers=[LAL])


def test_a_run_stops_at_a_ctrl_c_python_discarded(data: Path, tmp_path: Path) -> None:
    done = kalshi(
        ["backtest", "--strategy", UNRULY, "--data", str(data),
         "--param", "act=ctrl-c-in-a-finalizer", "--json"],
        tmp_path,
    )  # fmt: skip
    assert done.returncode == ExitCode.INTERRUPTED, done.stdout + done.stderr
    assert done.stdout == ""  # no report: the run did not go on to its end
    # the Ctrl-C was the command's: a run this process makes after it goes to its end
    assert run_backtest(BacktestSpec(data=str(data), strategy=UNRULY))["totals"]["fills"] > 0


class XParams(Params, frozen=True):
    x: int = 1


def test_a_search_stops_at_a_ctrl_c_python_discarded(
    tmp_path: Path,
) -> None:
    """Between two trials the search's own process runs no backtest (its runs may be in
    workers): the search looks for a Ctrl-C there itself."""
    ran: list[BacktestSpec] = []

    def run(spec: BacktestSpec) -> dict[str, Any]:
        ran.append(spec)
        if len(ran) == 2:
            CtrlCInAFinalizer()  # collected at once: the Ctrl-C lands in its finalizer
        return {"totals": {"net": "1", "fills": 1}, "statistics": None}

    strategy = Strategy("x-only", XParams, lambda *_: [])
    base = BacktestSpec(data=str(tmp_path), strategy="x-only", params=(("x", "1"),))
    axes = [Axis.between("x", Decimal(1), Decimal(9), Decimal(1))]
    said: list[str] = []
    with interruptible(), pytest.raises(KeyboardInterrupt):
        search(
            base, strategy, axes, sampler="grid", trials=9, rank_by="net", storage_dir=tmp_path,
            jobs=1, run=run, progress=said.append,
        )  # fmt: skip
    assert len(ran) == 2
    assert said[-1].startswith("stopped: the study") and "keeps the 2 trials" in said[-1]


def test_a_sweep_on_workers_stops_at_a_ctrl_c_python_discarded(data: Path) -> None:
    """The sweep's own process only waits for its workers' answers: it looks for a Ctrl-C itself
    as each comes in, here one discarded while it told the first."""
    specs = grid(BacktestSpec(data=str(data), strategy=UNRULY), {"fair": ["0.5", "0.6", "0.7"]})
    told: list[int] = []

    def progress(done: int, _total: int) -> None:
        told.append(done)
        if done == 1:
            CtrlCInAFinalizer()

    with closing(LocalPool(jobs=2)) as pool, interruptible(), pytest.raises(KeyboardInterrupt):
        pool.map(specs, progress)
    assert told == [1]
