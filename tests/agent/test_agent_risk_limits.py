"""The assistant's orders held to the account's limits, against the simulator: the risk engine's
own rules (`risk:`, a budget of its name in `trade.budgets`) over the whole account, its budget a
UTC day's read from the state file whatever the session and however two sessions race, the fills
a breaker reads brought in first, the taker fee in the dollars, bad input refused before
anything is sent, and tokens forgotten once past their time."""

from __future__ import annotations

import sys
import threading
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from kalshi_cli.agent.settings import load_agent_config
from kalshi_cli.agent.tools import AgentTools
from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli._services import open_store, order_service
from kalshi_cli.cli.mcp_cmd import CliAccess
from kalshi_cli.client.orders import OrdersApi
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import Clock, ManualClock, SystemClock
from kalshi_cli.vocabulary.errors import KalshiError, OrderOutcomeUnknown
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.agent.test_agent_tools import environ, refused
from tests.prime_tier import another_accounts_order
from tests.waiting import PATIENCE_S, wait_until
from tests.wire import order_body

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import FrameType

    from tests.conftest import SimHarness

T = "KXMCP-26JAN01-T4"
WRITES_ON = "agent:\n  writes:\n    sim: true\n"


class Rig:
    """The tools of one `kalshi mcp` process over a home whose config a test rewrites (the
    tools read it on every call), and more processes over the same state file."""

    def __init__(self, sim: SimHarness, home: Path) -> None:
        self.sim = sim
        self.home = home
        self.apps: list[AppContext] = []

    def config(self, text: str, *, budget: str = "") -> None:
        """`text` beside the `agent:` section, which turns writes on and sets `budget`."""
        agent = WRITES_ON + (f"  budget: {budget}\n" if budget else "")
        (self.home / "config.yaml").write_text(agent + text)

    def session(self, clock: Clock | None = None) -> AgentTools:
        """A new `kalshi mcp` process: its own context, client and write gate."""
        app = AppContext(environ=environ(self.sim, self.home))
        self.apps.append(app)
        config = load_agent_config(app.settings().config_path)
        return AgentTools(CliAccess(app), config, clock=clock or ManualClock(1_700_000_000.0))

    def by_hand(self, count: str, price: str) -> str:
        """A person's order (`kalshi order place`): the account's, not the assistant's."""
        app = self.apps[0]
        with open_store(app) as store:
            service = order_service(app, store)
            request = OrderRequest(
                T, Side.YES, Action.BUY, Decimal(count), Decimal(price), strategy="manual"
            )
            placed = service.place(service.prepare(request))
        assert placed.order_id is not None
        return placed.order_id


@pytest.fixture
def rig(sim: SimHarness, tmp_path: Path) -> Iterator[Rig]:
    sim.create_market(T)
    made = Rig(sim, tmp_path)
    made.config("")
    yield made
    for app in made.apps:
        app.close()


def buy(tools: AgentTools, count: str, price: str, **terms: Any) -> dict[str, Any]:
    return tools.orders.preview_order(
        T, side="yes", action="buy", count=count, price=price, **terms
    )


