"""A market waiting for its resting orders' read (at the start, after a reconnect: the feed's
`user_orders` subscription does not carry it yet) trades nothing. The loop's heartbeat row counts
those markets and says how long the longest has waited; `kalshi check heartbeat` shows them, and
is WARNING, not OK, once one has waited `heartbeat.orders_read_warn` (runner/loop/heartbeat.py,
checks/local.py); `kalshi status` shows them too. A loop on the fakes, whose feed's subscription
is answered when the test says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kalshi_cli.checks import CheckResult, CheckStatus, format_nagios
from kalshi_cli.checks.local import LocalView, check_heartbeat
from kalshi_cli.checks.thresholds import Thresholds, resolve
from kalshi_cli.cli.trading import lag_text
from kalshi_cli.feed.session import CarriedMarkets
from kalshi_cli.services.orders.status import trading_status
from kalshi_cli.store import Store
from tests.runner.fakes import Rig, make_rig

DEFAULTS = resolve(None)


def _beat(r: Rig) -> dict[str, Any]:
    beat = r.store.entries.last_heartbeat("trade")
    assert beat is not None
    detail: dict[str, Any] = beat.detail
    return detail


def _check(r: Rig, state: Path, thresholds: Thresholds = DEFAULTS) -> CheckResult:
    store = Store.open_readonly(state)
    assert store is not None
    with store:
        return check_heartbeat(LocalView(store, state, r.clock.wall()), thresholds)


def test_the_markets_waiting_for_their_orders_read_are_counted_and_warned_of(
    tmp_path: Path,
) -> None:
    carried = CarriedMarkets()  # the subscription is not answered yet
    state = tmp_path / "s.db"
    r = make_rig(state, strategy="market-maker", carried=carried)
    markets = sorted(r.loop.portfolio.markets)
    assert markets
    r.step(1.0)
    detail = _beat(r)
    assert detail["orders_read_waiting"] == len(markets)
    assert detail["orders_read_wait_s"] == 1.0
    assert detail["orders"] == 0  # waiting, they trade nothing
    early = _check(r, state)
    assert early.status is CheckStatus.OK
    assert f"{len(markets)} market(s) waiting 1.0s for their orders' read" in early.summary
    assert f"'orders_read_waiting'={len(markets)};;;0" in format_nagios(early)
    # `kalshi status` shows them too
    lag = trading_status(state, now=r.clock.wall()).loop_lag
    assert lag is not None
    assert (lag["orders_read_waiting"], lag["orders_read_wait_s"]) == (len(markets), 1.0)
    assert f", {len(markets)} market(s) waiting 1.0s for their orders' read" in lag_text(lag)
    # a bound of the config's own
    assert _check(r, state, resolve({"heartbeat": {"orders_read_warn": 1}})).status is (
        CheckStatus.WARNING
    )
    for _ in range(30):
        r.step(1.0)
    late = _check(r, state)
    assert late.status is CheckStatus.WARNING, late.summary
    assert late.summary.startswith("alive but behind: "), late.summary
    said = f"{len(markets)} market(s) waiting 31.0s for their orders' read, trading nothing"
    assert f"{said} (warn 30s)" in late.summary, late.summary
    assert "'orders_read_wait'=31.000s;30;;0" in format_nagios(late)
    # the subscription answered: the read is made, and none waits
    carried.granted(markets)
    r.step(1.0)
    r.step(1.0)
    detail = _beat(r)
    assert (detail["orders_read_waiting"], detail["orders_read_wait_s"]) == (0, None)
    done = _check(r, state)
    assert done.status is CheckStatus.OK
    assert "orders' read" not in done.summary
