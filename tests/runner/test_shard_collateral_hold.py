"""An exchange refusal for collateral (`insufficient_balance`) is one shard's shortfall, not an API
error (runner/execution/balance_hold.py): the API error guard does not count it and SAFE_MODE
never comes of it; the loop logs `shard_balance_short` once, with what the shard holds and the
`kalshi shard move` line, posts one alert (its runbook: 20), holds the adding orders of that
shard's markets while the other shard's go, and enters the shard
again once a balance read (the watch's, every `trade.shard_poll_s`) shows it holding one order's
cost. A batch refused whole for collateral holds the shard it lacked money on, not the account;
an order answered `exchange_unavailable` (a shard paused since the last status read) pauses its
shard at once, no API error either; `kalshi status` names the shards held. The simulator's core
here has one shard: its answers give the loop's first market shard 2, and the exchange refuses
that market's buys for collateral while the test says so."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.services.orders.status import trading_status
from kalshi_cli.vocabulary.decisions import Intent
from kalshi_cli.vocabulary.errors import ApiError, ServerError
from kalshi_cli.vocabulary.models import Balance, ExchangeStatus, Market, decode_answer
from kalshi_cli.vocabulary.units import Action, Side
from tests.runner.fakes import FakeClient, make_rig

REFUSAL = {"error": {"code": "insufficient_balance", "message": "insufficient balance"}}


class Shards:
    """What the patched exchange says of the shards: shard 2's balance, and whether it refuses
    shard 2's buys for collateral."""

    def __init__(self) -> None:
        self.on_two: str = ""  # the ticker on shard 2, set once the markets are known
        self.two_holds = D("50")  # what the balance answer says shard 2 holds
        self.refusing = True
        self.balance_reads = 0
        self.down: Exception | None = None  # what a balance read raises, if anything
        self.two_listed = True  # whether the balance's breakdown lists shard 2 at all
        self.two_active = True  # shard 2's `exchange_active` (False: under maintenance)


@pytest.fixture
def shards(monkeypatch: pytest.MonkeyPatch) -> Shards:
    told = Shards()
    market_of = FakeClient.get_market
    balance_of = FakeClient.get_balance
    create = FakeClient.create_order

    def get_market(self: FakeClient, ticker: str) -> Market:
        if not told.on_two:
            told.on_two = ticker  # the first market read: shard 2; the rest: shard 0
        index = 2 if ticker == told.on_two else 0
        return decode_answer(Market, {**market_of(self, ticker).raw, "exchange_index": index})

    def get_balance(self: FakeClient) -> Balance:
        told.balance_reads += 1
        if told.down is not None:
            raise told.down
        total = balance_of(self).balance
        breakdown = [
            {"exchange_index": 0, "balance": str(total - told.two_holds)},
            {"exchange_index": 2, "balance": str(told.two_holds)},
        ][: 2 if told.two_listed else 1]
        return decode_answer(
            Balance, {"balance_dollars": str(total), "balance_breakdown": breakdown}
        )

    def get_shard_statuses(self: FakeClient) -> tuple[Any, ...]:
        status = decode_answer(
            ExchangeStatus,
            {
                "exchange_active": True,
                "trading_active": True,
                "exchange_index_statuses": [
                    {
                        "exchange_index": n,
                        "exchange_active": n != 2 or told.two_active,
                        "trading_active": True,
                        "intra_exchange_transfers_active": True,
                    }
                    for n in (0, 2)
                ],
            },
        )
        return status.per_shard()

    def create_order(self: FakeClient, request: Any) -> Any:
        if told.refusing and request.ticker == told.on_two and not request.reduce_only:
            self.requests.append(request)
            raise ApiError.from_response(400, REFUSAL)
        return create(self, request)

    monkeypatch.setattr(FakeClient, "get_market", get_market)
    monkeypatch.setattr(FakeClient, "get_balance", get_balance)
    monkeypatch.setattr(FakeClient, "get_shard_statuses", get_shard_statuses, raising=False)
    monkeypatch.setattr(FakeClient, "create_order", create_order)
    return told


