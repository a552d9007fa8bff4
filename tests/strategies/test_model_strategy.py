"""The model strategy's rule and its sources, against hand-computed values (docs/models.md).

Kelly: buying at price p with the taker fee rate r costs c = p + r p (1 - p) a contract and
pays $1 with probability q, so the Kelly share of the bankroll is (q - c) / (1 - c).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from decimal import Decimal as D
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from kalshi_cli.strategies import get_strategy
from kalshi_cli.strategies.deadline import (
    START_S,
    BoundedCall,
    MissedDeadline,
    Starting,
    StillRunning,
    bounded_decide,
)
from kalshi_cli.strategies.model import ModelDown, ModelError, ModelParams, decide, kelly_share
from kalshi_cli.strategies.model.sources import RESTART_BASE_S, CommandSource, FileSource
from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.strategy_api.strategy import Strategy
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.decisions import (
    Cancel,
    Decision,
    Holding,
    Intent,
    PositionView,
    RestingOrder,
)
from kalshi_cli.vocabulary.errors import ConfigError
from kalshi_cli.vocabulary.models import Orderbook
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce
from tests.waiting import PATIENCE_S, PATIENT_MS, wait_until

UNDER_TEST = Path(__file__).with_name("models_under_test.py")
FLAT = PositionView("T")


def python_source(name: str) -> str:
    return f"python:{UNDER_TEST}:{name}"


def command_source(mode: str, *extra: str) -> str:
    return f"command:{sys.executable} {UNDER_TEST} {mode} {' '.join(extra)}"


def snap(yes_ask: str = "0.55", yes_bid: str = "0.53", depth: int = 100, ts: float = 1000.0):
    """A market whose YES ask is `yes_ask` (a NO bid at 1 - ask) and YES bid `yes_bid`."""
    book = Orderbook("T", ((D(yes_bid), D(depth)),), ((1 - D(yes_ask), D(depth)),))
    return MarketSnapshot("T", ts, book)


# -------------------------------------------------------------------------------- the rule


def test_kelly_size_and_edge_match_the_hand_computed_values() -> None:
    # c = 0.55 + 0.07 x 0.55 x 0.45 = 0.567325; share = (0.70 - c) / (1 - c) = 0.30664...
    # stake = 0.5 x share x $100 = $15.3319...; 15.3319 / 0.567325 = 27.02 -> 27 contracts
    params = ModelParams(source=python_source("constant"), kelly_fraction=D("0.5"))
    (intent,) = decide(snap(), FLAT, params)
    assert isinstance(intent, Intent)
    assert (intent.side, intent.action, intent.price, intent.count) == (
        Side.YES,
        Action.BUY,
        D("0.55"),
        D(27),
    )
    assert intent.time_in_force is TimeInForce.IOC
    assert intent.model_fair == D("0.7")
    # the fee of 27 at 0.55: 0.07 x 27 x 0.2475 = 0.467775, rounded up to 0.4678
    assert intent.edge_after_fees == D("0.15") - D("0.4678") / 27
    assert kelly_share(D("0.70"), D("0.55"), D("0.07")) == D("0.132675") / D("0.432675")
    assert "under-test-1" in intent.reason and "edge 0.1327" in intent.reason


def test_contracts_already_held_count_toward_the_kelly_target() -> None:
    params = ModelParams(source=python_source("constant"), kelly_fraction=D("0.5"))
    held = PositionView("T", position=D(20), avg_entry_price=D("0.50"), entry_cost=D(10))
    (intent,) = decide(snap(), held, params)
    assert isinstance(intent, Intent) and intent.count == D(7)  # 27 - 20
    full = PositionView("T", position=D(27), avg_entry_price=D("0.50"), entry_cost=D("13.5"))
    assert decide(snap(), full, params) == []


def test_the_order_is_capped_by_max_count_and_the_depth_at_the_ask() -> None:
    params = ModelParams(source=python_source("constant"), kelly_fraction=D(1), max_count=D(9))
    (intent,) = decide(snap(), FLAT, params)
    assert isinstance(intent, Intent) and intent.count == D(9)
    (thin,) = decide(snap(depth=4), FLAT, params)
    assert isinstance(thin, Intent) and thin.count == D(4)


def test_an_edge_after_fees_below_min_edge_is_not_traded() -> None:
    # fair 0.70 at an ask of 0.67: c = 0.67 + 0.07 x 0.67 x 0.33 = 0.6854769; 50 contracts
    # (max_count) pay 0.07 x 50 x 0.2211 = 0.77385 -> 0.7739, 0.015478 a contract:
    # edge = 0.03 - 0.015478 = 0.014522
    loose = ModelParams(
        source=python_source("constant"),
        kelly_fraction=D(1),
        bankroll=D(1000),
        min_edge=D("0.0145"),
    )
    (intent,) = decide(snap(yes_ask="0.67", yes_bid="0.65"), FLAT, loose)
    assert isinstance(intent, Intent)
    assert intent.count == D(50)
    assert intent.edge_after_fees == D("0.03") - D("0.7739") / 50
    strict = ModelParams(
        source=python_source("constant"), kelly_fraction=D(1), bankroll=D(1000), min_edge=D("0.02")
    )
    assert decide(snap(yes_ask="0.67", yes_bid="0.65"), FLAT, strict) == []


def test_a_fair_below_the_bid_buys_no_at_its_ask() -> None:
    # fair YES 0.70 against a YES bid of 0.80 (a NO ask of 0.20): NO is worth 0.30
    params = ModelParams(source=python_source("constant"), kelly_fraction=D("0.1"))
    (intent,) = decide(snap(yes_ask="0.85", yes_bid="0.80"), FLAT, params)
    assert isinstance(intent, Intent)
    assert (intent.side, intent.price, intent.model_fair) == (Side.NO, D("0.20"), D("0.3"))


def test_what_it_holds_is_sold_at_the_bid_once_the_sale_clears_min_edge_against_the_model() -> None:
    # fair YES 0.70, 10 YES held, bid 0.80: 0.07 x 10 x 0.16 = 0.112 of fee, so the sale's
    # edge is 0.80 - 0.70 - 0.0112 = 0.0888 a contract; its own resting orders are cancelled
    params = ModelParams(source=python_source("constant"), kelly_fraction=D("0.1"))
    mine = RestingOrder("o1", Side.YES, Action.BUY, D("0.60"), D(5))
    held = PositionView("T", position=D(10), avg_entry_price=D("0.60"), resting=(mine,))
    cancel, intent = decide(snap(yes_ask="0.85", yes_bid="0.80"), held, params)
    assert isinstance(cancel, Cancel) and cancel.order_id == "o1"
    assert isinstance(intent, Intent)
    assert (intent.side, intent.action, intent.price, intent.count) == (
        Side.YES,
        Action.SELL,
        D("0.80"),
        D(10),
    )
    assert intent.reduce_only and intent.time_in_force is TimeInForce.IOC
    assert intent.edge_after_fees == D("0.0888") and "closing" in intent.reason
    assert "under-test-1: fair YES 0.7" in intent.reason  # the model and its version, as a buy


def test_a_sale_short_of_min_edge_holds_and_a_position_not_its_own_is_never_sold() -> None:
    params = ModelParams(source=python_source("constant"), kelly_fraction=D("0.1"))
    # bid 0.71: 0.01 - 0.07 x 10 x 0.2059 / 10 < 0.02, and NO at 0.29 is worth 0.30: nothing
    held = PositionView("T", position=D(10), avg_entry_price=D("0.60"))
    assert decide(snap(yes_ask="0.71", yes_bid="0.71"), held, params) == []
    # held NO is worth 0.30 and bid 0.15 (a YES ask of 0.85): held, and already above the
    # Kelly target of NO at its ask of 0.20 (5 contracts)
    short = PositionView("T", position=D(-10), avg_entry_price=D("0.20"))
    assert decide(snap(yes_ask="0.85", yes_bid="0.80"), short, params) == []
    # the account's YES, none of it this strategy's: no sale, the strategy's own rule alone
    others = PositionView("T", account=Holding(D(10), D("0.60"), D(6)))
    (own,) = decide(snap(yes_ask="0.85", yes_bid="0.80"), others, params)
    assert isinstance(own, Intent) and (own.side, own.action) == (Side.NO, Action.BUY)


def test_an_answer_below_the_confidence_floor_is_not_traded() -> None:
    sure = ModelParams(source=python_source("unsure"), min_confidence=D("0.4"))
    (intent,) = decide(snap(), FLAT, sure)
    assert isinstance(intent, Intent) and "unsure-2" in intent.reason
    assert (
        decide(snap(), FLAT, ModelParams(source=python_source("unsure"), min_confidence=D("0.5")))
        == []
    )


def test_no_opinion_is_no_trade() -> None:
    assert decide(snap(), FLAT, ModelParams(source=python_source("no_opinion"))) == []


def test_a_source_that_names_nothing_is_refused_with_its_key() -> None:
    strategy = get_strategy("model")
    with pytest.raises(ConfigError, match=r"strategies\.model: source 'pyhton:x:y' must be"):
        strategy.params({"source": "pyhton:x:y"})
    with pytest.raises(ConfigError, match="cannot import no_such_module_here"):
        strategy.params({"source": "python:no_such_module_here:f"})
    with pytest.raises(ConfigError, match="has no function 'missing'"):
        strategy.params({"source": python_source("missing")})


# -------------------------------------------------------------------------------- python


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("crashes", "raised RuntimeError"),
        ("not_a_number", "fair must be a number in \\[0, 1\\], got nan"),
        ("above_one", "got 1.5"),
        ("a_string", "got '0.6'"),
    ],
)
def test_a_python_model_that_crashes_or_answers_garbage_is_a_model_error(
    name: str, message: str
) -> None:
    params = ModelParams(source=python_source(name), timeout_ms=PATIENT_MS)
    with pytest.raises(ModelError, match=message):
        decide(snap(), FLAT, params)


def test_a_python_model_that_hangs_costs_its_deadline_and_is_then_refused_at_once() -> None:
    params = ModelParams(source=python_source("hangs"), timeout_ms=50)
    started = time.monotonic()
    with pytest.raises(ModelError, match="no answer within 50 ms"):
        decide(snap(), FLAT, params)
    # its deadline, not a model's start (10 s) nor the hang (for ever); the bound is that start,
    # not a few times 50 ms, since the time also holds the model's import on a busy machine
    assert time.monotonic() - started < START_S
    # the hung call still holds its thread: the next one is refused without waiting
    with pytest.raises(ModelError, match="earlier call has not returned"):
        decide(snap(), FLAT, params)


def test_a_late_calls_answer_is_never_taken_for_a_later_calls() -> None:
    gate = threading.Event()

    def answer(n: int) -> int:
        if n == 1:
            gate.wait(PATIENCE_S)
        return n

    # the held call misses whatever the deadline, so it is short; the later ones must answer
    # within theirs, so it is then one no busy machine's stall of the worker reaches
    call = BoundedCall(answer, timeout_s=0.02)
    with pytest.raises(MissedDeadline):
        call(1)
    with pytest.raises(StillRunning):
        call(2)
    call.timeout_s = PATIENCE_S
    gate.set()

    def second() -> int | None:
        try:
            return call(2)
        except StillRunning:
            return None  # the late call is not back yet

    assert wait_until(second, "the late call returned") == 2
    assert call(3) == 3
    call.close()


def test_a_strategys_first_decide_is_given_the_start_and_later_ones_one_calls_deadline() -> None:
    """A first `decide` imports, warms caches, loads weights: it may take `START_S`, as a model's
    first answer may, though the strategy's params name no `start_s`. It is not waited for past
    one deadline: each call meanwhile is `Starting`, no fault. The next gets 500 ms."""
    calls: list[int] = []
    # each call is held until the test lets it go, so no sleep races a deadline on a busy machine
    gates = [threading.Event(), threading.Event()]

    def slow_decide(*args: object) -> list[int]:
        calls.append(len(calls))
        gates[len(calls) - 1].wait(PATIENCE_S)
        return calls

    strategy = cast("Strategy[Any]", SimpleNamespace(decide=slow_decide))
    call = bounded_decide(strategy, object(), "decide-slow")
    try:
        with pytest.raises(Starting):
            call(snap(), FLAT, None)  # back after its one deadline: not waited for longer
        with pytest.raises(Starting):
            call(snap(), FLAT, None)  # still out, within its start: no fault, nothing sent
        gates[0].set()

        def second() -> bool:
            try:
                call(snap(), FLAT, None)
            except Starting:
                return False  # the first call is not back yet
            except MissedDeadline:
                return True  # sent once the first was back, and held past its 500 ms
            raise AssertionError("a held call answered")

        assert wait_until(second, "the second call sent and missed")
        assert calls == [0, 1]
    finally:
        gates[1].set()
        call.close()


def test_a_first_call_past_its_start_missed_it_and_the_next_finds_it_still_running() -> None:
    """The start is read on a manual clock: on the real one, a busy machine's stall between the
    first call and its answer can pass the start and turn `Starting` into `MissedDeadline`."""
    gate = threading.Event()
    clock = ManualClock()
    call = BoundedCall(
        lambda: gate.wait(PATIENCE_S), timeout_s=0.02, start_s=0.2, monotonic=clock.monotonic
    )
    try:
        with pytest.raises(Starting):
            call()
        clock.advance(0.19)
        with pytest.raises(Starting):
            call()  # still within its start
        clock.advance(0.01)
        with pytest.raises(MissedDeadline) as missed:
            call()
        assert missed.value.timeout_s == 0.2
        with pytest.raises(StillRunning) as still:
            call()
        assert type(still.value) is StillRunning
    finally:
        gate.set()
        call.close()


# -------------------------------------------------------------------------------- command


def test_a_command_answers_each_request_by_its_id() -> None:
    source = CommandSource(
        "t", f"{sys.executable} {UNDER_TEST} echo", timeout_ms=PATIENT_MS, start_s=PATIENCE_S
    )
    try:
        first, second = source.ask(snap()), source.ask(snap())
    finally:
        source.close()
    assert first is not None and second is not None
    assert (first.fair, second.fair) == (D("0.01"), D("0.02"))


def test_a_late_answer_is_no_trade_and_is_never_taken_for_the_next_request(
    tmp_path: Path,
) -> None:
    release = tmp_path / "release"
    # the first request is held until the release, so it misses whatever the deadline; the
    # second must be answered within it, after the late first answer: 5 s, not a busy
    # machine's stall
    source = CommandSource(
        "t", f"{sys.executable} {UNDER_TEST} late-first {release}", timeout_ms=5000, start_s=5.0
    )
    try:
        with pytest.raises(ModelError, match="no answer within 5000 ms"):
            source.ask(snap())
        release.write_text("")
        # the answer to request 1 arrives now; request 2 must get its own (fair 0.02)
        answer = source.ask(snap())
    finally:
        source.close()
    assert answer is not None and answer.fair == D("0.02")
    assert source.starts == 1


def test_a_command_that_dies_is_down_then_restarted_after_its_backoff() -> None:
    # the backoff on a manual clock, here and in the tests below that say a process is down
    # until it ends: on the real one, a busy machine's stall of half a second can pass the first
    # backoff and restart it
    clock = ManualClock()
    source = CommandSource(
        "t",
        f"{sys.executable} {UNDER_TEST} exit-after-one",
        timeout_ms=PATIENT_MS,
        start_s=PATIENCE_S,
        monotonic=clock.monotonic,
    )
    try:
        assert source.ask(snap()) is not None
        with pytest.raises(ModelDown):
            source.ask(snap())  # its output closed: down, restart scheduled
        with pytest.raises(ModelDown, match="restarting in"):
            source.ask(snap())  # within the backoff: not started again
        clock.advance(RESTART_BASE_S - 0.01)
        with pytest.raises(ModelDown, match="restarting in"):
            source.ask(snap())  # still within it
        clock.advance(0.01)
        assert source.ask(snap()) is not None  # restarted, and answering
    finally:
        source.close()
    assert source.starts == 2


def test_a_command_that_never_answers_is_taken_for_hung_and_restarted() -> None:
    source = CommandSource(
        "t",
        f"{sys.executable} {UNDER_TEST} silent",
        timeout_ms=30,
        start_s=0.01,
        monotonic=ManualClock().monotonic,
    )
    try:
        for _ in range(3):
            with pytest.raises(ModelError, match="no answer within 30 ms"):
                source.ask(snap())
        with pytest.raises(ModelDown, match="restarting in"):
            source.ask(snap())
    finally:
        source.close()
    assert source.starts == 1


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("garbage", "got 1.5"),
        ("not-json", "not a JSON"),
        # an id no request had is a wrong answer, not a late one: said at once, not as a timeout
        ("wrong-id", "answered id 1001 to request 1: not an id it was asked"),
    ],
)
def test_a_command_answering_garbage_is_a_model_error(mode: str, message: str) -> None:
    params = ModelParams(source=command_source(mode), timeout_ms=PATIENT_MS, start_s=PATIENCE_S)
    try:
        with pytest.raises(ModelError, match=message):
            decide(snap(), FLAT, params)
    finally:
        params.live_source.close()


# -------------------------------------------------------------------------------- file


def test_a_file_is_read_again_when_it_changes_and_only_then(tmp_path: Path) -> None:
    path = tmp_path / "fair.csv"
    path.write_text("ticker,fair\nT,0.60\n")
    source = FileSource("f", path, max_age_s=1e9)
    assert (source.ask(snap()) or pytest.fail()).fair == D("0.60")
    assert (source.ask(snap()) or pytest.fail()).fair == D("0.60")
    assert source.reads == 1
    path.write_text("ticker,fair,confidence\nT,0.655,0.5\n")
    answer = source.ask(snap())
    assert answer is not None and (answer.fair, answer.confidence) == (D("0.655"), D("0.5"))
    assert source.reads == 2
    assert source.ask(MarketSnapshot("OTHER", 1000.0, snap().book)) is None  # not listed


def test_a_stale_file_value_is_never_traded_on(tmp_path: Path) -> None:
    path = tmp_path / "fair.json"
    path.write_text(json.dumps([{"ticker": "T", "fair": 0.9, "time": 1000.0}]))
    params = ModelParams(source=f"file:{path}", max_age_s=30.0)
    assert decide(snap(ts=1030.0), FLAT, params)  # 30 s old: still fresh
    with pytest.raises(ModelError, match="31 s old"):
        decide(snap(ts=1031.0), FLAT, params)
    # without a time, a value is as old as the file
    untimed = tmp_path / "fair.csv"
    untimed.write_text("ticker,fair\nT,0.9\n")
    os.utime(untimed, (1000.0, 1000.0))
    with pytest.raises(ModelError, match="100 s old"):
        decide(snap(ts=1100.0), FLAT, ModelParams(source=f"file:{untimed}", max_age_s=30.0))


def test_a_timed_file_answers_with_its_newest_value_not_after_the_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "series.csv"
    path.write_text("ticker,fair,time\nT,0.40,1000\nT,0.80,1010\n")
    source = FileSource("f", path, max_age_s=60.0)
    assert source.ask(snap(ts=999.0)) is None  # every value is from later: no look-ahead
    assert (source.ask(snap(ts=1005.0)) or pytest.fail()).fair == D("0.40")
    assert (source.ask(snap(ts=1010.0)) or pytest.fail()).fair == D("0.80")


@pytest.mark.parametrize(
    "text", ["ticker,fair\nT,1.5\n", "ticker,fair\nT,NaN\n", "ticker,price\nT,0.5\n", "[1, 2]"]
)
def test_a_malformed_file_is_a_model_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ModelError, match="cannot use"):
        FileSource("f", path, max_age_s=60.0).ask(snap())


def test_a_missing_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read"):
        FileSource("f", tmp_path / "nope.csv", max_age_s=60.0).ask(snap())


def test_a_command_whose_output_is_not_json_is_restarted_and_its_flood_never_piles_up() -> None:
    source = CommandSource(
        "t",
        f"{sys.executable} {UNDER_TEST} flood",
        timeout_ms=200,
        start_s=10.0,
        monotonic=ManualClock().monotonic,
    )
    try:
        with pytest.raises(ModelError, match="not a JSON line"):
            source.ask(snap())
        with pytest.raises(ModelDown, match="restarting in"):
            source.ask(snap())
    finally:
        source.close()
    assert source.starts == 1


def test_a_command_that_stops_reading_its_input_never_blocks_the_loop() -> None:
    """Its answers are on time, but it reads none of the requests: once the pipe is full a
    blocking write would hold the loop forever, past every deadline. The write is refused
    instead, and the process restarted."""
    source = CommandSource(
        "t", f"{sys.executable} {UNDER_TEST} deaf", timeout_ms=PATIENT_MS, start_s=PATIENCE_S
    )
    answered = 0
    try:
        with pytest.raises(ModelDown, match="stopped reading its input"):
            for _ in range(5000):
                assert source.ask(snap()) is not None
                answered += 1
    finally:
        source.close()
    assert 10 < answered < 5000  # a pipe holds some requests, never all of them


# -------------------------------------------------------------------------------- quote


def quotes(decisions: Sequence[Decision]) -> dict[Side, Intent]:
    out = {d.side: d for d in decisions if isinstance(d, Intent)}
    assert len(out) == len(decisions)
    return out


def test_a_quote_rests_post_only_at_the_best_tick_below_the_ask_sized_at_its_price() -> None:
    # YES: fair 0.70 - min_edge 0.02 = 0.68 is at or above the ask 0.65: the tick below, 0.64.
    # maker rate 0.0175: c = 0.64 + 0.0175 x 0.64 x 0.36 = 0.644032; share = 0.055968 / 0.355968;
    # 0.5 x share x $100 = $7.8614, / c = 12.2 -> 12 contracts; fee 0.0175 x 12 x 0.2304 =
    # 0.048384 -> 0.0484. NO: fair 0.30 - 0.02 = 0.28, below its ask 0.40; the maker fee
    # 0.0175 x 0.28 x 0.72 = 0.0035 leaves 0.0165 < 0.02: one tick lower, 0.27
    params = ModelParams(source=python_source("constant"), kelly_fraction=D("0.5"), quote=True)
    both = quotes(decide(snap(yes_ask="0.65", yes_bid="0.60"), FLAT, params))
    yes, no = both[Side.YES], both[Side.NO]
    assert (yes.price, yes.count) == (D("0.64"), D(12))
    assert yes.post_only and yes.time_in_force is TimeInForce.GTC
    assert yes.fee_rate == D("0.0175")
    assert yes.edge_after_fees == D("0.06") - D("0.0484") / 12
    assert no.price == D("0.27") and no.post_only


def test_a_quote_is_kept_moved_or_cancelled_as_the_answer_says() -> None:
    params = ModelParams(source=python_source("constant"), kelly_fraction=D("0.5"), quote=True)
    book = snap(yes_ask="0.65", yes_bid="0.60")
    no = quotes(decide(book, FLAT, params))[Side.NO]
    no_order = RestingOrder("n1", Side.NO, Action.BUY, no.price, no.count)
    same = PositionView(
        "T", resting=(RestingOrder("o1", Side.YES, Action.BUY, D("0.64"), D(12)), no_order)
    )
    assert decide(book, same, params) == []
    moved = PositionView(
        "T", resting=(RestingOrder("o1", Side.YES, Action.BUY, D("0.63"), D(12)), no_order)
    )
    (intent,) = decide(book, moved, params)
    assert isinstance(intent, Intent) and intent.replaces == ("o1",) and intent.price == D("0.64")
    mute = ModelParams(source=python_source("no_opinion"), quote=True)
    assert decide(book, moved, mute) == [
        Cancel("T", "o1", "model: no quote to keep"),
        Cancel("T", "n1", "model: no quote to keep"),
    ]


def test_a_quote_steps_down_a_tick_when_the_maker_fee_takes_the_edge() -> None:
    # fair 0.70 - 0.02 = 0.68 (below the ask 0.80): 0.70 - 0.68 - 0.0175 x 0.68 x 0.32 < 0.02
    params = ModelParams(source=python_source("constant"), kelly_fraction=D("0.5"), quote=True)
    yes = quotes(decide(snap(yes_ask="0.80", yes_bid="0.60"), FLAT, params))[Side.YES]
    assert yes.price == D("0.67")
