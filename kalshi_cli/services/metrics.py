"""Prometheus metrics: what the state file and the exchange say, in the text exposition format.
One `Collector` reads every source on each collection, so a metric is never older than the
scrape, and a source that fails is reported as `kalshi_source_up{source=...} 0` with its metrics
left out (absent means unknown). Written atomically for node_exporter's textfile collector, or
served on loopback by `serve_metrics`; money stays Decimal text. See docs/metrics.md.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from kalshi_cli.vocabulary.clock import Clock, SystemClock, day_start, utc_day
from kalshi_cli.vocabulary.errors import KalshiError, UsageError
from kalshi_cli.vocabulary.units import Action, from_book

if TYPE_CHECKING:
    from kalshi_cli.client import KalshiClient
    from kalshi_cli.client.stats import EndpointStats
    from kalshi_cli.client.subaccounts import SubaccountBalance
    from kalshi_cli.services.positions import Books
    from kalshi_cli.store import FillRecord, IntentRecord, Store
    from kalshi_cli.vocabulary.models import Balance

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PLACED_STATUSES = ("resting", "executed", "canceled", "unknown")

Value = Decimal | int | float


@dataclass(frozen=True)
class Sample:
    value: Value
    labels: Mapping[str, str] = field(default_factory=dict)
    suffix: str = ""  # a histogram's `_bucket`, `_sum` and `_count` samples


@dataclass(frozen=True)
class Family:
    name: str
    kind: str  # "gauge", "counter" or "histogram"
    help: str
    samples: Sequence[Sample]


def gauge(name: str, help_text: str, value: Value, **labels: str) -> Family:
    return Family(name, "gauge", help_text, [Sample(value, labels)])


def render(families: Iterable[Family]) -> str:
    """The text exposition format (version 0.0.4): HELP, TYPE, then the samples."""
    lines: list[str] = []
    for fam in families:
        lines.append(f"# HELP {fam.name} {_escape_help(fam.help)}")
        lines.append(f"# TYPE {fam.name} {fam.kind}")
        for s in fam.samples:
            labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sorted(s.labels.items()))
            name = fam.name + s.suffix
            lines.append(
                f"{name}{{{labels}}} {_value(s.value)}" if labels else f"{name} {_value(s.value)}"
            )
    return "\n".join(lines) + "\n"


def _value(v: Value) -> str:
    if isinstance(v, Decimal):
        return f"{v:f}"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


# --------------------------------------------------------------------------------------------


class Collector:
    """Builds every family on each call. `client` is called once per collection; `extra` lets a
    running process add what only it knows (the trade loop's in-memory error counters)."""

    def __init__(
        self,
        state_path: Path,
        *,
        client: Callable[[], KalshiClient] | None = None,
        clock: Clock | None = None,
        extra: Callable[[], Iterable[Family]] | None = None,
    ) -> None:
        self.state_path = state_path
        self.client = client
        self.clock: Clock = clock or SystemClock()
        self.extra = extra
        self.problems: list[str] = []

    def collect(self) -> str:
        return render(self.families())

    def families(self) -> list[Family]:
        self.problems = []
        now = self.clock.wall()
        up: list[Sample] = []
        families: list[Family] = []
        families.extend(self._guarded("state", up, self._state_families, now))
        if self.client is not None:
            families.extend(self._guarded("exchange", up, self._exchange_families, now))
        if self.extra is not None:
            families.extend(
                self._guarded(
                    "process", up, lambda _now: list(self.extra() if self.extra else []), now
                )
            )
        head = [
            Family(
                "kalshi_source_up",
                "gauge",
                "1 if this source could be read for this collection, else 0.",
                up,
            ),
            gauge(
                "kalshi_collected_timestamp_seconds",
                "When these metrics were collected (unix seconds).",
                _secs(now),
            ),
        ]
        return head + families

    def _guarded(
        self,
        source: str,
        up: list[Sample],
        build: Callable[[float], list[Family]],
        now: float,
    ) -> list[Family]:
        try:
            built = build(now)
        except Exception as exc:  # a broken source must not take the other metrics with it
            why = exc.one_line() if isinstance(exc, KalshiError) else f"{type(exc).__name__}: {exc}"
            self.problems.append(f"{source}: {why}")
            up.append(Sample(0, {"source": source}))
            return []
        up.append(Sample(1, {"source": source}))
        return built

    # ---------------------------------------------------------------------- the state file

    def _state_families(self, now: float) -> list[Family]:
        from kalshi_cli.store import Store

        store = Store.open_readonly(self.state_path, clock=self.clock)
        if store is None:
            raise KalshiError(f"no state file at {self.state_path}")
        try:
            # the exchange is trusted for the contracts held (services/positions.py); a
            # collector that does not ask it (the trade loop's endpoint) has the state file's
            return _from_store(store, now, positions=self.client is None)
        finally:
            store.close()

    # ---------------------------------------------------------------------- the exchange

    def _exchange_families(self, now: float) -> list[Family]:
        assert self.client is not None
        client = self.client()
        from kalshi_cli.services.positions import positions_by_subaccount

        balance = client.portfolio.get_balance()
        latency_ms = client.last_latency_ms
        subaccounts = client.subaccounts.subaccount_balances()  # one listing serves both
        books, unread = positions_by_subaccount(client, listing=subaccounts)
        if unread:  # a subaccount's positions unknown: no exposure nor positions figure at all
            raise KalshiError("; ".join(unread))
        held: list[Held] = [
            (p.ticker, p.position, {} if number is None else {"subaccount": str(number)})
            for number, held_there in books
            for p in held_there
        ]
        families = [
            balance_family(balance, subaccounts),
            *(
                []
                if balance.portfolio_value is None  # left out of the answer: no sample, not $0
                else [
                    gauge(
                        "kalshi_portfolio_value_dollars",
                        "Portfolio value on the exchange, in dollars.",
                        balance.portfolio_value,
                    )
                ]
            ),
            _exposures(books),
            *position_families(held, "exchange"),
            _event_worst_cases(client, books),
        ]
        if latency_ms is not None:
            families.append(
                gauge(
                    "kalshi_api_latency_seconds",
                    "Latency of the balance request of this collection.",
                    round(latency_ms / 1000, 6),
                )
            )
        return families


def balance_family(balance: Balance, subaccounts: Sequence[SubaccountBalance] = ()) -> Family:
    """`kalshi_balance_dollars`, whose samples sum to the account's cash: on an account of
    several subaccounts one per subaccount and shard (`subaccounts`: the exchange's rows, each
    labelled `subaccount` and, when it names it, `exchange_index`), for `balance` is the
    primary's alone; else one per exchange shard, and one without the label when the exchange
    gave no breakdown (a key restricted to a subaccount), since how it splits is then unknown."""
    help_text = "Cash balance on the exchange, in dollars, per exchange shard (exchange_index)."
    if len({b.subaccount for b in subaccounts}) > 1:
        samples = [
            Sample(
                b.balance,
                {"subaccount": str(b.subaccount)}
                | ({} if b.exchange_index is None else {"exchange_index": str(b.exchange_index)}),
            )
            for b in subaccounts
        ]
        return Family("kalshi_balance_dollars", "gauge", help_text, samples)
    if balance.breakdown is None:
        return Family("kalshi_balance_dollars", "gauge", help_text, [Sample(balance.balance)])
    samples = [
        Sample(b.balance, {"exchange_index": str(b.exchange_index)}) for b in balance.breakdown
    ]
    return Family("kalshi_balance_dollars", "gauge", help_text, samples)


Held = tuple[str, Decimal, Mapping[str, str]]  # ticker, position (+ YES, - NO), more labels


def position_families(held: Iterable[Held], source: str) -> list[Family]:
    """`kalshi_open_positions` and `kalshi_position_contracts` from the positions `source`
    knows, a flat one left out: the dashboard's Positions panel and the position alert rules
    read them, whichever source fed them."""
    open_ = [(ticker, position, labels) for ticker, position, labels in held if position != 0]
    return [
        gauge(
            "kalshi_open_positions",
            f"Markets with a non-zero position ({source}).",
            len(open_),
        ),
        Family(
            "kalshi_position_contracts",
            "gauge",
            f"Position per market: positive YES, negative NO ({source}).",
            [Sample(position, {"ticker": ticker, **labels}) for ticker, position, labels in open_],
        ),
    ]


def _exposures(books: Books) -> Family:
    """`kalshi_exposure_dollars`: each subaccount's total (labelled with it when the account has
    several), for the cap is a loop's and a loop trades one subaccount, as `kalshi check
    exposure` grades it; the samples sum to the account's total."""
    samples = [
        Sample(
            sum((p.exposure for p in positions), Decimal(0)),
            {} if number is None else {"subaccount": str(number)},
        )
        for number, positions in books
    ]
    return Family(
        "kalshi_exposure_dollars",
        "gauge",
        "Market exposure over every position of the subaccount, in dollars (exchange).",
        samples,
    )


def _event_worst_cases(client: KalshiClient, books: Books) -> Family:
    """Each event held, on each subaccount of `books` (labelled with it when the account has
    several): what it pays at settlement in its worst outcome, as `kalshi positions --by event`
    says (the one rule, vocabulary/event_outcomes.py)."""
    from kalshi_cli.services.positions import event_rows

    samples = []
    for number, positions in books:
        own = client if number is None else client.on_subaccount(number)
        whose = {} if number is None else {"subaccount": str(number)}
        for e in event_rows(own, positions=positions):
            samples.append(Sample(e.outcomes.worst.pnl, {"event_ticker": e.event_ticker, **whose}))
    return Family(
        "kalshi_event_worst_case_dollars",
        "gauge",
        "Each event's positions at settlement in their worst outcome, in dollars (negative: a "
        "loss), by the event's rule (exchange).",
        samples,
    )


def _from_store(store: Store, now: float, *, positions: bool) -> list[Family]:
    from kalshi_cli.services.pnl import summarize_store
    from kalshi_cli.store.records import TRADING_STATES

    day = utc_day(now)
    pnl = summarize_store(store)  # each subaccount's book on its own, added
    intents = store.orders.intents()
    by_status = Counter(intent.status for intent in intents)
    state = store.trading.trading_state().state
    families = [
        gauge(
            "kalshi_daily_realized_pnl_dollars",
            "Realized P&L today (UTC), net of fees, from the state file.",
            bucket.net if (bucket := pnl.groups["day"].get(day)) is not None else Decimal(0),
        ),
        gauge(
            "kalshi_realized_pnl_dollars",
            "Realized P&L since the state file began, net of fees.",
            pnl.realized,
        ),
        Family(
            "kalshi_orders_placed_total",
            "counter",
            "Orders that reached the exchange (resting, executed, canceled or unknown).",
            [Sample(sum(by_status.get(s, 0) for s in PLACED_STATUSES))],
        ),
        Family(
            "kalshi_orders_rejected_total",
            "counter",
            "Orders the exchange or a local check refused.",
            [Sample(by_status.get("rejected", 0))],
        ),
        Family(
            "kalshi_orders",
            "gauge",
            "Order intents in the state file by current status.",
            [Sample(n, {"status": s}) for s, n in sorted(by_status.items())],
        ),
        Family(
            "kalshi_fills_total",
            "counter",
            "Fills recorded in the state file.",
            [Sample(store.fills.count_fills())],
        ),
        gauge(
            "kalshi_fills_quarantined",
            "Fills the exchange listed without a field the spec requires, never applied "
            "(the state file's fill_quarantined events).",
            store.entries.count("fill_quarantined"),
        ),
        Family(
            "kalshi_risk_trips_total",
            "counter",
            "Risk rule trips recorded in the state file, by rule.",
            [
                Sample(n, {"rule": r})
                for r, n in sorted(
                    (
                        dict.fromkeys(_trip_rules(), 0)
                        | Counter(t.rule for t in store.trading.risk_trips())
                    ).items()
                )
            ],
        ),
        Family(
            "kalshi_trading_state",
            "gauge",
            "1 for the current trading state, 0 for the others.",
            [Sample(int(s == state), {"state": s}) for s in TRADING_STATES],
        ),
    ]
    if positions:
        # each subaccount is its own book: one market may be held on two
        families.extend(
            position_families(
                (
                    (m.ticker, m.position, {"subaccount": str(number)})
                    for number, book in sorted(pnl.books.items())
                    for m in book.markets.values()
                ),
                "state file",
            )
        )
    families.extend(_strategy_fills(store, {i.client_order_id: i for i in intents}, day))
    beat = store.entries.loop_heartbeat()
    if beat is not None:
        families.append(
            gauge(
                "kalshi_last_heartbeat_timestamp_seconds",
                "When the trade loop last wrote its heartbeat (unix seconds).",
                _secs(beat.at),
            )
        )
        families.extend(_loop_lag(beat.detail))
        families.extend(_strategies_stopped(beat.detail))
    feed = store.entries.feed_heard()
    if feed is not None:
        families.append(
            gauge(
                "kalshi_feed_last_message_timestamp_seconds",
                "When the trade loop last received market data (unix seconds).",
                Decimal(feed),
            )
        )
    return families


def _loop_lag(detail: Mapping[str, object]) -> list[Family]:
    """The trade loop's lag from its last heartbeat (docs/trade-loop.md "Lag"): book change to
    decision over the heartbeat's window, the longest a market went unvisited, the markets with
    news still waiting, those waiting for their orders' read and for how long, and whether it is
    past its fairness bound. A loop that reports none
    (one from before, or a heartbeat with no decision on news) leaves them out."""
    families: list[Family] = []
    quantiles = [
        Sample(round(v, 3), {"quantile": q})
        for q, key in (("0.5", "lag_p50_s"), ("0.99", "lag_p99_s"), ("1", "lag_max_s"))
        if isinstance(v := detail.get(key), int | float)
    ]
    if quantiles:
        families.append(
            Family(
                "kalshi_loop_decision_lag_seconds",
                "gauge",
                "Seconds from a book change to the trade loop's decision on it, over the last "
                "heartbeat's window, by quantile (1 = the longest).",
                quantiles,
            )
        )
    for key, name, text in (
        (
            "revisit_max_s",
            "kalshi_loop_revisit_max_seconds",
            "The longest any market went "
            "unvisited by the trade loop, over the last heartbeat's window or still open.",
        ),
        (
            "waiting",
            "kalshi_loop_markets_waiting",
            "Markets whose book change the trade loop "
            "has not yet decided on, at its last heartbeat.",
        ),
        (
            "writes_behind_s",
            "kalshi_loop_writes_behind_seconds",
            "How long an order sent now would wait for the "
            "account's write budget, at the trade loop's last heartbeat (over 1 s: no market "
            "takes a turn).",
        ),
        (
            "orders_read_waiting",
            "kalshi_loop_orders_read_waiting",
            "Markets waiting for a read of their resting orders (after the start or a gap of the "
            "feed), trading nothing meanwhile, at the trade loop's last heartbeat.",
        ),
        (
            "orders_read_wait_s",
            "kalshi_loop_orders_read_wait_seconds",
            "How long the market waiting longest for its orders' read has waited, at the trade "
            "loop's last heartbeat.",
        ),
    ):
        value = detail.get(key)
        if isinstance(value, int | float):
            families.append(gauge(name, text, round(value, 3)))
    behind = detail.get("behind")
    if isinstance(behind, bool):
        families.append(
            gauge(
                "kalshi_loop_behind",
                "1 while the trade loop is past its fairness bound (trade.max_revisit_s): a "
                "market unvisited, or a book change undecided, for longer.",
                int(behind),
            )
        )
    return families


def _strategies_stopped(detail: Mapping[str, object]) -> list[Family]:
    """1 for each strategy of the loop's last heartbeat that is stopped (its daily loss limit,
    stuck, late or failing at a rate; runbooks/16-strategy-stopped.md), 0 for the others."""
    from kalshi_cli.services.loop_strategies import stopped_strategies, strategy_names

    names = strategy_names(detail)
    if not names:
        return []
    stopped = stopped_strategies(detail)
    return [
        Family(
            "kalshi_strategy_stopped",
            "gauge",
            "1 while the trade loop has stopped the strategy (the others trading on), else 0.",
            [Sample(int(name in stopped), {"strategy": name}) for name in names],
        )
    ]


def fill_slippage(fill: FillRecord, intent: IntentRecord | None) -> Decimal | None:
    """How much worse than its order's limit price a fill was, per contract, in the terms of the
    side the order traded (the trade log's `slippage`): positive is worse, negative an
    improvement. None when the fill has no order of the state file to compare with."""
    if intent is None:
        return None
    action, price = from_book(fill.book_side, fill.yes_price, intent.side)
    _, limit = from_book(intent.book_side, intent.price, intent.side)
    return price - limit if action is Action.BUY else limit - price


def _strategy_fills(store: Store, intents: Mapping[str, IntentRecord], day: str) -> list[Family]:
    from kalshi_cli.services.owner_parts import realized_by_owner

    fills: dict[str, int] = {}
    contracts: dict[str, Decimal] = {}
    slippage: dict[str, Decimal] = {}
    for fill in store.fills.iter_fills():
        strategy = fill.strategy or "none"
        fills[strategy] = fills.get(strategy, 0) + 1
        contracts[strategy] = contracts.get(strategy, Decimal(0)) + fill.count
        intent = intents.get(fill.client_order_id) if fill.client_order_id else None
        worse = fill_slippage(fill, intent)
        if worse is not None:
            slippage[strategy] = slippage.get(strategy, Decimal(0)) + worse * fill.count
    names = sorted(fills)
    return [
        Family(
            "kalshi_strategy_fills_total",
            "counter",
            "Fills recorded in the state file, by strategy (none: not placed by a strategy).",
            [Sample(fills[n], {"strategy": n}) for n in names],
        ),
        Family(
            "kalshi_strategy_fill_contracts_total",
            "counter",
            "Contracts filled, by strategy.",
            [Sample(contracts[n], {"strategy": n}) for n in names],
        ),
        Family(
            "kalshi_fill_slippage_dollars_total",
            "counter",
            "Dollars the fills came out worse than their orders' limit prices (negative: "
            "better), by strategy; only fills with an order in the state file.",
            [Sample(slippage[n], {"strategy": n}) for n in names if n in slippage],
        ),
        Family(
            "kalshi_strategy_daily_realized_pnl_dollars",
            "gauge",
            "P&L each strategy's own contracts realized today (UTC), fees and settlements "
            "counted, every subaccount's: what its daily loss limit reads, as `kalshi status`.",
            [
                Sample(v, {"strategy": n})
                for n, v in realized_by_owner(store, day_start(day)).items()
            ],
        ),
    ]


def _trip_rules() -> list[str]:
    """Every rule that records a trip: a counter a dashboard graphs reads 0 before its first
    event, never "no data"."""
    from kalshi_cli.risk.engine import ApiErrorGuard, CircuitBreaker

    return [CircuitBreaker.RULE, ApiErrorGuard.RULE]


def _denial_codes() -> list[str]:
    from kalshi_cli.risk.rules import Code

    return [str(c) for c in Code]


def _secs(ts: float) -> Decimal:
    return Decimal(repr(ts)).quantize(Decimal("0.001"))


# -------------------------------------------------------------------------------------------
# What only a running process knows: its client's requests, its loop's denials and feed


def api_families(stats: Mapping[str, EndpointStats]) -> list[Family]:
    """The client's registry (`KalshiClient.stats.snapshot()`) as Prometheus families: a
    latency histogram and a request counter by outcome, each per endpoint family."""
    from kalshi_cli.client.stats import LATENCY_BUCKETS

    histogram: list[Sample] = []
    requests: list[Sample] = []
    for endpoint in sorted(stats):
        st = stats[endpoint]
        for bound, n in zip(LATENCY_BUCKETS, st.buckets, strict=True):
            histogram.append(Sample(n, {"endpoint": endpoint, "le": repr(bound)}, "_bucket"))
        histogram.append(Sample(st.latency_count, {"endpoint": endpoint, "le": "+Inf"}, "_bucket"))
        histogram.append(Sample(round(st.latency_sum, 6), {"endpoint": endpoint}, "_sum"))
        histogram.append(Sample(st.latency_count, {"endpoint": endpoint}, "_count"))
        for outcome, n in sorted(st.outcomes.items()):
            requests.append(Sample(n, {"endpoint": endpoint, "outcome": outcome}))
    return [
        Family(
            "kalshi_api_request_duration_seconds",
            "histogram",
            "Latency of each answered request attempt of this process, by endpoint family.",
            histogram,
        ),
        Family(
            "kalshi_api_requests_total",
            "counter",
            "Request attempts of this process by endpoint family and outcome (ok, "
            "rate_limited, client_error, server_error, transport).",
            requests,
        ),
    ]


class FeedAges(Protocol):
    """What the loop's feed tells about each market (`kalshi_cli.feed.MarketData` fits)."""

    def data_age(self, ticker: str) -> float: ...


class LoopTelemetry:
    """The trade loop's own figures for its `/metrics`: risk denials by code, counted from the
    risk engine's events as they happen (the log file coalesces repeats, this does not), and
    the age of each market's data in the loop's feed. `observe` runs on the loop's thread,
    `families` on the scrape's, so both hold the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._denials: dict[str, int] = {}
        self._feed: FeedAges | None = None
        self._tickers: tuple[str, ...] = ()

    def observe(self, kind: str, data: Mapping[str, object]) -> None:
        if kind != "risk_denied":
            return
        code = str(data.get("code", "unknown"))
        with self._lock:
            self._denials[code] = self._denials.get(code, 0) + 1

    def watch_feed(self, feed: FeedAges, tickers: Iterable[str]) -> None:
        with self._lock:
            self._feed = feed
            self._tickers = tuple(tickers)

    def families(self) -> list[Family]:
        with self._lock:
            denials = dict.fromkeys(_denial_codes(), 0) | self._denials
            feed, tickers = self._feed, self._tickers
        families = [
            Family(
                "kalshi_risk_denials_total",
                "counter",
                "Orders the risk rules refused in this trade loop, by code.",
                [Sample(n, {"code": c}) for c, n in sorted(denials.items())],
            )
        ]
        if feed is not None:
            ages = [(t, feed.data_age(t)) for t in tickers]
            families.append(
                Family(
                    "kalshi_feed_message_age_seconds",
                    "gauge",
                    "Seconds since the loop's feed last had data for the market.",
                    [Sample(round(age, 3), {"ticker": t}) for t, age in ages if math.isfinite(age)],
                )
            )
        return families


# --------------------------------------------------------------------------------------------


def write_textfile(path: Path, text: str) -> None:
    """Replace `path` atomically: a hidden temporary file in the same directory, fsynced, then
    renamed (a rename within a directory is atomic on POSIX)."""
    from kalshi_cli.vocabulary.files import write_whole

    try:
        write_whole(Path(path), text, mode=0o644)  # node_exporter usually runs as another user
    except OSError as exc:
        # the path is the person's --textfile: a usage error, not a bug
        raise UsageError(
            f"cannot write metrics to {path}: {exc.strerror or exc}",
            hint="point --textfile at a directory node_exporter reads and this user can write",
        ) from None


class MetricsServer:
    """A running `serve_metrics`; call it (or `.stop()`) to stop. `.port` is the bound port."""

    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        host, port = server.server_address[:2]
        self.host, self.port = str(host), int(port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    __call__ = stop


def serve_metrics(
    port: int, collect: Callable[[], str], *, host: str = "127.0.0.1"
) -> MetricsServer:
    """Serve `GET /metrics` (the text `collect()` returns) on a daemon thread until stopped.

    Loopback by default: the metrics show balances and positions, so exposing them beyond the
    host is a decision for whoever passes `host`. A `collect` that raises answers 500 with the
    reason; the server keeps running.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] not in ("/metrics", "/"):
                self._answer(404, "text/plain; charset=utf-8", b"not found; try /metrics\n")
                return
            try:
                body = collect().encode("utf-8")
            except Exception as exc:  # a failed scrape is the scraper's to see, not a crash
                text = f"metrics collection failed: {type(exc).__name__}: {exc}\n"
                self._answer(500, "text/plain; charset=utf-8", text.encode("utf-8"))
                return
            self._answer(200, CONTENT_TYPE, body)

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # one line per scrape would drown the trade loop's own log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return MetricsServer(server, thread)
