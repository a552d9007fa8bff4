"""heartbeat, feed, orders and pnl against a real state file, with time under a ManualClock."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.alerts.model import Outcome, Severity
from kalshi_cli.alerts.router import AlertRouter
from kalshi_cli.checks import CheckResult, CheckStatus, dispatch, format_nagios
from kalshi_cli.checks.local import (
    LocalView,
    check_feed,
    check_heartbeat,
    check_orders,
    check_pnl,
)
from kalshi_cli.checks.thresholds import THRESHOLDS, resolve
from kalshi_cli.store import FillRecord, IntentRecord, Store
from kalshi_cli.store.records import IN_FLIGHT_S
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import ConfigError, UsageError
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.checks.test_checks_format import RecordingChannel
from tests.fakes import FakeAlertStateStore

DEFAULTS = resolve(None)
LIMIT = Decimal(100)  # risk.daily_loss_limit


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000.0)


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> Iterator[Store]:
    s = Store.open(tmp_path / "state.db", clock=clock)
    yield s
    s.close()


def view(store: Store | None, clock: ManualClock, path: Path | None = None) -> LocalView:
    return LocalView(
        store, path or (store.path if store else Path("/nowhere/state.db")), clock.wall()
    )


def perf(result: CheckResult, label: str) -> Decimal | int:
    return {p.label: p.value for p in result.perfdata}[label]


# --------------------------------------------------------------------------------------------
# heartbeat


def test_heartbeat_with_no_state_file_is_critical(clock: ManualClock) -> None:
    result = check_heartbeat(view(None, clock), DEFAULTS)
    assert result.status is CheckStatus.CRITICAL
    assert "no heartbeat" in result.summary


def test_heartbeat_never_written_is_critical(store: Store, clock: ManualClock) -> None:
    store.entries.heartbeat(source="something-else")
    result = check_heartbeat(view(store, clock), DEFAULTS)
    assert result.status is CheckStatus.CRITICAL
    assert "never written" in result.summary


@pytest.mark.parametrize(
    ("age", "status"),
    [
        (5, CheckStatus.OK),
        (59.9, CheckStatus.OK),
        (60, CheckStatus.WARNING),
        (300, CheckStatus.CRITICAL),
    ],
)
def test_heartbeat_age_against_thresholds(
    store: Store, clock: ManualClock, age: float, status: CheckStatus
) -> None:
    store.entries.heartbeat(source="trade", detail={"state": "ACTIVE"})
    clock.advance(age)
    result = check_heartbeat(view(store, clock), DEFAULTS)
    assert result.status is status
    assert perf(result, "age") == Decimal(str(age)).quantize(Decimal("0.001"))
    assert format_nagios(result).endswith(f"'age'={perf(result, 'age')}s;60;300;0")


def test_heartbeat_flags_override_the_defaults(store: Store, clock: ManualClock) -> None:
    store.entries.heartbeat(source="trade")
    clock.advance(20)
    th = resolve({"heartbeat": {"warn": 50}}, check="heartbeat", crit="15", warn="10")
    assert check_heartbeat(view(store, clock), th).status is CheckStatus.CRITICAL
    th = resolve({"heartbeat": {"warn": 10, "crit": 30}})
    assert check_heartbeat(view(store, clock), th).status is CheckStatus.WARNING


def _lagging_beat(store: Store, lag_p99_s: float, revisit_max_s: float) -> None:
    # the lag figures as the trade loop writes them (runner/loop/trade_loop.py, _heartbeat)
    detail = {"state": "ACTIVE", "lag_p99_s": lag_p99_s, "revisit_max_s": revisit_max_s}
    store.entries.heartbeat(source="trade", detail=detail)


def test_a_loop_alive_but_behind_is_a_warning_that_says_so(
    store: Store, clock: ManualClock
) -> None:
    _lagging_beat(store, lag_p99_s=0.4, revisit_max_s=1.2)
    clock.advance(1)
    keeping_up = check_heartbeat(view(store, clock), DEFAULTS)
    assert keeping_up.status is CheckStatus.OK
    assert "behind" not in keeping_up.summary
    assert perf(keeping_up, "lag_p99") == Decimal("0.4")
    _lagging_beat(store, lag_p99_s=7.25, revisit_max_s=1.2)
    slow_decisions = check_heartbeat(view(store, clock), DEFAULTS)
    assert slow_decisions.status is CheckStatus.WARNING
    assert slow_decisions.summary.startswith("alive but behind: p99 book change to decision 7.2s")
    _lagging_beat(store, lag_p99_s=0.4, revisit_max_s=95.0)
    starved = check_heartbeat(view(store, clock), DEFAULTS)
    assert starved.status is CheckStatus.WARNING
    assert "alive but behind: a market unvisited for 95.0s (warn 30s)" in starved.summary
    assert "'revisit_max'=95.000s;30;;0" in format_nagios(starved)


def test_a_dead_loop_is_critical_and_never_called_alive(store: Store, clock: ManualClock) -> None:
    _lagging_beat(store, lag_p99_s=9.0, revisit_max_s=95.0)
    clock.advance(400)
    result = check_heartbeat(view(store, clock), DEFAULTS)
    assert result.status is CheckStatus.CRITICAL
    assert "alive" not in result.summary
    assert result.summary.startswith("last heartbeat 6.7min ago")


def test_the_lag_thresholds_come_from_the_config_and_flags(
    store: Store, clock: ManualClock
) -> None:
    _lagging_beat(store, lag_p99_s=3.0, revisit_max_s=12.0)
    assert check_heartbeat(view(store, clock), DEFAULTS).status is CheckStatus.OK
    th = resolve({"heartbeat": {"lag_warn": 2}})
    assert check_heartbeat(view(store, clock), th).status is CheckStatus.WARNING
    th = resolve(None, check="heartbeat", overrides=["revisit_warn=10"])
    assert "unvisited for 12.0s" in check_heartbeat(view(store, clock), th).summary


# --------------------------------------------------------------------------------------------
# feed


def test_feed_unknown_without_state_or_loop(store: Store, clock: ManualClock) -> None:
    assert check_feed(view(None, clock), DEFAULTS).status is CheckStatus.UNKNOWN
    assert check_feed(view(store, clock), DEFAULTS).status is CheckStatus.UNKNOWN


def test_feed_critical_when_the_loop_runs_but_saw_no_data(store: Store, clock: ManualClock) -> None:
    store.entries.heartbeat(source="trade")
    result = check_feed(view(store, clock), DEFAULTS)
    assert result.status is CheckStatus.CRITICAL


@pytest.mark.parametrize(
    ("age", "status"),
    [
        (1, CheckStatus.OK),
        (30, CheckStatus.WARNING),
        (119, CheckStatus.WARNING),
        (120, CheckStatus.CRITICAL),
    ],
)
def test_feed_age(store: Store, clock: ManualClock, age: float, status: CheckStatus) -> None:
    # what the trade loop writes (kalshi_cli/runner/loop/trade_loop.py, _heartbeat)
    store.entries.set_kv("feed.last_message_at", f"{clock.wall() - age:.3f}")
    assert check_feed(view(store, clock), DEFAULTS).status is status


@pytest.mark.parametrize("raw", ["yesterday", "inf", "nan", "-inf"])
def test_feed_garbage_value_is_unknown(store: Store, clock: ManualClock, raw: str) -> None:
    """A number that is no time (`inf` read as a message from forever ahead was an age of 0,
    OK) is as unknown as text."""
    store.entries.set_kv("feed.last_message_at", raw)
    result = check_feed(view(store, clock), DEFAULTS)
    assert result.status is CheckStatus.UNKNOWN
    assert result.summary == f"feed.last_message_at is not a time: {raw!r}"


@pytest.mark.parametrize("ahead", [60.0, 3600.0])
def test_a_feed_time_in_the_future_is_unknown_and_says_why(
    store: Store, clock: ManualClock, ahead: float
) -> None:
    """A message from a minute ahead (a clock stepped back since, a corrupt row) was an age of
    0, OK: the check cannot tell how old the data is, as with `inf`."""
    store.entries.set_kv("feed.last_message_at", f"{clock.wall() + ahead:.3f}")
    result = check_feed(view(store, clock), DEFAULTS)
    assert result.status is CheckStatus.UNKNOWN
    assert "in the future" in result.summary and "feed.last_message_at" in result.summary


def test_a_feed_time_a_moment_ahead_is_still_graded_as_just_now(
    store: Store, clock: ManualClock
) -> None:
    # within the tolerance (a clock stepped back a little since the write): fresh, age 0
    store.entries.set_kv("feed.last_message_at", f"{clock.wall() + 1:.3f}")
    result = check_feed(view(store, clock), DEFAULTS)
    assert result.status is CheckStatus.OK
    assert perf(result, "age") == 0
    assert result.summary == "last market-data message 0.0s ago"


def _set_heartbeat_at(store: Store, at: float) -> None:
    """The trade loop's heartbeat row, with a time the loop itself would never write."""
    store.entries.heartbeat(source="trade")
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE heartbeats SET at = ? WHERE source = 'trade'", (at,))


