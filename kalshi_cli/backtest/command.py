"""`kalshi backtest` as one library call: a request in, one run, a sweep or a look-ahead check
out. The command (cli/backtest.py) only parses flags into a `BacktestRequest` and renders."""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kalshi_cli.backtest import split
from kalshi_cli.backtest.engine import BacktestSpec, execute, markets_of
from kalshi_cli.backtest.executors import Progress, open_executor
from kalshi_cli.backtest.history import RunStore, provenance
from kalshi_cli.backtest.lookahead import LookAheadFound, LookAheadReport, check_lookahead
from kalshi_cli.backtest.report import (
    StrategyFailed,
    build_report,
    failed,
    failure_line,
    params_text,
    render_text,
)
from kalshi_cli.backtest.research import (
    Trials,
    holdout_choice,
    holdout_lines,
    out_of_sample,
    out_of_sample_line,
    ranked_runs,
    skipped_lines,
    sweep_lines,
    walk_forward,
    window_failed,
    window_lines,
    with_holdout,
)
from kalshi_cli.backtest.search import is_range, space
from kalshi_cli.backtest.split import OVERFIT_GAP, data_span
from kalshi_cli.backtest.sweep import METRICS, default_cache_dir, grid, parse_params
from kalshi_cli.strategies import StrategyLookup, strategy_source
from kalshi_cli.strategy_api import params_dict
from kalshi_cli.strategy_api.params import ParamPairs
from kalshi_cli.vocabulary.clock import parse_time as clock_parse_time
from kalshi_cli.vocabulary.errors import ConfigError, DataWriteError, UsageError
from kalshi_cli.vocabulary.files import make_dir, write_whole
from kalshi_cli.vocabulary.names import names_in
from kalshi_cli.vocabulary.order_terms import TermsError, parse_amount, parse_cash

if TYPE_CHECKING:
    from kalshi_cli.runner.config import StrategyChoice, TradeConfig
    from kalshi_cli.strategy_api import Strategy

DEFAULT_TRIALS = 20  # a search's trials when --trials is not given (a grid: all its points)
WALK_FORWARD_SHARE = Decimal("0.25")  # each window's test part, when --holdout is not given


def default_studies_dir() -> Path:
    """Where a search keeps its studies when runs are not stored (a library call)."""
    return default_cache_dir("studies")


@dataclass(frozen=True)
class BacktestRequest:
    spec: BacktestSpec  # the base spec; `params` below are laid over its own
    params: tuple[str, ...] = ()  # --param NAME=V or NAME=V1,V2
    html: Path | None = None
    out: Path | None = None
    keep_state: bool = False  # with `out`: the run's state saved there as backtest.db
    rank_by: str = "net"
    jobs: int | None = None
    cache_dir: Path | None = None
    lookahead: bool = False
    runs_dir: Path | None = None  # where the run is stored (history.py); None: not stored
    best_params: Path | None = None  # a sweep writes its best run's params here (YAML)
    holdout: Decimal | None = None  # the last share of the span, held out (split.py)
    walk_forward: int | None = None  # windows; `holdout` (or WALK_FORWARD_SHARE) their test share
    search: str | None = None  # tpe, random or grid (search.py)
    trials: int | None = None  # the trials the study should hold
    study: str | None = None
    seed: int = 0
    overfit_gap: Decimal = OVERFIT_GAP
    progress: Callable[[str], None] | None = None  # a line per search trial
    executor: str = "local"  # where a sweep's runs go (executors.py): local or dask
    scheduler: str | None = None  # a Dask scheduler's address (dask: else a local cluster)
    run_progress: Progress | None = None  # (runs done, runs in all) as a sweep's runs finish
    replay_progress: Callable[[int], None] | None = None  # percent of a single run's data done
    # the command's strategies, each looked up once (build_request: the config's lookup) and
    # handed down to every run made in this process, its checks and its stored provenance
    strategies: StrategyLookup = field(default_factory=StrategyLookup, compare=False, repr=False)


