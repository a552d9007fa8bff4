"""`kalshi backtest --holdout` and `--walk-forward`, as a user runs them: parameters chosen on
the training part only, reported on the part after it, figures checked against the pure runs
of each part."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.backtest import BacktestSpec, run_backtest
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.backtest.in_process import kalshi

LAL = "KXNBAGAME-SIM-LALGSW-LAL"
HOUR_NS = 3_600_000_000_000


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario(
        "default", tmp_path_factory.mktemp("holdout"), seconds=200, tickers=[LAL]
    )


def span(data: Path) -> tuple[int, int]:
    """[first record, just after the last), from the manifest, as a person would read it."""
    segments = json.loads((data / "manifest.json").read_text())["segments"].values()
    return min(s["first_ns"] for s in segments), max(s["last_ns"] for s in segments) + 1


def spec(data: Path, take_profit: str, start_ns: int, end_ns: int) -> BacktestSpec:
    defaults = {
        "max_hold_s": "300.0", "min_edge": "0.01", "order_count": "10", "reversion": "0.5",
        "spike_share": "0.10", "window_s": "60.0",
    }  # fmt: skip
    params = tuple(sorted((defaults | {"take_profit": take_profit}).items()))
    return BacktestSpec(
        data=str(data), strategy="spike", params=params, start_ns=start_ns, end_ns=end_ns
    )


def per_hour_gap(train: str, test: str, train_ns: int, test_ns: int) -> Decimal | None:
    x = Decimal(train) / (Decimal(train_ns) / HOUR_NS)
    y = Decimal(test) / (Decimal(test_ns) / HOUR_NS)
    if x <= 0:
        return None
    return ((x - y) / x).quantize(Decimal("0.0001"))


def test_a_holdout_chooses_on_the_training_part_and_ranks_by_the_holdout(
    data: Path, tmp_path: Path
) -> None:
    values = ["0.02", "0.04", "0.06"]
    best = tmp_path / "best.yaml"
    done = kalshi(
        ["backtest", "--strategy", "spike", "--data", str(data), "--jobs", "1",
         "--param", f"take_profit={','.join(values)}", "--holdout", "0.5",
         "--best-params", str(best), "--json"],
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    # the cut by hand: the last half of [first, last + 1), the holdout rounded down
    first, end = span(data)
    cut = end - (end - first) // 2
    assert doc["holdout"]["train"] == {"from": first / 1e9, "to": cut / 1e9}
    assert doc["holdout"]["holdout"] == {"from": cut / 1e9, "to": end / 1e9}
    # every figure is the pure run of that part
    train = {v: run_backtest(spec(data, v, first, cut))["totals"] for v in values}
    test = {v: run_backtest(spec(data, v, cut, end))["totals"] for v in values}
    runs = doc["runs"]
    assert sorted(r["params"]["take_profit"] for r in runs) == values
    for r in runs:
        v = r["params"]["take_profit"]
        assert r["train"]["totals"] == train[v]
        assert r["totals"] == test[v]
        want = per_hour_gap(train[v]["net"], test[v]["net"], cut - first, end - cut)
        assert r["gap"] == (None if want is None else str(want))
        assert r["overfit"] == (want is not None and want > Decimal("0.5"))
    # ranked by the holdout's net
    nets = [Decimal(r["totals"]["net"]) for r in runs]
    assert nets == sorted(nets, reverse=True)
    # chosen: the best of the training part, never of the holdout
    chosen_value = max(values, key=lambda v: Decimal(train[v]["net"]))
    assert [r["params"]["take_profit"] for r in runs if r["chosen"]] == [chosen_value]
    assert doc["chosen"]["take_profit"] == chosen_value
    assert "take_profit: '" + chosen_value + "'" in best.read_text()
    # on this recording the training's best loses on the holdout: flagged
    chosen = next(r for r in runs if r["chosen"])
    assert Decimal(chosen["train"]["totals"]["net"]) > 0 > Decimal(chosen["totals"]["net"])
    assert chosen["overfit"] is True
    # the text says it too
    text = kalshi(
        ["backtest", "--strategy", "spike", "--data", str(data), "--jobs", "1",
         "--param", f"take_profit={','.join(values)}", "--holdout", "0.5"],
        tmp_path,
    )  # fmt: skip
    assert text.returncode == 0, text.stderr
    line = next(x for x in text.stdout.splitlines() if "(chosen on training)" in x)
    assert "OVERFIT" in line and f"take_profit={chosen_value}" in line


def test_nothing_of_the_holdout_reaches_the_choice(data: Path, tmp_path: Path) -> None:
    """The choice and its training figures are those of a sweep that stops at the cut (`--to`
    reads no record at or after it): the holdout's records cannot have changed them."""
    first, end = span(data)
    cut = end - (end - first) // 2
    axis = ["--param", "take_profit=0.02,0.04,0.06", "--jobs", "1", "--json"]
    held = kalshi(
        ["backtest", "--strategy", "spike", "--data", str(data), "--holdout", "0.5", *axis],
        tmp_path,
    )
    assert held.returncode == 0, held.stderr
    cut_s = str(Decimal(cut) / 1_000_000_000)
    alone = kalshi(
        ["backtest", "--strategy", "spike", "--data", str(data), "--to", cut_s, *axis], tmp_path
    )
    assert alone.returncode == 0, alone.stderr
    held_doc, alone_runs = json.loads(held.stdout), json.loads(alone.stdout)["runs"]
    assert held_doc["chosen"] == alone_runs[0]["params"]
    by_value = {r["params"]["take_profit"]: r["totals"] for r in alone_runs}
    for r in held_doc["runs"]:
        assert r["train"]["totals"] == by_value[r["params"]["take_profit"]]