def test_the_accounts_risk_limits_refuse_the_assistants_orders_and_amends(rig: Rig) -> None:
    rig.config("risk:\n  max_position_per_market: 10\n  max_order_count: 8\n")
    tools = rig.session()
    rig.by_hand("6", "0.10")  # the person's bid counts: the limit is the account's
    over = refused(partial(buy, tools, "5", "0.10"), "REJECTED POSITION_LIMIT: ")
    assert "11" in over and "risk.max_position_per_market" in over, over
    refused(partial(buy, tools, "9", "0.10"), "REJECTED MAX_ORDER_SIZE: ")
    preview = buy(tools, "4", "0.10")
    assert {"MAX_ORDER_SIZE", "POSITION_LIMIT", "MAX_EXPOSURE"} <= set(preview["checks"]["passed"])
    assert preview["checks"]["risk_limits"] == {
        "max_position_per_market": "10",
        "max_total_exposure": "500",
        "max_order_count": "8",
        "max_order_cost": None,
        "max_event_loss": None,
    }
    order_id = tools.orders.execute(preview["token"])["order_id"]
    # an amend that grows it is an order that adds: the same rules
    refused(partial(tools.orders.preview_amend, order_id, count="5"), "REJECTED POSITION_LIMIT: ")

    # $0.60 of the person's and $0.40 of the assistant's at risk: $1.20 more passes $2
    rig.config("risk:\n  max_total_exposure: 2\n")
    refused(partial(buy, tools, "3", "0.40"), "REJECTED MAX_EXPOSURE: ")
    refused(partial(tools.orders.preview_amend, order_id, price="0.50"), "REJECTED MAX_EXPOSURE: ")

    # a budget of the assistant's own in trade.budgets counts what it owns alone
    rig.config("trade:\n  budgets:\n    agent: {max_contracts: 5}\n")
    refused(partial(buy, tools, "2", "0.10"), "REJECTED STRATEGY_BUDGET: ")
    assert "STRATEGY_BUDGET" in buy(tools, "1", "0.10")["checks"]["passed"]
    assert sorted(o["strategy"] for o in tools.reads.orders()["orders"]) == ["agent", "manual"]


def test_a_position_held_counts_toward_the_assistants_limits(rig: Rig) -> None:
    """The person bought 6 YES at 0.40 ($2.40): the assistant's bid of 5 would make 11 against
    a position limit of 10, and one of 2 at 0.40 $3.20 at risk against $3."""
    rig.config("risk:\n  max_position_per_market: 10\n  max_total_exposure: 3\n")
    tools = rig.session()
    other = rig.sim.new_account()
    order = order_body(T, side="ask", count="6")
    assert rig.sim.place_order(other, order).is_success
    rig.by_hand("6", "0.40")
    over = refused(partial(buy, tools, "5", "0.10"), "REJECTED POSITION_LIMIT: ")
    assert "11" in over, over
    refused(partial(buy, tools, "2", "0.40"), "REJECTED MAX_EXPOSURE: ")
    assert {"POSITION_LIMIT", "MAX_EXPOSURE"} <= set(buy(tools, "1", "0.40")["checks"]["passed"])


def test_an_order_of_unknown_outcome_counts_toward_the_assistants_limits(rig: Rig) -> None:
    """A person's bid of 6 whose answer was lost is not on the exchange yet and may still land:
    the assistant's bid of 5 is judged beside it, 11 against a position limit of 10."""
    rig.config("risk:\n  max_position_per_market: 10\n")
    tools = rig.session()
    rig.sim.set_faults(write_503_rate=1.0)
    with pytest.raises(OrderOutcomeUnknown):
        rig.by_hand("6", "0.10")
    rig.sim.clear_faults()
    over = refused(partial(buy, tools, "5", "0.10"), "REJECTED POSITION_LIMIT: ")
    assert "11" in over, over
    assert "POSITION_LIMIT" in buy(tools, "4", "0.10")["checks"]["passed"]


def test_the_budget_is_the_utc_days_whatever_the_session(rig: Rig) -> None:
    rig.config("", budget="{max_orders: 3, max_contracts: 10}")
    first = rig.session()
    first.orders.execute(buy(first, "6", "0.10")["token"])
    # the assistant restarted for a new conversation: what the day's orders took stays taken
    second = rig.session()
    refused(partial(buy, second, "5", "0.10"), "REJECTED BUDGET_CONTRACTS: ")
    # $0.60 and ceil(0.07 x 6 x 0.10 x 0.90 to $0.0001) = $0.0378 of fee, of $50
    assert second.orders.budget()["remaining"] == {
        "orders": 2,
        "contracts": "4.00",
        "dollars": "49.3622",
    }
    order_id = second.orders.execute(buy(second, "4", "0.10")["token"])["order_id"]
    # a cancel gives back the contracts that can no longer fill, never the order placed
    second.orders.execute(second.orders.preview_cancel(order_id)["token"])
    third = rig.session()
    assert third.orders.budget()["remaining"] == {
        "orders": 1,
        "contracts": "4.00",
        "dollars": "49.3622",
    }
    third.orders.execute(buy(third, "1", "0.10")["token"])
    refused(partial(buy, rig.session(), "1", "0.10"), "REJECTED BUDGET_ORDERS: ")


