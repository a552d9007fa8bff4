"""The report of a backtest, built from the run's own state file with the production P&L code, so
its P&L is computed as `kalshi pnl` computes a live one; the statistics are `stats.analyse`'s.
docs/backtesting.md "The report".
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kalshi_cli.backtest.stats import MONEY, analyse
from kalshi_cli.services.pnl import Bucket, PnlEngine, PnlSummary, merge_settlements, summarize
from kalshi_cli.store.records import FillRecord, SettlementRecord, TradingStateRecord
from kalshi_cli.vocabulary.clock import iso_utc
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.owners import MANUAL, OWNER_NAME
from kalshi_cli.vocabulary.trading_state import TradingState
from kalshi_cli.vocabulary.units import ZERO, fmt_count, fmt_money, money_places

if TYPE_CHECKING:
    from kalshi_cli.backtest.engine import EquityPoint, RunArtifacts, StrategyFailures

FORMAT = "kalshi-backtest/1"


class StrategyFailed(KalshiError):
    """A failed run: its strategy (or its model) failed decisions, or its trading stopped until
    a person resumes it (`stops_the_run`): its figures are not the strategy's."""

    exit_code = ExitCode.STRATEGY_FAILED


def failed(report: Mapping[str, Any]) -> dict[str, Any] | None:
    """The failure of a run (`failed` in its report), None when it did not fail: the one test of
    a failed run, which is never ranked, cached or chosen, and fails the command."""
    value = report.get("failed")
    return value if isinstance(value, dict) else None


def params_text(params: Mapping[str, Any] | None) -> str:
    """A parameter set as every line of a run, a sweep or a stored run writes it: `name=value`
    by name, space-separated; empty for none."""
    return " ".join(f"{k}={v}" for k, v in sorted((params or {}).items()))


def failure_line(failure: Mapping[str, Any]) -> str:
    """A failed run in one line: how many decisions failed and the commonest error, and the
    trading state that stopped the loop, when and why (why only when no decision failed: the
    errors are the why then)."""
    stopped = failure.get("stopped")  # absent from reports stored before it was
    if not failure["decisions"]:
        if stopped is None:
            return f"trading went into SAFE_MODE: {failure['safe_mode']}"
        return f"trading went into {state_change(stopped, then=False)}"
    top = failure["errors"][0] if failure["errors"] else None
    what = f": {_error_text(top)}" if top else ""
    more = len(failure["errors"]) - 1 + (1 if failure["other_errors"] else 0)
    tail = f" (and {more} other error{'s' if more > 1 else ''})" if more > 0 else ""
    if stopped is not None:
        safe = f"; trading went into {stopped['state']} at {iso_utc(stopped['at'])}"
    else:
        safe = "; trading went into SAFE_MODE" if failure["safe_mode"] else ""
    return f"the strategy failed in {failure['decisions']} decisions{what}{tail}{safe}"


def _error_text(error: Mapping[str, Any]) -> str:
    """`FILE:LINE: Kind: message`, the file and line of the raise when the strategy's own code
    raised (`at`, absent from reports stored before it was)."""
    at = f"{error['at']}: " if error.get("at") else ""
    return f"{at}{error['kind']}: {error['error']}"


def stops_the_run(state: str) -> bool:
    """Whether trading moved to `state` makes the run a failed run: a state only a person lifts
    (SAFE_MODE, HALTED), since no person resumes a backtest and the rest of the span placed
    nothing. The circuit breaker's REDUCING is the trader's own rule: that run stands."""
    return TradingState(state).needs_person


def _failure_json(
    failures: StrategyFailures, states: list[dict[str, Any]]
) -> dict[str, Any] | None:
    stopped = next((s for s in states if stops_the_run(s["state"])), None)
    if not failures.decisions and stopped is None:
        return None
    safe = next((s for s in states if s["state"] == TradingState.SAFE_MODE), None)
    return {
        "decisions": failures.decisions,
        "errors": [
            {"strategy": strategy, "kind": kind, "error": error, "at": at, "count": count}
            for (strategy, kind, error, at), count in failures.errors.most_common()
        ],
        "other_errors": failures.other,
        "safe_mode": None if safe is None else safe["reason"],
        "stopped": stopped,
    }