def test_walk_forward_chooses_in_each_window_and_tests_on_the_part_after_it(
    data: Path, tmp_path: Path
) -> None:
    values = ["0.04", "0.06"]
    done = kalshi(
        ["backtest", "--strategy", "spike", "--data", str(data), "--jobs", "1",
         "--param", f"take_profit={','.join(values)}", "--walk-forward", "2",
         "--holdout", "0.3", "--json"],
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["format"] == "kalshi-backtest-walk-forward/1"
    first, end = span(data)
    # by hand: T = 0.3 / (1 + 0.3) of the span (rounded down); the tests [end - 2T, end - T)
    # and [end - T, end); each training part the window's first 0.7 before its test
    test_ns = int(Decimal(end - first) * Decimal("0.3") / Decimal("1.3"))
    parts = [
        ((first, end - 2 * test_ns), (end - 2 * test_ns, end - test_ns)),
        ((first + test_ns, end - test_ns), (end - test_ns, end)),
    ]
    total_net = Decimal(0)
    for window, ((a, b), (c, d)) in zip(doc["windows"], parts, strict=True):
        assert window["train_part"] == {"from": a / 1e9, "to": b / 1e9}
        assert window["test_part"] == {"from": c / 1e9, "to": d / 1e9}
        train = {v: run_backtest(spec(data, v, a, b))["totals"] for v in values}
        chosen = max(values, key=lambda v: Decimal(train[v]["net"]))
        assert window["params"]["take_profit"] == chosen
        assert window["tried"] == 2
        assert window["train"]["totals"] == train[chosen]
        tested = run_backtest(spec(data, chosen, c, d))["totals"]
        assert window["test"]["totals"] == tested
        total_net += Decimal(tested["net"])
    assert Decimal(doc["out_of_sample"]["net"]) == total_net
    assert doc["chosen"] == doc["windows"][-1]["params"]
    # stored, and listed with the test parts' net
    listed = kalshi(["backtest", "runs", "list", "--json"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    (stored,) = [r for r in json.loads(listed.stdout)["runs"] if r["id"] == doc["run_id"]]
    assert (stored["kind"], stored["runs"]) == ("walk-forward", 2)
    assert Decimal(stored["net"]) == total_net
    shown = kalshi(["backtest", "runs", "show", doc["run_id"]], tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert f"out of sample: net {doc['out_of_sample']['net']} over 2 test parts" in shown.stdout


def test_bad_split_flags_exit_2(data: Path, tmp_path: Path) -> None:
    base = ["backtest", "--strategy", "spike", "--data", str(data)]
    for extra in (["--holdout", "1.2"], ["--holdout", "x"], ["--walk-forward", "0"]):
        done = kalshi([*base, *extra], tmp_path)
        assert done.returncode == ExitCode.USAGE, (extra, done.stderr)
    done = kalshi([*base, "--param", "take_profit=0.02..0.08"], tmp_path)
    assert done.returncode == ExitCode.USAGE
    assert "a range takes --search" in done.stderr


def test_the_spec_helper_matches_the_commands_defaults(data: Path) -> None:
    # the pure runs above use spike's defaults as the command fills them in
    from kalshi_cli.strategies import get_strategy
    from kalshi_cli.strategy_api import params_dict

    made = spec(data, "0.03", 0, 1)
    defaults = {k: str(v) for k, v in params_dict(get_strategy("spike").params()).items()}
    assert dict(made.params) == defaults | {"take_profit": "0.03"}