class HeldAt:
    """`call` on a thread of its own that stops as it enters `function` (the state file's one
    write of an intent, or of an amend) until `release`: another process's whole write runs in
    between, with no sleep to hope for the order. Seen through the thread's profile hook, so
    nothing of the code under test is replaced."""

    def __init__(self, function: Callable[..., Any], call: Callable[[], Any]) -> None:
        self._code = function.__code__
        self._call = call
        self._go = threading.Event()
        self.reached = threading.Event()
        self.answer: Any = None
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _profile(self, frame: FrameType, event: str, arg: object) -> None:
        if event == "call" and frame.f_code is self._code and not self.reached.is_set():
            self.reached.set()
            self._go.wait(PATIENCE_S)

    def _run(self) -> None:
        sys.setprofile(self._profile)
        try:
            self.answer = self._call()
        except KalshiError as exc:
            self.answer = exc
        finally:
            sys.setprofile(None)

    def release(self) -> Any:
        """Let it go on, and its answer (or the KalshiError it raised)."""
        self._go.set()
        self._thread.join(PATIENCE_S)
        assert not self._thread.is_alive(), "the held call never ended"
        return self.answer


def test_two_sessions_racing_on_one_state_file_place_only_the_budgets_orders(rig: Rig) -> None:
    rig.config("", budget="{max_orders: 1}")
    first, second = rig.session(), rig.session()
    mine, theirs = buy(first, "1", "0.10"), buy(second, "1", "0.11")  # each alone within it
    # the first has checked its budget and is about to write its intent when the second,
    # another process on the same state file, places its own
    held = HeldAt(Store.record_intent_if_allowed, partial(first.orders.execute, mine["token"]))
    wait_until(held.reached.is_set, "the first session at its intent's write")
    placed = second.orders.execute(theirs["token"])
    answer = held.release()

    assert placed["status"] == "resting"
    assert isinstance(answer, KalshiError), answer
    assert getattr(answer, "code", None) == "BUDGET_ORDERS", answer
    account = rig.sim.stats()["accounts"][rig.sim.account.key_id]
    assert account["order_create_requests"] == 1
    assert [o["order_id"] for o in first.reads.orders()["orders"]] == [placed["order_id"]]


def test_two_sessions_racing_to_amend_grow_only_the_budgets_contracts(rig: Rig) -> None:
    rig.config("", budget="{max_contracts: 6}")
    first, second = rig.session(), rig.session()
    mine = first.orders.execute(buy(first, "2", "0.10")["token"])["order_id"]
    theirs = second.orders.execute(buy(second, "2", "0.11")["token"])["order_id"]
    # 4 contracts placed: 2 more each fits the 6, both do not
    grow_mine = first.orders.preview_amend(mine, count="4")
    grow_theirs = second.orders.preview_amend(theirs, count="4")
    held = HeldAt(Store.record_amend_if_allowed, partial(first.orders.execute, grow_mine["token"]))
    wait_until(held.reached.is_set, "the first session at its amend's write")
    second.orders.execute(grow_theirs["token"])
    answer = held.release()

    assert isinstance(answer, KalshiError), answer
    assert getattr(answer, "code", None) == "BUDGET_CONTRACTS", answer
    resting = {o["order_id"]: Decimal(o["remaining_count"]) for o in first.reads.orders()["orders"]}
    assert resting == {mine: 2, theirs: 4}