class Alerts:
    def __init__(self) -> None:
        self.posted: list[tuple[str, str, str, dict[str, str]]] = []
        self.resolved: list[tuple[str, str, str]] = []
        self.paper = False

    def post(self, kind: str, key: str, summary: str, details: dict[str, str]) -> None:
        self.posted.append((kind, key, summary, dict(details)))

    def resolve(self, kind: str, key: str, summary: str) -> None:
        self.resolved.append((kind, key, summary))

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


class OnTwoShards:
    """A loop over the patched shards, stepped once: its market on shard 2 (`on_two`) and one
    on shard 0 (`on_zero`), a buy of either sent by its executor (`buy`), what was sent to a
    market (`sent`), and the log's entries of a kind (`entries`)."""

    def __init__(
        self,
        tmp_path: Path,
        shards: Shards,
        *,
        poll_s: float,
        alerts: Alerts | None = None,
        risk: dict[str, str] | None = None,
    ) -> None:
        self.log = tmp_path / "log.jsonl"
        self.rig = make_rig(
            tmp_path / "s.db",
            log_path=self.log,
            risk={"stop_loss_share": "0", "max_order_cost": "5", **(risk or {})},
            alerts=alerts,
            settings={"shard_poll_s": poll_s},
        )
        self.rig.step()
        self.on_two = shards.on_two
        self.on_zero = next(t for t in self.rig.loop.portfolio.markets if t != self.on_two)
        self.executor = self.rig.loop.executor

    @staticmethod
    def intent(ticker: str) -> Intent:
        return Intent(ticker, Side.YES, Action.BUY, D("0.05"), D("10"), D("0.99"), "t", "spike")

    def buy(self, ticker: str) -> None:
        self.executor.execute(self.intent(ticker), last_data_at=self.rig.clock.wall())
        self.rig.step(0.1)

    def sent(self, ticker: str) -> int:
        return sum(1 for r in self.rig.client.requests if r.ticker == ticker)

    def entries(self, kind: str) -> list[dict[str, Any]]:
        lines = [json.loads(x) for x in self.log.read_text().splitlines()]
        return [e for e in lines if e.get("event") == kind]


def test_a_refusal_for_collateral_holds_its_shard_alone_until_a_balance_read_covers_it(
    tmp_path: Path, shards: Shards
) -> None:
    alerts = Alerts()
    loop = OnTwoShards(tmp_path, shards, poll_s=5.0, alerts=alerts)
    rig, executor, on_two, on_zero = loop.rig, loop.executor, loop.on_two, loop.on_zero
    buy, sent, events = loop.buy, loop.sent, loop.entries

    errors = executor.counters.errors
    buy(on_two)
    assert sent(on_two) == 1  # refused for collateral
    for _ in range(8):  # far more than max_consecutive_errors (5)
        buy(on_two)
    assert sent(on_two) == 1  # held: not sent again
    (short,) = events("shard_balance_short")
    assert short["shard"] == 2 and D(short["holds"]) == D("50")
    assert short["move"].startswith("kalshi shard move ") and "--to 2" in short["move"]
    assert [a[:2] for a in alerts.posted if a[0] == "shard_balance_short"] == [
        ("shard_balance_short", "2")
    ]
    assert executor.counters.errors == errors  # no API error counted
    assert rig.loop.gate.state == "ACTIVE"  # no SAFE_MODE
    held = [e for e in events("intent_held") if e["ticker"] == on_two]
    assert held and all("shard 2" in e["reason"] for e in held)

    before = sent(on_zero)
    buy(on_zero)  # the other shard trades on
    assert sent(on_zero) == before + 1

    # funded: the next balance read (the watch's, `shard_poll_s` after the last) enters it again
    shards.two_holds = D("500")
    shards.refusing = False
    reads = shards.balance_reads
    for _ in range(12):
        rig.step(1.0)
    assert shards.balance_reads > reads
    (covered,) = events("shard_balance_covered")
    assert covered["shard"] == 2
    assert [r[:2] for r in alerts.resolved if r[0] == "shard_balance_short"] == [
        ("shard_balance_short", "2")
    ]
    before = sent(on_two)
    buy(on_two)
    assert sent(on_two) == before + 1  # entered again
    assert not [e for e in events("trading_state") if e.get("state") == "SAFE_MODE"]
    rig.loop.log.close()


