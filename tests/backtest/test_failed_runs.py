"""A run whose strategy failed is a failed run: never a quiet net of zero. Through the CLI, as a
user runs it: the exit code, the error and its count in the report, `failed` in the sweep's
table and in the run store, never ranked, never cached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kalshi_cli.backtest import history
from kalshi_cli.backtest.research import sweep_lines
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.backtest.in_process import kalshi

LAL = "KXNBAGAME-SIM-LALGSW-LAL"
UNRULY = str(Path(__file__).with_name("unruly_strategy.py"))
BROKEN = "no row for fair 0.65 in the model's table"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("failed"), seconds=200, tickers=[LAL])


def test_a_set_whose_strategy_raises_fails_and_the_other_three_rank(
    data: Path, tmp_path: Path
) -> None:
    args = [
        "backtest", "--strategy", UNRULY, "--data", str(data),
        "--param", "fair=0.55,0.6,0.65,0.7", "--param", "broken_fair=0.65", "--jobs", "2",
    ]  # fmt: skip
    done = kalshi([*args, "--json"], tmp_path)
    assert done.returncode == ExitCode.STRATEGY_FAILED, done.stderr
    assert "1 of 4 runs failed" in done.stderr and "fair=0.65" in done.stderr
    assert BROKEN in done.stderr
    runs = json.loads(done.stdout)["runs"]
    ranked = [r for r in runs if r["failed"] is None]
    assert sorted(r["params"]["fair"] for r in ranked) == ["0.55", "0.6", "0.7"]
    nets = [float(r["totals"]["net"]) for r in ranked]
    assert nets == sorted(nets, reverse=True) and len(set(nets)) == 3
    assert all(r["value"] is not None for r in ranked)
    # the failed set is last, has no figure to rank by, and says why and how often
    failed = runs[-1]
    assert failed["params"]["fair"] == "0.65" and failed["value"] is None
    assert failed["failed"]["decisions"] > 0
    assert any(BROKEN in e["error"] for e in failed["failed"]["errors"])
    # the text table says it too
    text = kalshi(args, tmp_path)
    assert text.returncode == ExitCode.STRATEGY_FAILED
    lines = text.stdout.splitlines()
    row = next(line for line in lines if " fair=0.65 " in line)
    assert "FAILED" in row and lines.index(row) > max(
        lines.index(next(line for line in lines if f" fair={f} " in line))
        for f in ("0.55", "0.6", "0.7")
    )
    # the three good sets were cached by the first command; the failed one never is
    third = json.loads(kalshi([*args, "--json"], tmp_path).stdout)["runs"]
    cached = {r["params"]["fair"]: r["cached"] for r in third}
    assert cached == {"0.55": True, "0.6": True, "0.7": True, "0.65": False}
    # the store keeps the sweep with its failed set
    listed = kalshi(["backtest", "runs", "list", "--json"], tmp_path)
    sweeps = [r for r in json.loads(listed.stdout)["runs"] if r["kind"] == "sweep"]
    assert sweeps and all(r["failed"] == 1 for r in sweeps)


def test_a_single_run_whose_strategy_raises_exits_non_zero_with_the_error_and_its_count(
    data: Path, tmp_path: Path
) -> None:
    args = ["backtest", "--strategy", UNRULY, "--data", str(data)]
    args += ["--param", "fair=0.65", "--param", "broken_fair=0.65"]
    done = kalshi([*args, "--json"], tmp_path)
    assert done.returncode == ExitCode.STRATEGY_FAILED, done.stderr
    report = json.loads(done.stdout)
    failed = report["failed"]
    assert failed["decisions"] > 0
    (error,) = failed["errors"]
    assert error["strategy"] == "unruly" and error["kind"] == "KeyError"
    assert BROKEN in error["error"] and error["count"] == failed["decisions"]
    assert f"failed in {failed['decisions']} decisions" in done.stderr
    text = kalshi(args, tmp_path)
    assert text.returncode == ExitCode.STRATEGY_FAILED
    assert "FAILED" in text.stdout and BROKEN in text.stdout
    assert "no trades" not in text.stdout
    stored = json.loads(kalshi(["backtest", "runs", "list", "--json"], tmp_path).stdout)["runs"]
    # listed as compared: a failed run's totals are not the strategy's figures
    assert [(r["failed"], r["net"], r["fills"]) for r in stored] == [(1, None, None)] * 2
    assert all(r["failure"].startswith("the strategy failed in") for r in stored), stored


GARBAGE = """
from decimal import Decimal

