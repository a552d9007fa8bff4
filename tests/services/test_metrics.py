"""Prometheus metrics: the exposition text, the collector over a real state file and the simulator,
the atomic textfile, and the loopback HTTP endpoint."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from typer.testing import CliRunner

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.client import KalshiClient
from kalshi_cli.services.metrics import (
    Collector,
    Family,
    Sample,
    render,
    serve_metrics,
    write_textfile,
)
from kalshi_cli.store import FillRecord, IntentRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.units import Action, BookSide, Side

if TYPE_CHECKING:
    from tests.conftest import SimHarness

SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (-?[0-9.]+)$")


def parse(text: str) -> dict[str, str]:
    """`name{labels}` -> value, and a check that every line is HELP, TYPE or a sample."""
    values: dict[str, str] = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            # a family given twice in one exposition makes Prometheus refuse the whole scrape
            assert name not in types, f"{name} has two TYPE lines"
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, f"not an exposition line: {line!r}"
        family = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        assert m.group(1) in types or types.get(family) == "histogram", (
            f"{m.group(1)} has no TYPE line"
        )
        values[m.group(1) + (m.group(2) or "")] = m.group(3)
    return values


def test_render_escapes_and_keeps_decimals_exact() -> None:
    text = render(
        [
            Family("x_dollars", "gauge", "a\nb", [Sample(Decimal("0.10"), {"t": 'a"b\\c'})]),
            Family("y_total", "counter", "n", [Sample(3)]),
        ]
    )
    assert text == (
        "# HELP x_dollars a\\nb\n# TYPE x_dollars gauge\n"
        'x_dollars{t="a\\"b\\\\c"} 0.10\n'
        "# HELP y_total n\n# TYPE y_total counter\ny_total 3\n"
    )


@pytest.fixture
def state(tmp_path: Path) -> Path:
    clock = ManualClock(1_700_000_000.0)
    path = tmp_path / "state.db"
    with Store.open(path, clock=clock) as store:
        for n, outcome in enumerate(["resting", "rejected", "rejected", "executed"]):
            coid = f"c{n}"
            store.orders.record_intent(
                IntentRecord(
                    coid, "KXM-1", BookSide.BID, Decimal("0.40"), Decimal(5), Side.YES, Action.BUY
                )
            )
            if outcome == "rejected":
                store.orders.mark_rejected(coid, reason="no")
            else:
                store.orders.mark_sent(
                    coid,
                    order_id=f"o{n}",
                    status=outcome,
                    fill_count=Decimal(0),
                    remaining_count=Decimal(5),
                )
        for n, (side, price) in enumerate([(BookSide.BID, "0.40"), (BookSide.ASK, "0.45")]):
            store.fills.record_fill(
                FillRecord(
                    f"f{n}",
                    f"o{n}",
                    None,
                    "KXM-1",
                    side,
                    Decimal(price),
                    Decimal(10),
                    Decimal("0.01"),
                    False,
                    clock.wall(),
                )
            )
        store.trading.set_trading_state("HALTED", reason="test", source="test")
        store.entries.heartbeat(source="trade")
        store.entries.set_kv("feed.last_message_at", "1699999999.500")
    return path


def test_collector_reads_the_state_file(state: Path) -> None:
    collector = Collector(state, clock=ManualClock(1_700_000_060.0))
    values = parse(collector.collect())
    assert collector.problems == []
    assert values['kalshi_source_up{source="state"}'] == "1"
    assert values["kalshi_orders_placed_total"] == "2"
    assert values["kalshi_orders_rejected_total"] == "2"
    assert values['kalshi_orders{status="rejected"}'] == "2"
    assert values["kalshi_fills_total"] == "2"
    # bought 10 at 0.40, sold 10 at 0.45: $0.50 gross less $0.02 fees
    assert values["kalshi_daily_realized_pnl_dollars"] == "0.48"
    assert values["kalshi_realized_pnl_dollars"] == "0.48"
    assert values['kalshi_trading_state{state="HALTED"}'] == "1"
    assert values['kalshi_trading_state{state="ACTIVE"}'] == "0"
    assert values["kalshi_last_heartbeat_timestamp_seconds"] == "1700000000.000"
    assert values["kalshi_feed_last_message_timestamp_seconds"] == "1699999999.500"


def _fill(n: int, ticker: str, book_side: BookSide, count: int, subaccount: int = 0) -> FillRecord:
    return FillRecord(
        f"held-{n}", f"o-held-{n}", None, ticker, book_side, Decimal("0.40"), Decimal(count),
        Decimal("0.01"), True, 1_700_000_000.0 + n, subaccount=subaccount,
    )  # fmt: skip


@pytest.fixture
def held(tmp_path: Path) -> Path:
    """A state file whose fills leave positions open: 6 YES of KXM-1 and 3 NO of KXM-2 on the
    primary account, 5 YES of KXM-1 on subaccount 2, and KXM-3 bought and sold back (flat)."""
    path = tmp_path / "held.db"
    with Store.open(path, clock=ManualClock(1_700_000_000.0)) as store:
        fills = [
            ("KXM-1", BookSide.BID, 10, 0), ("KXM-1", BookSide.ASK, 4, 0),
            ("KXM-2", BookSide.ASK, 3, 0),
            ("KXM-3", BookSide.BID, 2, 0), ("KXM-3", BookSide.ASK, 2, 0),
            ("KXM-1", BookSide.BID, 5, 2),
        ]  # fmt: skip
        for n, (ticker, side, count, subaccount) in enumerate(fills):
            store.fills.record_fill(_fill(n, ticker, side, count, subaccount))
    return path


def _positions(values: dict[str, str]) -> dict[str, Decimal]:
    return {
        key: Decimal(value)
        for key, value in values.items()
        if key.startswith("kalshi_position_contracts{")
    }


def test_without_the_exchange_the_positions_come_from_the_state_file(held: Path) -> None:
    # what the trade loop's --metrics-port serves: it never asks the exchange, and the
    # dashboard's Positions panel and the position alert rules read kalshi_position_contracts
    values = parse(Collector(held, clock=ManualClock(1_700_000_060.0)).collect())
    assert _positions(values) == {
        'kalshi_position_contracts{subaccount="0",ticker="KXM-1"}': Decimal(6),
        'kalshi_position_contracts{subaccount="0",ticker="KXM-2"}': Decimal(-3),
        'kalshi_position_contracts{subaccount="2",ticker="KXM-1"}': Decimal(5),
    }
    assert values["kalshi_open_positions"] == "3"


def test_with_the_exchange_its_positions_are_the_only_ones(sim: SimHarness, held: Path) -> None:
    key, _ = load_private_key(path=Path(sim.account.private_key_path))
    with KalshiClient(
        api_base=sim.account.api_base, key_id=sim.account.key_id, private_key=key
    ) as client:
        values = parse(Collector(held, client=lambda: client).collect())  # one family each
    assert values['kalshi_source_up{source="exchange"}'] == "1"
    # the simulator's account holds nothing: the exchange's figure, not the state file's
    assert _positions(values) == {}
    assert values["kalshi_open_positions"] == "0"


def test_the_loops_lag_from_its_heartbeat_is_exported(tmp_path: Path) -> None:
    clock = ManualClock(1_700_000_000.0)
    path = tmp_path / "state.db"
    with Store.open(path, clock=clock) as store:
        # the lag figures as the trade loop writes them (runner/loop/trade_loop.py, _heartbeat)
        detail = {"lag_p50_s": 0.012, "lag_p99_s": 7.25, "lag_max_s": 9.5}
        detail |= {"revisit_max_s": 41.0, "waiting": 312, "behind": True}
        store.entries.heartbeat(source="trade", detail=detail)
    values = parse(Collector(path, clock=clock).collect())
    assert values['kalshi_loop_decision_lag_seconds{quantile="0.5"}'] == "0.012"
    assert values['kalshi_loop_decision_lag_seconds{quantile="0.99"}'] == "7.25"
    assert values['kalshi_loop_decision_lag_seconds{quantile="1"}'] == "9.5"
    assert values["kalshi_loop_revisit_max_seconds"] == "41.0"
    assert values["kalshi_loop_markets_waiting"] == "312"
    assert values["kalshi_loop_behind"] == "1"


def test_the_markets_waiting_for_their_orders_read_are_exported(tmp_path: Path) -> None:
    """The heartbeat's count of the markets waiting for their orders' read, trading nothing
    meanwhile, and the longest wait; none waiting: 0, and no wait."""
    clock = ManualClock(1_700_000_000.0)
    path = tmp_path / "state.db"
    with Store.open(path, clock=clock) as store:
        store.entries.heartbeat(
            source="trade", detail={"orders_read_waiting": 4, "orders_read_wait_s": 12.5}
        )
    values = parse(Collector(path, clock=clock).collect())
    assert values["kalshi_loop_orders_read_waiting"] == "4"
    assert values["kalshi_loop_orders_read_wait_seconds"] == "12.5"
    with Store.open(path, clock=clock) as store:
        store.entries.heartbeat(
            source="trade", detail={"orders_read_waiting": 0, "orders_read_wait_s": None}
        )
    values = parse(Collector(path, clock=clock).collect())
    assert values["kalshi_loop_orders_read_waiting"] == "0"
    assert "kalshi_loop_orders_read_wait_seconds" not in values


def test_a_missing_state_file_is_source_down_not_a_failure(tmp_path: Path) -> None:
    collector = Collector(tmp_path / "nope.db")
    values = parse(collector.collect())
    assert values['kalshi_source_up{source="state"}'] == "0"
    assert "no state file" in collector.problems[0]
    assert not (tmp_path / "nope.db").exists()


def test_collector_reads_the_exchange(sim: SimHarness, tmp_path: Path) -> None:
    key, _ = load_private_key(path=Path(sim.account.private_key_path))
    with KalshiClient(
        api_base=sim.account.api_base, key_id=sim.account.key_id, private_key=key
    ) as client:
        values = parse(Collector(tmp_path / "none.db", client=lambda: client).collect())
    assert values['kalshi_source_up{source="exchange"}'] == "1"
    # from balance_dollars, exact to $0.0001 (the integer-cent balance truncates sub-cents)
    # one sample per exchange shard, from `balance_breakdown`
    assert values['kalshi_balance_dollars{exchange_index="0"}'] == "1000.0000"
    assert values["kalshi_open_positions"] == "0"
    assert float(values["kalshi_api_latency_seconds"]) > 0


def test_textfile_is_replaced_atomically(tmp_path: Path) -> None:
    target = tmp_path / "kalshi.prom"
    target.write_text("old\n")
    write_textfile(target, "kalshi_x 1\n")
    assert target.read_text() == "kalshi_x 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kalshi.prom"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_kalshi_metrics_textfile_command(state: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.prom"
    context = AppContext(environ={"KALSHI_HOME": str(tmp_path), "KALSHI_STATE": str(state)})
    result = CliRunner().invoke(
        app, ["metrics", "--no-exchange", "--textfile", str(target)], obj=context
    )
    assert result.exit_code == 0, result.output
    assert parse(target.read_text())["kalshi_fills_total"] == "2"


def test_serve_metrics_on_loopback(state: Path) -> None:
    calls: list[int] = []

    def collect() -> str:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return Collector(state).collect()

    server = serve_metrics(0, collect)
    try:
        assert server.host == "127.0.0.1"
        ok = httpx.get(server.url, timeout=5)
        assert ok.status_code == 200
        assert ok.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert parse(ok.text)["kalshi_fills_total"] == "2"
        assert httpx.get(server.url.replace("/metrics", "/other"), timeout=5).status_code == 404
        assert httpx.get(server.url, timeout=5).status_code == 200
        failed = httpx.get(server.url, timeout=5)
        assert failed.status_code == 500
        assert "boom" in failed.text
    finally:
        server.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url, timeout=1)


def test_counters_of_events_not_yet_seen_read_zero_so_a_panel_shows_0_not_no_data(
    state: Path,
) -> None:
    from kalshi_cli.risk.rules import Code
    from kalshi_cli.services.metrics import LoopTelemetry

    # the state file has no risk trip: every rule that can trip is there at 0
    values = parse(Collector(state, clock=ManualClock(1_700_000_060.0)).collect())
    assert values['kalshi_risk_trips_total{rule="circuit_breaker"}'] == "0"
    assert values['kalshi_risk_trips_total{rule="api_error_guard"}'] == "0"
    # a loop that has denied nothing has every denial code at 0, and counts from there
    telemetry = LoopTelemetry()
    denials = parse(render(telemetry.families()))
    assert {denials[f'kalshi_risk_denials_total{{code="{c}"}}'] for c in Code} == {"0"}
    telemetry.observe("risk_denied", {"code": Code.STALE_FEED})
    denials = parse(render(telemetry.families()))
    assert denials[f'kalshi_risk_denials_total{{code="{Code.STALE_FEED}"}}'] == "1"
    assert denials[f'kalshi_risk_denials_total{{code="{Code.HALTED}"}}'] == "0"


def test_each_events_worst_case_is_a_gauge(
    prime: SimHarness, client: KalshiClient, tmp_path: Path
) -> None:
    """Kalshi's example (NO at 0.60 and NO at 0.70 of a three-market mutually exclusive event)
    loses $0.30 at worst, as `kalshi positions --by event` says, not the $1.30 it cost."""
    from tests.prime_tier import hold_kalshis_event_example

    hold_kalshis_event_example(prime, client)
    values = parse(Collector(tmp_path / "none.db", client=lambda: client).collect())
    worst = values['kalshi_event_worst_case_dollars{event_ticker="KXSOS"}']
    assert Decimal(worst) == Decimal("-0.30")
    assert Decimal(values["kalshi_exposure_dollars"]) == Decimal("1.30")  # what it cost


def test_the_exchanges_positions_exposure_and_events_count_every_subaccount(
    prime: SimHarness, client: KalshiClient, tmp_path: Path
) -> None:
    """A loop on `kalshi trade --subaccount N` holds its positions on N, which the exchange's
    positions read without a subaccount (subaccount 0's) leaves out: the exposure alert rules
    read `kalshi_exposure_dollars` from this collection."""
    from kalshi_cli.client.requests import CreateOrder
    from tests.prime_tier import another_accounts_order, funded_subaccount

    prime.create_market("KXSUBM-1")
    sub = funded_subaccount(client)
    another_accounts_order(prime, "KXSUBM-1", BookSide.ASK, "0.40", 5)
    client.on_subaccount(sub).orders.create_order(
        CreateOrder("KXSUBM-1", BookSide.BID, Decimal("0.40"), Decimal(5))
    )
    values = parse(Collector(tmp_path / "none.db", client=lambda: client).collect())
    assert _positions(values) == {
        f'kalshi_position_contracts{{subaccount="{sub}",ticker="KXSUBM-1"}}': Decimal(5)
    }
    assert values["kalshi_open_positions"] == "1"
    assert Decimal(values[f'kalshi_exposure_dollars{{subaccount="{sub}"}}']) == Decimal("2.00")
    assert Decimal(values['kalshi_exposure_dollars{subaccount="0"}']) == 0
    # and its event's worst case: the $2.00 paid and its fee lost if NO wins
    worst = values[f'kalshi_event_worst_case_dollars{{event_ticker="KXSUBM",subaccount="{sub}"}}']
    assert Decimal(worst) <= Decimal("-2.00")


def test_the_balance_samples_sum_to_the_accounts_cash_on_every_subaccount(
    prime: SimHarness, client: KalshiClient, tmp_path: Path
) -> None:
    from tests.prime_tier import funded_subaccount

    sub = funded_subaccount(client, 5000)
    values = parse(Collector(tmp_path / "none.db", client=lambda: client).collect())
    balances = {k: Decimal(v) for k, v in values.items() if k.startswith("kalshi_balance_dollars")}
    assert balances == {
        'kalshi_balance_dollars{exchange_index="0",subaccount="0"}': Decimal(950),
        f'kalshi_balance_dollars{{exchange_index="0",subaccount="{sub}"}}': Decimal(50),
    }


RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "kalshi-rules.yml"


def _alert_fires(samples: dict[str, str], alert: str, tmp_path: Path) -> bool:
    """Whether `alert` of the rules file as shipped fires over these samples, held for five
    minutes, as promtool's own rule evaluation says."""
    import shutil
    import subprocess

    import yaml

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus; .ci/run does)")
    series = [{"series": name, "values": f"{value}x5"} for name, value in samples.items()]
    quiet = {"interval": "1m", "input_series": series}
    quiet["alert_rule_test"] = [{"eval_time": "5m", "alertname": alert, "exp_alerts": []}]
    tests = tmp_path / "rules-test.yml"
    tests.write_text(yaml.safe_dump({"rule_files": [str(RULES)], "tests": [quiet]}))
    done = subprocess.run(
        [promtool, "test", "rules", str(tests)], capture_output=True, text=True, check=False
    )
    said = done.stdout + done.stderr
    assert "SUCCESS" in said or f"alertname: {alert}," in said, said  # not a broken test file
    return done.returncode != 0