def test_a_shard_holding_the_most_one_order_may_cost_is_entered_again_whatever_max_order_cost(
    tmp_path: Path, shards: Shards
) -> None:
    """One order costs at most `max_order_count` contracts at $1: with 10 of them a shard holding
    $50 pays any order, and is entered again once a read shows it, though `max_order_cost` ($500)
    is set above what an order can cost."""
    loop = OnTwoShards(
        tmp_path, shards, poll_s=5.0, risk={"max_order_cost": "500", "max_order_count": "10"}
    )
    loop.buy(loop.on_two)
    assert loop.sent(loop.on_two) == 1  # refused for collateral: held
    shards.refusing = False  # still $50 on shard 2: whatever was resting there is gone
    for _ in range(12):
        loop.rig.step(1.0)
    (covered,) = loop.entries("shard_balance_covered")
    assert covered["shard"] == 2 and D(covered["holds"]) == D("50")
    before = loop.sent(loop.on_two)
    loop.buy(loop.on_two)
    assert loop.sent(loop.on_two) == before + 1  # entered again
    loop.rig.loop.log.close()


def test_the_shards_are_read_again_when_their_poll_time_comes_and_not_before(
    tmp_path: Path, shards: Shards
) -> None:
    """The watch's skip holds no read past its time: the shards are read at the tick that
    reaches the poll time, not a tick later, and not before."""
    loop = OnTwoShards(tmp_path, shards, poll_s=8.0)
    rig = loop.rig
    rig.step(8.0)  # a tick at the poll time: the read due
    reads = shards.balance_reads
    rig.step(4.0)
    rig.step(3.5)
    assert shards.balance_reads == reads, "nothing due before the poll time"
    rig.step(0.5)  # exactly the poll time
    assert shards.balance_reads == reads + 1
    rig.loop.log.close()


def test_a_failed_shard_read_is_said_and_counted_and_what_was_read_last_stays_in_force(
    tmp_path: Path, shards: Shards
) -> None:
    loop = OnTwoShards(tmp_path, shards, poll_s=1.0)
    rig, executor = loop.rig, loop.executor
    loop.buy(loop.on_two)  # refused for collateral: shard 2 held
    assert len(loop.entries("shard_balance_short")) == 1
    shards.two_holds, shards.refusing = D("500"), False
    shards.down = down = ServerError("the exchange is down", status=503)
    errors = executor.counters.errors
    rig.step(1.5)  # the watch's read fails
    failed = loop.entries("shards_unavailable")
    assert failed and failed[0]["error"] == down.one_line(), failed
    assert executor.counters.errors > errors
    assert loop.entries("shard_balance_covered") == []  # the balance last read holds
    shards.down = None
    for _ in range(12):  # past the backoff, a read answered covers the shard
        rig.step(1.0)
    assert len(loop.entries("shard_balance_covered")) == 1
    rig.loop.log.close()


def test_a_batch_refused_whole_for_collateral_holds_the_short_shard_and_the_other_trades(
    tmp_path: Path, shards: Shards
) -> None:
    """The exchange's insufficient-balance answer to a batch as a whole names no order: the
    shard whose last read holds less than the batch asked of it is held, not the account."""
    from kalshi_cli.runner.execution.dispatch import CallAnswer

    shards.two_holds = D("0.30")  # less than the batch's orders there commit ($0.50)
    loop = OnTwoShards(tmp_path, shards, poll_s=600.0)
    rig, executor, on_two, on_zero = loop.rig, loop.executor, loop.on_two, loop.on_zero

    recorded = executor.answers.record_all([loop.intent(on_two), loop.intent(on_zero)])
    assert len(recorded) == 2
    errors = executor.counters.errors
    refusal = ApiError.from_response(400, REFUSAL)
    executor.answers.book_batch(recorded, CallAnswer(rig.clock.monotonic(), error=refusal))
    assert executor.counters.errors == errors  # no API error counted

    assert [e["shard"] for e in loop.entries("shard_balance_short")] == [2]
    assert not loop.entries("balance_short")  # the account not held
    before = loop.sent(on_zero)
    loop.buy(on_zero)
    assert loop.sent(on_zero) == before + 1
    assert executor.balance_hold.why(on_two) is not None
    assert rig.loop.gate.state == "ACTIVE"
    # `kalshi status` (its heartbeat) names the shard held short
    rig.loop.heartbeat.beat()
    status = trading_status(tmp_path / "s.db", now=rig.clock.wall())
    assert status.details()["loop_shards"] == {"short": [2], "paused": []}
    rig.loop.log.close()


