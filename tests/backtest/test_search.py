"""`kalshi backtest --search tpe|random|grid` on Optuna: the ranges searched, the figures of
each trial, the best params written, a study that resumes after a kill, and a deflated Sharpe
that counts every trial the study ran."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.backtest import BacktestSpec, run_backtest
from kalshi_cli.backtest.search import Axis, parse_range, search, space
from kalshi_cli.backtest.stats import deflated_sharpe
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.strategies import get_strategy
from kalshi_cli.strategy_api import params_dict
from kalshi_cli.vocabulary.errors import UsageError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.backtest.in_process import kalshi
from tests.waiting import wait_until

LAL = "KXNBAGAME-SIM-LALGSW-LAL"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("search"), seconds=200, tickers=[LAL])


def script() -> str:
    found = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    assert found is not None
    return found


def environ(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")}
    env.update(KALSHI_HOME=str(home), XDG_CACHE_HOME=str(home / "cache"), HOME=str(home))
    return env


def defaults() -> dict[str, str]:
    return {k: str(v) for k, v in params_dict(get_strategy("spike").params()).items()}


def pure(data: Path, **changed: str) -> dict[str, Any]:
    params = tuple(sorted((defaults() | changed).items()))
    totals: dict[str, Any] = run_backtest(
        BacktestSpec(data=str(data), strategy="spike", params=params)
    )["totals"]
    return totals


def test_a_grid_search_runs_every_point_of_its_range_and_writes_the_best(
    data: Path, tmp_path: Path
) -> None:
    best = tmp_path / "best.yaml"
    args = [
        "backtest", "--strategy", "spike", "--data", str(data), "--search", "grid",
        "--param", "take_profit=0.02..0.08:0.02", "--jobs", "1", "--best-params", str(best),
        "--json",
    ]  # fmt: skip
    done = kalshi(args, tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    runs = doc["runs"]
    values = ["0.02", "0.04", "0.06", "0.08"]
    assert sorted(r["params"]["take_profit"] for r in runs) == values
    for r in runs:  # each trial's figures are the pure run's
        assert r["totals"] == pure(data, take_profit=r["params"]["take_profit"])
    nets = [Decimal(r["totals"]["net"]) for r in runs]
    assert nets == sorted(nets, reverse=True)
    search_doc = doc["search"]
    assert search_doc["sampler"] == "grid"
    assert search_doc["trials"]["ran"] == 4 and search_doc["trials"]["ran_now"] == 4
    assert search_doc["space"] == {
        "take_profit": {"low": "0.02", "high": "0.08", "step": "0.02", "values": 4}
    }
    # the study is stored in SQLite beside the runs
    assert Path(search_doc["storage"]) == tmp_path / "backtests" / "studies.sqlite"
    assert Path(search_doc["storage"]).stat().st_size > 0
    # the params file reads back through --params: the same run as the best trial
    again = kalshi(
        ["backtest", "--strategy", "spike", "--data", str(data), "--params", str(best), "--json"],
        tmp_path,
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["totals"] == runs[0]["totals"]
    # the progress went to stderr, one line a trial
    assert sum(line.startswith("trial ") for line in done.stderr.splitlines()) == 4
    # the same command again: the study holds every point, nothing runs
    second = json.loads(kalshi(args, tmp_path).stdout)
    assert second["search"]["trials"] == {**search_doc["trials"], "ran_before": 4, "ran_now": 0}
    assert [r["totals"] for r in second["runs"]] == [r["totals"] for r in runs]


def test_a_search_with_a_holdout_chooses_on_training(data: Path, tmp_path: Path) -> None:
    done = kalshi(
        ["backtest", "--strategy", "spike", "--data", str(data), "--search", "grid",
         "--param", "take_profit=0.02..0.06:0.02", "--holdout", "0.5", "--jobs", "1", "--json"],
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["search"]["trials"]["ran"] == 3
    train_best = max(doc["runs"], key=lambda r: Decimal(r["train"]["totals"]["net"]))
    assert train_best["chosen"] and doc["chosen"] == train_best["params"]


def test_a_walk_forward_search_keeps_a_study_per_window(data: Path, tmp_path: Path) -> None:
    args = [
        "backtest", "--strategy", "spike", "--data", str(data), "--search", "grid",
        "--param", "take_profit=0.04..0.06:0.02", "--walk-forward", "2", "--holdout", "0.3",
        "--study", "wf", "--jobs", "1", "--json",
    ]  # fmt: skip
    done = kalshi(args, tmp_path)
    assert done.returncode == 0, done.stderr
    windows = json.loads(done.stdout)["windows"]
    assert [w["search"]["study"] for w in windows] == ["wf-w1of2", "wf-w2of2"]
    for w in windows:
        assert w["search"]["trials"]["ran"] == 2 and w["tried"] == 2
    # again: each window's study holds its points, nothing runs, the same choices
    again = json.loads(kalshi(args, tmp_path).stdout)["windows"]
    assert [w["search"]["trials"]["ran_now"] for w in again] == [0, 0]
    assert [w["params"] for w in again] == [w["params"] for w in windows]
    assert [w["test"]["totals"] for w in again] == [w["test"]["totals"] for w in windows]


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT])
def test_a_search_stopped_half_way_continues_with_the_trials_done(
    data: Path, tmp_path: Path, stop: signal.Signals
) -> None:
    args = [
        "backtest", "--strategy", "spike", "--data", str(data), "--search", "random",
        "--param", "take_profit=0.01..0.10:0.01", "--param", "order_count=5..20:5",
        "--jobs", "1", "--no-cache", "--study", "resumable",
    ]  # fmt: skip
    # started as a script's background job is (`kalshi ... &` without job control): with SIGINT
    # ignored, which must not keep Ctrl-C from stopping it
    background_job = ["sh", "-c", 'trap "" INT; exec "$0" "$@"']
    # far more trials than can run before the stop: on a fast host 60 were all done between the
    # third line read and the signal, and the run ended 0
    # a process that does not exit is made to show where it is (faulthandler, at SIGABRT)
    env = environ(tmp_path) | {"PYTHONFAULTHANDLER": "1"}
    proc = subprocess.Popen(
        [*background_job, script(), *args, "--trials", "2000"], stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    assert proc.stderr is not None
    stderr = proc.stderr
    seen: list[str] = []
    with selectors.DefaultSelector() as sel:
        sel.register(stderr, selectors.EVENT_READ)

        def three_trials() -> bool:
            assert sel.select(timeout=1) or proc.poll() is None
            line = stderr.readline()
            assert line or proc.poll() is None, "".join(seen)
            seen.append(line)
            return sum(x.startswith("trial ") for x in seen) >= 3

        wait_until(three_trials, "three trials to finish")
    proc.send_signal(stop)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # its threads' stacks to stderr, and its end
        proc.wait()
        pytest.fail(f"no exit within 30 s of {stop.name}:\n{''.join(seen)}{stderr.read()}")
    assert proc.returncode != 0  # stopped, not finished
    if stop == signal.SIGINT:  # Ctrl-C says how to go on
        assert proc.returncode == ExitCode.INTERRUPTED
        told = proc.stderr.read()
        assert "stopped: the study resumable keeps the" in told
        assert "the same command continues it" in told
    proc.stderr.close()
    done_before = [x for x in seen if x.startswith("trial ")]
    # started again, asking the study to hold two more trials than it reported before the stop
    # (it may have finished one more between the last line read and the signal)
    import optuna

    study = optuna.load_study(
        study_name="resumable", storage=f"sqlite:///{tmp_path / 'backtests' / 'studies.sqlite'}"
    )
    ran = [t for t in study.get_trials() if "totals" in t.user_attrs]
    assert len(ran) >= len(done_before)
    again = kalshi([*args, "--trials", str(len(ran) + 2), "--json"], tmp_path)
    assert again.returncode == 0, again.stderr
    trials = json.loads(again.stdout)["search"]["trials"]
    assert trials["ran_before"] == len(ran)
    assert trials["ran_now"] == 2
    assert trials["ran"] == len(ran) + 2
    runs = json.loads(again.stdout)["runs"]
    assert len(runs) == len(ran) + 2
    # the trials of the stopped process are in the ranking, as they ran
    earlier = {json.dumps(t.user_attrs["totals"], sort_keys=True) for t in ran}
    assert earlier <= {json.dumps(r["totals"], sort_keys=True) for r in runs}


def test_a_set_the_strategy_refuses_is_a_failed_trial_with_its_reason(
    data: Path, tmp_path: Path
) -> None:
    # spike's max_hold_s (300 by default) must be at least window_s: 400 is refused
    done = kalshi(
        ["backtest", "--strategy", "spike", "--data", str(data), "--search", "grid",
         "--param", "window_s=200..400:100", "--jobs", "1", "--json"],
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert sorted(r["params"]["window_s"] for r in doc["runs"]) == ["200", "300"]
    assert doc["search"]["trials"]["refused"] == 1
    (refused,) = doc["search"]["refused"]
    assert refused["params"] == {"window_s": "400"}
    assert "max_hold_s must be at least window_s" in refused["reason"]


def test_a_study_named_again_for_other_ranges_or_data_is_refused(
    data: Path, tmp_path: Path
) -> None:
    base = ["backtest", "--strategy", "spike", "--data", str(data), "--search", "grid",
            "--jobs", "1", "--study", "mine"]  # fmt: skip
    assert kalshi([*base, "--param", "take_profit=0.02..0.04:0.02"], tmp_path).returncode == 0
    done = kalshi([*base, "--param", "take_profit=0.02..0.06:0.02"], tmp_path)
    assert done.returncode == ExitCode.USAGE
    assert "the study mine was another search; what differs: axes" in done.stderr
    # nor on other data: the trials of two data sets are not one study
    other = record_scenario("default", tmp_path / "other", seconds=20, tickers=[LAL])
    moved = [*base[:4], str(other), *base[5:], "--param", "take_profit=0.02..0.04:0.02"]
    done = kalshi(moved, tmp_path)
    assert done.returncode == ExitCode.USAGE
    assert "what differs: spec" in done.stderr
    listed = kalshi([*base[:5], "--param", "take_profit=0.02,0.04", "--search", "tpe"], tmp_path)
    assert listed.returncode == ExitCode.USAGE and "tries ranges, not lists" in listed.stderr


def test_a_new_strategys_declared_ranges_are_searched(data: Path, tmp_path: Path) -> None:
    made = kalshi(["strategy", "new", "my-edge", "--dir", str(tmp_path / "s")], tmp_path)
    assert made.returncode == 0, made.stderr
    done = kalshi(
        ["backtest", "--strategy", str(tmp_path / "s" / "my_edge.py"), "--data", str(data),
         "--search", "random", "--trials", "3", "--jobs", "1", "--json"],
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["search"]["space"] == {
        "edge": {"low": "0.01", "high": "0.06", "step": "0.01", "values": 6},
        "take_profit": {"low": "0.02", "high": "0.10", "step": "0.02", "values": 5},
    }
    assert doc["search"]["trials"]["ran"] == 3
    for r in doc["runs"]:
        assert r["params"]["edge"] in [f"0.0{n}" for n in range(1, 7)]
        assert r["params"]["take_profit"] in ["0.02", "0.04", "0.06", "0.08", "0.10"]


def test_strategy_list_shows_the_ranges_a_search_tries(tmp_path: Path) -> None:
    done = kalshi(["strategy", "list", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    spike = next(s for s in json.loads(done.stdout)["strategies"] if s["name"] == "spike")
    listed = {p["name"]: p["search"] for p in spike["params"] if p["search"] is not None}
    searched = {a.name: a.to_json() for a in space(get_strategy("spike"), {}, [])}
    assert listed == {
        name: {k: axis[k] for k in ("low", "high", "step")} for name, axis in searched.items()
    }
    assert listed["take_profit"] == {"low": "0.01", "high": "0.10", "step": "0.01"}


def test_the_space_is_the_given_ranges_else_the_declared_ones() -> None:
    spike = get_strategy("spike")
    declared = space(spike, {}, [])
    assert [a.name for a in declared] == ["window_s", "spike_share", "reversion", "take_profit"]
    assert declared[3].values() == [f"0.{n:02}" for n in range(1, 11)]
    assert [a.name for a in space(spike, {}, ["window_s", "reversion"])] == [
        "spike_share", "take_profit",
    ]  # fmt: skip
    given = space(spike, {"order_count": "5..20:5"}, [])
    assert [(a.name, a.values()) for a in given] == [("order_count", ["5", "10", "15", "20"])]
    # the step is one unit of the last place written
    assert parse_range("x", "0.02..0.05").values() == ["0.02", "0.03", "0.04", "0.05"]
    assert parse_range("x", "1..3").values() == ["1", "2", "3"]
    for bad in ("0.02..0.05:0.02", "5..1", "a..b", "1..2:0"):
        with pytest.raises(UsageError):
            parse_range("x", bad)
    with pytest.raises(UsageError):
        space(spike, {"nope": "1..2"}, [])


def test_the_deflated_sharpe_counts_every_trial_of_a_resumed_study(tmp_path: Path) -> None:
    """A fake run gives each set a Sharpe of its own (so the deflation has something to
    deflate); after a resume, every trial of both processes is counted."""
    sharpe = {"1": 0.30, "2": 0.10, "3": 0.25, "4": 0.05, "5": 0.20}

    def run(spec: BacktestSpec) -> dict[str, Any]:
        sr = sharpe[str(dict(spec.params)["x"])]
        return {
            "totals": {"net": str(Decimal(str(sr)) * 10), "fills": 1, "sharpe": sr},
            "statistics": {
                "sharpe": {"value": sr, "reason": None},
                "returns": {"count": 30, "skew": 0.0, "kurtosis": 3.0},
            },
        }

    from kalshi_cli.strategy_api import Params, Strategy

    class XParams(Params, frozen=True):
        x: int = 1

    strategy = Strategy("x-only", XParams, lambda *_: [])
    base = BacktestSpec(data=str(tmp_path), strategy="x-only", params=(("x", "1"),))
    axes = [Axis.between("x", Decimal(1), Decimal(5), Decimal(1))]
    kw: dict[str, Any] = {
        "sampler": "grid", "rank_by": "sharpe", "storage_dir": tmp_path, "jobs": 1, "run": run,
    }  # fmt: skip
    first = search(base, strategy, axes, trials=3, **kw)
    assert (first.ran_before, first.ran_now) == (0, 3)
    second = search(base, strategy, axes, trials=5, **kw)
    assert (second.ran_before, second.ran_now) == (3, 2)
    from kalshi_cli.backtest.research import ranked_runs
    from kalshi_cli.backtest.sweep import rank

    runs = ranked_runs(rank(second.results, "sharpe"), "sharpe")
    assert [r["params"]["x"] for r in runs] == ["1", "3", "5", "2", "4"]
    variance = statistics.variance(sharpe.values())
    for r in runs:
        sr = sharpe[r["params"]["x"]]
        want = deflated_sharpe(sr, 30, 0.0, 3.0, trials=5, variance=variance)
        assert r["deflated_sharpe"]["value"] == pytest.approx(want)
    # and with fewer trials counted the figure would differ: the count matters
    fewer = deflated_sharpe(0.30, 30, 0.0, 3.0, trials=3, variance=variance)
    assert runs[0]["deflated_sharpe"]["value"] != pytest.approx(fewer)


def test_a_searched_value_is_written_as_a_plain_decimal_the_params_decoder_reads() -> None:
    """A value below a millionth is `1E-7` as Decimal's text, which a params file's number field
    refuses (no plain decimal): each value of an axis is written in plain digits."""
    from kalshi_cli.backtest.search import Axis
    from kalshi_cli.vocabulary.decode import PLAIN_DECIMAL

    axis = Axis.between("min_edge", Decimal("0.0000001"), Decimal("0.0000003"), Decimal("1E-7"))
    assert axis.values() == ["0.0000001", "0.0000002", "0.0000003"]
    assert all(PLAIN_DECIMAL.match(v) for v in axis.values())


def test_a_tiny_param_from_a_yaml_float_survives_the_specs_round_trip() -> None:
    """`min_edge: 0.0000001` in YAML is the float 1e-07, read as Decimal `1E-7`. A backtest's
    spec keeps params as text (`params_dict`) and decodes them again for its run: the text must
    be plain digits, which the params decoder reads, not `1E-7`, which it refuses."""
    strategy = get_strategy("spike")
    params = strategy.params({"min_edge": 0.0000001})
    text = params_dict(params)["min_edge"]
    assert text == "0.0000001"
    assert strategy.params({"min_edge": text}) == params