@pytest.mark.parametrize("ahead", [60.0, 3600.0, math.inf])
def test_a_heartbeat_in_the_future_is_unknown_and_says_why(
    store: Store, clock: ManualClock, ahead: float
) -> None:
    """A heartbeat from ahead of now was an age of 0: OK, a live loop, whatever the loop did
    since. One rule with the feed's: a time the check cannot age is UNKNOWN."""
    _set_heartbeat_at(store, clock.wall() + ahead)
    result = check_heartbeat(view(store, clock), DEFAULTS)
    assert result.status is CheckStatus.UNKNOWN
    assert "heartbeat" in result.summary
    assert ("in the future" if math.isfinite(ahead) else "not a time") in result.summary


def test_a_heartbeat_a_moment_ahead_is_still_graded_as_just_now(
    store: Store, clock: ManualClock
) -> None:
    _set_heartbeat_at(store, clock.wall() + 1)
    result = check_heartbeat(view(store, clock), DEFAULTS)
    assert result.status is CheckStatus.OK
    assert perf(result, "age") == 0
    assert result.summary.startswith("last heartbeat 0.0s ago")


# --------------------------------------------------------------------------------------------
# orders


def intent(n: int, **kw: Any) -> IntentRecord:
    fields: dict[str, Any] = {
        "client_order_id": f"coid-{n}",
        "ticker": "KXT-1",
        "book_side": BookSide.BID,
        "price": Decimal("0.40"),
        "count": Decimal(5),
        "side": Side.YES,
        "action": Action.BUY,
    }
    fields.update(kw)
    return IntentRecord(**fields)