from kalshi_cli.strategy_api import Params, Strategy


class GarbageParams(Params, frozen=True):
    fair: Decimal = Decimal("0.5")


def decide(snapshot, position, params):
    return "buy everything"


STRATEGY = Strategy("garbage", GarbageParams, decide)
"""


def test_a_garbage_return_names_the_strategy_file_and_the_line_of_its_decide(
    data: Path, tmp_path: Path
) -> None:
    from kalshi_cli.backtest import BacktestSpec, run_backtest

    path = tmp_path / "garbage.py"
    path.write_text(GARBAGE)
    line = GARBAGE.splitlines().index("def decide(snapshot, position, params):") + 1
    report = run_backtest(BacktestSpec(data=str(data), strategy=str(path)))
    (error,) = report["failed"]["errors"]
    assert error["error"].startswith(f"{path}:{line}: decide returned str"), error


BROKEN_QUIET_CHECK = """
from kalshi_cli.strategy_api import Params, Strategy


class QuietParams(Params, frozen=True):
    pass


def decide(snapshot, position, params):
    return []


def clock_free(position):
    raise ValueError("clock_free cannot read this position")


STRATEGY = Strategy("quiet-check", QuietParams, decide, clock_free=clock_free)
"""


def test_a_strategy_whose_clock_free_raises_is_a_failed_run(data: Path, tmp_path: Path) -> None:
    """`clock_free` is the strategy's code too (docs/strategies.md), asked on a market where it
    last decided nothing: its raising fails that decision as `decide` raising does, and the
    run is a failed run, not a crash of the loop with no report."""
    from kalshi_cli.backtest import BacktestSpec, run_backtest

    path = tmp_path / "quiet_check.py"
    path.write_text(BROKEN_QUIET_CHECK)
    report = run_backtest(BacktestSpec(data=str(data), strategy=str(path)))
    failed = report["failed"]
    assert failed is not None and failed["decisions"] > 0
    (error,) = failed["errors"]
    assert (error["strategy"], error["kind"]) == ("quiet-check", "ValueError")
    assert error["error"] == "clock_free cannot read this position"


def test_a_search_trial_whose_strategy_raises_fails_the_search_and_ranks_last(
    data: Path, tmp_path: Path
) -> None:
    """A search keeps each trial's figures in its study and ranks from there: the failure must
    travel with them, or the failed trial is ranked by its figures (a net of zero) and the
    command exits 0."""
    args = [
        "backtest", "--strategy", UNRULY, "--data", str(data), "--search", "grid",
        "--param", "fair=0.55..0.70:0.05", "--param", "broken_fair=0.65", "--jobs", "1",
    ]  # fmt: skip
    done = kalshi([*args, "--json"], tmp_path)
    assert done.returncode == ExitCode.STRATEGY_FAILED, done.stderr
    assert "1 of 4 runs failed" in done.stderr and BROKEN in done.stderr
    doc = json.loads(done.stdout)
    runs = doc["runs"]
    assert [r["params"]["fair"] for r in runs][-1] == "0.65"
    failed = runs[-1]
    assert failed["value"] is None and failed["failed"]["decisions"] > 0
    assert any(BROKEN in e["error"] for e in failed["failed"]["errors"])
    assert failed["deflated_sharpe"] == {"value": None, "reason": "the run failed"}
    assert all(r["failed"] is None and r["value"] is not None for r in runs[:-1])
    # the same command again continues the study: the failed trial is still failed
    again = kalshi([*args, "--json"], tmp_path)
    assert again.returncode == ExitCode.STRATEGY_FAILED, again.stderr
    assert json.loads(again.stdout)["runs"][-1]["failed"] == failed["failed"]
    listed = kalshi(["backtest", "runs", "list", "--json"], tmp_path)
    assert [r["failed"] for r in json.loads(listed.stdout)["runs"]] == [1, 1]


def test_a_stored_sweep_shows_its_failed_set_as_failed(data: Path, tmp_path: Path) -> None:
    args = [
        "backtest", "--strategy", UNRULY, "--data", str(data),
        "--param", "fair=0.6,0.65", "--param", "broken_fair=0.65", "--jobs", "1",
    ]  # fmt: skip
    assert kalshi(args, tmp_path).returncode == ExitCode.STRATEGY_FAILED
    shown = kalshi(["backtest", "runs", "show", "last"], tmp_path)
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if " fair=0.65 " in line)
    assert "FAILED" in row and BROKEN in row
    assert "net" not in row  # a failed set's figures are not the strategy's


def test_a_holdout_counts_a_failed_set_once_and_marks_it_failed(data: Path, tmp_path: Path) -> None:
    """A set fails on its training part and on its holdout: one set of two failed, not two."""
    args = [
        "backtest", "--strategy", UNRULY, "--data", str(data), "--holdout", "0.5",
        "--param", "fair=0.6,0.65", "--param", "broken_fair=0.65", "--jobs", "1",
    ]  # fmt: skip
    done = kalshi(args, tmp_path)
    assert done.returncode == ExitCode.STRATEGY_FAILED, done.stderr
    assert "1 of 2 runs failed" in done.stderr and BROKEN in done.stderr
    row = next(line for line in done.stdout.splitlines() if " fair=0.65 " in line)
    assert "FAILED" in row and BROKEN in row and "chosen" not in row


def test_a_walk_forward_whose_training_tried_a_failed_set_fails_naming_it(
    data: Path, tmp_path: Path
) -> None:
    """Each window chooses among the sets tried on its training part: one of them failing must
    fail the command, though the window chose another."""
    args = [
        "backtest", "--strategy", UNRULY, "--data", str(data), "--walk-forward", "2",
        "--param", "fair=0.6,0.65", "--param", "broken_fair=0.65", "--jobs", "1",
    ]  # fmt: skip
    done = kalshi([*args, "--json"], tmp_path)
    assert done.returncode == ExitCode.STRATEGY_FAILED, done.stderr
    assert "2 of 6 runs failed" in done.stderr, done.stderr
    assert "fair=0.65" in done.stderr and BROKEN in done.stderr
    doc = json.loads(done.stdout)
    for window in doc["windows"]:
        assert window["params"]["fair"] == "0.6"  # never chosen
        (tried,) = window["failed"]
        assert tried["params"]["fair"] == "0.65"
        assert any(BROKEN in e["error"] for e in tried["failed"]["errors"])
    text = kalshi(args, tmp_path)
    assert text.returncode == ExitCode.STRATEGY_FAILED
    failed_lines = [line for line in text.stdout.splitlines() if "FAILED" in line]
    assert len(failed_lines) == 2 and all(" fair=0.65 " in line for line in failed_lines)
    listed = kalshi(["backtest", "runs", "list", "--json"], tmp_path)
    assert [r["failed"] for r in json.loads(listed.stdout)["runs"]] == [2, 2]


def test_a_walk_forward_window_whose_every_set_failed_chooses_none(
    data: Path, tmp_path: Path
) -> None:
    """Every set of each window's training part fails: no window has a choice, nothing runs on
    a test part, the out-of-sample has no figure, and --best-params writes nothing; the failed
    sets are named, but never as the one chosen."""
    best = tmp_path / "best.yaml"
    args = [
        "backtest", "--strategy", UNRULY, "--data", str(data), "--walk-forward", "2",
        "--param", "fair=0.65", "--param", "broken_fair=0.65", "--param", "edge=0.02,0.03",
        "--jobs", "1", "--best-params", str(best),
    ]  # fmt: skip
    done = kalshi([*args, "--json"], tmp_path)
    assert done.returncode == ExitCode.STRATEGY_FAILED, done.stderr
    assert "4 of 4 runs failed" in done.stderr, done.stderr  # two sets on two training parts
    doc = json.loads(done.stdout)
    assert doc["chosen"] is None
    for window in doc["windows"]:
        assert window["params"] is None and window["test"] is None and window["train"] is None
        assert window["none_chosen"] == "every set failed on its training part"
        assert sorted(t["params"]["edge"] for t in window["failed"]) == ["0.02", "0.03"]
    oos = doc["out_of_sample"]
    assert oos["net"] is None and oos["fees"] is None and oos["fills"] is None
    assert oos["failed_windows"] == [1, 2]
    assert not best.exists()
    text = kalshi(args, tmp_path)
    assert text.returncode == ExitCode.STRATEGY_FAILED
    lines = text.stdout.splitlines()
    heads = [line for line in lines if line.startswith("window ")]
    assert len(heads) == 2
    assert all("FAILED" in h and "none chosen: every set failed" in h for h in heads), heads
    assert all("fair=" not in h for h in heads)  # no set named as the window's
    oos_line = next(line for line in lines if line.startswith("out of sample"))
    assert "FAILED" in oos_line and "net" not in oos_line, oos_line
    shown = kalshi(["backtest", "runs", "show", "last"], tmp_path)
    assert shown.returncode == 0, shown.stderr
    stored = [line for line in shown.stdout.splitlines() if line.startswith("window ")]
    assert len(stored) == 2 and all("none chosen" in s and "fair=" not in s for s in stored)
    listed = json.loads(kalshi(["backtest", "runs", "list", "--json"], tmp_path).stdout)
    assert [(r["net"], r["best_params"]) for r in listed["runs"]] == [(None, None)] * 2
    failure = "window 1, 2 chose no set, or its set failed"
    assert [r["failure"] for r in listed["runs"]] == [failure] * 2


def test_a_holdout_never_chooses_a_set_that_failed_on_its_holdout(
    data: Path, tmp_path: Path
) -> None:
    """The set trains cleanly and fails on the holdout (a bug only later data meets): it was
    the training part's best, but a failed set is never the one chosen, and --best-params does
    not write it for a trader to run."""
    best = tmp_path / "best.yaml"
    late = 1_767_225_600 + 150  # the recording's start, and well into its holdout
    args = [
        "backtest", "--strategy", UNRULY, "--data", str(data), "--holdout", "0.5",
        "--param", "fair=0.6", "--param", f"broken_from={late}", "--jobs", "1",
        "--best-params", str(best),
    ]  # fmt: skip
    done = kalshi([*args, "--json"], tmp_path)
    assert done.returncode == ExitCode.STRATEGY_FAILED, done.stderr
    doc = json.loads(done.stdout)
    (run,) = doc["runs"]
    assert run["train"]["failed"] is None and run["failed"] is not None
    assert run["chosen"] is False and doc["chosen"] is None
    assert not best.exists()
    text = kalshi(args, tmp_path)
    row = next(line for line in text.stdout.splitlines() if " fair=0.6 " in line)
    assert "FAILED" in row and "(on its holdout)" in row and "chosen" not in row


def test_comparing_a_failed_run_marks_it_failed_and_computes_no_difference(
    data: Path, tmp_path: Path
) -> None:
    """A failed run's totals are not the strategy's: compared with a good run they are neither
    shown as figures nor subtracted, and both outputs say which run failed and why. Reading
    stored runs succeeds (exit 0), as `runs show` of a failed run does."""
    base = ["backtest", "--strategy", UNRULY, "--data", str(data), "--param", "broken_fair=0.65"]
    assert kalshi([*base, "--param", "fair=0.6"], tmp_path).returncode == 0
    bad_run = kalshi([*base, "--param", "fair=0.65"], tmp_path)
    assert bad_run.returncode == ExitCode.STRATEGY_FAILED, bad_run.stderr
    listed = json.loads(kalshi(["backtest", "runs", "list", "--json"], tmp_path).stdout)["runs"]
    good, bad = (r["id"] for r in listed)
    done = kalshi(["backtest", "runs", "compare", good, bad, "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    diff = json.loads(done.stdout)
    rows = {r["figure"]: r for r in diff["figures"]}
    assert rows["totals.net"]["a"] is not None  # the good run's figures are still there
    assert all(r["b"] is None and r["difference"] is None for r in diff["figures"]), [
        r for r in diff["figures"] if r["b"] is not None or r["difference"] is not None
    ]
    assert diff["failed"]["a"] is None
    assert (
        diff["failed"]["b"].startswith("the strategy failed in") and BROKEN in diff["failed"]["b"]
    )
    text = kalshi(["backtest", "runs", "compare", good, bad], tmp_path)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert any(line.startswith(f"b {bad}: FAILED") and BROKEN in line for line in lines), lines
    assert f"{bad} (FAILED)" in text.stdout
    net = next(line for line in lines if line.startswith("totals.net"))
    assert net.split()[2:] == ["FAILED", "-"], net  # a's net, then no b figure, no difference
    # either way round: the failed run is `a` and still nothing is subtracted from it
    swapped = json.loads(
        kalshi(["backtest", "runs", "compare", bad, good, "--json"], tmp_path).stdout
    )
    assert swapped["failed"]["b"] is None and swapped["failed"]["a"] == diff["failed"]["b"]
    assert all(r["a"] is None and r["difference"] is None for r in swapped["figures"])


def test_comparing_two_failed_runs_says_neither_has_figures_and_why(
    data: Path, tmp_path: Path
) -> None:
    """Both runs failed: there is no figure of either to compare, which the output says in so
    many words, each run's failure named, never as a listing that matched nothing. Reading
    stored runs succeeds (exit 0), as comparing one failed run does."""
    base = ["backtest", "--strategy", UNRULY, "--data", str(data), "--param", "fair=0.65"]
    for edge in ("0.02", "0.03"):
        failed_run = kalshi(
            [*base, "--param", "broken_fair=0.65", "--param", f"edge={edge}"], tmp_path
        )
        assert failed_run.returncode == ExitCode.STRATEGY_FAILED, failed_run.stderr
    listed = json.loads(kalshi(["backtest", "runs", "list", "--json"], tmp_path).stdout)["runs"]
    first, second = (r["id"] for r in listed)
    done = kalshi(["backtest", "runs", "compare", first, second, "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    diff = json.loads(done.stdout)
    assert diff["figures"] == []
    assert all(BROKEN in diff["failed"][side] for side in ("a", "b")), diff["failed"]
    assert diff["none_compared"] == "neither run has figures to compare: both failed"
    assert diff["inputs"] == [{"what": "params", "a": {"edge": "0.02"}, "b": {"edge": "0.03"}}]
    text = kalshi(["backtest", "runs", "compare", first, second], tmp_path)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    for side, run_id in (("a", first), ("b", second)):
        assert any(line.startswith(f"{side} {run_id}: FAILED") and BROKEN in line for line in lines)
    assert lines[-1] == "neither run has figures to compare: both failed", lines
    assert "nothing matched" not in text.stdout + text.stderr


def test_comparing_sweeps_and_walk_forwards_without_figures_marks_them_failed(
    data: Path, tmp_path: Path
) -> None:
    """A sweep whose every set failed has no best set, a walk-forward a window of which chose
    none has no out-of-sample figure: neither is a result to subtract from another."""
    base = ["backtest", "--strategy", UNRULY, "--data", str(data), "--jobs", "1"]
    broken = ["--param", "fair=0.65", "--param", "broken_fair=0.65", "--param", "edge=0.02,0.03"]
    assert kalshi([*base, *broken], tmp_path).returncode == ExitCode.STRATEGY_FAILED
    walked = kalshi([*base, *broken, "--walk-forward", "2"], tmp_path)
    assert walked.returncode == ExitCode.STRATEGY_FAILED, walked.stderr
    good = kalshi([*base, "--param", "fair=0.6", "--walk-forward", "2"], tmp_path)
    assert good.returncode == 0, good.stderr
    listed = json.loads(kalshi(["backtest", "runs", "list", "--json"], tmp_path).stdout)["runs"]
    sweep, failed_walk, good_walk = (r["id"] for r in listed)
    diff = json.loads(
        kalshi(["backtest", "runs", "compare", sweep, good_walk, "--json"], tmp_path).stdout
    )
    assert all(r["a"] is None and r["difference"] is None for r in diff["figures"])
    assert diff["failed"] == {"a": "every set failed", "b": None}
    walks = kalshi(["backtest", "runs", "compare", good_walk, failed_walk, "--json"], tmp_path)
    assert walks.returncode == 0, walks.stderr
    diff = json.loads(walks.stdout)
    rows = {r["figure"]: r for r in diff["figures"]}
    assert rows["totals.windows"]["a"] == 2  # the good walk-forward's, as it counted them
    assert all(r["b"] is None and r["difference"] is None for r in diff["figures"]), [
        r for r in diff["figures"] if r["b"] is not None or r["difference"] is not None
    ]
    assert diff["failed"]["a"] is None
    assert diff["failed"]["b"] == "window 1, 2 chose no set, or its set failed"


def test_a_search_whose_every_set_the_strategy_refuses_fails_as_a_usage_error(
    data: Path, tmp_path: Path
) -> None:
    """The strategy refuses every set of a grid search (spike's max_hold_s, 300 by default, must
    be at least window_s), so no set runs: the command fails as a random search that met only
    refusals does (the ranges are wrong, not the strategy), saying why, and stores nothing."""
    good = kalshi(["backtest", "--strategy", "spike", "--data", str(data)], tmp_path)
    assert good.returncode == 0, good.stderr
    args = [
        "backtest", "--strategy", "spike", "--data", str(data), "--search", "grid",
        "--param", "window_s=400..500:100", "--jobs", "1",
    ]  # fmt: skip
    done = kalshi(args, tmp_path)
    assert done.returncode == ExitCode.USAGE, (done.stdout, done.stderr)
    assert "the strategy refused all 2 parameter sets of the search" in done.stderr, done.stderr
    assert "max_hold_s" in done.stderr, done.stderr
    listed = json.loads(kalshi(["backtest", "runs", "list", "--json"], tmp_path).stdout)["runs"]
    assert [r["kind"] for r in listed] == ["run"], listed


def test_a_stored_sweep_in_which_no_set_ran_reads_as_failed() -> None:
    """A sweep stored with no run (an earlier version stored a grid search whose every set the
    strategy refused) has no figures of the strategy's: it is failed where a stored run's
    failure is decided, so it is listed, shown and compared as failed, never as a success."""
    sweep = {"id": "s", "kind": "sweep", "strategy": "spike", "runs": []}
    assert history.failure(sweep) == "no set ran"
    assert sweep_lines([], "net", None)[-1] == "FAILED: no set ran"
    other = dict(sweep, id="t")
    diff = history.compare(sweep, other)
    assert diff["failed"] == {"a": "no set ran", "b": "no set ran"}
    assert diff["figures"] == []
    assert diff["none_compared"] == "neither run has figures to compare: both failed"


def test_runs_show_gives_a_walk_forwards_windows_as_the_command_printed_them(
    data: Path, tmp_path: Path
) -> None:
    """The stored walk-forward is shown again line for line: each window's parts, figures, gap
    and chosen set, and the sets its training part passed over because they failed."""
    args = [
        "backtest", "--strategy", UNRULY, "--data", str(data), "--walk-forward", "2",
        "--param", "fair=0.6,0.65", "--param", "broken_fair=0.65", "--jobs", "1",
    ]  # fmt: skip
    done = kalshi(args, tmp_path)
    assert done.returncode == ExitCode.STRATEGY_FAILED, done.stderr
    shown = kalshi(["backtest", "runs", "show", "last"], tmp_path)
    assert shown.returncode == 0, shown.stderr

    def windows(text: str) -> list[str]:
        return [
            line
            for line in text.splitlines()
            if line.startswith(("window ", "  FAILED on ", "out of sample"))
        ]

    printed = windows(done.stdout)
    assert len(printed) == 5, printed  # two windows, each with its failed set, and the total
    assert windows(shown.stdout) == printed


def test_a_holdout_that_chose_no_set_has_no_best_and_no_figures_to_list_or_compare(
    data: Path, tmp_path: Path
) -> None:
    """A holdout whose training part's best failed on the holdout chose no set, and so does one
    whose every set failed on its training part: another set's holdout figures would be a
    choice made on the holdout, or figures of a set that failed, so neither has a best set,
    and listed or compared it says why, its figures null and nothing subtracted."""
    start = 1_767_225_600  # the recording's first second; its holdout (0.5) starts near +100
    base = ["backtest", "--strategy", UNRULY, "--data", str(data), "--jobs", "1"]
    held = [*base, "--holdout", "0.5", "--param", "fair=0.6"]
    assert kalshi([*base, "--param", "fair=0.6"], tmp_path).returncode == 0
    # the two sets train alike, so the first is the training part's best; it fails after +150
    late = kalshi([*held, "--param", f"broken_from={start + 150},0", "--json"], tmp_path)
    assert late.returncode == ExitCode.STRATEGY_FAILED, late.stderr
    doc = json.loads(late.stdout)
    assert doc["chosen"] is None
    # the holdout's own best did not fail on either part: the one a choice on it would take
    assert doc["runs"][0]["failed"] is None and doc["runs"][0]["train"]["failed"] is None
    early = kalshi([*held, "--param", f"broken_until={start + 90}", "--json"], tmp_path)
    assert early.returncode == ExitCode.STRATEGY_FAILED, early.stderr
    (only,) = json.loads(early.stdout)["runs"]
    assert only["train"]["failed"] is not None and only["failed"] is None
    listed = json.loads(kalshi(["backtest", "runs", "list", "--json"], tmp_path).stdout)["runs"]
    good, after, before = listed
    for stored in (after, before):
        assert (stored["net"], stored["fills"], stored["sharpe"]) == (None, None, None), stored
        assert stored["best_params"] is None
    why = {
        after["id"]: "none chosen: the training part's best failed on the holdout",
        before["id"]: "none chosen: every set failed on its training part",
    }
    assert {r["id"]: r["failure"] for r in (after, before)} == why
    assert good["failure"] is None and good["net"] is not None
    for stored in (after, before):  # the holdout's own lines say so too
        shown = kalshi(["backtest", "runs", "show", stored["id"]], tmp_path).stdout.splitlines()
        assert why[stored["id"]] in shown, shown
    table = kalshi(["backtest", "runs", "list"], tmp_path)
    assert table.returncode == 0, table.stderr
    for run_id, reason in why.items():
        (row,) = [r for r in table.stdout.splitlines() if r.startswith(run_id)]
        assert "FAILED" in row and reason in row and "$" not in row and "best:" not in row, row
    for stored in (after, before):
        done = kalshi(["backtest", "runs", "compare", good["id"], stored["id"], "--json"], tmp_path)
        assert done.returncode == 0, done.stderr
        diff = json.loads(done.stdout)
        assert diff["failed"] == {"a": None, "b": why[stored["id"]]}
        assert {r["figure"]: r for r in diff["figures"]}["totals.net"]["a"] == good["net"]
        assert all(r["b"] is None and r["difference"] is None for r in diff["figures"])
        text = kalshi(["backtest", "runs", "compare", good["id"], stored["id"]], tmp_path)
        assert f"b {stored['id']}: FAILED: {why[stored['id']]}" in text.stdout, text.stdout


def test_runs_show_gives_a_sweeps_and_a_holdouts_rows_as_the_command_printed_them(
    data: Path, tmp_path: Path
) -> None:
    """A stored sweep and a stored holdout are shown again line for line: each row's ranked
    figure, trades, cached marker, failure; the holdout's parts, both figures, gap, chosen
    set and the part a set failed on."""
    late = 1_767_225_600 + 150  # well into the holdout
    base = ["backtest", "--strategy", UNRULY, "--data", str(data), "--jobs", "1"]
    broken = ["--param", "fair=0.6,0.65", "--param", "broken_fair=0.65"]
    sweep = [*base, *broken, "--rank-by", "sharpe"]
    assert kalshi(sweep, tmp_path).returncode == ExitCode.STRATEGY_FAILED
    holdout = [*base, *broken, "--holdout", "0.5", "--param", f"broken_from=0,{late}"]
    printed = {}
    for name, args in (("sweep", sweep), ("holdout", holdout)):  # the sweep again: cached
        done = kalshi(args, tmp_path)
        assert done.returncode == ExitCode.STRATEGY_FAILED, done.stderr
        printed[name], stored_line = done.stdout.split("\n\nstored as run ")
        shown = kalshi(["backtest", "runs", "show", "last"], tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert stored_line.startswith(shown.stdout.split()[1])  # the run just stored
        assert shown.stdout.split("\n\n", 1)[1].rstrip("\n") == printed[name]
    assert "sharpe" in printed["sweep"] and "(cached)" in printed["sweep"], printed["sweep"]
    assert "trades" in printed["sweep"] and "FAILED" in printed["sweep"], printed["sweep"]
    for marker in ("(chosen on training)", "(on its holdout)", "gap ", "OVERFIT above"):
        assert marker in printed["holdout"], printed["holdout"]


def test_a_failed_run_names_the_file_and_line_of_the_raise(data: Path) -> None:
    from kalshi_cli.backtest import BacktestSpec, run_backtest
    from kalshi_cli.backtest.report import failure_line

    params = (("fair", "0.65"), ("broken_fair", "0.65"))
    report = run_backtest(BacktestSpec(data=str(data), strategy=UNRULY, params=params))
    lines = Path(UNRULY).read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "raise KeyError" in text)
    (error,) = report["failed"]["errors"]
    assert error["at"] == f"{UNRULY}:{line}"
    assert f"{UNRULY}:{line}: KeyError" in failure_line(report["failed"])