@dataclass
class BacktestOutcome:
    report: dict[str, Any] | None = None  # one run
    runs: list[dict[str, Any]] = field(default_factory=list)  # a sweep, ranked
    lookahead: LookAheadReport | None = None
    rank_by: str = "net"
    run_id: str | None = None  # as stored
    search: dict[str, Any] | None = None  # the study a search ran (search.SearchOutcome)
    holdout: dict[str, Any] | None = None  # the split: share, the two parts
    chosen: dict[str, Any] | None = None  # the set chosen on training data
    windows: list[dict[str, Any]] | None = None  # walk-forward
    out_of_sample: dict[str, Any] | None = None
    statistics: list[Any] | None = None  # a plain sweep's, for the stored record only
    # a sweep's, a holdout's or a walk-forward's: what its runs' reading of the data skipped
    # (`Trials.skipped`); a single run's report says it itself
    skipped: dict[str, int] | None = None

    def lines(self) -> list[str]:
        """What the terminal shows: the report (and the look-ahead check), or the ranking."""
        if self.report is not None:
            lines = render_text(self.report)
            if self.lookahead is not None:
                lines += ["", *self.lookahead.lines()]
            return lines + self._stored()
        if self.windows is not None:
            lines = self._walk_forward_lines()
        elif self.holdout is not None:
            lines = holdout_lines(self.runs, self.rank_by, self.holdout, self.search)
        else:
            lines = sweep_lines(self.runs, self.rank_by, self.search)
        return lines + skipped_lines(self.skipped) + self._stored()

    def _walk_forward_lines(self) -> list[str]:
        assert self.windows is not None and self.out_of_sample is not None
        out = [line for w in self.windows for line in window_lines(w, self.rank_by)]
        return [*out, out_of_sample_line(self.out_of_sample)]

    def _stored(self) -> list[str]:
        if self.run_id is None:
            return []
        return ["", f"stored as run {self.run_id} (`kalshi backtest runs show {self.run_id}`)"]

    def failures(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(params, failure) of every run whose strategy failed, in the order shown."""
        if self.report is not None:
            failure = failed(self.report)
            return [] if failure is None else [(dict(self.report["spec"]["params"]), failure)]
        out = []
        for run in self.runs:  # a set, with its training part's run when held out
            failure = failed(run) or failed(run.get("train") or {})
            if failure is not None:
                out.append((run["params"], failure))
        for window in self.windows or []:  # every set tried on its training part, its test
            out += [(tried["params"], tried["failed"]) for tried in window["failed"]]
            failure = failed(window["test"] or {})
            if failure is not None:
                out.append((window["params"], failure))
        return out

    def _tried(self) -> int:
        """The runs `failures` counts among: a sweep's sets; each window's training runs and
        its test run (none when the window chose no set)."""
        return len(self.runs) + sum(
            int(w["tried"]) + (w["test"] is not None) for w in self.windows or []
        )

    def raise_if_failed(self) -> None:
        """A failed strategy fails the command (STRATEGY_FAILED), after its report is shown;
        then a failed look-ahead check (CHECK_FAILED)."""
        failures = self.failures()
        if failures and self.report is not None:
            raise StrategyFailed(
                failure_line(failures[0][1]),
                hint="its figures are not the strategy's; the report lists the errors",
            )
        if failures:
            tried = self._tried()
            first_params, first = failures[0]
            params = params_text(first_params)
            raise StrategyFailed(
                f"{len(failures)} of {tried} runs failed, ranked last and not cached; "
                f"the first, {params}: {failure_line(first)}",
                hint="the table lists each failed set; run one alone with --out to read its log",
            )
        if self.lookahead is not None and not self.lookahead.ok:
            raise LookAheadFound(
                "the look-ahead check failed: a decision changed when later data was removed",
                hint="the strategy reads data from after its decision time; "
                "see docs/backtesting.md",
            )

    def to_json(self) -> dict[str, Any]:
        if self.report is not None:
            doc = dict(self.report)
            if self.lookahead is not None:
                doc["lookahead"] = self.lookahead.to_json()
        elif self.windows is not None:
            doc = {
                "format": "kalshi-backtest-walk-forward/1",
                "rank_by": self.rank_by,
                "windows": self.windows,
                "out_of_sample": self.out_of_sample,
                "chosen": self.chosen,
            }
        else:
            doc = {"format": "kalshi-backtest-sweep/1", "runs": self.runs}
            if self.holdout is not None:
                doc |= {"holdout": self.holdout, "chosen": self.chosen}
        if self.search is not None:
            doc["search"] = self.search
        if self.report is None:
            doc["skipped"] = self.skipped or {}
        if self.run_id is not None:
            doc["run_id"] = self.run_id
        return doc


def configured_lineup(
    config_path: Path | None,
    strategy: str,
    check: Callable[[Mapping[str, str]], None] = lambda sources: None,
) -> tuple[TradeConfig, tuple[StrategyChoice, ...]]:
    """The config file's loop sections and the lineup of `--strategy STRATEGY` alone, as
    `kalshi backtest` resolves it (`choose_lineup`); `check` is shown the configured strategies'
    sources before any of them is loaded (the assistant's backtests run named code only)."""
    from kalshi_cli.runner.config import choose_lineup, load_trade_config

    config = load_trade_config(config_path)
    check(config.sources)
    return choose_lineup(config, (strategy,))


def build_request(
    config: TradeConfig,
    *,
    lineup: tuple[StrategyChoice, ...],
    data: Path,
    start: str | None,
    end: str | None,
    markets: str | None,
    params: tuple[str, ...],
    fill_model: str,
    latency_ms: int,
    balance: str,
    cache: bool,
    holdout: str | None = None,
    overfit_gap: str | None = None,
) -> BacktestRequest:
    """The command line and the config file's sections (`strategies.NAME`, `risk`, `trade`)
    as one request, what is given as text parsed; a bad amount is refused before anything
    runs. A caller lays the fields it gives as they are over the request (`dataclasses.replace`).
    `lineup`: the strategies (`choose_lineup`), run in one loop on one bankroll, each with its
    params validated as a whole, with file and line, here."""
    runs = [
        (found, config.params_for(found, choice.params_file))
        for choice in lineup
        for found in [choice.strategy or config.strategy(choice.spec)]
    ]
    sources = [_source_key(found, values) for found, values in runs]
    (loaded, validated), *others = runs
    try:
        parse_cash(balance)  # the venue holds it in cents, as the exchange does
    except TermsError as exc:
        raise UsageError(f"--balance: {exc.problems[0].message}") from None
    start_ns, end_ns = parse_time(start, "--from"), parse_time(end, "--to")
    if start_ns is not None and end_ns is not None and start_ns >= end_ns:
        raise UsageError(f"--from {start} is not before --to {end}", hint="swap them")
    spec = BacktestSpec(
        data=str(data),
        strategy=loaded.spec or loaded.name,
        params=_param_pairs(validated),
        strategy_source=" | ".join(sources),
        beside=tuple((s.spec or s.name, _param_pairs(p)) for s, p in others),
        names=tuple(s.name for s, _ in runs) if others else (),
        markets=tuple(names_in(markets)),
        start_ns=start_ns,
        end_ns=end_ns,
        fill_model=fill_model,
        latency_ms=latency_ms,
        balance=balance,
        risk=_section_items(config.risk),
        trade=_section_items(config.trade),
    )
    return BacktestRequest(
        spec=spec,
        params=params,
        cache_dir=default_cache_dir() if cache else None,
        holdout=None if holdout is None else split.parse_share(holdout),
        overfit_gap=OVERFIT_GAP if overfit_gap is None else _gap_share(overfit_gap),
        strategies=config.lookup,
    )


def _gap_share(text: str) -> Decimal:
    try:
        return parse_amount(text, "overfit gap", allow_zero=True)
    except TermsError as exc:
        problem = exc.problems[0].message
        share = "a share of at least 0, e.g. 0.5"
        raise UsageError(f"--overfit-gap {text!r}: {problem} ({share})") from None


def parse_time(text: str | None, what: str) -> int | None:
    """Unix seconds, a date or ISO 8601 (UTC when no offset) -> unix nanoseconds."""
    if text is None:
        return None
    try:
        seconds = clock_parse_time(text)
    except ValueError as exc:
        raise UsageError(f"{what} {exc}") from exc
    return round(Decimal(repr(seconds)) * 1_000_000_000)


def backtest(request: BacktestRequest) -> BacktestOutcome:
    if request.rank_by not in METRICS:
        raise UsageError(
            f"--rank-by {request.rank_by!r}", hint=f"choose one of: {', '.join(METRICS)}"
        )
    _check_outputs(request)
    axes = _whose(request.spec, parse_params(request.params))
    ranges = {k: v[0] for k, v in axes.items() if len(v) == 1 and is_range(v[0])}
    singles = {k: v[0] for k, v in axes.items() if len(v) == 1 and k not in ranges}
    base = request.spec.with_values(singles)
    sweep_axes = {k: v for k, v in axes.items() if len(v) > 1}
    strategy = request.strategies(base.strategy)
    _check_research(request, ranges, sweep_axes)
    _check_cells(request.strategies, base, sweep_axes, [k for k in axes if k not in ranges])
    ranges = _searched(base, ranges)
    research = sweep_axes or request.search or request.holdout or request.walk_forward
    if research:
        return _many(
            request, base, strategy=strategy, ranges=ranges, singles=singles, sweep_axes=sweep_axes
        )
    return _single(request, base)


def _whose(spec: BacktestSpec, axes: dict[str, list[str]]) -> dict[str, list[str]]:
    """`--param` values, each named as `BacktestSpec.values` names it: with several strategies
    NAME.param, NAME one of the lineup's."""
    if not spec.beside:
        return axes
    for key in axes:
        if not any(key.startswith(f"{name}.") for name in spec.names):
            raise UsageError(
                f"--param {key}: with several strategies, say whose: --param NAME.{key}",
                hint="NAME is one of " + ", ".join(spec.names),
            )
    return axes


def _searched(base: BacktestSpec, ranges: dict[str, str]) -> dict[str, str]:
    """The ranges a search tries, by the first strategy's own names: a search varies the first
    strategy's params."""
    if not base.beside:
        return ranges
    first = f"{base.names[0]}."
    for key in ranges:
        if not key.startswith(first):
            raise UsageError(
                f"--param {key}: --search varies the first strategy's params",
                hint=f"name one of {base.names[0]}'s, or list the values to sweep: NAME.P=V1,V2",
            )
    return {k[len(first) :]: v for k, v in ranges.items()}


def _check_cells(
    lookup: StrategyLookup, base: BacktestSpec, sweep_axes: dict[str, list[str]], given: list[str]
) -> None:
    for spec in grid(base, sweep_axes):
        # every combination validated as a whole before the first run starts, a refusal
        # named by the flags' values of its cell (the config's own were checked on loading)
        values = spec.values()
        choices, params = spec.lineup(lookup)
        try:
            for choice in choices:
                assert choice.strategy is not None
                choice.strategy.params(params[choice.strategy.name])
        except ConfigError as exc:
            if not given:
                raise
            cell = " ".join(f"{k}={values[k]}" for k in given)
            raise UsageError(f"--param {cell}: {exc.message}", hint=exc.hint) from None


def _many(
    request: BacktestRequest,
    base: BacktestSpec,
    *,
    strategy: Strategy[Any],
    ranges: dict[str, str],
    singles: dict[str, str],
    sweep_axes: dict[str, list[str]],
) -> BacktestOutcome:
    """A sweep or a search, its chosen set written and the whole stored when asked."""
    if request.lookahead or request.html or request.out:
        raise UsageError("--lookahead-check, --html and --out take one run, not a sweep")
    markets_of(base)  # no data set is refused here, once, not as a failure of every run
    searched = space(strategy, ranges, list(singles)) if request.search else []
    points = math.prod(a.count for a in searched)
    trials = Trials(
        strategy=strategy,
        rank_by=request.rank_by,
        sweep_axes=sweep_axes,
        sampler=request.search,
        axes=tuple(searched),
        trials=request.trials or (points if request.search == "grid" else DEFAULT_TRIALS),
        study=request.study,
        seed=request.seed,
        studies_dir=request.runs_dir or default_studies_dir(),
        jobs=request.jobs,
        cache_dir=request.cache_dir,
        progress=request.progress,
        run_progress=request.run_progress,
    )
    with open_executor(
        request.executor,
        jobs=request.jobs,
        scheduler=request.scheduler,
        strategies=request.strategies,
    ) as executor:
        sweep = _research(request, replace(trials, executor=executor), base)
    if request.best_params is not None and sweep.chosen:
        _write_params(request.best_params, sweep.chosen, request.rank_by)
    if request.runs_dir is not None:
        record = {
            "kind": "walk-forward" if sweep.windows is not None else "sweep",
            "axes": sweep_axes or ranges,
            "rank_by": request.rank_by,
        }
        sweep.run_id = RunStore(request.runs_dir).save(
            provenance(base, request.strategies) | record | _stored(sweep)
        )
    return sweep


def _single(request: BacktestRequest, base: BacktestSpec) -> BacktestOutcome:
    """One run, checked for lookahead, written as HTML and stored when asked."""
    if request.best_params is not None:
        raise UsageError(
            "--best-params takes a sweep or a search",
            hint="give a --param NAME=V1,V2 with several values, or --search",
        )
    if request.executor != "local" or request.scheduler:
        raise UsageError(
            "--executor and --scheduler take a sweep or a search",
            hint="give a --param NAME=V1,V2 with several values, or --search",
        )
    outcome = BacktestOutcome(
        report=_one(
            base, request.out, request.strategies, request.replay_progress, request.keep_state
        )
    )
    if request.lookahead:
        with tempfile.TemporaryDirectory(prefix="kalshi-lookahead-") as tmp:
            outcome.lookahead = check_lookahead(base, Path(tmp), strategies=request.strategies)
    if request.html is not None:
        from kalshi_cli.backtest.html import render_html

        assert outcome.report is not None
        try:
            write_whole(request.html, render_html(outcome.report))
        except OSError as exc:
            raise _not_written(request.html, exc) from None
    if request.runs_dir is not None:
        record = provenance(base, request.strategies) | {"kind": "run", "report": outcome.to_json()}
        outcome.run_id = RunStore(request.runs_dir).save(record)
    return outcome


def _check_research(
    request: BacktestRequest, ranges: dict[str, str], sweep_axes: dict[str, list[str]]
) -> None:
    if ranges and request.search is None:
        raise UsageError(
            f"--param {next(iter(ranges))}={next(iter(ranges.values()))}: a range takes --search",
            hint="add --search tpe|random|grid, or list the values: NAME=V1,V2",
        )
    if request.search is not None and sweep_axes:
        raise UsageError(
            f"--param {next(iter(sweep_axes))}: --search tries ranges, not lists",
            hint="give NAME=LO..HI[:STEP], or drop --search to sweep the list",
        )
    if request.search is None and (request.trials is not None or request.study is not None):
        raise UsageError("--trials and --study take --search")
    if request.walk_forward is not None and request.walk_forward < 1:
        raise UsageError("--walk-forward takes at least 1 window")


def _research(request: BacktestRequest, trials: Trials, base: BacktestSpec) -> BacktestOutcome:
    """A sweep or a search: on the whole span, with a holdout, or walking forward."""
    out = BacktestOutcome(rank_by=request.rank_by)
    if request.walk_forward is not None:
        share = request.holdout or WALK_FORWARD_SHARE
        span = data_span(Path(base.data), base.start_ns, base.end_ns)
        out.windows = walk_forward(
            trials, base, split.walk_forward(span, request.walk_forward, share),
            request.overfit_gap,
        )  # fmt: skip
        out.out_of_sample = out_of_sample(out.windows)
        # the set the last window chose: chosen on the most recent data; none when that
        # window chose none or its set failed (a failed set is never the one chosen)
        last = out.windows[-1]
        out.chosen = None if window_failed(last) else last["params"]
        out.skipped = dict(trials.skipped)
        return out
    if request.holdout is not None:
        span = data_span(Path(base.data), base.start_ns, base.end_ns)
        fold = split.holdout(span, request.holdout)
        out.runs, tried = with_holdout(trials, base, fold, request.overfit_gap)
        out.holdout = {
            "share": str(request.holdout),
            "train": fold.train.to_json(),
            "holdout": fold.test.to_json(),
            "overfit_gap": str(request.overfit_gap),
        }
        chosen = holdout_choice(out.runs)
        out.chosen = None if chosen is None else chosen["params"]
    else:
        tried = trials.run(base)
        out.runs = ranked_runs(tried.results, request.rank_by)
        out.chosen = next((run["params"] for run in out.runs if not run["failed"]), None)
        out.statistics = [r.get("statistics") for _, r, _ in tried.results]
    if tried.search is not None:
        out.search = tried.search.to_json()
    out.skipped = dict(trials.skipped)
    return out


def _stored(sweep: BacktestOutcome) -> dict[str, Any]:
    doc = sweep.to_json()
    doc.pop("format", None)
    if sweep.statistics is not None:  # the rows of a plain sweep print none; keep them
        doc["runs"] = [
            {**run, "statistics": stats}
            for run, stats in zip(doc["runs"], sweep.statistics, strict=True)
        ]
    return doc


def _param_pairs(params: Any) -> ParamPairs:
    """Validated params as the spec keeps them, each read back by the params decoder as it was
    (a list parameter's items each a text: `str(())` was no list, and every built-in default of
    one refused its own strategy's backtest)."""
    return tuple(
        sorted(
            (k, tuple(str(x) for x in v) if isinstance(v, tuple | list) else str(v))
            for k, v in params_dict(params).items()
        )
    )


def _section_items(section: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A config section as the spec keeps it: its keys in order, every nested mapping a plain
    dict. The file's mappings remember their lines (`config.Located`, already checked when the
    file was read), and a spec is copied field by field (`dataclasses.asdict` for the report and
    the cache key), which cannot rebuild one: `trade.budgets: {}` of the starter config broke
    every backtest."""

    def plain(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return tuple(sorted((k, plain(v)) for k, v in section.items()))


def _source_key(loaded: Any, params: Any) -> str:
    """The strategy's code, and what its params point at that is code too (the model strategy's
    source: `code_fingerprint`), for the cache's key."""
    key = strategy_source(loaded)
    extra = getattr(params, "code_fingerprint", None)
    return f"{key}+{extra()}" if callable(extra) and extra() else key


def _write_params(path: Path, params: dict[str, Any], rank_by: str) -> None:
    """The best run's params, every one, as YAML `--params` reads back (the same run again)."""
    import yaml

    header = (
        f"# the set a sweep or search chose by {rank_by} (on the training data when held out;"
        " kalshi backtest --best-params)\n"
    )
    try:
        write_whole(path, header + yaml.safe_dump(dict(params), sort_keys=True))
    except OSError as exc:
        raise _not_written(path, exc) from None


def _check_outputs(request: BacktestRequest) -> None:
    """Where the run's files go, made before it runs (a directory that cannot be made should
    not cost a long run): --out, and the directory of the --html file; --keep-state saves the
    state file in --out."""
    if request.keep_state and request.out is None:
        raise UsageError(
            "--keep-state saves the run's state file in the --out directory",
            hint="add --out DIR",
        )
    html = request.html
    for directory in [d for d in (request.out, html and html.parent) if d is not None]:
        try:
            make_dir(directory)
        except OSError as exc:
            raise _not_written(directory, exc) from None


def _not_written(path: Path, exc: OSError) -> DataWriteError:
    return DataWriteError(
        f"cannot write {path}: {exc.strerror or exc}",
        hint="free space, or choose a directory this user may write",
    )


def _one(
    spec: BacktestSpec,
    out: Path | None,
    strategies: StrategyLookup,
    progress: Callable[[int], None] | None = None,
    keep_state: bool = False,
) -> dict[str, Any]:
    """The run, and in `out` its entry log, its report and with `keep_state` its state file:
    files the command writes, one the machine will not take (the disk full)
    DATA_WRITE_FAILED, as every output's."""
    from kalshi_cli.store.errors import StateFileUnwritable

    if out is not None:
        make_dir(out)
        # a run's files are its own, none left from another
        for name in ("backtest.db", "backtest.db-wal", "backtest.db-shm", "backtest.log"):
            (out / name).unlink(missing_ok=True)
    try:
        artifacts = execute(
            spec,
            keep_state=out / "backtest.db" if out is not None and keep_state else None,
            log_path=None if out is None else out / "backtest.log",
            strategies=strategies,
            progress=progress,
        )
    except StateFileUnwritable as exc:
        raise DataWriteError(
            f"cannot write the run's state file in {out}: {exc.message}",
            hint="free space, or choose a directory this user may write",
        ) from exc
    try:
        report = build_report(artifacts)
    finally:
        artifacts.store.close()
    if out is not None:
        try:
            write_whole(out / "report.json", json.dumps(report, indent=1, default=str))
        except OSError as exc:
            raise _not_written(out / "report.json", exc) from None
    return report
