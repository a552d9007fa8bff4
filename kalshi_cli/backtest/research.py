"""Choosing parameters honestly: which sets are tried (a grid sweep or an Optuna search), on
which part of the data (all of it, the training part of a holdout, or each walk-forward
window), and how the choice is reported.

`Trials.run(base)` tries the sets on `base`'s time window and ranks them. `with_holdout` tries
them on the training part, runs every one of them on the holdout, and lists them side by side
ranked by the holdout, the chosen set (the training part's best) marked; the choice reads the
training reports only, and the training runs read no record of the holdout (split.py).
`walk_forward` chooses on each window's training part and runs the chosen set on its test part.
The deflated Sharpe of every list counts every set tried for it (stats.deflate).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kalshi_cli.backtest.engine import BacktestSpec
from kalshi_cli.backtest.report import (
    failed,
    failure_line,
    params_text,
    skipped_of,
    skipped_text,
    state_change,
)
from kalshi_cli.backtest.search import Axis, SearchOutcome, search
from kalshi_cli.backtest.split import Fold, Window, gap, overfit
from kalshi_cli.backtest.stats import deflate

if TYPE_CHECKING:
    from kalshi_cli.backtest.executors import Executor, Progress
from kalshi_cli.backtest.sweep import METRICS, grid, metric_value, order_key, rank, run_sweep
from kalshi_cli.strategy_api import Strategy
from kalshi_cli.vocabulary.clock import iso_utc

Result = tuple[BacktestSpec, dict[str, Any], bool]  # as run_sweep gives them

# why a sweep, a holdout or a walk-forward window has no set to give: the strategy refused
# every set of a search, so none ran
NO_SET_RAN = "no set ran"


@dataclass(frozen=True)
class Tried:
    results: list[Result]  # best first
    search: SearchOutcome | None


@dataclass(frozen=True)
class Trials:
    """How the parameter sets are tried: the grid of `sweep_axes`, or a search of `axes`."""

    strategy: Strategy[Any]
    rank_by: str
    sweep_axes: dict[str, list[str]]
    sampler: str | None = None
    axes: tuple[Axis, ...] = ()
    trials: int = 20
    study: str | None = None
    seed: int = 0
    studies_dir: Path | None = None
    jobs: int | None = None
    cache_dir: Path | None = None
    progress: Callable[[str], None] | None = None  # a line per search trial
    run_progress: Progress | None = None  # (runs done, runs in all) of each batch of runs
    executor: Executor | None = None  # where the runs go (executors.py); None: a local pool
    # what the reading of the data skipped, by reason, in the runs tried so far: the most any
    # one of them counted (each reads the one data set, up to its own end). A run's figures
    # are those of what was read, and so are a sweep's
    skipped: Counter[str] = field(default_factory=Counter)

    def run(self, base: BacktestSpec, *, label: str = "") -> Tried:
        if self.sampler is None:
            done = self.on(grid(base, self.sweep_axes))
            return Tried(rank(done, self.rank_by), None)
        assert self.studies_dir is not None
        outcome = search(
            base,
            self.strategy,
            self.axes,
            sampler=self.sampler,
            trials=self.trials,
            rank_by=self.rank_by,
            storage_dir=self.studies_dir,
            name=f"{self.study}{label}" if self.study else None,
            seed=self.seed,
            jobs=self.jobs,
            cache_dir=self.cache_dir,
            progress=self.progress,
            executor=self.executor,
        )
        self._read(outcome.results)
        return Tried(rank(outcome.results, self.rank_by), outcome)

    def on(self, specs: Sequence[BacktestSpec]) -> list[Result]:
        """The same sets on another window, in the order given."""
        return self._read(
            run_sweep(
                list(specs),
                jobs=self.jobs,
                cache_dir=self.cache_dir,
                executor=self.executor,
                progress=self.run_progress,
            )
        )

    def _read(self, results: list[Result]) -> list[Result]:
        """`results`, what their reading of the data skipped counted in `skipped`."""
        for _, report, _ in results:
            for why, n in skipped_of(report).items():
                self.skipped[why] = max(self.skipped[why], n)
        return results


def ranked_runs(results: Sequence[Result], rank_by: str) -> list[dict[str, Any]]:
    """A sweep's `runs` (best first, failed ones last with their failure), each Sharpe deflated
    by the number of sets tried (a failed set was tried too, but its Sharpe is not a figure)."""
    deflated = deflate(
        [None if failed(report) else report.get("statistics") for _, report, _ in results]
    )
    return [
        {
            "params": spec.values(),
            "rank_by": rank_by,
            "value": metric_value(report, rank_by),
            "cached": cached,
            "totals": report["totals"],
            "deflated_sharpe": (
                {"value": None, "reason": "the run failed"} if failed(report) else dsr.to_json()
            ),
            "failed": failed(report),
            "trading_states": states_of(report),
        }
        for (spec, report, cached), dsr in zip(results, deflated, strict=True)
    ]


def states_of(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The changes of the trading state in a run (none in a report kept before they were)."""
    return list(report.get("trading_states") or [])


