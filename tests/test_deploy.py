"""deploy/grafana and deploy/prometheus: the dashboard JSON parses, every metric a panel or a rule
names is one we export, the alert rules load in promtool, and their numbers are `kalshi check`'s.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import urllib.request
from decimal import Decimal as D
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from kalshi_cli.checks.thresholds import THRESHOLDS
from kalshi_cli.client import KalshiClient
from kalshi_cli.risk.engine import RiskLimits
from kalshi_cli.services.metrics import Collector, LoopTelemetry, api_families
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.dashboard.prepared import prepare
from tests.runner.simproc import Book, client_for, observer_for, trade_command, trade_env
from tests.waiting import poll_until

if TYPE_CHECKING:
    from tests.conftest import SimHarness

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "kalshi-dashboard.json"
RULES = ROOT / "deploy" / "prometheus" / "kalshi-rules.yml"
METRIC = re.compile(r"\bkalshi_[a-z_]+\b")
TICKER = "KXALERT-SIM-A"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Feed:
    def data_age(self, ticker: str) -> float:
        return 1.0


@pytest.fixture(scope="module")
def exported(sim_default: SimHarness, tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every metric name with a sample in what Prometheus scrapes (prometheus.example.yml): the
    trade loop's endpoint (the state file and what the process counts, never the exchange) and
    the `kalshi metrics --textfile` cron job's file (the state file and the exchange). A family
    rendered without a sample counts for nothing: its panel would show no data."""
    tmp = tmp_path_factory.mktemp("exported")
    clock = prepare(tmp / "state.db", tmp / "trade.log")  # holds 6 YES of one market
    key, _ = load_private_key(path=Path(sim_default.account.private_key_path))
    with KalshiClient(
        api_base=sim_default.account.api_base,
        key_id=sim_default.account.key_id,
        private_key=key,
    ) as client:
        telemetry = LoopTelemetry()
        telemetry.observe("risk_denied", {"code": "MIN_EDGE"})
        telemetry.watch_feed(_Feed(), ["T"])
        loop = Collector(
            tmp / "state.db",
            clock=ManualClock(clock.wall()),
            extra=lambda: [*api_families(client.stats.snapshot()), *telemetry.families()],
        )
        cron = Collector(tmp / "state.db", client=lambda: client, clock=ManualClock(clock.wall()))
        texts = [cron.collect(), loop.collect()]  # the cron's requests fill the registry
        assert loop.problems == cron.problems == []
    return {
        line.split("{", 1)[0].split(" ", 1)[0]
        for text in texts
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def _expressions(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_the_grafana_dashboard_names_only_exported_metrics(exported: set[str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = _expressions(dashboard)
    assert dashboard["uid"] and len(dashboard["panels"]) >= 10
    assert all(panel.get("targets") for panel in dashboard["panels"]), "a panel with no query"
    for title, expr in expressions:
        named = set(METRIC.findall(expr))
        assert named, f"{title}: {expr} names no kalshi metric"
        assert named <= exported, f"{title}: {sorted(named - exported)} not exported"
    wanted = {
        "kalshi_balance_dollars", "kalshi_daily_realized_pnl_dollars", "kalshi_exposure_dollars",
        "kalshi_position_contracts", "kalshi_orders", "kalshi_strategy_fills_total",
        "kalshi_fill_slippage_dollars_total", "kalshi_trading_state",
        "kalshi_last_heartbeat_timestamp_seconds", "kalshi_feed_last_message_timestamp_seconds",
        "kalshi_feed_message_age_seconds", "kalshi_api_requests_total",
        "kalshi_api_request_duration_seconds_bucket", "kalshi_risk_denials_total",
    }  # fmt: skip
    shown = {m for _, expr in expressions for m in METRIC.findall(expr)}
    assert wanted <= shown, f"the dashboard leaves out {sorted(wanted - shown)}"


def test_the_alert_rules_name_only_exported_metrics(exported: set[str]) -> None:
    for rule in _rules():
        named = set(METRIC.findall(rule["expr"]))
        assert named and named <= exported, f"{rule['alert']}: {sorted(named - exported)}"


def test_the_alert_rules_mirror_the_check_thresholds() -> None:
    defaults = {(t.check, t.key): t.default for t in THRESHOLDS if t.default is not None}
    limits = RiskLimits()
    expected = {
        ("heartbeat", "warn"): defaults[("heartbeat", "warn")],
        ("heartbeat", "crit"): defaults[("heartbeat", "crit")],
        ("feed", "warn"): defaults[("feed", "warn")],
        ("feed", "crit"): defaults[("feed", "crit")],
        ("positions", "warn"): defaults[("positions", "warn")] * limits.max_position_per_market,
        ("positions", "crit"): defaults[("positions", "crit")] * limits.max_position_per_market,
        ("exposure", "warn"): defaults[("exposure", "warn")] * limits.max_total_exposure,
        ("exposure", "crit"): defaults[("exposure", "crit")] * limits.max_total_exposure,
        ("pnl", "warn"): -limits.daily_loss_limit / 2,
        ("pnl", "crit"): -limits.daily_loss_limit,
        ("orders", "warn"): defaults[("orders", "warn")],
        ("orders", "crit"): defaults[("orders", "crit")],
        ("orders", "unknown_crit"): defaults[("orders", "unknown_crit")],
        ("api", "warn"): defaults[("api", "warn")] / 1000,
        ("api", "crit"): defaults[("api", "crit")] / 1000,
    }
    seen = set()
    for rule in _rules():
        labels = rule.get("labels", {})
        if "check" not in labels:
            continue
        key = (labels["check"], labels["threshold"])
        number = re.search(r"(?:>=|<=|>|<)\s*(-?[0-9.]+)", rule["expr"])
        assert number, rule["alert"]
        assert D(number.group(1)) == expected[key], f"{rule['alert']}: {key}"
        if key[0] == "orders" and key[1] != "unknown_crit":
            assert f">= {defaults[('orders', 'min_orders')]}" in rule["expr"], rule["alert"]
        seen.add(key)
    assert seen == set(expected)


def test_the_alert_rules_load_in_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus; .ci/run does)")
    done = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 18 rules found" in done.stdout
    config = RULES.parent / "prometheus.example.yml"
    done = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_a_position_over_its_limit_fires_its_alert_in_a_real_prometheus(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Debian's `prometheus` scrapes a running `kalshi trade --metrics-port` and evaluates the
    rules file as shipped: the account holds one contract over `risk.max_position_per_market`, and
    KalshiPositionOverLimit (no `for:`) is seen firing in Prometheus's own alerts API."""
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("prometheus is not installed (Debian: apt-get install prometheus; .ci/run)")
    over = RiskLimits().max_position_per_market + 1
    sim.create_market(TICKER)
    maker = client_for(sim.new_account())
    Book(maker, TICKER).order(BookSide.ASK, "0.51", str(over), TimeInForce.GTC)
    maker.close()
    with observer_for(sim.account) as holder:  # the loop's reconcile copies this fill
        Book(holder, TICKER).order(BookSide.BID, "0.51", str(over), TimeInForce.IOC)
    loop_port, web_port = _free_port(), _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES)],
                "scrape_configs": [
                    {
                        "job_name": "kalshi-trade",
                        "static_configs": [{"targets": [f"127.0.0.1:{loop_port}"]}],
                    }
                ],
            }
        )
    )
    env = trade_env(sim.account, tmp_path / "home", tmp_path / "state.db")
    command = trade_command("spike", TICKER, tmp_path / "trade.log", "--duration", "60")
    with (
        subprocess.Popen(
            [*command, "--metrics-port", str(loop_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ) as loop,
        subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{web_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ) as server,
    ):
        try:

            def alerts() -> list[dict[str, Any]] | None:
                try:
                    url = f"http://127.0.0.1:{web_port}/api/v1/alerts"
                    with urllib.request.urlopen(url, timeout=2) as answer:
                        found: list[dict[str, Any]] = json.load(answer)["data"]["alerts"]
                except OSError:
                    return None
                names = {a["labels"]["alertname"] for a in found if a["state"] == "firing"}
                return found if "KalshiPositionOverLimit" in names else None

            firing = poll_until(alerts, within_s=20)
            assert firing, f"no alert fired; loop: {loop.poll()}, prometheus: {server.poll()}"
        finally:
            for proc in (server, loop):
                proc.terminate()
            _, loop_err = loop.communicate(timeout=20)
            server.communicate(timeout=20)
    over_limit = next(a for a in firing if a["labels"]["alertname"] == "KalshiPositionOverLimit")
    assert over_limit["labels"]["ticker"] == TICKER
    assert over_limit["labels"]["severity"] == "critical"
    assert D(over_limit["value"]) == over
    assert over_limit["annotations"]["runbook"] == "runbooks/02-position-limit-breach.md"
    # a live loop's heartbeat and feed are fresh: only the position's two rules fire
    assert {a["labels"]["alertname"] for a in firing} == {
        "KalshiPositionOverLimit",
        "KalshiPositionNearLimit",
    }
    assert loop.returncode == 0, loop_err[-2000:]
