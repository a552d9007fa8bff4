"""A search over parameter ranges on Optuna: `kalshi backtest --search tpe|random|grid`. Optuna sees
each value's index on its `LO, LO + STEP, ... HI` ladder, so no float becomes a parameter; the
study lives in SQLite beside the stored runs, so the same command continues it.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kalshi_cli.backtest.engine import BacktestSpec
from kalshi_cli.backtest.report import failed, failure_line, plain, skipped_of
from kalshi_cli.backtest.sweep import METRICS, metric_value, run_sweep
from kalshi_cli.strategy_api import search_ranges
from kalshi_cli.strategy_api.params import ParamValue
from kalshi_cli.vocabulary.errors import ConfigError, UsageError
from kalshi_cli.vocabulary.process import raise_if_interrupted

if TYPE_CHECKING:
    import optuna

    from kalshi_cli.backtest.executors import Executor
    from kalshi_cli.strategy_api import Strategy

SAMPLERS = ("tpe", "random", "grid")
STUDIES = "studies.sqlite"


@dataclass(frozen=True)
class Axis:
    """One searched parameter: `count` values from `low` by `step`."""

    name: str
    low: Decimal
    step: Decimal
    count: int

    @classmethod
    def between(cls, name: str, low: Decimal, high: Decimal, step: Decimal) -> Axis:
        if not (low.is_finite() and high.is_finite() and step.is_finite()):
            raise UsageError(f"--param {name}: a range of finite numbers, LO..HI[:STEP]")
        if step <= 0 or high < low:
            raise UsageError(f"--param {name}={low}..{high}:{step}: expected LO <= HI, STEP > 0")
        steps = (high - low) / step
        if steps != steps.to_integral_value():
            raise UsageError(
                f"--param {name}={low}..{high}:{step}: {high} is not {low} plus whole steps",
                hint="choose a STEP that divides HI - LO",
            )
        return cls(name, low, step, int(steps) + 1)

    def value(self, index: int) -> str:
        return f"{self.low + index * self.step:f}"  # a plain decimal, never `1E-7`

    def values(self) -> list[str]:
        return [self.value(i) for i in range(self.count)]

    def to_json(self) -> dict[str, str | int]:
        high = self.low + (self.count - 1) * self.step
        return {
            "low": str(self.low),
            "high": str(high),
            "step": str(self.step),
            "values": self.count,
        }


def is_range(value: str) -> bool:
    return ".." in value


def parse_range(name: str, text: str) -> Axis:
    """`LO..HI` (the step: one unit of the last decimal place written) or `LO..HI:STEP`."""
    bounds, _, step_text = text.partition(":")
    low_text, _, high_text = bounds.partition("..")
    try:
        low, high = Decimal(low_text.strip()), Decimal(high_text.strip())
        if step_text.strip():
            step = Decimal(step_text.strip())
        else:
            places = max(-_exponent(low), -_exponent(high), 0)
            step = Decimal(1).scaleb(-places)
    except InvalidOperation:
        raise UsageError(f"--param {name}={text}: expected a range LO..HI or LO..HI:STEP") from None
    return Axis.between(name, low, high, step)


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0


def space(strategy: Strategy[Any], given: Mapping[str, str], fixed: Sequence[str]) -> list[Axis]:
    """The searched axes, in the order of the params' fields: the `--param` ranges when any is
    given, else the ranges the strategy declares that no single `--param` fixes."""
    declared = {
        name: Axis.between(name, Decimal(r.low), Decimal(r.high), Decimal(r.step))
        for name, r in search_ranges(strategy.params_type).items()
    }
    fields = list(strategy.params_type.__struct_fields__)
    for name in given:
        if name not in fields:
            raise UsageError(
                f"--param {name}: {strategy.name} has no parameter {name}",
                hint=f"known: {', '.join(fields)}",
            )
    if given:
        axes = {n: parse_range(n, text) for n, text in given.items()}
    else:
        axes = {n: a for n, a in declared.items() if n not in fixed}
    if not axes:
        raise UsageError(
            f"nothing to search: {strategy.name} declares no search range",
            hint="give one: --param NAME=LO..HI or NAME=LO..HI:STEP",
        )
    return [axes[n] for n in fields if n in axes]


@dataclass
class SearchOutcome:
    """A search's trials that ran, best first (as `run_sweep` gives them: spec, report, from
    the cache?), and what the study holds."""

    results: list[tuple[BacktestSpec, dict[str, Any], bool]]
    study: str
    storage: Path
    sampler: str
    axes: list[Axis]
    ran_before: int  # trials that ran in an earlier process
    ran_now: int
    refused: list[dict[str, Any]] = field(default_factory=list)  # {"params", "reason"}
    interrupted: int = 0  # trials a dead process left running, marked failed here

    def to_json(self) -> dict[str, Any]:
        return {
            "sampler": self.sampler,
            "study": self.study,
            "storage": str(self.storage),
            "space": {a.name: a.to_json() for a in self.axes},
            "trials": {
                "ran": self.ran_before + self.ran_now,
                "ran_before": self.ran_before,
                "ran_now": self.ran_now,
                "refused": len(self.refused),
                "interrupted": self.interrupted,
            },
            "refused": self.refused,
        }


def study_name(base: BacktestSpec, axes: Sequence[Axis], sampler: str, rank_by: str) -> str:
    """The same search (base spec with its window, ranges, sampler, metric) has the same name,
    so running the command again continues it; anything else is a study of its own."""
    identity = json.dumps(
        {
            "spec": asdict(base),
            "axes": [[a.name, *a.to_json().values()] for a in axes],
            "sampler": sampler,
            "rank_by": rank_by,
        },
        sort_keys=True,
        default=str,
    )
    stem = Path(base.strategy).stem if base.strategy.endswith(".py") else base.strategy
    return f"{stem}-{sampler}-{hashlib.sha256(identity.encode()).hexdigest()[:12]}"


def search(
    base: BacktestSpec,
    strategy: Strategy[Any],
    axes: Sequence[Axis],
    *,
    sampler: str,
    trials: int,
    rank_by: str,
    storage_dir: Path,
    name: str | None = None,
    seed: int = 0,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    run: Callable[[BacktestSpec], dict[str, Any]] | None = None,  # a function of this process
    progress: Callable[[str], None] | None = None,
    executor: Executor | None = None,  # where the runs go (executors.py); None: a local pool
) -> SearchOutcome:
    """Run the study until `trials` trials of it have run (or a grid is done)."""
    if sampler not in SAMPLERS:
        raise UsageError(f"--search {sampler!r}", hint=f"choose one of: {', '.join(SAMPLERS)}")
    if trials < 1:
        raise UsageError("--trials must be at least 1")
    try:
        import optuna
    except ImportError:
        raise UsageError(
            "--search needs Optuna", hint="pip install 'kalshi-cli[research]'"
        ) from None

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage_dir.mkdir(parents=True, exist_ok=True)
    path = storage_dir / STUDIES
    name = name or study_name(base, axes, sampler, rank_by)
    # what the trials' figures depend on: a study's trials are only comparable under one
    identity = {
        "spec": plain(asdict(replace(base, params=()))),
        "params": {k: v for k, v in base.params if k not in _names(axes)},
        "axes": {a.name: a.to_json() for a in axes},
        "sampler": sampler,
        "rank_by": rank_by,
    }
    with _locked(storage_dir, name):
        study = optuna.create_study(
            study_name=name,
            storage=f"sqlite:///{path}",
            direction="maximize" if METRICS[rank_by][1] else "minimize",
            load_if_exists=True,
        )
        _check_identity(study, name, identity)
        interrupted = _retry_interrupted(study)
        ran_before = len(_ran(study))
        study.sampler = _sampler(sampler, seed + len(study.trials))
        try:
            ran_now, refused = _trials(
                study, base, strategy=strategy, axes=axes, wanted=trials - ran_before,
                rank_by=rank_by, jobs=jobs, cache_dir=cache_dir, run=run, progress=progress,
                grid=sampler == "grid", executor=executor,
            )  # fmt: skip
        except KeyboardInterrupt:
            if progress is not None:
                progress(
                    f"stopped: the study {name} keeps the {len(_ran(study))} trials that ran; "
                    "the same command continues it"
                )
            raise
        results = [
            (_spec_of(base, t.user_attrs["params"]), _report_of(t), t.user_attrs["cached"])
            for t in _ran(study)
        ]
    if not results and refused:
        # a grid whose every point the strategy refused: the ranges are wrong, as when a
        # random search meets only refusals, and there is nothing to rank or store
        raise _all_refused(f"all {len(refused)} parameter sets", refused)
    return SearchOutcome(
        results=results,
        study=name,
        storage=path,
        sampler=sampler,
        axes=list(axes),
        ran_before=ran_before,
        ran_now=ran_now,
        refused=refused,
        interrupted=interrupted,
    )


def _all_refused(how_many: str, refused: list[dict[str, Any]]) -> UsageError:
    return UsageError(
        f"the strategy refused {how_many} of the search, e.g. {refused[-1]['reason']}",
        hint="narrow the ranges (--param NAME=LO..HI) to values the strategy takes",
    )


def _trials(
    study: optuna.Study,
    base: BacktestSpec,
    *,
    strategy: Strategy[Any],
    axes: Sequence[Axis],
    wanted: int,
    rank_by: str,
    jobs: int | None,
    cache_dir: Path | None,
    run: Callable[[BacktestSpec], dict[str, Any]] | None,
    progress: Callable[[str], None] | None,
    grid: bool,
    executor: Executor | None,
) -> tuple[int, list[dict[str, Any]]]:
    """Ask, run and tell trials in batches until `wanted` ran; (how many ran, those refused).
    Whole: one ask-run-tell loop whose three exits share its counters."""
    ran = 0
    refused: list[dict[str, Any]] = []
    size = math.prod(a.count for a in axes)
    while ran < wanted:
        # a Ctrl-C Python discarded (in one of the study's finalizers, say) stops it here
        raise_if_interrupted()
        left = wanted - ran
        if grid:
            left = min(left, size - len(_visited(study, axes)))
        if left <= 0:
            break
        if len(refused) >= max(wanted, 1) * 2:
            raise _all_refused(f"{len(refused)} parameter sets", refused)
        asked = min(left, jobs or os.cpu_count() or 1)
        if grid and not _waiting(study):
            _enqueue_grid(study, axes, asked)
        batch = _ask(study, base, strategy, axes, asked=asked, refused=refused)
        if not batch:
            continue
        done = run_sweep(
            [spec for _, spec in batch],
            jobs=jobs,
            cache_dir=cache_dir,
            run=run,
            executor=executor,
        )
        for (trial, _), (_, report, cached) in zip(batch, done, strict=True):
            value, failure = _tell(study, trial, report, cached, rank_by)
            ran += 1
            if progress is not None:
                progress(_trial_line(trial, axes, rank_by, value, failure))
    return ran, refused


def _ask(
    study: optuna.Study,
    base: BacktestSpec,
    strategy: Strategy[Any],
    axes: Sequence[Axis],
    *,
    asked: int,
    refused: list[dict[str, Any]],
) -> list[tuple[optuna.Trial, BacktestSpec]]:
    """`asked` trials of the study, each with the spec it runs; a parameter set the strategy
    refuses is told failed at once and added to `refused`, and runs nothing."""
    from optuna.trial import TrialState

    batch = []
    for _ in range(asked):
        trial = study.ask()
        values = {a.name: a.value(trial.suggest_int(a.name, 0, a.count - 1)) for a in axes}
        params = dict(base.params) | values
        trial.set_user_attr("params", params)
        try:
            strategy.params(params)
        except ConfigError as exc:
            trial.set_user_attr("refused", exc.message)
            study.tell(trial, state=TrialState.FAIL)
            refused.append({"params": values, "reason": exc.message})
            continue
        batch.append((trial, _spec_of(base, params)))
    return batch


def _tell(
    study: optuna.Study, trial: optuna.Trial, report: dict[str, Any], cached: bool, rank_by: str
) -> tuple[float | None, dict[str, Any] | None]:
    """One trial's run told to the study, its report's figures kept on it: (its `rank_by`
    value, None where it has none; its failure, None where it did not fail)."""
    from optuna.trial import TrialState

    trial.set_user_attr("totals", plain(report["totals"]))
    trial.set_user_attr("statistics", plain(report.get("statistics")))
    trial.set_user_attr("skipped", skipped_of(report))
    # the ranking reads the study, not the report: a failed run must stay failed there
    failure = failed(report)
    trial.set_user_attr("failed", plain(failure))
    trial.set_user_attr("trading_states", plain(report.get("trading_states") or []))
    trial.set_user_attr("cached", cached)
    value = metric_value(report, rank_by)
    if value is None:
        study.tell(trial, state=TrialState.FAIL)  # it ran; it ranks last
    else:
        study.tell(trial, value)
    return value, failure


def _trial_line(
    trial: optuna.Trial,
    axes: Sequence[Axis],
    rank_by: str,
    value: float | None,
    failure: dict[str, Any] | None,
) -> str:
    shown = " ".join(f"{k}={trial.user_attrs['params'][k]}" for k in _names(axes))
    figure = "-" if value is None else f"{value:.4f}"
    if failure is not None:
        figure = f"FAILED ({failure_line(failure)})"
    return f"trial {trial.number}: {rank_by} {figure}  {shown}"


def _names(axes: Sequence[Axis]) -> list[str]:
    return [a.name for a in axes]


def _sampler(kind: str, seed: int) -> optuna.samplers.BaseSampler:
    import optuna

    # a resumed study's sampler is seeded past the trials it holds: the same seed again would
    # propose the same first points again
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    # a grid's points are enqueued in order (`_enqueue_grid`), so its sampler is never asked
    return optuna.samplers.RandomSampler(seed=seed)


def _enqueue_grid(study: optuna.Study, axes: Sequence[Axis], count: int) -> None:
    """The next `count` points of the grid not yet visited, in order, as enqueued trials.
    (Optuna's GridSampler stops the study from inside `tell`, which only `optimize` allows;
    the grid is small enough to walk here, and in order it is the same grid every time.)"""
    visited = _visited(study, axes)
    names = _names(axes)
    todo = (
        point
        for point in itertools.product(*(range(a.count) for a in axes))
        if point not in visited
    )
    for point in itertools.islice(todo, count):
        study.enqueue_trial(dict(zip(names, point, strict=True)))


def _check_identity(study: optuna.Study, name: str, identity: dict[str, Any]) -> None:
    known = study.user_attrs.get("identity")
    if known is None:
        study.set_user_attr("identity", identity)
    elif known != plain(identity):
        differs = [k for k in identity if known.get(k) != plain(identity[k])]
        raise UsageError(
            f"the study {name} was another search; what differs: {', '.join(differs)}",
            hint="give another --study NAME, or the same search to continue it",
        )


def _retry_interrupted(study: optuna.Study) -> int:
    """Trials a dead process left running (this process holds the study's lock, so none is
    alive): each marked failed, and its parameters enqueued to be tried first."""
    from optuna.trial import TrialState

    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        study.tell(trial.number, state=TrialState.FAIL)
        if trial.params:
            study.enqueue_trial(dict(trial.params), skip_if_exists=True)
    return len(stale)


def _waiting(study: optuna.Study) -> bool:
    from optuna.trial import TrialState

    return bool(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def _ran(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if "totals" in t.user_attrs]


def _visited(study: optuna.Study, axes: Sequence[Axis]) -> set[tuple[int, ...]]:
    """The grid points a trial ran or the strategy refused (an interrupted one is not)."""
    names = _names(axes)
    return {
        tuple(t.params[n] for n in names)
        for t in study.get_trials(deepcopy=False)
        if ("totals" in t.user_attrs or "refused" in t.user_attrs)
        and all(n in t.params for n in names)
    }


def _spec_of(base: BacktestSpec, params: Mapping[str, ParamValue]) -> BacktestSpec:
    return replace(base, params=tuple(sorted((dict(base.params) | dict(params)).items())))


def _report_of(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return {
        "totals": trial.user_attrs["totals"],
        "statistics": trial.user_attrs["statistics"],
        "failed": trial.user_attrs.get("failed"),
        # when its loop's trading state changed (a study kept before it was noted: nothing)
        "trading_states": trial.user_attrs.get("trading_states") or [],
        # what its reading of the data skipped (a study kept before it was noted: nothing)
        "data": {"skipped": trial.user_attrs.get("skipped") or {}},
    }


@contextmanager
def _locked(storage_dir: Path, name: str) -> Iterator[None]:
    lock = storage_dir / f".{hashlib.sha256(name.encode()).hexdigest()[:16]}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(
                f"another process is searching the study {name}",
                hint="wait for it, or give another --study NAME",
            ) from None
        yield
    finally:
        os.close(fd)