def place(store: Store, n: int, outcome: str) -> None:
    store.orders.record_intent(intent(n))
    coid = f"coid-{n}"
    if outcome == "rejected":
        store.orders.mark_rejected(coid, reason="insufficient balance")
    elif outcome == "unknown":
        store.orders.mark_unknown(coid, reason="timeout")
    else:
        store.orders.mark_sent(
            coid,
            order_id=f"ord-{n}",
            status=outcome,
            fill_count=Decimal(0),
            remaining_count=Decimal(5),
        )


def test_orders_ok_without_state_file_or_orders(store: Store, clock: ManualClock) -> None:
    no_file = check_orders(view(None, clock), DEFAULTS)
    assert no_file.status is CheckStatus.OK
    # under the check's own name, which its alert is kept by (`check:orders`): it clears one
    assert no_file.name == "orders"
    assert format_nagios(no_file).startswith("KALSHI ORDERS OK - no orders recorded")
    assert check_orders(view(store, clock), DEFAULTS).status is CheckStatus.OK


def test_an_unknown_order_is_critical(store: Store, clock: ManualClock) -> None:
    place(store, 1, "unknown")
    result = check_orders(view(store, clock), DEFAULTS)
    assert result.status is CheckStatus.CRITICAL
    assert "UNKNOWN" in result.summary
    assert perf(result, "unknown") == 1
    assert "'unknown'=1;;1;0" in format_nagios(result)  # CRITICAL at one, never below none