def _state_json(record: TradingStateRecord) -> dict[str, Any]:
    return {
        "at": record.at,
        "state": record.state,
        "source": record.source,
        "reason": record.reason,
    }


# what the loop may still do once trading has moved to each state (docs/risk.md)
_FROM_THEN_ON = {
    "ACTIVE": "trading again",
    "REDUCING": "only closing orders from then on",
    "HALTED": "no order from then on",
    "SAFE_MODE": "no order from then on",
}


def state_change(change: Mapping[str, Any], *, then: bool = True) -> str:
    """A change of the trading state in words: to what, when (the data's time), by which rule
    and why, and (`then`) what the loop could still do after it."""
    state = change["state"]
    text = (
        f"{state} at {iso_utc(change['at'])} ({str(change['source']).replace('_', ' ')}): "
        f"{change['reason']}"
    )
    after = _FROM_THEN_ON.get(state)
    return f"{text}; {after}" if then and after else text


def trading_state_lines(report: Mapping[str, Any]) -> list[str]:
    """Every change of the trading state during the run, before the figures: they are those
    of a loop that traded as it could after each (none of a report stored before they were
    kept)."""
    states = report.get("trading_states") or []
    if not states:
        return []
    label = "trading state"
    return [
        *(f"{label if n == 0 else '':<17}{state_change(s)}" for n, s in enumerate(states)),
        "",
    ]


@dataclass
class RoundTrip:
    ticker: str
    opened: float  # unix seconds
    closed: float | None = None  # unix seconds
    pnl: Decimal = ZERO
    contracts: Decimal = ZERO  # contracts opened in it
    exit: str = ""


def build_report(run: RunArtifacts) -> dict[str, Any]:
    states, summary, book, forecasts = _read_run(run)
    left_open, marked = _left_open(run, book)
    closed = book.closed
    curve = run.equity
    net = sum(book.realized.values(), ZERO) + sum(book.settled.values(), ZERO)
    net += sum(marked.values(), ZERO)
    statistics = analyse(
        [(p.ts, p.equity) for p in curve],
        Decimal(run.spec.balance),
        [(t.pnl, t.contracts) for t in closed],
        net,
        forecasts.elements(),
    )
    groups = summary.to_json()
    assumed = {t: list(i.assumed) for t, i in run.infos.items() if i.assumed}
    return {
        "format": FORMAT,
        "failed": _failure_json(run.failures, states),
        "idle": run.idle,
        "trading_states": states,
        "spec": plain(asdict(run.spec)),
        "data": {
            "path": run.spec.data,
            "from": run.started,
            "to": run.ended,
            "markets": len(run.infos),
            "book_events": run.book_events,
            "frames": dict(run.frames),
            "skipped": dict(run.skipped),
        },
        "totals": _totals(run, book, marked, summary.fees, statistics),
        "statistics": statistics,
        "markets": _per_market(run, book, marked),
        "by_day": groups["by_day"],
        "by_strategy": {k: v.to_json() for k, v in sorted(book.by_strategy.items())},
        "exit_reasons": dict(book.exits),
        "left_open": left_open,
        "equity": [[p.ts, _m(p.equity), _m(p.exposure)] for p in curve],
        "audit": {
            "decisions": run.audit.decisions,
            "min_gap_s": None if math.isinf(run.audit.latest_gap_s) else run.audit.latest_gap_s,
            "signals": run.signal_count,
        },
        "assumptions": {
            "fill_model": run.spec.fill_model,
            "latency_ms": run.spec.latency_ms,
            # the venue's own setting (`--netting`, `trade.venue_netting`), as the run traded
            "netting": run.venue.client.subaccounts.subaccount_netting().get(0, False),
            "defaults_used": assumed,
        },
    }