def test_the_exposure_rules_grade_each_subaccount_against_the_cap_as_the_check_does(
    prime: SimHarness, client: KalshiClient, tmp_path: Path
) -> None:
    """The cap is a loop's and a loop trades one subaccount (docs/risk.md): $300 on each of two
    subaccounts is within the $500 cap for `kalshi check exposure`, so the alert rules reading
    `kalshi_exposure_dollars` must not call the account's $600 over it."""
    from kalshi_cli.checks import CheckStatus
    from kalshi_cli.checks.remote import check_exposure
    from kalshi_cli.checks.thresholds import resolve
    from kalshi_cli.client.requests import CreateOrder
    from kalshi_cli.risk.engine import RiskLimits
    from tests.prime_tier import another_accounts_order, funded_subaccount

    prime.create_market("KXCAP-1")
    sub = funded_subaccount(client, 40_000)
    another_accounts_order(prime, "KXCAP-1", BookSide.ASK, "0.50", 1200)
    for own in (client, client.on_subaccount(sub)):
        own.orders.create_order(CreateOrder("KXCAP-1", BookSide.BID, Decimal("0.50"), Decimal(600)))
    cap = RiskLimits().max_total_exposure
    checked = check_exposure(client, resolve(None), cap)
    assert checked.status == CheckStatus.OK, checked.summary
    values = parse(Collector(tmp_path / "none.db", client=lambda: client).collect())
    exposure = {k: v for k, v in values.items() if k.startswith("kalshi_exposure_dollars")}
    assert sum(Decimal(v) for v in exposure.values()) == Decimal(600)  # the account's total
    assert not _alert_fires(exposure, "KalshiExposureNearCap", tmp_path)
    assert not _alert_fires(exposure, "KalshiExposureOverCap", tmp_path)


class _Counting(httpx.HTTPTransport):
    """Loopback to the simulator, counting each path asked."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: Counter[str] = Counter()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths[request.url.path] += 1
        return super().handle_request(request)


def test_a_collection_lists_the_subaccounts_once(prime: SimHarness, tmp_path: Path) -> None:
    """The balance samples and the positions of every subaccount both need the account's
    subaccounts: one listing serves both."""
    from tests.prime_tier import connect, funded_subaccount

    counting = _Counting()
    with connect(prime.account, transport=counting) as client:
        sub = funded_subaccount(client)
        counting.paths.clear()
        values = parse(Collector(tmp_path / "none.db", client=lambda: client).collect())
    assert values[f'kalshi_exposure_dollars{{subaccount="{sub}"}}'] == "0"  # it read them
    assert counting.paths["/trade-api/v2/portfolio/subaccounts/balances"] == 1