def test_another_sessions_amend_in_flight_counts_at_its_new_terms_until_booked(rig: Rig) -> None:
    """The first session's amend of its bid of 2 at 0.10 to 4 at 0.20 is recorded and out to
    the exchange, its answer not yet back: the order's row still holds its old terms. A second
    session counts the order at the worse of the two, so a bid of 3 (7 contracts once the
    amend lands, against 6) is refused, and the day's dollars are already the amended order's."""
    rig.config("", budget="{max_contracts: 6}")
    first, second = rig.session(), rig.session()
    mine = first.orders.execute(buy(first, "2", "0.10")["token"])["order_id"]
    grow = first.orders.preview_amend(mine, price="0.20", count="4")
    held = HeldAt(OrdersApi.amend_order, partial(first.orders.execute, grow["token"]))
    wait_until(held.reached.is_set, "the first session's amend on its way to the exchange")
    try:
        during = second.orders.budget()["remaining"]
        over = refused(partial(buy, second, "3", "0.10"), "REJECTED BUDGET_CONTRACTS: ")
    finally:
        answer = held.release()

    assert not isinstance(answer, KalshiError), answer
    assert "(4.00 placed today)" in over, over
    assert during == rig.session().orders.budget()["remaining"]
    assert during["contracts"] == "2.00"
    refused(partial(buy, second, "3", "0.10"), "REJECTED BUDGET_CONTRACTS: ")


def test_an_amend_in_flight_that_shrinks_the_order_counts_its_old_terms_until_booked(
    rig: Rig,
) -> None:
    """An amend of a bid of 4 at 0.20 down to 2 at 0.10, its answer out: until it is booked
    the old order may still fill, so the day counts the old terms, and gives back only once
    the answer says the amend was made."""
    rig.config("", budget="{max_contracts: 6}")
    first, second = rig.session(), rig.session()
    mine = first.orders.execute(buy(first, "4", "0.20")["token"])["order_id"]
    before = second.orders.budget()["remaining"]
    shrink = first.orders.preview_amend(mine, price="0.10", count="2")
    held = HeldAt(OrdersApi.amend_order, partial(first.orders.execute, shrink["token"]))
    wait_until(held.reached.is_set, "the first session's amend on its way to the exchange")
    try:
        during = second.orders.budget()["remaining"]
    finally:
        answer = held.release()

    assert not isinstance(answer, KalshiError), answer
    assert during == before
    assert second.orders.budget()["remaining"]["contracts"] == "4.00"


def test_an_amend_whose_answer_was_lost_counts_at_its_new_terms_until_settled(rig: Rig) -> None:
    """The session's own amend of its bid of 2 to 5, answered 503: it may have been made, and
    stays in flight until a read settles it. Every session counts the order at 5 meanwhile, so
    a bid of 2 (7 against 6 if it was made) is refused."""
    rig.config("", budget="{max_contracts: 6}")
    tools = rig.session()
    mine = tools.orders.execute(buy(tools, "2", "0.10")["token"])["order_id"]
    grow = tools.orders.preview_amend(mine, count="5")
    rig.sim.set_faults(write_503_rate=1.0)
    refused(partial(tools.orders.execute, grow["token"]), "OUTCOME_UNKNOWN: ")
    rig.sim.clear_faults()

    assert rig.session().orders.budget()["remaining"]["contracts"] == "1.00"
    refused(partial(buy, tools, "2", "0.10"), "REJECTED BUDGET_CONTRACTS: ")


def test_a_write_whose_answer_was_lost_is_audited_as_unknown_never_as_refused(rig: Rig) -> None:
    """An order and an amend answered 503: they may have been made. The state file says so of
    the order (`unknown`, for `kalshi reconcile`), the budget counts it, and its audit row must
    say so too: a row `refused` tells whoever reads the audit that nothing went out."""
    tools = rig.session()
    mine = tools.orders.execute(buy(tools, "2", "0.10")["token"])["order_id"]
    order, grow = buy(tools, "3", "0.11"), tools.orders.preview_amend(mine, count="4")
    rig.sim.set_faults(write_503_rate=1.0)
    refused(partial(tools.orders.execute, order["token"]), "OUTCOME_UNKNOWN: ")
    refused(partial(tools.orders.execute, grow["token"]), "OUTCOME_UNKNOWN: ")
    # the token of a write that may have been made sends nothing again
    refused(partial(tools.orders.execute, order["token"]), "REJECTED TOKEN_USED: ")
    rig.sim.clear_faults()

    executes = [e for e in tools.reads.audit()["audit"] if e["tool"] == "execute"]
    assert [e["outcome"] for e in executes] == ["ok", "unknown", "unknown", "refused"]
    assert executes[1]["detail"]["error"].startswith("OUTCOME_UNKNOWN: "), executes[1]
    with open_store(rig.apps[0]) as store:
        lost = store.orders.get_intent(order["would_send"]["client_order_id"])
    assert lost is not None
    assert lost.status == "unknown"
    account = rig.sim.stats()["accounts"][rig.sim.account.key_id]
    assert account["order_create_requests"] == 2