def state_notes(run: Mapping[str, Any], label: str = "") -> list[str]:
    """The changes of the trading state of a listed run that did not fail, each under its row:
    its figures are those of a loop that traded as it could after each (only closing, after the
    circuit breaker's REDUCING). A failed run's row says already what stopped it."""
    if failed(run) is not None:
        return []
    return [f"     {label}{state_change(s)}" for s in run.get("trading_states") or []]


def _figures(report: dict[str, Any], rank_by: str, dsr: dict[str, Any]) -> dict[str, Any]:
    return {
        "failed": failed(report),
        "rank_by": rank_by,
        "value": metric_value(report, rank_by),
        "totals": report["totals"],
        "deflated_sharpe": dsr,
        "statistics": report.get("statistics"),
        "trading_states": states_of(report),
    }


def _windowed(spec: BacktestSpec, window: Window) -> BacktestSpec:
    return replace(spec, start_ns=window.start_ns, end_ns=window.end_ns)


def _gap(
    train: dict[str, Any], test: dict[str, Any], rank_by: str, fold: Fold, threshold: Decimal
) -> dict[str, Any]:
    key, higher = METRICS[rank_by]
    lost = gap(
        train["totals"],
        test["totals"],
        key,
        higher_is_better=higher,
        train_window=fold.train,
        test_window=fold.test,
    )
    return {"gap": None if lost is None else str(lost), "overfit": overfit(lost, threshold)}


def with_holdout(
    trials: Trials, base: BacktestSpec, fold: Fold, threshold: Decimal
) -> tuple[list[dict[str, Any]], Tried]:
    """Every set tried on the training part, then on the holdout: rows ranked by the holdout,
    the training part's best marked `chosen` unless it failed on either part."""
    tried = trials.run(_windowed(base, fold.train))
    tested = trials.on([_windowed(spec, fold.test) for spec, _, _ in tried.results])
    train_dsr = deflate([r.get("statistics") for _, r, _ in tried.results])
    test_dsr = deflate([r.get("statistics") for _, r, _ in tested])
    rows = []
    for n, ((spec, train, _), (_, test, cached), a, b) in enumerate(
        zip(tried.results, tested, train_dsr, test_dsr, strict=True)
    ):
        rows.append(
            {
                "params": spec.values(),
                **_figures(test, trials.rank_by, b.to_json()),
                "cached": cached,
                "train": _figures(train, trials.rank_by, a.to_json()),
                **_gap(train, test, trials.rank_by, fold, threshold),
                # the training part's best, unless it failed on either part: a failed set is
                # never chosen, and none other is in its place (that would choose on the holdout)
                "chosen": n == 0 and failed(train) is None and failed(test) is None,
            }
        )
    order = sorted(range(len(rows)), key=lambda i: (order_key(tested[i][1], trials.rank_by), i))
    return [rows[i] for i in order], tried


def walk_forward(
    trials: Trials, base: BacktestSpec, folds: Sequence[Fold], threshold: Decimal
) -> list[dict[str, Any]]:
    """Each window: the sets tried on its training part, the best that did not fail run on its
    test part. A window whose every set failed chooses none (`params` null, `none_chosen` why)
    and runs nothing on its test part: a failed set is never chosen."""
    windows = []
    for i, fold in enumerate(folds, 1):
        tried = trials.run(_windowed(base, fold.train), label=f"-w{i}of{len(folds)}")
        window: dict[str, Any] = {
            "window": i,
            "train_part": fold.train.to_json(),
            "test_part": fold.test.to_json(),
            "tried": len(tried.results),
            # the sets of its training part that failed: the choice passed them over, but
            # a failed run fails the command all the same
            "failed": [
                {"params": s.values(), "failed": failure}
                for s, r, _ in tried.results
                if (failure := failed(r)) is not None
            ],
            "search": None if tried.search is None else tried.search.to_json(),
        }
        # ranked with the failed sets last: the first is the best that did not fail, if any
        best = next((n for n, (_, r, _) in enumerate(tried.results) if failed(r) is None), None)
        if best is None:
            windows.append(window | _none_chosen(tried))
            continue
        spec, train, _ = tried.results[best]
        deflated = deflate([r.get("statistics") for _, r, _ in tried.results])[best]
        ((_, test, cached),) = trials.on([_windowed(spec, fold.test)])
        window |= {
            "params": spec.values(),
            "none_chosen": None,
            "train": _figures(train, trials.rank_by, deflated.to_json()),
            "test": {
                "failed": failed(test),
                "rank_by": trials.rank_by,
                "value": metric_value(test, trials.rank_by),
                "totals": test["totals"],
                "statistics": test.get("statistics"),
                "trading_states": states_of(test),
            },
            "cached": cached,
            **_gap(train, test, trials.rank_by, fold, threshold),
        }
        windows.append(window)
    return windows