def _unknown_once_it_could_have_landed(store: Store, clock: ManualClock) -> None:
    """OK while what was sent may still land; CRITICAL, one order of unknown outcome, from then."""
    clock.advance(IN_FLIGHT_S - 1)
    assert check_orders(view(store, clock), DEFAULTS).status is CheckStatus.OK
    clock.advance(1)
    result = check_orders(view(store, clock), DEFAULTS)
    assert result.status is CheckStatus.CRITICAL
    assert result.summary == (
        "1 order(s) in UNKNOWN state, left pending or with an amend left unanswered: "
        "run `kalshi reconcile`"
    )
    assert perf(result, "unknown") == 1


def test_an_order_left_pending_by_a_run_that_ended_is_critical_as_unknown(
    store: Store, clock: ManualClock
) -> None:
    """An intent is written `pending` before its request goes out; one still pending after any
    request sent for it could land (a `kalshi order` killed mid-send, a crash) may rest on the
    exchange unknown to the state file, as an UNKNOWN one may: `kalshi status` and `reconcile`
    count it so, and so does the check. One in flight now is not."""
    store.orders.record_intent(intent(1))
    _unknown_once_it_could_have_landed(store, clock)


def test_an_amend_left_unanswered_by_a_run_that_ended_is_critical_as_unknown(
    store: Store, clock: ManualClock
) -> None:
    """An amend is written in its order's record before it leaves; one still unsettled after it
    could land (a loop or `kalshi order amend` killed with it in the network) may have changed
    the order on the exchange to terms the state file does not hold (more contracts, another
    price), and `kalshi reconcile` calls its order of unknown outcome until a read settles it:
    so does the check. One in flight now is not."""
    place(store, 1, "resting")
    with store.transaction():
        amend = store.orders.write_amend(
            "ord-1", price=Decimal("0.42"), rest=Decimal(12), post_only=None
        )
    assert amend is not None
    _unknown_once_it_could_have_landed(store, clock)
    store.orders.settle_amend(amend.id, "amend settled: the order read after it")
    assert check_orders(view(store, clock), DEFAULTS).status is CheckStatus.OK


def test_an_old_resting_order_is_a_warning(store: Store, clock: ManualClock) -> None:
    place(store, 1, "resting")
    clock.advance(3600)  # exactly resting_max_age_s old is not yet older than it
    assert check_orders(view(store, clock), DEFAULTS).status is CheckStatus.OK
    clock.advance(1)
    result = check_orders(view(store, clock), DEFAULTS)
    assert result.status is CheckStatus.WARNING
    assert "1 resting order(s) older than" in result.summary
    assert "'resting'=1;;;0 'stale_resting'=1;0;;0" in format_nagios(result)


@pytest.mark.parametrize(
    ("rejected", "status"),
    [(0, CheckStatus.OK), (1, CheckStatus.WARNING), (2, CheckStatus.CRITICAL)],
)
def test_rejection_rate_over_the_window(
    store: Store, clock: ManualClock, rejected: int, status: CheckStatus
) -> None:
    for n in range(4 - rejected):
        place(store, n, "canceled")
    for n in range(rejected):
        place(store, 100 + n, "rejected")
    result = check_orders(view(store, clock), DEFAULTS)
    assert result.status is status
    # the window moves on: an hour later none of these count
    clock.advance(3601)
    assert check_orders(view(store, clock), DEFAULTS).status is CheckStatus.OK


