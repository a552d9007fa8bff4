"""What this process's client has seen of the exchange: every attempt's latency and outcome, per
endpoint family, in memory. Read from another thread (`--metrics-port`), so it holds one lock; no
I/O. docs/metrics.md (the `kalshi_api_*` series).
"""

from __future__ import annotations

import threading

import msgspec

# Upper bounds in seconds; Prometheus adds +Inf. Spaced for a REST API answering in 20-500 ms.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

# the path segments that name a collection; everything else in a path is an identifier
_NOUNS = frozenset(
    {
        "exchange",
        "status",
        "schedule",
        "announcements",
        "markets",
        "orderbook",
        "orderbooks",
        "candlesticks",
        "trades",
        "events",
        "series",
        "portfolio",
        "balance",
        "positions",
        "fills",
        "settlements",
        "orders",
        "batched",
        "amend",
        "decrease",
        "queue_position",
        "queue_positions",
        "account",
        "limits",
        "historical",
        "api_keys",
        "multivariate_event_collections",
    }
)


def endpoint_family(method: str, path: str) -> str:
    """`GET /markets/KX-1/orderbook` -> `GET markets/orderbook`: the collections of the path,
    without the identifiers between them."""
    nouns = [p for p in path.split("?", 1)[0].strip("/").split("/") if p in _NOUNS]
    return f"{method.upper()} {'/'.join(nouns) or '/'}"


def outcome_of(status: int | None) -> str:
    """The outcome of an attempt from its HTTP status (None: no answer): ok, rate_limited,
    client_error, server_error or transport."""
    if status is None:
        return "transport"
    if status == 429:
        return "rate_limited"
    if 200 <= status < 400:
        return "ok"
    if status < 500:
        return "client_error"
    return "server_error"


class EndpointStats(msgspec.Struct):
    """One family: counts per outcome, and the latency histogram of the attempts answered."""

    outcomes: dict[str, int] = msgspec.field(default_factory=dict)
    buckets: list[int] = msgspec.field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    latency_count: int = 0
    latency_sum: float = 0.0

    def copy(self) -> EndpointStats:
        return EndpointStats(
            dict(self.outcomes), list(self.buckets), self.latency_count, self.latency_sum
        )


class ApiStats:
    """The client's registry; `snapshot()` hands out copies, safe to read on any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._families: dict[str, EndpointStats] = {}

    def record(self, method: str, path: str, status: int | None, seconds: float | None) -> None:
        """One attempt ended: `status` None when no answer came, `seconds` None when unknown."""
        family = endpoint_family(method, path)
        outcome = outcome_of(status)
        with self._lock:
            stats = self._families.get(family)
            if stats is None:
                stats = self._families[family] = EndpointStats()
            stats.outcomes[outcome] = stats.outcomes.get(outcome, 0) + 1
            if seconds is not None:
                stats.latency_count += 1
                stats.latency_sum += seconds
                for i, bound in enumerate(LATENCY_BUCKETS):
                    if seconds <= bound:
                        stats.buckets[i] += 1

    def snapshot(self) -> dict[str, EndpointStats]:
        with self._lock:
            return {name: stats.copy() for name, stats in self._families.items()}