def _read_run(
    run: RunArtifacts,
) -> tuple[list[dict[str, Any]], PnlSummary, _Trips, Counter[tuple[str, Decimal, bool]]]:
    """The run's trading states, P&L summary, round trips and forecasts, from its state."""
    results = {t: i.result for t, i in run.infos.items() if i.result in ("yes", "no")}
    # the fills and intents are streamed from the run's state, never held all at once: a
    # quoting strategy places an order every few events, and the report's memory must not
    # grow with them. What is kept per order is only what a figure needs: the reason of an
    # order that filled, and each (market, fair value, won) forecast once with its count
    forecasts: Counter[tuple[str, Decimal, bool]] = Counter()
    reasons: dict[str, str] = {}
    store = run.store
    # every state the run's loop set, oldest first: the run's own state, so only its own
    states = [_state_json(r) for r in store.trading.trading_state_history(limit=None)]
    settlements = store.settlements.read()
    filled_orders = {f.order_id for f in store.fills.iter_fills()}
    for i in store.orders.iter_intents():
        if i.order_id is not None and i.order_id in filled_orders:
            reasons[i.order_id] = i.reason or ""
        if i.model_fair is not None and i.ticker in results and 0 <= i.model_fair <= 1:
            forecasts[(i.ticker, i.model_fair, results[i.ticker] == i.side.value)] += 1
    summary = summarize(store.fills.iter_fills(), settlements)
    book = _Trips(reasons)
    for event in merge_settlements(store.fills.iter_fills(), settlements):
        book.add(event)
    return states, summary, book, forecasts


def _left_open(run: RunArtifacts, book: _Trips) -> tuple[list[dict[str, Any]], dict[str, Decimal]]:
    """The positions still open at the end, marked to the last book, and each one's value."""
    left_open = []
    marked: dict[str, Decimal] = {}
    for ticker, m in sorted(book.engine.markets.items()):
        if m.position == 0:
            continue
        bid, mid = m.mark(run.books.get(ticker))
        value = m.unrealized(bid)
        marked[ticker] = value if value is not None else ZERO
        left_open.append(
            {
                "ticker": ticker,
                "position": fmt_count(m.position),
                "average_entry": _s(m.average_entry),
                "mark_bid": _s(bid),
                "mark_mid": _s(mid),
                "marked": _s(value),
            }
        )
        book.exits["left open"] += 1
    return left_open, marked


def _per_market(
    run: RunArtifacts, book: _Trips, marked: dict[str, Decimal]
) -> dict[str, dict[str, Any]]:
    per_market = {}
    realized, settled = book.realized, book.settled
    for ticker in sorted(run.infos):
        got = book.engine.markets.get(ticker)
        net = realized[ticker] + settled[ticker] + marked.get(ticker, ZERO)
        per_market[ticker] = {
            "realized": _m(realized[ticker]),
            "settled": _m(settled[ticker]),
            "marked": _m(marked.get(ticker, ZERO)),
            "net": _m(net),
            "fees": _m(got.fees if got else ZERO),
            "fills": got.fills if got else 0,
            "round_trips": sum(1 for t in book.closed if t.ticker == ticker),
            "wins": sum(1 for t in book.closed if t.pnl > 0 and t.ticker == ticker),
            "position": fmt_count(got.position if got else ZERO),
            "result": run.infos[ticker].result or None,
        }
    return per_market