def test_the_dollar_budget_counts_the_taker_fee(rig: Rig) -> None:
    rig.config("", budget="{max_dollars: 5}")
    tools = rig.session()
    # $5.00 of contracts and ceil(0.07 x 10 x 0.50 x 0.50) = $0.175 of fee: past $5
    line = refused(
        partial(buy, tools, "10", "0.50", time_in_force="ioc"), "REJECTED BUDGET_DOLLARS: "
    )
    assert "5.1750 more at risk" in line, line
    preview = buy(tools, "9", "0.50", time_in_force="ioc")
    assert preview["most_it_could_cost"] == "4.6575"  # 4.50 + ceil(0.1575 to $0.0001)


def test_the_fills_the_breaker_reads_are_brought_in_before_it_is_asked(rig: Rig) -> None:
    rig.config("risk:\n  daily_loss_limit: 1\n")
    # the day's fills are the exchange's, dated by its clock: the tools' day must be the same
    tools = rig.session(SystemClock())
    other = rig.sim.new_account()
    for side, price in (("ask", "0.60"), ("bid", "0.40")):
        order = order_body(T, side=side, price=price, count="10")
        assert rig.sim.place_order(other, order).is_success
    # bought at 0.60 and sold at 0.40: $2.00 lost and the fees, past the $1 limit; the order
    # answers carry no fill, and no loop or reconcile brought the fills in
    tools.orders.execute(buy(tools, "10", "0.60", time_in_force="ioc")["token"])
    sold = tools.orders.preview_order(
        T, side="yes", action="sell", count="10", price="0.40", time_in_force="ioc"
    )
    tools.orders.execute(sold["token"])
    refused(partial(buy, tools, "1", "0.10"), "REJECTED CIRCUIT_BREAKER: ")
    with open_store(rig.apps[0]) as store:
        assert len(store.fills.read()) == 2
        assert store.trading.trading_state().state == "REDUCING"


def test_the_dollar_budget_counts_the_taker_fee_at_the_series_multiplier(rig: Rig) -> None:
    doubled = "KXFEE2-26JAN01-T1"
    rig.sim.create_market(doubled, fee_type="quadratic", fee_multiplier=2)
    rig.config("", budget="{max_dollars: 4.70}")
    tools = rig.session()
    # $4.50 of contracts and ceil(2 x 0.07 x 9 x 0.50 x 0.50) = $0.315 of fee: past $4.70,
    # which the standard rate's $0.1575 would fit
    nine = partial(
        tools.orders.preview_order, doubled, side="yes", action="buy", count="9", price="0.50"
    )
    line = refused(nine, "REJECTED BUDGET_DOLLARS: ")
    assert "4.8150 more at risk" in line, line
    four = tools.orders.preview_order(doubled, side="yes", action="buy", count="4", price="0.50")
    assert four["most_it_could_cost"] == "2.1400"  # 2.00 + 2 x 0.07 x 4 x 0.25
    tools.orders.execute(four["token"])
    # resting, it may still fill as a taker at the doubled fee: a new session counts it so
    assert rig.session().orders.budget()["remaining"]["dollars"] == "2.5600"