def test_an_order_refused_on_a_paused_shard_pauses_it_at_once_and_is_no_api_error(
    tmp_path: Path, shards: Shards, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between two status reads the exchange answers an order on a shard just paused with
    503 `exchange_unavailable` (what the client raises for it: an unknown outcome from that
    answer): the shard's markets are paused at once, as the next read would, the order is
    looked up, and the API error guard counts nothing; the other shard trades on."""
    from kalshi_cli.vocabulary.errors import OrderOutcomeUnknown

    shards.refusing = False
    paused = {"on": False}
    create = FakeClient.create_order

    def create_order(self: FakeClient, request: Any) -> Any:
        if paused["on"] and request.ticker == shards.on_two:
            self.requests.append(request)
            body = {"code": "exchange_unavailable", "message": "trading is paused"}
            answer = ApiError.from_response(503, body)
            lost = f"order {request.client_order_id}"
            raise OrderOutcomeUnknown(
                f"the exchange answered HTTP 503 to {lost}; it may or may not exist",
                client_order_id=request.client_order_id,
            ) from answer
        return create(self, request)

    monkeypatch.setattr(FakeClient, "create_order", create_order)
    loop = OnTwoShards(tmp_path, shards, poll_s=600.0)  # no status read comes to tell it
    rig, executor, on_two, on_zero = loop.rig, loop.executor, loop.on_two, loop.on_zero
    buy, sent = loop.buy, loop.sent

    paused["on"] = True
    errors = executor.counters.errors
    buy(on_two)
    assert sent(on_two) == 1
    assert [e["shard"] for e in loop.entries("shard_paused")] == [2]
    assert executor.counters.errors == errors  # no API error counted
    assert loop.entries("order_unknown")  # looked up, not resent
    for _ in range(8):  # far more than max_consecutive_errors (5)
        buy(on_two)
    assert sent(on_two) == 1  # held: the shard is paused
    before = sent(on_zero)
    buy(on_zero)
    assert sent(on_zero) == before + 1  # the other shard trades on
    assert rig.loop.gate.state == "ACTIVE"
    # `kalshi status` (its heartbeat) names the shard paused
    rig.loop.heartbeat.beat()
    status = trading_status(tmp_path / "s.db", now=rig.clock.wall())
    assert status.details()["loop_shards"] == {"short": [], "paused": [2]}
    rig.loop.log.close()


def test_a_shard_under_maintenance_is_paused_whatever_its_trading_flag_says(
    tmp_path: Path, shards: Shards
) -> None:
    """Shard 2's status says `exchange_active` false (under maintenance: it takes no state
    change at all, the spec) with `trading_active` still true: the loop holds its markets as
    paused, as `kalshi check exchange` and `kalshi shard list` call it, and sends nothing there
    for the exchange to answer `exchange_unavailable` (counted as API errors, the status saying
    it trades); the other shard trades on."""
    shards.refusing = False
    shards.two_active = False
    loop = OnTwoShards(tmp_path, shards, poll_s=600.0)
    rig, on_two, on_zero, sent = loop.rig, loop.on_two, loop.on_zero, loop.sent
    assert [e["shard"] for e in loop.entries("shard_paused")] == [2]
    loop.buy(on_two)
    assert sent(on_two) == 0
    before = sent(on_zero)
    loop.buy(on_zero)
    assert sent(on_zero) == before + 1
    rig.loop.heartbeat.beat()
    status = trading_status(tmp_path / "s.db", now=rig.clock.wall())
    assert status.details()["loop_shards"] == {"short": [], "paused": [2]}
    rig.loop.log.close()


def test_a_shard_read_paused_inside_a_maintenance_window_is_read_again_as_the_window_ends(
    tmp_path: Path, shards: Shards
) -> None:
    """A status read inside an announced maintenance window finds shard 2 under maintenance
    (`exchange_active` false): its markets are held. When the window ends the shards are read
    again at once, not a `trade.shard_poll_s` later (10 minutes here), and shard 2 trades
    again: the read from inside the window no longer holds it."""
    shards.refusing = False
    shards.two_active = False
    loop = OnTwoShards(tmp_path, shards, poll_s=600.0)  # its first read: inside the window
    rig, on_two, sent = loop.rig, loop.on_two, loop.sent
    now = rig.clock.wall()
    rig.loop.questions.risk.maintenance.set([(now - 1.0, now + 5.0)])
    rig.step(0.1)
    assert rig.loop.gate.maintenance == (now - 1.0, now + 5.0)
    assert [e["shard"] for e in loop.entries("shard_paused")] == [2]
    shards.two_active = True  # the exchange's maintenance over with its window
    rig.step(5.0)
    assert rig.loop.gate.maintenance is None
    rig.step(0.1)  # the read sent as the window ended, booked
    assert [e["shard"] for e in loop.entries("shard_resumed")] == [2]
    loop.buy(on_two)
    assert sent(on_two) == 1
    rig.loop.log.close()


def test_unavailable_answers_from_a_shard_whose_status_says_trading_count_as_api_errors(
    tmp_path: Path, shards: Shards, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exchange keeps answering shard 2's orders 503 `exchange_unavailable` while its status
    says the shard trades: each answer pauses the shard at once, but a status read sent after it
    that says the shard trades makes that answer the exchange's fault, a 5xx the API error guard
    counts (and backs off on), once per answer."""
    from kalshi_cli.vocabulary.errors import OrderOutcomeUnknown

    shards.refusing = False
    create = FakeClient.create_order

    def create_order(self: FakeClient, request: Any) -> Any:
        if request.ticker == shards.on_two:
            self.requests.append(request)
            body = {"code": "exchange_unavailable", "message": "trading is paused"}
            raise OrderOutcomeUnknown(
                "the exchange answered HTTP 503; it may or may not exist",
                client_order_id=request.client_order_id,
            ) from ApiError.from_response(503, body)
        return create(self, request)

    monkeypatch.setattr(FakeClient, "create_order", create_order)
    log = tmp_path / "log.jsonl"
    rig = make_rig(
        tmp_path / "s.db",
        log_path=log,
        risk={"stop_loss_share": "0", "max_order_cost": "5"},
        settings={"shard_poll_s": 1.0},
    )
    rig.step()
    executor = rig.loop.executor
    errors = executor.counters.errors
    buy = Intent(shards.on_two, Side.YES, Action.BUY, D("0.05"), D("10"), D("0.99"), "t", "spike")
    executor.execute(buy, last_data_at=rig.clock.wall())
    rig.step(0.1)
    assert executor.counters.errors == errors  # a pause, until a status read says otherwise
    rig.step(1.5)  # the status read: shard 2 trades
    assert executor.counters.errors == errors + 1
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    (told,) = [e for e in lines if e.get("event") == "shard_unavailable_unexplained"]
    assert told["shard"] == 2
    guard = rig.loop.questions.risk.api_guard
    assert guard.consecutive == 1
    rig.step(1.5)  # another read, with no new answer: nothing more counted
    assert executor.counters.errors == errors + 1
    rig.loop.log.close()