def test_a_new_kind_of_problem_at_the_same_tier_is_told_at_once(
    store: Store, clock: ManualClock
) -> None:
    """An order of unknown outcome pages (CRITICAL); a rejection rate past its limit beside it is
    another problem at the same tier: sent at once, not held back as a repeat for
    `repeat_interval_s`. The same problems again are held back, and one going away is no news."""
    channel = RecordingChannel()
    router = AlertRouter({"rec": channel}, {sev: ["rec"] for sev in Severity}, clock=clock)
    alerts = FakeAlertStateStore(clock)

    def told() -> Outcome:
        clock.advance(60)
        return dispatch(check_orders(view(store, clock), DEFAULTS), router, alerts).outcome

    place(store, 1, "unknown")
    assert told() is Outcome.SENT
    for n in range(2):
        place(store, 10 + n, "canceled")
        place(store, 20 + n, "rejected")
    assert told() is Outcome.CHANGED
    assert "2 of 4 orders rejected" in channel.sent[-1].summary
    assert told() is Outcome.SUPPRESSED
    store.orders.mark_rejected("coid-1", reason="not found on the exchange")
    assert told() is Outcome.SUPPRESSED


def test_rejection_rate_needs_enough_orders(store: Store, clock: ManualClock) -> None:
    place(store, 1, "rejected")
    assert check_orders(view(store, clock), DEFAULTS).status is CheckStatus.OK


# --------------------------------------------------------------------------------------------
# pnl


def fill(n: int, side: BookSide, price: str, ts: float, coid: str | None = None) -> FillRecord:
    return FillRecord(
        fill_id=f"f{n}",
        order_id=f"o{n}",
        client_order_id=coid,
        ticker="KXT-1",
        book_side=side,
        yes_price=Decimal(price),
        count=Decimal(100),
        fee=Decimal(0),
        is_taker=False,
        ts=ts,
    )


def round_trip(store: Store, clock: ManualClock, buy: str, sell: str) -> None:
    store.fills.record_fill(fill(1, BookSide.BID, buy, clock.wall() - 10))
    store.fills.record_fill(fill(2, BookSide.ASK, sell, clock.wall() - 5))


@pytest.mark.parametrize(
    ("sell", "status"),
    [("0.60", CheckStatus.OK), ("0.10", CheckStatus.WARNING), ("0.01", CheckStatus.CRITICAL)],
)
def test_pnl_today_against_floors_from_the_daily_loss_limit(
    store: Store, clock: ManualClock, sell: str, status: CheckStatus
) -> None:
    # 100 contracts bought at 0.60: selling at 0.10 loses $50 (half the limit), at 0.01 $59
    # (over the warn floor of -50 but above the critical -100 unless the limit is lower)
    round_trip(store, clock, "0.60", sell)
    limit = Decimal(100) if status is not CheckStatus.CRITICAL else Decimal(50)
    result = check_pnl(view(store, clock), DEFAULTS, limit)
    assert result.status is status


def test_pnl_floors_from_config_and_total(store: Store, clock: ManualClock) -> None:
    round_trip(store, clock, "0.60", "0.50")  # -$10
    th = resolve({"pnl": {"warn": -5, "crit": -20}})
    assert check_pnl(view(store, clock), th, LIMIT).status is CheckStatus.WARNING
    th = resolve({"pnl": {"total_warn": -1, "total_crit": -9}})
    result = check_pnl(view(store, clock), th, LIMIT)
    assert result.status is CheckStatus.CRITICAL
    assert perf(result, "total") == Decimal(-10)


def test_pnl_yesterday_does_not_count_today(store: Store, clock: ManualClock) -> None:
    round_trip(store, clock, "0.60", "0.01")
    clock.advance(86_400)
    result = check_pnl(view(store, clock), DEFAULTS, LIMIT)
    assert result.status is CheckStatus.OK
    assert perf(result, "today") == 0