def test_an_order_another_session_placed_a_moment_ago_counts_at_its_markets_fee(
    rig: Rig,
) -> None:
    doubled = "KXFEE2-26JAN01-T2"
    rig.sim.create_market(doubled, fee_type="quadratic", fee_multiplier=2)
    rig.config("", budget="{max_dollars: 6.75}")
    first, second = rig.session(), rig.session()
    mine = buy(first, "9", "0.50")  # $4.50 and $0.1575 of fee
    theirs = second.orders.preview_order(doubled, side="yes", action="buy", count="4", price="0.50")
    # the second's order, in a market whose fees the first has not read, is recorded while
    # the first is at its write: $2.14 at the doubled fee ($2.07 at the standard rate would
    # leave the first's $4.6575 within $6.75)
    held = HeldAt(Store.record_intent_if_allowed, partial(first.orders.execute, mine["token"]))
    wait_until(held.reached.is_set, "the first session at its intent's write")
    second.orders.execute(theirs["token"])
    answer = held.release()

    assert isinstance(answer, KalshiError), answer
    assert getattr(answer, "code", None) == "BUDGET_DOLLARS", answer
    assert "2.1400 placed today" in answer.message, answer.message
    account = rig.sim.stats()["accounts"][rig.sim.account.key_id]
    assert account["order_create_requests"] == 1


@pytest.mark.parametrize(
    ("tool", "arguments", "code"),
    [
        ("orderbook", {"ticker": T, "depth": -1}, "bad_depth"),
        ("orderbook", {"ticker": T, "depth": 101}, "bad_depth"),
        ("markets", {"status": "bogus"}, "bad_status"),
        ("events", {"status": "bogus"}, "bad_status"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(
    rig: Rig, tool: str, arguments: dict[str, Any], code: str
) -> None:
    tools = rig.session()
    before = rig.sim.stats()["total_requests"]
    with pytest.raises(KalshiError) as caught:
        getattr(tools.reads, tool)(**arguments)
    assert getattr(caught.value, "code", "") == code or not code, caught.value
    assert rig.sim.stats()["total_requests"] == before


def event_loss_worked_example(
    sim: SimHarness, tmp_path: Path, config: str
) -> tuple[str, dict[str, Any]]:
    """docs/risk.md's worked example under `config`: three candidates, no fees, the NO bought on A;
    returns the refusal of a YES on B and the preview of the hedge on C, which is then executed."""
    for n, name in enumerate("ABC"):  # the series' fees, set by its first market
        free = {"fee_type": "quadratic", "fee_multiplier": "0"} if n == 0 else {}
        sim.create_market(
            f"KXSOS-{name}", event_ticker="KXSOS", collateral_return_type="MECNET", **free
        )
    rig = Rig(sim, tmp_path)
    rig.config(config)
    tools = rig.session()
    try:

        def no_or_yes(name: str, side: Literal["yes", "no"], price: str) -> dict[str, Any]:
            return tools.orders.preview_order(
                f"KXSOS-{name}", side=side, action="buy", count="1", price=price
            )

        another_accounts_order(sim, "KXSOS-A", BookSide.BID, "0.40", 1)  # NO on A fills
        tools.orders.execute(no_or_yes("A", "no", "0.60")["token"])
        over = refused(partial(no_or_yes, "B", "yes", "0.10"), "REJECTED EVENT_LOSS: ")
        hedge = no_or_yes("C", "no", "0.70")
        assert "EVENT_LOSS" in hedge["checks"]["passed"]
        tools.orders.execute(hedge["token"])
    finally:
        for app in rig.apps:
            app.close()
    return over, hedge


def test_the_limit_on_an_events_loss_refuses_the_assistants_order_and_passes_the_hedge(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The worked example of docs/risk.md, a limit of $0.65 on three candidates, no fees."""
    over, _ = event_loss_worked_example(sim, tmp_path, "risk:\n  max_event_loss: 0.65\n")
    assert "event KXSOS" in over and "-$0.70 (KXSOS-A yes)" in over, over
    assert "risk.max_event_loss" in over, over