def _none_chosen(tried: Tried) -> dict[str, Any]:
    """A window without a choice: no set, no figures, nothing run on its test part."""
    why = "every set failed on its training part" if tried.results else NO_SET_RAN
    return {
        "params": None,
        "none_chosen": why,
        "train": None,
        "test": None,
        "cached": False,
        "gap": None,
        "overfit": False,
    }


def holdout_choice(runs: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The set a holdout chose: the row marked `chosen` (the training part's best), unless it
    failed on either part (a run stored before `chosen` left those out could mark one)."""
    return next(
        (
            r
            for r in runs
            if r.get("chosen") and failed(r) is None and failed(r.get("train") or {}) is None
        ),
        None,
    )


def holdout_none_chosen(runs: Sequence[Mapping[str, Any]]) -> str | None:
    """Why a holdout chose no set (None when it chose one). No other set takes the place of
    the training part's best: the next by the holdout's figures would be a choice made on the
    holdout, and a set that failed on its training part has no figures of the strategy's."""
    if holdout_choice(runs) is not None:
        return None
    if not runs:
        return NO_SET_RAN
    # ranked with the failed sets last, the training part's best failed there only when all did
    if all(failed(r.get("train") or {}) is not None for r in runs):
        return "every set failed on its training part"
    return "the training part's best failed on the holdout"


def window_failed(window: Mapping[str, Any]) -> bool:
    """Whether a window has no figure of the strategy's to give: it chose no set, or its
    chosen set failed on its test part (or, as stored before, on its training part)."""
    return (
        window.get("params") is None
        or failed(window.get("train") or {}) is not None
        or failed(window.get("test") or {}) is not None
    )


def out_of_sample(windows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The test parts together: what the walk-forward would have made, each window trading
    the set chosen on the data before it. A window that chose none, or whose set failed, has
    no figure of the strategy's: the sum would not be one either, so there is none
    (`failed_windows` names them)."""
    failed_windows = [w["window"] for w in windows if window_failed(w)]
    out: dict[str, Any] = {
        "net": None,
        "fees": None,
        "fills": None,
        "windows": len(windows),
        "overfit_windows": sum(1 for w in windows if w["overfit"]),
        "failed_windows": failed_windows,
    }
    if failed_windows:
        return out
    net = sum((Decimal(w["test"]["totals"]["net"]) for w in windows), Decimal(0))
    fees = sum((Decimal(w["test"]["totals"]["fees"]) for w in windows), Decimal(0))
    fills = sum(int(w["test"]["totals"]["fills"]) for w in windows)
    return out | {"net": str(net), "fees": str(fees), "fills": fills}


def skipped_lines(skipped: Mapping[str, int] | None) -> list[str]:
    """What the reading of the data skipped in a sweep's, a holdout's or a walk-forward's runs,
    as a single run's report says it (`report.skipped_line`); none when it skipped nothing."""
    line = skipped_text(skipped or {})
    return [] if line is None else ["", line]


def figure_text(value: float | None) -> str:
    """A ranked figure (`value`) as the research lists print it."""
    return "-" if value is None else f"{value:.4f}"


def search_lines(search: Mapping[str, Any] | None) -> list[str]:
    """The study a search ran, as a sweep or a holdout of one opens with it."""
    if search is None:
        return []
    t = search["trials"]
    return [
        f"study {search['study']} ({search['sampler']}) in {search['storage']}: "
        f"{t['ran']} trials ran ({t['ran_before']} before, {t['ran_now']} now), "
        f"{t['refused']} refused by the strategy, {t['interrupted']} interrupted and retried"
    ]


def sweep_lines(
    runs: Sequence[Mapping[str, Any]], rank_by: str, search: Mapping[str, Any] | None
) -> list[str]:
    """A sweep's ranking as the command prints it and `runs show` shows it again: each set's
    ranked figure, trades and deflated Sharpe, or FAILED with why (its figures are not the
    strategy's); FAILED when no set ran, as `runs list` marks it."""
    out = search_lines(search)
    if not runs:
        return [*out, f"FAILED: {NO_SET_RAN}"]
    for n, run in enumerate(runs, 1):
        t = run["totals"]
        params = params_text(run["params"])
        if run.get("failed"):
            out.append(f"{n:>3}. FAILED  {params}: {failure_line(run['failed'])}")
            continue
        cached = "  (cached)" if run["cached"] else ""
        dsr = run["deflated_sharpe"]["value"]
        deflated = "-" if dsr is None else f"{dsr:.2f}"
        # ranked by net, the value is the net already: one column, not two alike
        net = "" if rank_by == "net" else f"  net {t['net']:>10}"
        out.append(
            f"{n:>3}. {rank_by} {figure_text(run['value']):>10}{net}  fills {t['fills']:>4}"
            f"  trades {t['round_trips']:>3}  DSR {deflated:>4}  {params}{cached}"
        )
        out += state_notes(run)
    if runs:
        out.append(
            f"DSR: the probability that a run's Sharpe beats the best of {len(runs)} "
            "unskilled tries (deflated Sharpe ratio); - where the Sharpe is not given"
        )
    return out


def holdout_lines(
    runs: Sequence[Mapping[str, Any]],
    rank_by: str,
    holdout: Mapping[str, Any],
    search: Mapping[str, Any] | None,
) -> list[str]:
    """A holdout as the command prints it and `runs show` shows it again: its parts, each set's
    holdout and training figures, the gap and flags ranked by the holdout, or FAILED naming the
    part it failed on; the set chosen on training, or why none was."""
    h = holdout
    out = [
        *search_lines(search),
        f"train {iso_utc(h['train']['from'])} .. {iso_utc(h['train']['to'])}, "
        f"holdout (the last {h['share']}) "
        f"{iso_utc(h['holdout']['from'])} .. {iso_utc(h['holdout']['to'])}; "
        f"ranked by the holdout's {rank_by}",
    ]
    for n, run in enumerate(runs, 1):
        params = params_text(run["params"])
        failure = failed(run) or failed(run["train"])
        if failure is not None:
            part = "holdout" if failed(run) else "training part"
            out.append(f"{n:>3}. FAILED  {params} (on its {part}): {failure_line(failure)}")
            continue
        flag = "  OVERFIT" if run["overfit"] else ""
        chosen = "  (chosen on training)" if run["chosen"] else ""
        out.append(
            f"{n:>3}. holdout {figure_text(run['value']):>10}  train "
            f"{figure_text(run['train']['value']):>10}  gap {run['gap'] or '-':>7}"
            f"  fills {run['totals']['fills']:>4}/{run['train']['totals']['fills']:<4}"
            f"  {params}{chosen}{flag}"
        )
        out += state_notes(run, "holdout: ") + state_notes(run["train"], "training part: ")
    none_chosen = holdout_none_chosen(runs)
    if none_chosen is not None:
        out.append(f"none chosen: {none_chosen}")
    out.append(
        f"gap: the share of the training {rank_by} the holdout lost (net and fees per "
        f"hour of each part); OVERFIT above {h['overfit_gap']}"
    )
    return out


def window_lines(w: Mapping[str, Any], rank_by: str) -> list[str]:
    """A walk-forward window as the command prints it and `runs show` shows it again: its
    parts, its set's figures on each, the gap and flags, then each set its training part
    passed over because it failed."""
    head = (
        f"window {w['window']}: train {iso_utc(w['train_part']['from'])} .. "
        f"{iso_utc(w['train_part']['to'])} ({w['tried']} tried), test .. "
        f"{iso_utc(w['test_part']['to'])}: "
    )
    if w["params"] is None:
        out = [f"{head}FAILED  none chosen: {w['none_chosen']}"]
    else:
        params = params_text(w["params"])
        flag = "  OVERFIT" if w["overfit"] else ""
        if window_failed(w):
            flag += "  FAILED"
        out = [
            f"{head}{rank_by} train {figure_text(w['train']['value'])} "
            f"test {figure_text(w['test']['value'])} gap {w['gap'] or '-'}{flag}  {params}"
        ]
        out += state_notes(w["train"], "training part: ") + state_notes(w["test"], "test part: ")
    for tried in w.get("failed") or []:  # absent from runs stored before it was
        shown = params_text(tried["params"])
        out.append(
            f"  FAILED on window {w['window']}'s training part: {shown}: "
            f"{failure_line(tried['failed'])}"
        )
    return out


def windows_failure(failed_windows: Sequence[int]) -> str:
    """Why a walk-forward has no out-of-sample figure, naming the windows that have none."""
    named = ", ".join(str(n) for n in failed_windows)
    return f"window {named} chose no set, or its set failed"


def out_of_sample_line(o: Mapping[str, Any]) -> str:
    """The out-of-sample figures as the command prints them and `runs show` shows them again:
    a failed walk-forward's say it failed and which windows, with no net."""
    flagged = f"{o['overfit_windows']} windows flagged OVERFIT"
    failed_windows = o.get("failed_windows") or []  # absent from runs stored before it was
    if failed_windows:
        return (
            f"out of sample: FAILED ({windows_failure(failed_windows)}), "
            f"no figures over {o['windows']} test parts; {flagged}"
        )
    return (
        f"out of sample: net {o['net']} over {o['windows']} test parts, fees {o['fees']}, "
        f"fills {o['fills']}; {flagged}"
    )