def test_pnl_edge_captured_warns_only_on_a_day_that_has_not_made_money(
    store: Store, clock: ManualClock
) -> None:
    # the strategy expected 0.70 for what it bought at 0.50: $20 of edge on 100 contracts
    store.orders.record_intent(
        intent(1, model_fair=Decimal("0.70"), count=Decimal(100), price=Decimal("0.50"))
    )
    store.fills.record_fill(fill(1, BookSide.BID, "0.50", clock.wall() - 10, coid="coid-1"))
    store.fills.record_fill(fill(2, BookSide.ASK, "0.49", clock.wall() - 5))  # -$1 realized
    result = check_pnl(view(store, clock), DEFAULTS, LIMIT)
    assert result.status is CheckStatus.WARNING
    assert perf(result, "expected_edge") == Decimal(20)
    assert "captured -5% of the $20.00 edge expected today" in result.summary
    # +$2: a winning day is no warning, however little of the edge it caught
    store.fills.record_fill(fill(3, BookSide.BID, "0.49", clock.wall() - 4))
    store.fills.record_fill(fill(4, BookSide.ASK, "0.52", clock.wall() - 3))  # +$3 more
    result = check_pnl(view(store, clock), DEFAULTS, LIMIT)
    assert result.status is CheckStatus.OK, result.summary
    assert perf(result, "edge_captured") == Decimal(10)


def test_pnl_floor_pair_the_wrong_way_round_is_a_config_error(
    store: Store, clock: ManualClock
) -> None:
    th = resolve({"pnl": {"warn": -200}})  # the default critical floor is -100
    with pytest.raises(ConfigError):
        check_pnl(view(store, clock), th, LIMIT)


# --------------------------------------------------------------------------------------------
# thresholds


def test_every_threshold_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "checks.md").read_text()
    for t in THRESHOLDS:
        assert f"| `checks.{t.check}.{t.key}` |" in doc


@pytest.mark.parametrize(
    ("section", "error"),
    [
        ({"heartbeet": {"warn": 1}}, ConfigError),
        ({"heartbeat": {"wran": 1}}, ConfigError),
        ({"heartbeat": {"warn": "soon"}}, ConfigError),
        ({"heartbeat": {"warn": -1}}, ConfigError),
        # a pair the wrong way round in the file is the file's mistake (a flag's is a usage one)
        ({"heartbeat": {"warn": 100, "crit": 10}}, ConfigError),
    ],
)
def test_bad_threshold_config_is_refused(section: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        resolve(section)


def test_bad_threshold_flags_are_refused() -> None:
    with pytest.raises(UsageError):
        resolve(None, check="heartbeat", overrides=["nonsense"])
    with pytest.raises(UsageError):
        resolve(None, warn="1")  # `all` has no single warn
    with pytest.raises(UsageError):
        resolve(None, overrides=["warn=1"])  # nor an unqualified key
    th = resolve(None, overrides=["heartbeat.warn=5"])
    assert th.get("heartbeat", "warn") == Decimal(5)


def test_pnl_summary_reads_money_as_people_do(store: Store, clock: ManualClock) -> None:
    # -$10 today: `-$10.00`, never `$-10.00` or `$-10.0000`
    round_trip(store, clock, "0.60", "0.50")
    result = check_pnl(view(store, clock), DEFAULTS, LIMIT)
    assert result.status is CheckStatus.OK
    assert result.summary == "today -$10.00, total -$10.00 realized"
    th = resolve({"pnl": {"total_warn": -1, "total_crit": -20}})
    assert check_pnl(view(store, clock), th, LIMIT).summary == "total realized P&L -$10.00"


def test_pnl_check_shows_money_at_a_fixed_precision_in_its_line_and_perfdata(
    store: Store, clock: ManualClock
) -> None:
    # a model's fair value carries every digit its arithmetic gave; a person reads dollars
    # to at most $0.0001 (Kalshi's fee unit) and perfdata is a plain number of as many places
    store.orders.record_intent(
        intent(
            1,
            model_fair=Decimal("0.5847333333333333333333333333"),
            count=Decimal(30),
            price=Decimal("0.50"),
        )
    )
    store.fills.record_fill(fill(1, BookSide.BID, "0.50", clock.wall() - 10, coid="coid-1"))
    result = check_pnl(view(store, clock), DEFAULTS, LIMIT)
    # 100 contracts at 0.50 against a fair of 0.58473...: $8.47333... of edge
    assert "of the $8.4733 edge expected today" in result.summary
    rendered = [p.render() for p in result.perfdata]
    assert "'expected_edge'=8.4733" in rendered, rendered
