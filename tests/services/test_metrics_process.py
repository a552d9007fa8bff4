"""The metrics a running process adds: its client's latency and outcomes per endpoint family, its
loop's risk denials by code and feed age per market; and fills and slippage per strategy from the
state file."""

from __future__ import annotations

import socket
from decimal import Decimal as D
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.stats import endpoint_family, outcome_of
from kalshi_cli.risk.engine import RiskEngine, RiskLimits
from kalshi_cli.risk.rules import Code
from kalshi_cli.services.metrics import Collector, LoopTelemetry, api_families, render
from kalshi_cli.store import FillRecord, IntentRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.errors import RateLimitedError, TransportError
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import standard_rates
from tests.fakes import loop_context
from tests.services.test_metrics import parse

if TYPE_CHECKING:
    from tests.conftest import SimHarness

START = 1_700_000_000.0


def _client(sim: SimHarness, **kw: Any) -> KalshiClient:
    key, _ = load_private_key(path=Path(sim.account.private_key_path))
    return KalshiClient(
        api_base=sim.account.api_base,
        key_id=sim.account.key_id,
        private_key=key,
        **kw,
    )


@pytest.mark.parametrize(
    ("method", "path", "family"),
    [
        ("GET", "/markets/KX-1/orderbook", "GET markets/orderbook"),
        ("GET", "/markets", "GET markets"),
        ("get", "/portfolio/orders?status=resting", "GET portfolio/orders"),
        ("DELETE", "/portfolio/events/orders/abc-123", "DELETE portfolio/events/orders"),
        ("GET", "/series/KXS/markets/KXS-1/candlesticks", "GET series/markets/candlesticks"),
        ("GET", "/", "GET /"),
    ],
)
def test_endpoint_family_drops_identifiers(method: str, path: str, family: str) -> None:
    assert endpoint_family(method, path) == family


def test_outcomes_by_status() -> None:
    assert [outcome_of(s) for s in (None, 200, 201, 429, 404, 400, 500, 503)] == [
        "transport",
        "ok",
        "ok",
        "rate_limited",
        "client_error",
        "client_error",
        "server_error",
        "server_error",
    ]


def test_the_client_counts_every_attempt_and_its_latency(sim: SimHarness) -> None:
    sim.create_market("KXSTATS-1")
    with _client(sim, max_attempts=1) as client:
        client.portfolio.get_balance()
        client.portfolio.get_balance()
        client.markets.get_orderbook("KXSTATS-1")
        sim.set_faults(http_429_rate=1.0)
        with pytest.raises(RateLimitedError):
            client.portfolio.get_balance()
        sim.clear_faults()
        stats = client.stats.snapshot()
    balance = stats["GET portfolio/balance"]
    assert balance.outcomes == {"ok": 2, "rate_limited": 1}
    assert balance.latency_count == 3
    assert balance.latency_sum > 0
    assert balance.buckets[-1] <= 3  # cumulative: the last bound holds at most every answer
    assert stats["GET markets/orderbook"].outcomes == {"ok": 1}
    values = parse(render(api_families(stats)))
    assert (
        values['kalshi_api_requests_total{endpoint="GET portfolio/balance",outcome="rate_limited"}']
        == "1"
    )
    assert (
        values[
            'kalshi_api_request_duration_seconds_bucket{endpoint="GET portfolio/balance",le="+Inf"}'
        ]
        == "3"
    )
    assert (
        values['kalshi_api_request_duration_seconds_count{endpoint="GET portfolio/balance"}'] == "3"
    )
    buckets = [
        int(v)
        for k, v in values.items()
        if k.startswith(
            'kalshi_api_request_duration_seconds_bucket{endpoint="GET portfolio/balance"'
        )
    ]
    assert buckets == sorted(buckets)  # cumulative


def test_no_answer_counts_as_transport_without_a_latency() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # nothing listens on the port once the socket is closed
    with KalshiClient(api_base=f"http://127.0.0.1:{port}/trade-api/v2", max_attempts=1) as client:
        with pytest.raises(TransportError):
            client.exchange.get_exchange_status()
        stats = client.stats.snapshot()["GET exchange/status"]
    assert stats.outcomes == {"transport": 1}
    assert stats.latency_count == 0