@pytest.mark.parametrize(
    ("error", "event"),
    [
        (REFUSAL["error"], "shard_balance_short"),
        ({"code": "exchange_unavailable", "message": "paused"}, "shard_paused"),
    ],
)
def test_a_batch_item_refused_for_its_shard_holds_that_shard_alone(
    tmp_path: Path, shards: Shards, error: dict[str, str], event: str
) -> None:
    """A batch answered item by item: the item refused for collateral holds its market's shard,
    and one answered `exchange_unavailable` pauses it, as a single order's answer does; neither
    is an API error, and the batch's other shard trades on."""
    from kalshi_cli.client.batch_orders import read_batch_answer
    from kalshi_cli.runner.execution.dispatch import CallAnswer

    loop = OnTwoShards(tmp_path, shards, poll_s=600.0)
    rig, executor, on_zero = loop.rig, loop.executor, loop.on_zero

    recorded = executor.answers.record_all([loop.intent(loop.on_two), loop.intent(on_zero)])
    (two, _), (zero, _) = [(c.client_order_id, i) for i, c in recorded]
    items = read_batch_answer(
        [
            {"client_order_id": two, "error": error},
            {"client_order_id": zero, "error": {"code": "invalid_price", "message": "off grid"}},
        ]
    )
    errors = executor.counters.errors
    executor.answers.book_batch(recorded, CallAnswer(rig.clock.monotonic(), value=items))
    assert executor.counters.errors == errors
    assert [e["shard"] for e in loop.entries(event)] == [2]
    before = loop.sent(on_zero)
    loop.buy(on_zero)
    assert loop.sent(on_zero) == before + 1
    rig.loop.log.close()