def _totals(
    run: RunArtifacts,
    book: _Trips,
    marked: dict[str, Decimal],
    fees: Decimal,
    statistics: dict[str, Any],
) -> dict[str, Any]:
    closed = book.closed
    wins = [t for t in closed if t.pnl > 0]
    gross_win = sum((t.pnl for t in wins), ZERO)
    gross_loss = -sum((t.pnl for t in closed if t.pnl < 0), ZERO)
    contracts = sum((t.contracts for t in closed), ZERO)
    start = Decimal(run.spec.balance)
    curve = run.equity
    stats = run.venue.stats
    filled = stats.maker_contracts + stats.taker_contracts
    total_realized = sum(book.realized.values(), ZERO)
    total_settled = sum(book.settled.values(), ZERO)
    total_marked = sum(marked.values(), ZERO)
    drawdown, drawdown_share = _max_drawdown(curve)
    waits = sorted(stats.queue_waits)
    expectancy = (
        (sum((t.pnl for t in closed), ZERO) / contracts).quantize(MONEY) if contracts else None
    )
    return {
        "start_balance": _m(start),
        "end_equity": _m(curve[-1].equity) if curve else _m(start),
        "net": _m(total_realized + total_settled + total_marked),
        "realized": _m(total_realized),
        "settled": _m(total_settled),
        "marked": _m(total_marked),
        "fees": _m(fees),
        "fills": book.fills,
        "orders": stats.orders,
        "rejected": stats.rejected,
        "cancels": stats.cancels,
        "amends": stats.amends,
        "round_trips": len(closed),
        "wins": len(wins),
        "win_rate": _ratio(len(wins), len(closed)),
        "expectancy_per_contract": None if expectancy is None else _m(expectancy),
        "profit_factor": _ratio(gross_win, gross_loss),
        "max_drawdown": _m(drawdown),
        "max_drawdown_share": drawdown_share,
        "sharpe": statistics["sharpe"]["value"],
        "sortino": statistics["sortino"]["value"],
        "max_exposure": _m(max((p.exposure for p in curve), default=ZERO)),
        "maker_share": _ratio(stats.maker_contracts, filled),
        "taker_share": _ratio(stats.taker_contracts, filled),
        "fill_ratio": _ratio(filled, stats.contracts_ordered),
        "contracts_ordered": fmt_count(stats.contracts_ordered),
        "contracts_filled": fmt_count(filled),
        "queue_wait_s": {
            "fills": len(waits),
            "mean": sum(waits) / len(waits) if waits else None,
            "median": waits[len(waits) // 2] if waits else None,
        },
    }


def plain(value: Any) -> Any:
    """`value` as JSON has it (tuples as lists, a Decimal as its text): a report is the same
    in-process, printed, stored in a study, sent by a worker process and kept in the cache, so
    every executor's reports compare equal figure by figure."""
    return json.loads(json.dumps(value, default=str))


@dataclass
class _Trips:
    """The fills and settlements through the production P&L engine, one event at a time: the
    realized and settled P&L by market, the round trips (closed, and open by market) and the
    exits by reason."""

    reasons: dict[str, str]  # order id -> its intent's reason (the orders that filled)
    engine: PnlEngine = field(default_factory=PnlEngine)
    realized: Counter[str] = field(default_factory=Counter)
    settled: Counter[str] = field(default_factory=Counter)
    closed: list[RoundTrip] = field(default_factory=list)
    open: dict[str, RoundTrip] = field(default_factory=dict)
    exits: Counter[str] = field(default_factory=Counter)
    # each dollar under the fill that realized it (`settlement` for a settlement, `manual` for
    # a fill of no strategy): they add up to the run's realized and settled P&L
    by_strategy: dict[str, Bucket] = field(default_factory=dict)
    fills: int = 0

    def add(self, event: FillRecord | SettlementRecord) -> None:
        engine, ticker = self.engine, event.ticker
        before = engine.market(ticker).position
        if isinstance(event, SettlementRecord):
            happened = engine.settle(event)
            self.settled[ticker] += happened.net  # type: ignore[assignment]
            ts = event.settled_at
            why = "settlement"
        else:
            happened = engine.fill(event)
            self.realized[ticker] += happened.net  # type: ignore[assignment]
            self.fills += 1
            ts = event.ts
            why = reason_kind(self.reasons.get(event.order_id, ""))
        group = self.by_strategy.setdefault(
            "settlement" if happened.is_settlement else happened.strategy or MANUAL, Bucket()
        )
        group.gross += happened.gross
        group.fees += happened.fee
        group.fills += not happened.is_settlement
        group.settlements += happened.is_settlement
        after = engine.market(ticker).position
        flipped = before != 0 and after != 0 and (after > 0) != (before > 0)
        trip = self.open.get(ticker)
        if trip is None and after != 0:
            trip = self.open[ticker] = RoundTrip(ticker, ts)
        if trip is None:
            return
        trip.pnl += happened.net
        if after == 0 or flipped:
            trip.closed, trip.exit = ts, why
            self.closed.append(trip)
            self.exits[why] += 1
            del self.open[ticker]
            if flipped:
                self.open[ticker] = RoundTrip(ticker, ts, contracts=abs(after))
        elif abs(after) > abs(before):
            trip.contracts += abs(after) - abs(before)


def reason_kind(text: str) -> str:
    """The kind of an order's reason: its clauses up to the first that carries a figure.
    'take-profit: bid 0.55 >= ...' -> 'take-profit'; a strategy's own name before the colon
    (the scaffold's 'book-tilt: take-profit'), one word a strategy may be named by, is kept
    whatever its digits ('mm2: take-profit'), so its take-profits and time stops are counted
    apart ('book-tilt: time stop: held 12s' -> 'book-tilt: time stop'); a reason whose first
    clause has figures is that clause."""
    clauses = [c.strip() for c in text.split(":")]
    kept = []
    for n, clause in enumerate(clauses):
        named = n == 0 and len(clauses) > 1 and OWNER_NAME.match(clause)
        if not clause or (not named and any(ch.isdigit() for ch in clause)):
            break
        kept.append(clause)
    return ": ".join(kept) or clauses[0] or "unknown"


def _s(value: Decimal | None) -> str | None:
    return None if value is None else _m(value)


def _m(amount: Decimal | int) -> str:
    """Dollars as a string with 4 decimals (fees are charged to $0.0001), more only when the
    value has them (average cost can leave millionths)."""
    value = Decimal(amount)
    exact = value.quantize(MONEY)
    return format(exact if exact == value else value, "f")


def _ratio(a: Decimal | int, b: Decimal | int) -> float | None:
    if not b:
        return None
    return float(Decimal(a) / Decimal(b))  # a ratio for people, not money


def _max_drawdown(curve: list[EquityPoint]) -> tuple[Decimal, float | None]:
    peak: Decimal | None = None
    worst = ZERO
    share: float | None = None
    for p in curve:
        if peak is None or p.equity > peak:
            peak = p.equity
        drop = peak - p.equity
        if drop > worst:
            worst = drop
            share = float(drop / peak) if peak else None  # a ratio
    return worst, share


# ------------------------------------------------------------------ the terminal


def lineup(spec: Mapping[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Each strategy of the run (the spec's `strategy` first, then those `beside` it) by its
    name, with its parameters as given."""
    runs = [(spec["strategy"], spec["params"]), *(spec.get("beside") or ())]
    names = spec.get("names") or [run for run, _ in runs]
    return [(n, [(k, v) for k, v in params]) for n, (_, params) in zip(names, runs, strict=True)]


def _strategy_lines(report: dict[str, Any], names: list[str], places: Decimal) -> list[str]:
    """Each strategy's realized P&L (its own fills and settlements), with several: they sum to
    the run's realized and settled."""
    if len(names) < 2:
        return []
    groups = report["by_strategy"]
    return [
        "by strategy      realized (fees, fills)",
        *(
            f"  {name:<15}{_amount(g['realized'], places)} ({_amount(g['fees'], places)}, "
            f"{g['fills']})"
            for name, g in groups.items()
        ),
        "",
    ]


def render_text(report: dict[str, Any], *, width: int = 72) -> list[str]:
    """The report as lines for a terminal: the totals, the markets, the days, the exits and an
    equity-curve chart."""
    t = report["totals"]
    spec = report["spec"]
    names = [name for name, _ in lineup(spec)]
    failure = failed(report)
    places = report_places(report)

    def _money(value: str | None) -> str:
        return _amount(value, places)

    lines = [
        f"backtest {', '.join(names)} on {spec['data']}: {report['data']['markets']} markets, "
        f"{report['data']['book_events']} book events, fill model {spec['fill_model']}, "
        f"latency {spec['latency_ms']} ms",
        "",
        *(failure_lines(failure) if failure else []),
        *(f"idle: {name}: {why}" for name, why in (report.get("idle") or {}).items()),
        *trading_state_lines(report),
        f"net P&L          {_money(t['net'])}   (realized {_money(t['realized'])}, settled "
        f"{_money(t['settled'])}, marked {_money(t['marked'])})",
        f"fees             {_money(t['fees'])}",
        f"equity           {_money(t['start_balance'])} -> {_money(t['end_equity'])}",
        f"round trips      {t['round_trips']} (won {t['wins']}, win rate {pct(t['win_rate'])})",
        f"expectancy       {_money(t['expectancy_per_contract'])} per contract; profit factor "
        f"{num(t['profit_factor'])}",
        f"max drawdown     {_money(t['max_drawdown'])} ({pct(t['max_drawdown_share'])})",
        f"orders           {t['orders']} ({t['rejected']} rejected, {t['cancels']} cancelled, "
        f"{t['amends']} amended); "
        f"fills {t['fills']}; fill ratio {pct(t['fill_ratio'])}",
        f"maker/taker      {pct(t['maker_share'])} / {pct(t['taker_share'])}; queue wait "
        f"mean {_secs(t['queue_wait_s']['mean'])}, median {_secs(t['queue_wait_s']['median'])}",
        f"max exposure     {_money(t['max_exposure'])}",
        "",
        *_strategy_lines(report, names, places),
        *statistics_lines(report["statistics"], places),
        "",
    ]
    rows = [
        (
            ticker,
            _money(m["net"]),
            _money(m["realized"]),
            _money(m["settled"]),
            _money(m["marked"]),
            _money(m["fees"]),
            str(m["fills"]),
            f"{m['wins']}/{m['round_trips']}",
            format(Decimal(m["position"]).normalize(), "f"),
        )
        for ticker, m in report["markets"].items()
        if m["fills"] or Decimal(m["net"]) != 0
    ]
    head = ("market", "net", "realized", "settled", "marked", "fees", "fills", "won", "pos")
    if rows:
        lines += _table(head, rows)
    elif not failure:  # a failed run's missing trades are its failure's, said above
        lines.append("no trades")
    days = [
        (day, _money(b["realized"]), _money(b["fees"]), str(b["fills"]))
        for day, b in report["by_day"].items()
    ]
    if days:
        lines += ["", *_table(("day", "realized+settled", "fees", "fills"), days)]
    if report["exit_reasons"]:
        exits = ", ".join(f"{k} {v}" for k, v in sorted(report["exit_reasons"].items()))
        lines += ["", f"exits: {exits}"]
    if report["assumptions"]["defaults_used"]:
        lines += ["", *assumed_lines(report)]
    skipped = skipped_line(report)
    if skipped:
        lines += ["", skipped]
    chart = equity_chart([Decimal(e) for _, e, _ in report["equity"]], places, width=width)
    if chart:
        lines += ["", "equity", *chart]
    return lines


def skipped_line(report: Mapping[str, Any]) -> str | None:
    """What the reading of the data skipped, by reason: a cut-off or damaged recording's
    figures are those of what was read."""
    return skipped_text(report["data"]["skipped"])


def skipped_of(report: Mapping[str, Any]) -> dict[str, int]:
    """What a run's reading of the data skipped, by reason (none in a report that does not
    say: a search trial's figures kept before it was noted)."""
    return dict((report.get("data") or {}).get("skipped") or {})


def skipped_text(skipped: Mapping[str, int]) -> str | None:
    """`skipped_line` of a count by reason: a run's, or a sweep's (`research.Trials.skipped`)."""
    if not skipped:
        return None
    counts = ", ".join(f"{n} {why}" for why, n in sorted(skipped.items()))
    return f"skipped reading the data: {counts} (docs/data.md says why)"


def failure_lines(failure: Mapping[str, Any]) -> list[str]:
    """A failed run's errors, first in its report: its figures are not the strategy's."""
    lines = [f"FAILED: {failure_line(failure)}; these figures are not the strategy's"]
    for e in failure["errors"]:
        lines.append(f"  {e['count']:>6} x {e['strategy']}: {_error_text(e)}")
    if failure["other_errors"]:
        lines.append(f"  {failure['other_errors']:>6} x other errors")
    if failure["decisions"] and failure["safe_mode"]:
        # the first line names the SAFE_MODE the errors tripped; this is its detail
        lines.append(f"  SAFE_MODE: {failure['safe_mode']}")
    return [*lines, ""]


def assumed_lines(report: dict[str, Any]) -> list[str]:
    """What the run assumed for want of reference data, one line per set of assumptions: a data
    set with none at all (a foreign import) says so once, not once per market."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for ticker, assumed in report["assumptions"]["defaults_used"].items():
        groups.setdefault(tuple(assumed), []).append(ticker)
    if len(groups) == 1 and len(next(iter(groups.values()))) == report["data"]["markets"] > 1:
        ((assumed, tickers),) = groups.items()
        return [
            f"assumed for {len(tickers)} markets (no reference data in the data set): "
            + ", ".join(assumed)
        ]
    return [
        f"assumed (no reference data): {', '.join(tickers)}: {', '.join(assumed)}"
        for assumed, tickers in groups.items()
    ]


def statistics_lines(st: dict[str, Any], places: Decimal) -> list[str]:
    """The statistics block in words: ratios per day or per trade with their sample, the
    intervals, calibration, then what the sample cannot say."""
    r = st["returns"]
    per = "per day" if r["basis"] == "day" else "per trade"
    unit = "daily" if r["basis"] == "day" else "per-trade"
    sr, so, psr = st["sharpe"], st["sortino"], st["probabilistic_sharpe"]
    if sr["value"] is None:
        ratios = f"Sharpe -, Sortino - ({sr['reason']})"
    else:
        ratios = (
            f"Sharpe {num(sr['value'])} {per}, Sortino {num(so['value'])}; "
            f"P(Sharpe > 0) {pct(psr['value'])}"
        )
    lines = [
        f"returns          {r['count']} {unit} over {r['span_days']:.2f} days; {ratios}",
        _interval_line("net P&L", st["net_interval"], places),
        _interval_line("expectancy", st["expectancy_interval"], places, " per contract"),
    ]
    cal = st["calibration"]
    if cal["brier"] is not None:
        lines.append(
            f"calibration      Brier {cal['brier']:.4f} over {cal['forecasts']} fair values "
            f"on {cal['markets']} settled markets"
        )
    lines += [f"NOTE: {note}" for note in st["notes"]]
    return lines


def _interval_line(label: str, ci: dict[str, Any], places: Decimal, suffix: str = "") -> str:
    head = f"{label + ' CI':<17}"
    if ci["low"] is None:
        return f"{head}- ({ci['reason']})"
    return (
        f"{head}{_amount(ci['low'], places)} to {_amount(ci['high'], places)}{suffix} "
        f"({ci['level']:.0%}, "
        f"bootstrap of {ci['resamples']} resamples, seed {ci['seed']})"
    )


def _table(head: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> list[str]:
    all_rows = [head, *rows]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(head))]
    out = []
    for row in all_rows:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells).rstrip())
    return out


def equity_chart(
    values: list[Decimal], places: Decimal, *, width: int = 72, height: int = 8
) -> list[str]:
    """A block chart of the curve: `height` rows, at most `width` columns, min and max on the
    axis (to `places`, those of the report it is drawn in)."""
    if len(values) < 2:
        return []
    step = max(1, math.ceil(len(values) / width))
    cols = [values[i] for i in range(0, len(values), step)]
    lo, hi = min(cols), max(cols)
    span = hi - lo
    levels = [
        0 if span == 0 else int((v - lo) / span * (height * 8 - 1))  # eighths of a row
        for v in cols
    ]
    blocks = " ▁▂▃▄▅▆▇█"
    rows, ends = [], (0, height - 1)
    for r in range(height - 1, -1, -1):
        line = ""
        for level in levels:
            fill = level - r * 8
            line += "█" if fill >= 8 else (blocks[fill + 1] if fill >= 0 else " ")
        label = fmt_money(hi if r == height - 1 else lo, places=places) if r in ends else ""
        rows.append(f"{label:>12} |{line}")
    return rows


def report_places(report: Mapping[str, Any]) -> Decimal:
    """The places of every amount a report shows (`money_places`): the cent, or $0.0001 for all
    of them when one has a sub-cent part (its trading-state lines quote their own sentence)."""
    t, st = report["totals"], report["statistics"]
    shown = [
        *(t[k] for k in ("start_balance", "end_equity", "expectancy_per_contract")),
        *(t[k] for k in ("net", "realized", "settled", "marked", "fees")),
        *(t[k] for k in ("max_drawdown", "max_exposure")),
        *(m[k] for m in report["markets"].values() for k in ("net", "realized", "settled")),
        *(m[k] for m in report["markets"].values() for k in ("marked", "fees")),
        *(g[k] for g in report["by_day"].values() for k in ("realized", "fees")),
        *(g[k] for g in (report.get("by_strategy") or {}).values() for k in ("realized", "fees")),
        *(st[i][k] for i in ("net_interval", "expectancy_interval") for k in ("low", "high")),
        *(e for _, e, _ in report["equity"]),
    ]
    return money_places(None if v is None else Decimal(v) for v in shown)


def _amount(value: str | None, places: Decimal) -> str:
    return "-" if value is None else fmt_money(Decimal(value), places=places)


def pct(value: float | None) -> str:
    """A share as a person reads it in the report, its HTML page and the dashboard alike."""
    return "-" if value is None else f"{value:.1%}"


def num(value: float | None) -> str:
    """A ratio (profit factor, Sharpe, Sortino) as the report, its page and the dashboard show."""
    return "-" if value is None else f"{value:.2f}"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


__all__ = ["FORMAT", "build_report", "equity_chart", "render_text", "report_places"]