class _Feed:
    def __init__(self, ages: dict[str, float]) -> None:
        self.ages = ages

    def data_age(self, ticker: str) -> float:
        return self.ages[ticker]


def test_loop_telemetry_counts_the_risk_engines_denials_by_code(tmp_path: Path) -> None:
    telemetry = LoopTelemetry()
    clock = ManualClock(START)
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        engine = RiskEngine(
            store.trading,
            RiskLimits(max_order_count=D(5)),
            clock=clock,
            fee_rates=standard_rates,
            sink=telemetry.observe,
        )
        intent = Intent("T", Side.YES, Action.BUY, D("0.40"), D(10), D("0.50"), "test")
        ctx = loop_context(
            engine, PositionView("T"), total_exposure=D(0), last_data_at=clock.wall()
        )
        for _ in range(2):
            assert [d.code for d in engine.evaluate(intent, ctx)] == [Code.MAX_ORDER_SIZE]
        store.trading.set_trading_state("HALTED", reason="t", source="t")
        ctx = loop_context(
            engine, PositionView("T"), total_exposure=D(0), last_data_at=clock.wall()
        )
        engine.evaluate(intent, ctx)
    telemetry.watch_feed(_Feed({"A": 1.25, "B": float("inf")}), ["A", "B"])
    values = parse(render(telemetry.families()))
    assert values[f'kalshi_risk_denials_total{{code="{Code.MAX_ORDER_SIZE}"}}'] == "3"
    assert values[f'kalshi_risk_denials_total{{code="{Code.HALTED}"}}'] == "1"
    assert values['kalshi_feed_message_age_seconds{ticker="A"}'] == "1.25"
    # a market the feed never heard from has no age, rather than an infinite one
    assert not any('ticker="B"' in k for k in values)


def _intent(coid: str, book_side: BookSide, price: str, side: Side, action: Action) -> IntentRecord:
    return IntentRecord(
        coid, "KXM-1", book_side, D(price), D(10), side, action, strategy="spike",
        model_fair=D("0.50"),
    )  # fmt: skip


def _fill(
    n: int, coid: str | None, book_side: BookSide, price: str, strategy: str | None
) -> FillRecord:
    return FillRecord(
        f"f{n}", f"o{n}", coid, "KXM-1", book_side, D(price), D(10), D("0.01"), True, START,
        strategy=strategy,
    )  # fmt: skip


def test_fills_and_slippage_per_strategy_from_the_state_file(tmp_path: Path) -> None:
    clock = ManualClock(START)
    path = tmp_path / "state.db"
    with Store.open(path, clock=clock) as store:
        # buy YES limit 0.40, filled at 0.38: 2 cents better on 10 contracts
        store.orders.record_intent(_intent("c1", BookSide.BID, "0.40", Side.YES, Action.BUY))
        store.fills.record_fill(_fill(1, "c1", BookSide.BID, "0.38", "spike"))
        # buy NO limit 0.45 (YES 0.55, an ask), filled at YES 0.56 (NO 0.44): 1 cent better
        store.orders.record_intent(_intent("c2", BookSide.ASK, "0.55", Side.NO, Action.BUY))
        store.fills.record_fill(_fill(2, "c2", BookSide.ASK, "0.56", "spike"))
        # a fill placed by hand: counted, no slippage
        store.fills.record_fill(_fill(3, None, BookSide.BID, "0.40", None))
    values = parse(Collector(path, clock=clock).collect())
    assert values['kalshi_strategy_fills_total{strategy="spike"}'] == "2"
    assert values['kalshi_strategy_fills_total{strategy="none"}'] == "1"
    assert values['kalshi_strategy_fill_contracts_total{strategy="spike"}'] == "20"
    assert values['kalshi_fill_slippage_dollars_total{strategy="spike"}'] == "-0.30"
    assert 'kalshi_fill_slippage_dollars_total{strategy="none"}' not in values