def test_the_loops_own_orders_since_a_balance_read_spend_their_shards_balance(
    tmp_path: Path, shards: Shards
) -> None:
    """Shard 2 holds $0.75 at the read: a bid of $0.50 goes, and a second of $0.50 before the
    balance is read again is denied with what is left ($0.25), nothing sent (the exchange would
    refuse it for collateral). A read sent after the first bid shows what it holds, the bid in
    it counted once: $0.25 moved in, the $0.50 it shows buys the second."""
    shards.refusing = False
    shards.two_holds = D("0.75")
    loop = OnTwoShards(tmp_path, shards, poll_s=5.0)
    rig, on_two, buy, sent = loop.rig, loop.on_two, loop.buy, loop.sent

    reads = shards.balance_reads
    buy(on_two)
    assert sent(on_two) == 1
    buy(on_two)
    assert sent(on_two) == 1
    assert shards.balance_reads == reads  # no read came between
    (denied,) = loop.entries("risk_denied")
    assert denied["code"] == "SHARD_BALANCE"
    assert denied["detail"].startswith(
        f"{on_two} trades on shard 2: the order needs $0.50, shard 2 holds $0.25; "
    ), denied
    # the exchange holds the first bid's $0.50 and $0.25 is moved in: a read shows $0.50
    shards.two_holds = D("0.50")
    for _ in range(6):
        rig.step(1.0)
    assert shards.balance_reads > reads
    buy(on_two)
    assert sent(on_two) == 2
    rig.loop.log.close()


def test_a_shard_whose_orders_are_denied_for_its_balance_is_said_short_and_warned_until_funded(
    tmp_path: Path, shards: Shards
) -> None:
    """A shard holding less than one order's cost, whose orders the loop's own risk check
    denies (`SHARD_BALANCE`) before the exchange could refuse any: it is short as a refusal for
    collateral makes it (logged and alerted once), `kalshi status` names it, and the heartbeat
    check warns, until a balance read shows it funded."""
    from kalshi_cli.checks import CheckStatus
    from kalshi_cli.checks.local import LocalView, check_heartbeat
    from kalshi_cli.checks.thresholds import resolve
    from kalshi_cli.store import Store

    shards.two_holds, shards.refusing = D("0"), False
    alerts = Alerts()
    loop = OnTwoShards(tmp_path, shards, poll_s=5.0, alerts=alerts)
    rig, on_two, events = loop.rig, loop.on_two, loop.entries
    for _ in range(3):
        loop.buy(on_two)
    assert loop.sent(on_two) == 0  # denied before sending
    assert [e["code"] for e in events("risk_denied")] == ["SHARD_BALANCE"]
    assert [e["shard"] for e in events("shard_balance_short")] == [2]
    assert [a[:2] for a in alerts.posted if a[0] == "shard_balance_short"] == [
        ("shard_balance_short", "2")
    ]

    def heartbeat_check() -> tuple[CheckStatus, str]:
        rig.loop.heartbeat.beat()
        store = Store.open_readonly(tmp_path / "s.db")
        assert store is not None
        with store:
            result = check_heartbeat(LocalView(store, store.path, rig.clock.wall()), resolve(None))
        return result.status, result.summary

    status, summary = heartbeat_check()
    assert status is CheckStatus.WARNING
    assert "shard 2" in summary and "kalshi shard move" in summary, summary
    held = trading_status(tmp_path / "s.db", now=rig.clock.wall()).details()["loop_shards"]
    assert held == {"short": [2], "paused": []}

    shards.two_holds = D("500")  # funded: the next balance read enters the shard again
    for _ in range(12):
        rig.step(1.0)
    assert [e["shard"] for e in events("shard_balance_covered")] == [2]
    assert [r[:2] for r in alerts.resolved if r[0] == "shard_balance_short"] == [
        ("shard_balance_short", "2")
    ]
    assert heartbeat_check()[0] is CheckStatus.OK
    held = trading_status(tmp_path / "s.db", now=rig.clock.wall()).details()["loop_shards"]
    assert held == {"short": [], "paused": []}
    before = loop.sent(on_two)
    loop.buy(on_two)
    assert loop.sent(on_two) == before + 1
    rig.loop.log.close()


