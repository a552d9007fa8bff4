"""`kalshi backtest` as a user runs it on a recorded data set: in-process, and as the installed
script where the process itself is under test (its file-size limit, its terminal)."""

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

from kalshi_cli.backtest import BacktestSpec, run_backtest
from kalshi_cli.backtest.command import BacktestOutcome
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.backtest.in_process import kalshi
from tests.file_limit import NO_BYTECODE, limited_file_size

LAL = "KXNBAGAME-SIM-LALGSW-LAL"


def script() -> str:
    found = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    assert found is not None
    return found


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_scenario("default", tmp_path_factory.mktemp("cli"), seconds=200, tickers=[LAL])


def test_json_is_the_report_of_the_pure_run(data: Path, tmp_path: Path) -> None:
    args = ["--param", "take_profit=0.06", "--param", "order_count=20"]
    done = kalshi(
        ["backtest", "--strategy", "spike", "--data", str(data), *args, "--json"], tmp_path
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    spec = BacktestSpec(
        data=str(data),
        strategy="spike",
        params=(("order_count", "20"), ("take_profit", "0.06")),
    )
    assert report["totals"] == run_backtest(spec)["totals"]
    assert report["format"] == "kalshi-backtest/1"


def test_text_html_and_out(data: Path, tmp_path: Path) -> None:
    html, out = tmp_path / "r.html", tmp_path / "run"
    args = ["backtest", "--strategy", "spike", "--data", str(data), "--param", "take_profit=0.06"]
    done = kalshi([*args, "--html", str(html), "--out", str(out), "--keep-state"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "net P&L" in done.stdout and "equity" in done.stdout
    page = html.read_text()
    assert page.count("<svg") == 4  # equity, drawdown, exposure, P&L per market
    for forbidden in ("http:", "https:", "<script", "url(", "@import", "<link"):
        assert forbidden not in page, forbidden
    report = json.loads((out / "report.json").read_text())
    assert report["totals"]["fills"] > 0
    # the run's own state file, read by the production `kalshi pnl`: the same realized P&L
    pnl = kalshi(["--state", str(out / "backtest.db"), "pnl", "--local", "--json"], tmp_path)
    assert pnl.returncode == 0, pnl.stderr
    realized = json.loads(pnl.stdout)["realized"]
    totals = report["totals"]
    assert Decimal(realized) == Decimal(totals["realized"]) + Decimal(totals["settled"])
    assert (out / "backtest.log").stat().st_size > 0


def test_a_run_keeps_its_state_in_memory_and_saves_it_only_when_asked(
    data: Path, tmp_path: Path
) -> None:
    """No state file is written while a run trades (an order action costs no file write); with
    --keep-state the whole state is saved at the end, and without --out there is nowhere to."""
    args = ["backtest", "--strategy", "spike", "--data", str(data), "--param", "take_profit=0.06"]
    done = kalshi([*args, "--out", str(tmp_path / "run"), "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["fills"] > 0
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["backtest.log", "report.json"]
    refused = kalshi([*args, "--keep-state"], tmp_path)
    assert refused.returncode == ExitCode.USAGE
    assert "--out" in refused.stderr


def test_a_sweep_runs_the_grid_ranks_it_and_caches_it(data: Path, tmp_path: Path) -> None:
    args = [
        "backtest", "--strategy", "spike", "--data", str(data),
        "--param", "take_profit=0.04,0.06,0.08", "--param", "order_count=20",
        "--jobs", "2", "--json",
    ]  # fmt: skip
    first = kalshi(args, tmp_path)
    assert first.returncode == 0, first.stderr
    runs = json.loads(first.stdout)["runs"]
    assert sorted(r["params"]["take_profit"] for r in runs) == ["0.04", "0.06", "0.08"]
    nets = [float(r["totals"]["net"]) for r in runs]
    assert nets == sorted(nets, reverse=True)
    assert not any(r["cached"] for r in runs)
    # each run's Sharpe deflated by the three tried: here too few trades to have one, and why
    for r in runs:
        assert r["deflated_sharpe"]["value"] is None
        assert r["deflated_sharpe"]["reason"].endswith("per-trade returns; at least 20 are needed")
    second = json.loads(kalshi(args, tmp_path).stdout)["runs"]
    assert all(r["cached"] for r in second)
    assert [r["totals"] for r in second] == [r["totals"] for r in runs]


@pytest.mark.parametrize(
    "research",
    [[], ["--holdout", "0.25"], ["--walk-forward", "2"]],
    ids=["sweep", "holdout", "walk-forward"],
)
def test_a_sweep_over_a_damaged_recording_says_what_the_reading_skipped(
    data: Path, tmp_path: Path, research: list[str]
) -> None:
    """A line of the recording that cannot be read is skipped, and a single run's report says
    so: its figures are those of what was read. A sweep's runs read the same data: its table
    (a holdout's, a walk-forward's), its JSON and the stored sweep must say so too, not rank
    what was read as the whole recording."""
    import gzip
    from collections import Counter

    from kalshi_cli.data.segments import iter_segment_lines

    damaged = tmp_path / "damaged"
    shutil.copytree(data, damaged)
    (segment,) = (damaged / "frames").iterdir()
    lines = list(iter_segment_lines(segment, Counter()))
    lines.insert(len(lines) // 2, b"not a record")
    segment.write_bytes(gzip.compress(b"".join(line + b"\n" for line in lines)))
    args = [
        "backtest", "--strategy", "spike", "--data", str(damaged),
        "--param", "take_profit=0.06,0.08", "--jobs", "1", *research,
    ]  # fmt: skip
    said = "skipped reading the data: 1 malformed (docs/data.md says why)"
    text = kalshi(args, tmp_path)
    assert text.returncode == 0, text.stderr
    assert said in text.stdout.splitlines()
    document = json.loads(kalshi([*args, "--json"], tmp_path).stdout)
    assert document["skipped"] == {"malformed": 1}
    shown = kalshi(["backtest", "runs", "show", "last"], tmp_path)
    assert said in shown.stdout.splitlines()
    # the recording whole: nothing skipped, and nothing said of it
    whole = kalshi([*args[:4], str(data), *args[5:]], tmp_path)
    assert whole.returncode == 0, whole.stderr
    assert not [line for line in whole.stdout.splitlines() if line.startswith("skipped")]


def test_no_data_and_bad_flags_exit_with_their_codes(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    done = kalshi(["backtest", "--strategy", "spike", "--data", str(empty)], tmp_path)
    assert done.returncode == ExitCode.NO_DATA, done.stderr
    assert "no data set at" in done.stderr
    empty.mkdir()
    done = kalshi(["backtest", "--strategy", "spike", "--data", str(empty)], tmp_path)
    assert done.returncode == ExitCode.NO_DATA, done.stderr
    done = kalshi(["backtest", "--strategy", "spyke", "--data", str(empty)], tmp_path)
    assert done.returncode == ExitCode.USAGE
    assert "did you mean `spike`" in done.stderr
    done = kalshi(
        ["backtest", "--strategy", "spike", "--data", str(empty), "--param", "nope"], tmp_path
    )
    assert done.returncode == ExitCode.USAGE


@pytest.mark.parametrize("made", [False, True], ids=["missing", "empty"])
def test_a_sweep_over_no_data_exits_with_no_data_before_any_run(tmp_path: Path, made: bool) -> None:
    """A sweep's runs happen in workers: a data set that is not there must be refused before the
    first of them, with the single run's code, not reported as a failed run (exit 1, a bug)."""
    data = tmp_path / "recordings"
    if made:
        data.mkdir()
    sweep = ["--param", "window_s=30,60"]
    done = kalshi(["backtest", "--strategy", "spike", "--data", str(data), *sweep], tmp_path)
    assert done.returncode == ExitCode.NO_DATA, done.stderr
    assert "failed" not in done.stderr and str(data) in done.stderr


def test_the_lookahead_check_of_an_honest_strategy_passes_and_a_failed_one_exits_12(
    data: Path, tmp_path: Path
) -> None:
    args = ["backtest", "--strategy", "spike", "--data", str(data), "--lookahead-check"]
    done = kalshi([*args, "--param", "take_profit=0.06", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    check = json.loads(done.stdout)["lookahead"]
    assert check["ok"] is True and check["checked"]
    # a check that found a changed decision: the command's outcome exits CHECK_FAILED
    from kalshi_cli.backtest.lookahead import LookAheadFound, LookAheadReport

    failed = LookAheadReport(signals=3, checked=[1.0], differences=[{"at": 1.0}])
    with pytest.raises(LookAheadFound) as caught:
        BacktestOutcome(report={}, lookahead=failed).raise_if_failed()
    assert caught.value.exit_code == ExitCode.CHECK_FAILED == 12


def test_a_market_the_data_set_does_not_hold_is_refused_and_nothing_is_stored(
    data: Path, tmp_path: Path
) -> None:
    args = ["backtest", "--strategy", "spike", "--data", str(data)]
    done = kalshi([*args, "--markets", "NOPE-TICKER"], tmp_path)
    assert done.returncode == ExitCode.NO_DATA, done.stderr
    assert "no data for NOPE-TICKER" in done.stderr and LAL in done.stderr
    listed = kalshi(["backtest", "runs", "list", "--json"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["runs"] == []


def test_from_after_to_is_a_usage_error(data: Path, tmp_path: Path) -> None:
    args = ["backtest", "--strategy", "spike", "--data", str(data)]
    done = kalshi([*args, "--from", "2026-01-02", "--to", "2026-01-01"], tmp_path)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "--from 2026-01-02 is not before --to 2026-01-01" in done.stderr


def test_a_run_whose_out_directory_fills_up_is_exit_18(data: Path, tmp_path: Path) -> None:
    """The run's state file in --out stops taking writes (the machine lets no file grow past
    32 kB, as a full disk would): DATA_WRITE_FAILED, as the docs say of --out, not the trade
    loop's 21."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")}
    env.update(
        KALSHI_HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"), HOME=str(tmp_path)
    )
    env.update(NO_BYTECODE)
    result = subprocess.run(
        [script(), "backtest", "--strategy", "spike", "--data", str(data),
         "--out", str(tmp_path / "run"), "--keep-state"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
        preexec_fn=limited_file_size(32_768),
    )  # fmt: skip
    assert result.returncode == ExitCode.DATA_WRITE_FAILED, result.stderr
    assert "Traceback" not in result.stderr and str(tmp_path / "run") in result.stderr


def test_several_strategies_share_one_bankroll_and_each_is_reported(
    data: Path, tmp_path: Path
) -> None:
    args = ["--param", "spike.take_profit=0.06", "--param", "spike.order_count=20", "--no-cache"]
    command = ["backtest", "--strategy", "spike", "--strategy", "market-maker"]
    done = kalshi([*command, "--data", str(data), *args, "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    # the other strategy runs with its whole set of params, defaults written out
    ((other, params),) = report["spec"]["beside"]
    assert other == "market-maker" and ["spread", "0.04"] in params
    by_strategy = report["by_strategy"]
    assert {"spike", "market-maker"} <= set(by_strategy)
    # one bankroll: the strategies' realized P&L adds up to the run's, to the cent
    total = sum(Decimal(g["realized"]) for g in by_strategy.values())
    totals = report["totals"]
    assert total == Decimal(totals["realized"]) + Decimal(totals["settled"])
    text = kalshi([*command, "--data", str(data), *args], tmp_path)
    assert text.returncode == 0, text.stderr
    assert "backtest spike, market-maker on" in text.stdout
    assert "by strategy" in text.stdout
    twice = kalshi(["backtest", "--strategy", "spike", "--strategy", "spike", "--data", str(data)],
                   tmp_path)  # fmt: skip
    assert twice.returncode == ExitCode.USAGE and "given twice" in twice.stderr


def test_a_backtest_runs_under_the_starter_config(data: Path, tmp_path: Path) -> None:
    # `kalshi config init` writes `trade.budgets: {}`, a nested mapping: a backtest and a sweep
    # under that file run, as they do with no file at all
    init = kalshi(["config", "init"], tmp_path)
    assert init.returncode == 0, init.stderr
    one = kalshi(["backtest", "--strategy", "spike", "--data", str(data), "--json"], tmp_path)
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["totals"]["fills"] > 0
    sweep = ["--param", "take_profit=0.03,0.06", "--json"]
    many = kalshi(["backtest", "--strategy", "spike", "--data", str(data), *sweep], tmp_path)
    assert many.returncode == 0, many.stderr
    assert len(json.loads(many.stdout)["runs"]) == 2


def test_a_sweep_line_shows_the_net_once_whatever_it_is_ranked_by() -> None:
    run = {
        "params": {"take_profit": "0.06"},
        "totals": {"net": "-0.9496", "fills": 4, "round_trips": 2},
        "value": -0.9496,
        "cached": False,
        "deflated_sharpe": {"value": None},
    }
    [by_net, *_] = BacktestOutcome(rank_by="net", runs=[run]).lines()
    assert by_net.split().count("net") == 1 and "-0.9496" in by_net
    [by_sharpe, *_] = BacktestOutcome(rank_by="sharpe", runs=[{**run, "value": 1.5}]).lines()
    assert by_sharpe.split()[1:5] == ["sharpe", "1.5000", "net", "-0.9496"]


def test_a_sweep_cell_the_strategy_refuses_is_a_usage_error_naming_the_cell(
    data: Path, tmp_path: Path
) -> None:
    """Every cell is validated before the first run: the one refused is named by its flag's
    values (exit 2, a bad parameter), not as a malformed config file (3), and nothing runs."""
    args = ["backtest", "--strategy", "spike", "--data", str(data), "--jobs", "1"]
    done = kalshi([*args, "--param", "window_s=30,400", "--param", "take_profit=0.04"], tmp_path)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "--param window_s=400 take_profit=0.04" in done.stderr
    assert "max_hold_s must be at least window_s" in done.stderr
    assert not (tmp_path / "backtests").exists()  # nothing ran, nothing stored
    single = kalshi([*args, "--param", "take_profit=lots"], tmp_path)
    assert single.returncode == ExitCode.USAGE, single.stderr
    assert "--param take_profit=lots" in single.stderr and "expected a number" in single.stderr


def test_a_single_run_shows_how_much_of_the_data_it_replayed_on_a_terminal(
    data: Path, tmp_path: Path
) -> None:
    """A run over a month of books takes minutes: on a terminal, stderr counts the share of the
    data replayed, as a sweep counts its runs, and clears the line before the report."""
    import pty

    env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")}
    env.update(KALSHI_HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "c"), HOME=str(tmp_path))
    terminal, stderr = pty.openpty()
    args = [script(), "backtest", "--strategy", "spike", "--data", str(data), "--json"]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, env=env) as proc:
        os.close(stderr)
        shown = b""
        while True:
            try:
                chunk = os.read(terminal, 4096)
            except OSError:  # the other end closed: the command is done
                break
            if not chunk:
                break
            shown += chunk
        out, _ = proc.communicate(timeout=120)
    os.close(terminal)
    assert proc.returncode == 0, shown
    json.loads(out)  # stdout is the report alone
    counts = [int(c) for c in re.findall(rb"% of the data replayed: (\d+)", shown)]
    assert counts and counts == sorted(set(counts)) and counts[-1] == 100, shown
    assert len(counts) > 10  # counted as it goes, not once at the end
    assert shown.endswith(b"\r\x1b[K")  # the line cleared
    # not on a pipe: a log file gets no carriage returns
    piped = kalshi(["backtest", "--strategy", "spike", "--data", str(data)], tmp_path)
    assert "replayed" not in piped.stderr