def test_a_shard_whose_last_read_holds_one_orders_cost_is_not_said_short_when_an_order_is_denied(
    tmp_path: Path, shards: Shards
) -> None:
    """Shard 2 read holding exactly one order's cost ($0.75, `min_shard_balance`): a bid of
    $0.50 goes and a second is denied for what is left ($0.25), the loop's own order having
    spent it, not for want of money at the read: the shard is not said short, and orders that
    fit still go."""
    shards.refusing = False
    shards.two_holds = D("0.75")
    alerts = Alerts()
    loop = OnTwoShards(
        tmp_path, shards, poll_s=5.0, alerts=alerts, risk={"min_shard_balance": "0.75"}
    )
    loop.buy(loop.on_two)
    loop.buy(loop.on_two)
    assert loop.sent(loop.on_two) == 1
    assert [e["code"] for e in loop.entries("risk_denied")] == ["SHARD_BALANCE"]
    assert loop.entries("shard_balance_short") == []
    assert [a for a in alerts.posted if a[0] == "shard_balance_short"] == []
    loop.rig.loop.heartbeat.beat()
    held = trading_status(tmp_path / "s.db", now=loop.rig.clock.wall()).details()["loop_shards"]
    assert held == {"short": [], "paused": []}
    loop.rig.loop.log.close()


def test_a_shard_said_short_for_a_denial_is_not_said_short_again_when_the_exchange_refuses(
    tmp_path: Path, shards: Shards
) -> None:
    """Shard 2 holds $0.75, under one order's cost ($5): a $1 bid is denied before sending and
    the shard said short (logged and alerted once); a $0.50 bid that fits is still sent, and the
    exchange's refusal for collateral holds the shard without saying it short a second time."""
    shards.two_holds = D("0.75")
    alerts = Alerts()
    loop = OnTwoShards(tmp_path, shards, poll_s=5.0, alerts=alerts)
    large = Intent(loop.on_two, Side.YES, Action.BUY, D("0.05"), D("20"), D("0.99"), "t", "spike")
    loop.executor.execute(large, last_data_at=loop.rig.clock.wall())
    loop.rig.step(0.1)
    assert loop.sent(loop.on_two) == 0
    assert [e["code"] for e in loop.entries("risk_denied")] == ["SHARD_BALANCE"]
    loop.buy(loop.on_two)
    assert loop.sent(loop.on_two) == 1  # fits: sent, and refused for collateral
    loop.buy(loop.on_two)
    assert loop.sent(loop.on_two) == 1  # held now
    assert [e["shard"] for e in loop.entries("shard_balance_short")] == [2]
    assert [a[:2] for a in alerts.posted if a[0] == "shard_balance_short"] == [
        ("shard_balance_short", "2")
    ]
    loop.rig.loop.log.close()


def test_a_shard_the_balance_does_not_list_is_said_short_holding_nothing_when_an_order_is_denied(
    tmp_path: Path, shards: Shards
) -> None:
    """The balance's breakdown lists shard 0 alone: the loop's order on shard 2 is denied for
    its balance, and shard 2 is said short holding $0 (a shard the breakdown leaves out holds
    nothing), the loop trading on."""
    shards.refusing, shards.two_holds, shards.two_listed = False, D("0"), False
    alerts = Alerts()
    loop = OnTwoShards(tmp_path, shards, poll_s=5.0, alerts=alerts)
    loop.buy(loop.on_two)
    assert loop.sent(loop.on_two) == 0
    assert [e["code"] for e in loop.entries("risk_denied")] == ["SHARD_BALANCE"]
    (short,) = loop.entries("shard_balance_short")
    assert short["shard"] == 2 and D(short["holds"]) == D("0")
    before = loop.sent(loop.on_zero)
    loop.buy(loop.on_zero)
    assert loop.sent(loop.on_zero) == before + 1
    loop.rig.loop.log.close()
