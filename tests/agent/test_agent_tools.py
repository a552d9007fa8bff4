"""The write tools over the command line's own wiring, against the simulator: amend, decrease
and cancel change only the assistant's orders, through the order service; the budget and the
trading state refuse with their codes; halt, then a previewed resume."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from kalshi_cli.agent.settings import load_agent_config
from kalshi_cli.agent.tools import AgentTools
from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli._services import open_store, order_service
from kalshi_cli.cli.mcp_cmd import CliAccess
from kalshi_cli.store import OrderNotRecorded, RetentionPolicy, Store
from kalshi_cli.store.records import FillRecord
from kalshi_cli.vocabulary.clock import ManualClock, SystemClock, utc_day
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.cli.test_cli_sim import kalshi
from tests.fakes import StateFailsAfterWrite, Swapped, UnreadAfterChange
from tests.prime_tier import TIER, connect_as
from tests.waiting import wait_until
from tests.wire import order_body

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.conftest import SimHarness

T = "KXMCP-26JAN01-T3"
CONFIG = """\
agent:
  writes:
    sim: true
  budget:
    max_orders: 2
"""


def environ(sim: SimHarness, home: Path) -> dict[str, str]:
    return {
        "KALSHI_HOME": str(home),
        "KALSHI_ENV": "sim",
        "KALSHI_API_BASE": sim.account.api_base,
        "KALSHI_API_KEY_ID": sim.account.key_id,
        "KALSHI_PRIVATE_KEY_PATH": sim.account.private_key_path,
        "KALSHI_STATE": str(home / "state.db"),
        "KALSHI_TIER": TIER,  # the simulator's (tests/agent/conftest.py)
    }


@pytest.fixture
def tools(sim: SimHarness, tmp_path: Path) -> Iterator[AgentTools]:
    sim.create_market(T)
    (tmp_path / "config.yaml").write_text(CONFIG)
    app = AppContext(environ=environ(sim, tmp_path))
    access = CliAccess(app)
    clock = ManualClock(1_700_000_000.0)
    yield AgentTools(access, load_agent_config(app.settings().config_path), clock=clock)
    app.close()


def placed(tools: AgentTools, count: str, price: str) -> dict[str, Any]:
    preview = tools.orders.preview_order(T, side="yes", action="buy", count=count, price=price)
    return tools.orders.execute(preview["token"])


def refused(call: Any, head: str) -> str:
    with pytest.raises(KalshiError) as caught:
        call()
    from kalshi_cli.agent.tools.common import one_line

    line = one_line(caught.value)
    assert line.startswith(head), line
    return line


def test_amend_decrease_and_cancel_change_the_assistants_order(tools: AgentTools) -> None:
    order_id = placed(tools, "4", "0.20")["order_id"]
    preview = tools.orders.preview_amend(order_id, price="0.22")
    assert preview["would_send"]["price"] == "0.2200"
    # 4 contracts, 2 cents more each, and the taker fee at 0.22 (0.0481) less that at 0.20 (0.0448)
    assert preview["most_it_could_cost_more"] == "0.0833"
    amended = tools.orders.execute(preview["token"])["order"]
    assert amended["yes_price"] == "0.2200"
    decreased = tools.orders.execute(tools.orders.preview_decrease(order_id, by="1")["token"])[
        "order"
    ]
    assert Decimal(decreased["remaining_count"]) == 3
    cancelled = tools.orders.execute(tools.orders.preview_cancel(order_id)["token"])
    assert cancelled["contracts_cancelled"] == "3.00"
    assert tools.reads.orders()["orders"] == []


def _changed_by_a_person(tools: AgentTools, order_id: str, change: str) -> None:
    """`kalshi order decrease` or `kalshi order amend` of the assistant's order, run by a
    person through the order service."""
    app = tools.access._app  # type: ignore[attr-defined]
    with open_store(app) as store:
        service = order_service(app, store)
        if change == "decrease":
            service.cancels.decrease(order_id, by=Decimal(1))
        else:
            service.amends.submit(service.amends.prepare(order_id, price=Decimal("0.21")))


@pytest.mark.parametrize(
    ("given", "change", "shown"),
    [({"price": "0.22"}, "decrease", "count"), ({"count": "5"}, "amend", "price")],
    ids=["price-only-then-decreased", "count-only-then-repriced"],
)
def test_an_amend_executes_as_previewed_or_not_at_all_when_the_order_changed_since(
    tools: AgentTools, given: dict[str, str], change: str, shown: str
) -> None:
    """An amend that gives only a price is previewed with the order's total as it was then (4),
    one that gives only a count with its price (0.20). A person decreases the order to 3 (or
    amends it to 0.21) before `execute`: sending the amend as previewed would undo their change,
    sending it with the order's terms read again is not what was previewed. `execute` refuses
    (ORDER_CHANGED) and the order stays as the person left it. `execute` read the total (or the
    price) again and amended 3 contracts at 0.22 (or 5 at 0.21), neither the amend previewed."""
    order_id = placed(tools, "4", "0.20")["order_id"]
    preview = tools.orders.preview_amend(order_id, **given)
    assert preview["would_send"][shown] == {"count": "4.00", "price": "0.2000"}[shown]
    _changed_by_a_person(tools, order_id, change)

    line = refused(partial(tools.orders.execute, preview["token"]), "REJECTED ORDER_CHANGED: ")
    assert order_id in line and "preview it again" in line, line
    (left,) = tools.reads.orders()["orders"]
    person = {"decrease": ("0.2000", "3.00"), "amend": ("0.2100", "4.00")}[change]
    assert (left["yes_price"], left["remaining_count"]) == person, left
    execute = [e for e in tools.reads.audit()["audit"] if e["tool"] == "execute"][-1]
    assert (execute["arguments"]["previewed_by"], execute["outcome"]) == (
        "preview_amend",
        "refused",
    ), execute

    # previewed again, the amend goes: the order as it is now is the order previewed
    again = tools.orders.preview_amend(order_id, **given)
    amended = tools.orders.execute(again["token"])["order"]
    assert amended["order_id"] == order_id


def test_an_amend_previewed_before_a_fill_of_its_order_still_executes(
    tools: AgentTools, sim: SimHarness
) -> None:
    """A fill leaves the order's total as the preview read it (filled and resting): an amend
    of the price alone, previewed before another account took 1 of the 4, is sent as
    previewed, 4 in all at 0.22, the 3 left resting."""
    order_id = placed(tools, "4", "0.20")["order_id"]
    preview = tools.orders.preview_amend(order_id, price="0.22")
    other = sim.new_account()
    ask = order_body(T, side="ask", price="0.20", count="1", time_in_force="immediate_or_cancel")
    assert sim.place_order(other, ask).is_success
    amended = tools.orders.execute(preview["token"])["order"]
    assert (amended["fill_count"], amended["remaining_count"]) == ("1.00", "3.00"), amended
    assert amended["yes_price"] == "0.2200"


@pytest.fixture
def unread_tools(sim: SimHarness, tmp_path: Path) -> Iterator[AgentTools]:
    """The tools on a client whose reads of an order fail once an amend or a decrease of it
    has been answered (`UnreadAfterChange`)."""
    sim.create_market(T)
    (tmp_path / "config.yaml").write_text(CONFIG)
    app = AppContext(
        environ=environ(sim, tmp_path),
        client_factory=lambda _app, _settings, _anonymous: connect_as(
            UnreadAfterChange, sim.account
        ),
    )
    config = load_agent_config(app.settings().config_path)
    yield AgentTools(CliAccess(app), config, clock=ManualClock(1_700_000_000.0))
    app.close()


def test_an_amend_made_whose_order_cannot_be_read_back_is_done_in_the_answer_and_the_audit(
    sim: SimHarness, unread_tools: AgentTools
) -> None:
    """The assistant's amend is made and answered, and the read of the order after it fails:
    the answer is the amend made (its new terms) with a note that the order could not be read
    back, and the audit says `ok`. A `refused` row tells the assistant, and whoever reads the
    audit, that the old terms stand when the exchange holds the new ones."""
    tools = unread_tools
    order_id = placed(tools, "4", "0.20")["order_id"]
    answer = tools.orders.execute(
        tools.orders.preview_amend(order_id, price="0.22", count="5")["token"]
    )
    audit = tools.reads.audit()["audit"]

    order = answer["order"]
    assert (order["order_id"], order["yes_price"]) == (order_id, "0.2200")
    assert (order["fill_count"], order["remaining_count"]) == ("0.00", "5.00")
    assert answer["note"].startswith("amended; could not read the order back: "), answer
    assert "HTTP 503" in answer["note"]
    (amend,) = [e for e in audit if e["arguments"].get("previewed_by") == "preview_amend"]
    assert amend["outcome"] == "ok", amend
    assert amend["detail"]["note"] == answer["note"]
    with connect_as(UnreadAfterChange, sim.account) as client:
        made = client.orders.get_order(order_id)
    assert (made.yes_price, made.remaining_count) == (Decimal("0.22"), 5)


def test_a_decrease_made_whose_order_cannot_be_read_back_is_done_in_the_answer_and_the_audit(
    sim: SimHarness, unread_tools: AgentTools
) -> None:
    """The amend's rule holds for the assistant's decrease: answered, it is made in
    `execute`'s answer (what rests as the decrease's answer says, and a note) and `ok` in the
    audit. A `refused` row says the contracts still rest, and an assistant that decreases
    again takes off more than it meant."""
    tools = unread_tools
    order_id = placed(tools, "4", "0.20")["order_id"]
    answer = tools.orders.execute(tools.orders.preview_decrease(order_id, by="1")["token"])
    audit = tools.reads.audit()["audit"]

    order = answer["order"]
    assert (order["order_id"], order["status"]) == (order_id, "resting")
    assert (order["fill_count"], order["remaining_count"]) == ("0.00", "3.00")
    assert answer["note"].startswith("decreased; could not read the order back: "), answer
    assert "HTTP 503" in answer["note"]
    (decrease,) = [e for e in audit if e["arguments"].get("previewed_by") == "preview_decrease"]
    assert decrease["outcome"] == "ok", decrease
    assert decrease["detail"]["note"] == answer["note"]
    with connect_as(UnreadAfterChange, sim.account) as client:
        assert client.orders.get_order(order_id).remaining_count == 3


def test_a_decrease_keeps_the_fills_not_read_yet_in_the_days_budget(
    sim: SimHarness, unread_tools: AgentTools
) -> None:
    """Another account took 1 of the assistant's 4 before the state file read the fill; the
    decrease by 1 leaves 2 resting, 3 in all, and its read-back fails. The order is booked at
    3 (the fill the read before the decrease showed, and what rests): booked at 2 (the row's
    nothing filled plus what rests), the 2 resting counted nothing once the fill was read, and
    the budget gave back a contract that can still fill."""
    tools = unread_tools
    order_id = placed(tools, "4", "0.20")["order_id"]
    ask = order_body(T, side="ask", price="0.20", count="1", time_in_force="immediate_or_cancel")
    assert sim.place_order(sim.new_account(), ask).is_success
    answer = tools.orders.execute(tools.orders.preview_decrease(order_id, by="1")["token"])
    assert answer["note"].startswith("decreased; could not read the order back: "), answer

    assert tools.orders.budget()["remaining"]["contracts"] == "97.00"
    tools.orders.preview_order(T, side="yes", action="buy", count="1", price="0.10")  # reads fills
    assert tools.orders.budget()["remaining"]["contracts"] == "97.00"


def test_a_decrease_whose_answer_was_lost_is_read_back_never_audited_as_refused(
    tools: AgentTools, sim: SimHarness
) -> None:
    """The assistant's decrease reaches the exchange and its answer is lost (the connection
    closed after the exchange acted). The order is read once, as an amend's is: showing the
    decrease, it is made in `execute`'s answer and `ok` in the audit; a read that lags it leaves
    it of unknown outcome (`unknown` in the audit, `OUTCOME_UNKNOWN`). It was `refused` (an
    unreachable exchange) while the contracts had come off, and an assistant that decreased
    again took off twice what it meant."""
    order_id = placed(tools, "6", "0.20")["order_id"]
    preview = tools.orders.preview_decrease(order_id, by="2")
    sim.set_faults(drop_response_after_commit_rate=1.0)
    try:
        answer = tools.orders.execute(preview["token"])
    finally:
        sim.clear_faults()
    assert (answer["order"]["order_id"], answer["order"]["remaining_count"]) == (
        order_id,
        "4.00",
    )

    preview = tools.orders.preview_decrease(order_id, to="1")
    # reads lag the decrease: the read after the lost answer still shows 4 resting
    sim.set_faults(drop_response_after_commit_rate=1.0, read_lag_ms=60_000)
    try:
        refused(partial(tools.orders.execute, preview["token"]), "OUTCOME_UNKNOWN: ")
    finally:
        sim.clear_faults()
    with connect_as(UnreadAfterChange, sim.account) as client:
        assert client.orders.get_order(order_id).remaining_count == 1  # it was made
    executes = [e for e in tools.reads.audit()["audit"] if e["tool"] == "execute"]
    assert [e["outcome"] for e in executes] == ["ok", "ok", "unknown"]


class StoresHandedOut(CliAccess):
    """The tools' access, keeping the state files it opens, so a test can break the one a
    write is booking into while another (the audit's) still works."""

    def __init__(self, app: AppContext) -> None:
        super().__init__(app)
        self.opened: list[Store] = []

    def open_store(self) -> Store:
        store = super().open_store()
        self.opened.append(store)
        return store


@pytest.mark.parametrize(
    ("preview", "terms"),
    [
        (
            lambda tools, oid: tools.orders.preview_amend(oid, price="0.22", count="5"),
            "5.00 at YES 0.2200",
        ),
        (lambda tools, oid: tools.orders.preview_decrease(oid, by="1"), "3.00 at YES 0.2000"),
    ],
    ids=["amend", "decrease"],
)
def test_a_change_made_that_the_state_file_cannot_record_is_unknown_in_the_audit(
    sim: SimHarness,
    tmp_path: Path,
    preview: Callable[[AgentTools, str], dict[str, Any]],
    terms: str,
) -> None:
    """The assistant's amend or decrease is made and answered, and the state file stops taking
    writes before the answer is booked: `execute` says it WAS MADE and that the state file did
    not record it, and the audit says `unknown`, as for an order placed and not recorded. The
    state file's own error (`refused` in the audit) said the old terms stand."""
    sim.create_market(T)
    (tmp_path / "config.yaml").write_text(CONFIG)
    armed: list[bool] = []

    def stop_writes() -> None:
        # once the change is previewed, the next answer's booking meets a file that became
        # unwritable: every write on the connection that books it fails with SQLITE_READONLY
        if armed:
            access.opened[-1]._conn.execute("PRAGMA query_only = 1")

    def failing(*_: object) -> Swapped[StateFailsAfterWrite]:
        client = connect_as(StateFailsAfterWrite, sim.account)
        client.area.fail = stop_writes
        return client

    app = AppContext(environ=environ(sim, tmp_path), client_factory=failing)
    access = StoresHandedOut(app)
    try:
        tools = AgentTools(
            access, load_agent_config(app.settings().config_path), clock=ManualClock(1.7e9)
        )
        order_id = placed(tools, "4", "0.20")["order_id"]
        token = preview(tools, order_id)["token"]
        armed.append(True)
        with pytest.raises(OrderNotRecorded) as failed:
            tools.orders.execute(token)
        audit = tools.reads.audit()["audit"]
    finally:
        app.close()

    change = "amend" if "amend" in failed.value.message else "decrease"
    assert failed.value.message.startswith(
        f"{change} of order {order_id} WAS MADE (resting, {terms}), but the state file could "
        "not record it: state file "
    ), failed.value.message
    assert failed.value.hint == (
        f"do not {change} it again; `kalshi reconcile` records it once the state file can be "
        "written"
    )
    (row,) = [e for e in audit if e["arguments"].get("previewed_by") == f"preview_{change}"]
    assert row["outcome"] == "unknown", row
    assert row["detail"]["error"].startswith(
        f"STATE_WRITE_FAILED: {change} of order {order_id} WAS MADE"
    ), row


def test_an_order_the_assistant_did_not_place_is_not_its_to_change(tools: AgentTools) -> None:
    app = tools.access._app  # type: ignore[attr-defined]
    with open_store(app) as store:
        service = order_service(app, store)
        request = OrderRequest(
            T, Side.YES, Action.BUY, Decimal(1), Decimal("0.10"), strategy="manual"
        )
        manual = service.place(service.prepare(request))
    assert manual.order_id is not None
    refused(lambda: tools.orders.preview_cancel(manual.order_id), "REJECTED NOT_THE_AGENTS_ORDER")
    refused(
        lambda: tools.orders.preview_amend(manual.order_id, count="2"),
        "REJECTED NOT_THE_AGENTS_ORDER",
    )
    listed = {o["order_id"]: o["strategy"] for o in tools.reads.orders()["orders"]}
    assert listed == {manual.order_id: "manual"}


def test_the_budget_and_the_trading_state_refuse_with_their_codes(tools: AgentTools) -> None:
    placed(tools, "1", "0.10")
    placed(tools, "1", "0.11")
    refused(lambda: placed(tools, "1", "0.12"), "REJECTED BUDGET_ORDERS")
    assert tools.kill_switch.halt(reason="news")["state"] == "HALTED"
    assert tools.reads.loop_status()["state"] == "HALTED"
    # the order service's trading-state check comes before the budget's
    halted = partial(
        tools.orders.preview_order, T, side="yes", action="buy", count="1", price="0.1"
    )
    refused(halted, "HALTED")
    resumed = tools.orders.execute(tools.orders.preview_resume()["token"])
    assert (resumed["lifted"], resumed["state"]) == ("HALTED", "ACTIVE")


def test_the_kill_switch_answers_when_the_audit_cannot_be_written(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(T)
    (tmp_path / "not-a-directory").write_text("")
    app = AppContext(
        environ={
            "KALSHI_HOME": str(tmp_path),
            "KALSHI_API_BASE": sim.account.api_base,
            "KALSHI_API_KEY_ID": sim.account.key_id,
            "KALSHI_PRIVATE_KEY_PATH": sim.account.private_key_path,
            "KALSHI_STATE": str(tmp_path / "not-a-directory" / "state.db"),
        }
    )
    tools = AgentTools(
        CliAccess(app), load_agent_config(tmp_path / "none.yaml"), clock=ManualClock(0)
    )
    try:
        answer = tools.kill_switch.cancel_all()
    finally:
        app.close()
    assert answer["proven"] is True
    assert answer["audit"].startswith("not recorded: ")


def test_the_kill_switch_says_whether_halted_was_recorded_as_the_command_does(
    tools: AgentTools, sim: SimHarness, tmp_path: Path
) -> None:
    """`cancel_all` is `kalshi cancel-all`, whose answer says whether HALTED reached the state
    file (`halted`, `state_recorded`, `state_error`): cancels proven on the exchange with no
    HALTED recorded leave a trade loop on that state file placing. The tool said `proven` alone,
    and the assistant could only report that everything was stopped."""
    answer = tools.kill_switch.cancel_all()
    shown = kalshi(["cancel-all", "--json", "--yes"], tmp_path, environ(sim, tmp_path))
    assert shown.exit_code == 0, shown.output
    command = {k: v for k, v in json.loads(shown.stdout).items() if k != "scope"}
    assert {k: answer[k] for k in command} == command
    assert (answer["halted"], answer["state_recorded"], answer["state_error"]) == (
        True,
        True,
        None,
    )

    (tmp_path / "not-a-directory").write_text("")
    broken = environ(sim, tmp_path) | {
        "KALSHI_STATE": str(tmp_path / "not-a-directory" / "state.db")
    }
    app = AppContext(environ=broken)
    try:
        unrecorded = AgentTools(
            CliAccess(app), tools.config, clock=tools.clock
        ).kill_switch.cancel_all()
    finally:
        app.close()
    assert unrecorded["proven"] is True
    assert (unrecorded["halted"], unrecorded["state_recorded"]) == (False, False)
    assert "not-a-directory" in unrecorded["state_error"], unrecorded


def test_the_kill_switch_on_a_paper_state_file_halts_the_accounts_own_as_the_command_does(
    sim: SimHarness, tmp_path: Path
) -> None:
    """`kalshi --state <a paper session's file> mcp`: the assistant's `cancel_all` cancels the
    account's orders, so it halts the account's own state file the paper file is named beside,
    as `kalshi cancel-all` does. It refused the paper file (an account's write), halted nothing,
    said "nothing was sent" of cancels it had sent, and proved the kill while a live loop on the
    account's own file placed again."""
    from kalshi_cli.store.paper import paper_state_path

    sim.create_market(T)
    live = tmp_path / "state.db"
    Store.open(live).close()
    paper = paper_state_path(live, "sim")
    Store.open(paper).close()
    app = AppContext(environ=environ(sim, tmp_path) | {"KALSHI_STATE": str(paper)})
    try:
        answer = AgentTools(
            CliAccess(app), load_agent_config(tmp_path / "none.yaml"), clock=ManualClock(0)
        ).kill_switch.cancel_all()
    finally:
        app.close()
    assert (answer["proven"], answer["halted"], answer["state_recorded"]) == (True, True, True)
    with Store.open(live) as store:
        assert store.trading.trading_state().state == "HALTED"
    with Store.open(paper) as store:
        assert store.trading.trading_state().state == "ACTIVE"

    live.unlink()  # the account's own file cannot be told: no live loop was halted
    app = AppContext(environ=environ(sim, tmp_path) | {"KALSHI_STATE": str(paper)})
    try:
        unknown = AgentTools(
            CliAccess(app), load_agent_config(tmp_path / "none.yaml"), clock=ManualClock(0)
        ).kill_switch.cancel_all()
    finally:
        app.close()
    assert (unknown["proven"], unknown["halted"]) == (False, False)
    assert unknown["state_error"].startswith("no live trade loop was halted"), unknown
    assert "nothing was sent" not in json.dumps(unknown), json.dumps(unknown)


def test_the_kill_switch_with_another_accounts_state_file_cancels_and_records_nothing(
    sim: SimHarness, tmp_path: Path
) -> None:
    """`kalshi --state <another account's file> mcp`: the assistant's `cancel_all` is `kalshi
    cancel-all`, which cancels the key's orders whatever the state file and records nothing in
    another account's file. It was refused as every write is (`STATE_MISMATCH: ... nothing was
    sent`), the account's order left resting, after its first step had halted the other
    account's file (no connection yet to check the file against)."""
    from tests.cli.test_state_keyed import TICKER, place, remote, state_path

    sim.create_market(TICKER)
    assert place(tmp_path, "KXBTCD-SIM-T97000").exit_code == 0  # binds the embedded account's
    theirs = state_path(tmp_path)
    assert place(tmp_path, TICKER, **remote(sim.account)).exit_code == 0  # rests at 0.10
    environ = {"KALSHI_HOME": str(tmp_path / "home"), "KALSHI_STATE": str(theirs)}

    def session(tool: Callable[[AgentTools], dict[str, Any]]) -> dict[str, Any]:
        """`tool` as the first call of a new session: nothing asked of the exchange yet."""
        app = AppContext(environ=environ | remote(sim.account))
        try:
            config = load_agent_config(tmp_path / "none.yaml")
            return tool(AgentTools(CliAccess(app), config, clock=SystemClock()))
        finally:
            app.close()

    # halt, the kill switch's first step alone, records nothing there either
    refused(partial(session, lambda tools: tools.kill_switch.halt()), "STATE_MISMATCH: ")
    answer = session(lambda tools: tools.kill_switch.cancel_all())
    assert (answer["proven"], answer["cancelled_count"]) == (True, 1), answer
    assert (answer["halted"], answer["state_recorded"]) == (False, False)
    assert "belongs to account" in answer["state_error"], answer
    with connect_as(UnreadAfterChange, sim.account) as client:
        assert list(client.orders.iter_orders(status="resting")) == []
    store = Store.open_readonly(theirs)
    assert store is not None
    with store:
        assert store.trading.trading_state().state == "ACTIVE"  # the other account's, untouched
        assert store.audit.entries(limit=5) == []


def test_halt_on_a_paper_state_file_halts_the_accounts_own_as_the_kill_switch_does(
    sim: SimHarness, tmp_path: Path
) -> None:
    """`kalshi --state <a paper session's file> mcp`: the assistant's `halt` stops the account's
    new orders, so it halts the account's own state file the paper file is named beside, and
    records its audit row there, as its `cancel_all` does (and `kalshi cancel-all`). It refused
    the paper file as an account's write and halted nothing, while `cancel_all` in the same
    session halted the account's own file."""
    from kalshi_cli.store.paper import paper_state_path

    live = tmp_path / "state.db"
    Store.open(live).close()
    paper = paper_state_path(live, "sim")
    Store.open(paper).close()

    def halt() -> dict[str, Any]:
        app = AppContext(environ=environ(sim, tmp_path) | {"KALSHI_STATE": str(paper)})
        try:
            return AgentTools(
                CliAccess(app), load_agent_config(tmp_path / "none.yaml"), clock=ManualClock(0)
            ).kill_switch.halt(reason="news")
        finally:
            app.close()

    answer = halt()
    assert (answer["state"], answer["reason"]) == ("HALTED", "news")
    assert str(live) in answer["notes"][0], answer
    with Store.open(live) as store:
        assert store.trading.trading_state().state == "HALTED"
        assert [(e.tool, e.outcome) for e in store.audit.entries(limit=5)] == [("halt", "ok")]
    with Store.open(paper) as store:
        assert store.trading.trading_state().state == "ACTIVE"

    live.unlink()  # the account's own file cannot be told: nothing halted, and it says so
    line = refused(halt, "NOT_PROVEN: no live trade loop was halted")
    assert "nothing was sent" not in line
    with Store.open(paper) as store:
        assert store.trading.trading_state().state == "ACTIVE"


def test_the_audit_on_a_paper_state_file_shows_the_kill_switch_rows_of_the_accounts_own(
    sim: SimHarness, tmp_path: Path
) -> None:
    """`kalshi --state <a paper session's file> mcp`: `halt` and `cancel_all` act on the
    account's own state file and record their rows there, so the `audit` of that session reads
    them from it, marked with the file, and says where they are; the account's file's other
    rows (a live session's order) are not the paper session's. It read the paper file alone
    and answered an empty audit after a halt and a kill switch."""
    from kalshi_cli.store.paper import paper_state_path

    sim.create_market(T)
    (tmp_path / "config.yaml").write_text(CONFIG)
    live = tmp_path / "state.db"
    paper = paper_state_path(live, "sim")
    Store.open(paper).close()

    def session(state: Path, call: Callable[[AgentTools], Any]) -> Any:
        app = AppContext(environ=environ(sim, tmp_path) | {"KALSHI_STATE": str(state)})
        try:
            config = load_agent_config(app.settings().config_path)
            return call(AgentTools(CliAccess(app), config, clock=ManualClock(1_700_000_000.0)))
        finally:
            app.close()

    session(live, lambda tools: placed(tools, "1", "0.10"))  # a live session's order
    session(
        paper, lambda tools: (tools.kill_switch.halt(reason="news"), tools.kill_switch.cancel_all())
    )
    audit = session(paper, lambda tools: tools.reads.audit())

    rows = [(e["tool"], e["outcome"], e.get("state_file")) for e in audit["audit"]]
    assert rows == [("halt", "ok", str(live)), ("cancel_all", "ok", str(live))], audit
    assert audit["audit"][0]["arguments"] == {"reason": "news"}
    (note,) = audit["notes"]
    assert note.startswith(f"{paper} is a paper session's state file: "), note
    assert f"recorded in the account's own, {live}" in note, note

    live.unlink()  # the account's own file cannot be told: the audit says so
    audit = session(paper, lambda tools: tools.reads.audit())
    assert audit["audit"] == []
    (note,) = audit["notes"]
    assert "the account's own state file cannot be told from it" in note, note


def test_a_write_refused_on_a_paper_state_file_is_a_row_of_its_audit(
    sim: SimHarness, tmp_path: Path
) -> None:
    """`kalshi --state <a paper session's file> mcp`: an order is refused there (it would act
    on the account from a file that is not the account's), and the refusal is a row of the
    paper file's audit, as every write tool call is; the account's own file takes none. The
    audit row went to the paper file opened as the account's, which refuses it too, so the
    refusal was recorded nowhere."""
    from kalshi_cli.store.paper import paper_state_path

    sim.create_market(T)
    (tmp_path / "config.yaml").write_text(CONFIG)
    live = tmp_path / "state.db"
    Store.open(live).close()
    paper = paper_state_path(live, "sim")
    app = AppContext(environ=environ(sim, tmp_path) | {"KALSHI_STATE": str(paper)})
    try:
        tools = AgentTools(
            CliAccess(app), load_agent_config(app.settings().config_path), clock=ManualClock(0)
        )
        line = refused(
            partial(
                tools.orders.preview_order, T, side="yes", action="buy", count="1", price="0.10"
            ),
            "USAGE: ",
        )
        audit = tools.reads.audit()["audit"]
    finally:
        app.close()
    assert "paper session's state file" in line and "nothing was sent" in line, line
    assert [(e["tool"], e["outcome"]) for e in audit] == [("preview_order", "refused")], audit
    assert audit[0]["detail"]["error"] == line
    assert "state_file" not in audit[0]  # the paper file's own row
    with Store.open(live) as store:
        assert store.audit.entries() == []


def test_the_reads_answer_as_the_commands_do(
    tools: AgentTools, sim: SimHarness, tmp_path: Path
) -> None:
    other = sim.new_account()
    ask = order_body(T, side="ask", price="0.60", count="10")
    assert sim.place_order(other, ask).is_success
    assert placed(tools, "2", "0.60")["status"] == "executed"  # took the ask

    for tool in ("market", "orderbook"):
        shown = kalshi([tool, T, "--json"], tmp_path, environ(sim, tmp_path))
        assert shown.exit_code == 0, shown.output
        answer = getattr(tools.reads, tool)(T)
        assert {k: answer[k] for k in json.loads(shown.stdout)} == json.loads(shown.stdout)
    market = tools.reads.market(T)
    assert market["series_ticker"] == T.split("-", maxsplit=1)[0]
    assert isinstance(market["settlement_sources"], list)
    assert tools.reads.orderbook(T)["best_yes_ask"] == {"price": "0.6000", "size": "8.00"}

    assert tools.reads.exchange_status()["status"]["exchange_active"] is True
    assert T in [m["ticker"] for m in tools.reads.markets()["markets"]]
    assert [e["event_ticker"] for e in tools.reads.events()["events"]] == [T.rsplit("-", 1)[0]]
    assert tools.reads.series()["series"]
    assert tools.reads.search(T.split("-", maxsplit=1)[0])["matches"]
    assert [t["count"] for t in tools.reads.trades(T)["trades"]] == ["2.00"]
    assert isinstance(tools.reads.candles(T, period="1m", hours=1)["candles"], list)
    balance = tools.reads.balance()
    assert Decimal(balance["balance"]) > 0
    shown_balance = kalshi(["balance", "--json"], tmp_path, environ(sim, tmp_path))
    # the breakdown by shard, as the command shows it
    assert balance["shards"] == json.loads(shown_balance.stdout)["shards"]
    assert sum(Decimal(s["balance_dollars"]) for s in balance["shards"]) == Decimal(
        balance["balance"]
    )
    [position] = tools.reads.positions()["positions"]
    assert (position["ticker"], position["contracts"]) == (T, "2.00")
    by_event = kalshi(["positions", "--by", "event", "--json"], tmp_path, environ(sim, tmp_path))
    [event] = tools.reads.event_positions()["events"]
    assert event == json.loads(by_event.stdout)["events"][0]
    # 2 YES at 0.60 and their fee (0.07 x 2 x 0.60 x 0.40), settling NO
    assert event["worst_case"]["pnl"] == "-1.2336"
    assert [f["count"] for f in tools.reads.fills()["fills"]] == ["2.00"]
    by_strategy = tools.reads.pnl()["rows"]
    assert [r["strategy"] for r in by_strategy] == ["agent"]
    assert tools.reads.checks() == {"checks": []}
    assert [e["tool"] for e in tools.reads.audit()["audit"]] == ["preview_order", "execute"]
    assert tools.orders.budget()["remaining"]["orders"] == 1


def test_an_amends_preview_is_what_execute_sends_and_spends_for_a_sell(tools: AgentTools) -> None:
    app = tools.access._app  # type: ignore[attr-defined]
    app.settings().config_path.write_text(CONFIG + "risk:\n  max_order_count: 100\n")
    # selling NO at 0.90 is a YES bid at 0.10 on the book: 60 contracts, $6.00 at risk
    sell = tools.orders.preview_order(T, side="no", action="sell", count="60", price="0.90")
    order_id = tools.orders.execute(sell["token"])["order_id"]
    preview = tools.orders.preview_amend(order_id, price="0.80")  # still selling NO: a bid at 0.20
    assert preview["would_send"] | {"order_id": None} == {
        "order_id": None,
        "ticker": T,
        "side": "no",
        "price": "0.8000",
        "count": "60.00",
    }
    # 60 x (0.20 - 0.10), and the taker fee at 0.20 (0.672) less that at 0.10 (0.378)
    assert preview["most_it_could_cost_more"] == "6.2940"
    assert tools.orders.execute(preview["token"])["order"]["yes_price"] == "0.2000"
    assert tools.orders.budget()["remaining"]["dollars"] == "37.3280"
    # selling NO at 0.10 bids 0.90 for YES: $41.706 more, past the $50 budget with $12.672 spent
    refused(lambda: tools.orders.preview_amend(order_id, price="0.10"), "REJECTED BUDGET_DOLLARS")
    [order] = tools.reads.orders()["orders"]
    assert order["yes_price"] == "0.2000"


@pytest.mark.parametrize(
    ("state", "source"),
    [
        ("HALTED", "kalshi cancel-all"),  # the trader's kill switch
        ("SAFE_MODE", "api_error_guard"),  # a person must look at the exchange's failures
        ("REDUCING", "circuit_breaker"),  # the day's losses: no new orders until tomorrow
    ],
)
def test_the_assistant_lifts_only_a_halt_of_its_own(
    tools: AgentTools, state: str, source: str
) -> None:
    app = tools.access._app  # type: ignore[attr-defined]

    def set_state(state: str, source: str) -> None:
        with open_store(app) as store:
            if source == "circuit_breaker":  # its REDUCING comes with the day's trip, one commit
                day = utc_day(tools.clock.wall())
                store.trading.record_risk_trip(
                    rule=source, code="CIRCUIT_BREAKER", detail="the day's loss", day=day
                )
            store.trading.set_trading_state(state, reason="set outside", source=source)

    set_state(state, source)
    refused(tools.orders.preview_resume, "REJECTED NOT_THE_AGENTS_HALT")
    # halting on top of it does not make it the assistant's to lift
    assert tools.kill_switch.halt(reason="mine too")["state"] == "HALTED"
    refused(tools.orders.preview_resume, "REJECTED NOT_THE_AGENTS_HALT")
    assert tools.reads.loop_status()["state"] == "HALTED"

    set_state("ACTIVE", "kalshi resume")
    tools.kill_switch.halt(reason="the assistant's own")
    token = tools.orders.preview_resume()["token"]
    set_state(state, source)  # set again while the token waits
    refused(lambda: tools.orders.execute(token), "REJECTED NOT_THE_AGENTS_HALT")
    assert tools.reads.loop_status()["state"] == state

    set_state("ACTIVE", "kalshi resume")
    tools.kill_switch.halt(reason="the assistant's own")
    lifted = tools.orders.execute(tools.orders.preview_resume()["token"])
    assert (lifted["lifted"], lifted["state"]) == ("HALTED", "ACTIVE")


@pytest.mark.parametrize(
    ("rule", "code"), [("circuit_breaker", "CIRCUIT_BREAKER"), ("api_error_guard", "SAFE_MODE")]
)
def test_a_risk_trip_under_the_assistants_halt_is_not_its_to_lift(
    tools: AgentTools, rule: str, code: str
) -> None:
    """The circuit breaker (or the API error guard) trips while the assistant's halt holds and
    leaves that stricter state in place of its REDUCING (SAFE_MODE, which needs a person):
    every state row since ACTIVE is the assistant's, but lifting it set ACTIVE, and a trade
    loop traded on past a day's loss limit or an exchange failing every call."""
    tools.kill_switch.halt(reason="the assistant's own")
    app = tools.access._app  # type: ignore[attr-defined]
    with open_store(app) as store:
        store.trading.record_risk_trip(rule=rule, code=code, detail="tripped under the halt")

    line = refused(tools.orders.preview_resume, "REJECTED NOT_THE_AGENTS_HALT")
    assert f"stopped by {rule} ({code}: tripped under the halt)" in line, line
    assert tools.reads.loop_status()["state"] == "HALTED"


@pytest.mark.parametrize("on_top", [False, True], ids=["alone", "the-assistants-halt-on-top"])
def test_a_persons_halt_stays_theirs_after_retention_prunes_its_history(
    tools: AgentTools, on_top: bool
) -> None:
    """A person's kill switch older than `retention.trading_state_history_s`: the history row
    that says whose it is ages past the window. Pruned, the assistant found no one else's
    state since trading was last ACTIVE and lifted the person's halt."""
    app = tools.access._app  # type: ignore[attr-defined]
    with open_store(app) as store:
        store.trading.set_trading_state("ACTIVE", reason="resumed", source="kalshi resume")
        store.trading.set_trading_state("HALTED", reason="stop", source="kalshi cancel-all")
    if on_top:
        tools.kill_switch.halt(reason="mine too")
    later = ManualClock(SystemClock().wall() + 2 * 3_600.0)
    with Store.open(app.settings().state, clock=later) as store:
        policy = RetentionPolicy(trading_state_history_s=3_600.0, pause_s=0)
        store.retention.prune(policy, agent_strategy="agent")

    refused(tools.orders.preview_resume, "REJECTED NOT_THE_AGENTS_HALT")
    assert tools.reads.loop_status()["state"] == "HALTED"


def test_a_decrease_with_no_count_is_refused_at_its_preview(tools: AgentTools) -> None:
    order_id = placed(tools, "4", "0.20")["order_id"]
    for by, to, code in (
        ("NaN", None, "NOT_A_NUMBER"),
        ("-1", None, "BY_NOT_POSITIVE"),
        ("0", None, "BY_NOT_POSITIVE"),
        ("1.001", None, "COUNT_PRECISION"),
        (None, "Infinity", "NOT_A_NUMBER"),
        (None, "-2", "TO_NOT_POSITIVE"),
    ):
        refused(partial(tools.orders.preview_decrease, order_id, by=by, to=to), f"REJECTED {code}")
    assert [e["outcome"] for e in tools.reads.audit()["audit"]][2:] == ["refused"] * 6


@pytest.mark.parametrize(
    ("terms", "code"),
    [
        ({"count": "1_0"}, "NOT_A_NUMBER"),  # Python's Decimal reads it as 10
        ({"count": "\uff11"}, "NOT_A_NUMBER"),  # a full-width 1, which Decimal reads as 1
        ({"count": "1e3"}, "NOT_A_NUMBER"),
        ({"count": "-3"}, "COUNT_NOT_POSITIVE"),
        ({"count": "0"}, "COUNT_NOT_POSITIVE"),
        ({"count": "1.001"}, "COUNT_PRECISION"),
        ({"count": "99999999999999999999"}, "AMOUNT_TOO_LARGE"),
        ({"price": "0.1_5"}, "NOT_A_NUMBER"),
        ({"price": "0.105"}, "PRICE_OFF_GRID"),
        ({"price": "1"}, "PRICE_OUT_OF_RANGE"),
        ({"side": "buy_yes"}, "BAD_CHOICE"),
        ({"action": "purchase"}, "BAD_CHOICE"),
        ({"ticker": "KXMCP 26JAN01"}, "BAD_TICKER"),
    ],
)
def test_an_order_of_malformed_terms_is_refused_and_nothing_is_sent_or_written(
    tools: AgentTools, sim: SimHarness, terms: dict[str, str], code: str
) -> None:
    good: dict[str, Any] = {"ticker": T, "side": "yes", "action": "buy", "count": "2"}
    order = good | {"price": "0.10"} | terms
    refused(partial(tools.orders.preview_order, **order), f"REJECTED {code}")
    account = sim.stats()["accounts"].get(sim.account.key_id, {})
    assert account.get("order_create_requests", 0) == 0, account
    with open_store(tools.access._app) as store:  # type: ignore[attr-defined]
        assert store.orders.intents() == []
    assert [e["outcome"] for e in tools.reads.audit()["audit"]] == ["refused"]


def test_a_circuit_breaker_tripped_today_stops_the_assistants_orders_after_a_resume(
    tools: AgentTools,
) -> None:
    order_id = placed(tools, "4", "0.20")["order_id"]
    app = tools.access._app  # type: ignore[attr-defined]
    with open_store(app) as store:
        # the trade loop's breaker tripped today; a person resumed to trade by hand
        store.trading.record_risk_trip(
            rule="circuit_breaker",
            code="CIRCUIT_BREAKER",
            detail="realized P&L -$100.00 reached the daily loss limit",
            day=utc_day(tools.clock.wall()),
        )
        store.trading.set_trading_state("ACTIVE", reason="resumed", source="kalshi resume")
    new = partial(tools.orders.preview_order, T, side="yes", action="buy", count="1", price="0.10")
    refused(new, "REJECTED CIRCUIT_BREAKER")
    refused(partial(tools.orders.preview_amend, order_id, count="8"), "REJECTED CIRCUIT_BREAKER")
    refused(partial(tools.orders.preview_amend, order_id, price="0.25"), "REJECTED CIRCUIT_BREAKER")
    # what takes risk away still goes: fewer contracts at the same price (the rule a hand amend
    # meets, the pre-trade account's), and a cancel
    assert tools.orders.preview_amend(order_id, count="3")["token"]
    cancelled = tools.orders.execute(tools.orders.preview_cancel(order_id)["token"])
    assert cancelled["contracts_cancelled"] == "4.00"


def test_a_circuit_breaker_tripped_today_outlives_a_short_retention_of_risk_trips(
    tools: AgentTools,
) -> None:
    """Today's trip is what holds the breaker for the rest of the day once the day's P&L is
    back above the limit (here a trip with no loss left to read). Retention keeps today's trips
    whatever `risk_trips_s` says; pruned, the assistant's next order went out, and asking the
    breaker lifted its REDUCING as a previous day's."""
    state = tools.access.settings().state
    tripped_at = ManualClock(tools.clock.wall() - 120.0)  # two minutes ago, the same UTC day
    with Store.open(state, clock=tripped_at) as store:
        store.trading.record_risk_trip(
            rule="circuit_breaker",
            code="CIRCUIT_BREAKER",
            detail="realized P&L -$100.00 reached the daily loss limit",
        )
        store.trading.set_trading_state(
            "REDUCING", reason="the day's loss", source="circuit_breaker"
        )
    with Store.open(state, clock=ManualClock(tools.clock.wall())) as store:
        policy = RetentionPolicy(risk_trips_s=60.0, pause_s=0)
        store.retention.prune(policy, agent_strategy="agent")

    new = partial(tools.orders.preview_order, T, side="yes", action="buy", count="1", price="0.10")
    refused(new, "REJECTED CIRCUIT_BREAKER")
    assert tools.reads.loop_status()["state"] == "REDUCING"


def test_a_days_loss_at_the_limit_trips_the_breaker_for_the_assistant_as_for_the_loop(
    tools: AgentTools,
) -> None:
    app = tools.access._app  # type: ignore[attr-defined]
    config = app.settings().config_path
    config.write_text(CONFIG + "risk:\n  daily_loss_limit: 5\n")
    with open_store(app) as store:
        # a fill of today's that closed a position $5 down, booked while no loop ran
        store.fills.record_fill(
            FillRecord(
                "f-loss", "o-loss", None, T, BookSide.ASK, Decimal("0.10"), Decimal(1),
                Decimal(0), True, tools.clock.wall() - 60, "agent", Decimal(-5),
            )
        )  # fmt: skip
    new = partial(tools.orders.preview_order, T, side="yes", action="buy", count="1", price="0.10")
    refused(new, "REJECTED CIRCUIT_BREAKER")
    with open_store(app) as store:
        [trip] = store.trading.risk_trips(rule="circuit_breaker")
        assert trip.day == utc_day(tools.clock.wall())
        assert store.trading.trading_state().state == "REDUCING"


def test_a_state_file_rebuilt_from_the_exchange_still_knows_the_assistants_orders(
    tools: AgentTools, sim: SimHarness, tmp_path: Path
) -> None:
    order_id = placed(tools, "4", "0.20")["order_id"]
    # the state file is lost: a new one learns the account's orders from the exchange
    rebuilt = AppContext(
        environ=environ(sim, tmp_path) | {"KALSHI_STATE": str(tmp_path / "new.db")}
    )
    try:
        with open_store(rebuilt) as store:
            order_service(rebuilt, store).reconcile()
        again = AgentTools(CliAccess(rebuilt), tools.config, clock=tools.clock)
        assert [o["strategy"] for o in again.reads.orders()["orders"]] == ["agent"]
        cancelled = again.orders.execute(again.orders.preview_cancel(order_id)["token"])
    finally:
        rebuilt.close()
    assert cancelled["contracts_cancelled"] == "4.00"


def test_halt_goes_at_once_while_an_order_is_held_in_a_slow_network(
    tools: AgentTools, sim: SimHarness
) -> None:
    preview = tools.orders.preview_order(T, side="yes", action="buy", count="1", price="0.10")
    sim.set_faults(hold_request_s=600)  # until cleared below
    answers: list[object] = []

    def send() -> None:
        try:
            answers.append(tools.orders.execute(preview["token"]))
        except KalshiError as exc:
            answers.append(exc)

    sending = threading.Thread(target=send)
    sending.start()
    try:
        wait_until(lambda: sim.faults()["hold_request_s"] == 0, "the order request held")
        # halt needs nothing of the exchange: it must not wait for the order's answer
        assert tools.kill_switch.halt(reason="stop now")["state"] == "HALTED"
        assert sending.is_alive(), "halt waited for the held order"
    finally:
        sim.clear_faults()  # the held order lands
        sending.join()
    assert len(answers) == 1


def test_the_kill_switch_halts_at_once_while_an_order_is_held_in_a_slow_network(
    tools: AgentTools, sim: SimHarness
) -> None:
    # the kill switch's proof reads the state file's times: on the clock the state file keeps
    tools = AgentTools(tools.access, tools.config, clock=SystemClock())
    preview = tools.orders.preview_order(T, side="yes", action="buy", count="1", price="0.10")
    sim.set_faults(hold_request_s=600)  # until cleared below
    answers: dict[str, object] = {}

    def call(name: str, tool: Callable[[], object]) -> threading.Thread:
        def run() -> None:
            try:
                answers[name] = tool()
            except KalshiError as exc:
                answers[name] = exc

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    sending = call("execute", partial(tools.orders.execute, preview["token"]))
    wait_until(lambda: sim.faults()["hold_request_s"] == 0, "the order request held")
    killing = call("cancel_all", tools.kill_switch.cancel_all)
    try:
        # a running trade loop must stop placing now, not once the held order is answered
        wait_until(
            lambda: tools.reads.loop_status()["state"] == "HALTED" or not sending.is_alive(),
            "HALTED or the held order answered",
        )
        assert sending.is_alive(), "the kill switch waited for the held order to halt"
    finally:
        sim.clear_faults()  # the held order lands, and the kill switch cancels it
        sending.join()
        killing.join()
    report = answers["cancel_all"]
    assert isinstance(report, dict), report
    assert report["proven"] is True
    assert tools.reads.orders()["orders"] == []


def test_an_order_previewed_to_expire_in_a_while_expires_when_its_preview_said(
    tools: AgentTools, sim: SimHarness
) -> None:
    """`expires: "1m"` is a minute from the preview, the order the assistant saw: `execute`
    sends that moment, and refuses (nothing sent) once it has passed. Read again at `execute`,
    the order was sent to rest a minute from then, past the moment the preview showed, and one
    previewed to be gone by then was placed all the same."""
    from kalshi_cli.client.orders import OrdersApi
    from kalshi_cli.vocabulary.clock import parse_iso

    # the simulator holds an order's expiry to its own clock: the tools' on the same time
    clock = ManualClock(float(int(SystemClock().wall())))
    tools = AgentTools(tools.access, tools.config, clock=clock)
    previewed_at = clock.wall()
    preview = tools.orders.preview_order(
        T, side="yes", action="buy", count="1", price="0.10", expires="1m"
    )
    assert preview["would_send"]["expiration_time"] == int(previewed_at) + 60
    clock.advance(30)
    order_id = tools.orders.execute(preview["token"])["order_id"]
    with connect_as(OrdersApi, sim.account) as client:
        expiry = client.orders.get_order(order_id).expiration_time
    assert expiry is not None
    assert parse_iso(expiry).timestamp() == previewed_at + 60

    late = tools.orders.preview_order(
        T, side="yes", action="buy", count="1", price="0.11", expires="1m"
    )
    clock.advance(90)  # inside the token's 120 s, past the order's minute
    refused(partial(tools.orders.execute, late["token"]), "REJECTED EXPIRY_IN_THE_PAST")
    account = sim.stats()["accounts"][sim.account.key_id]
    assert account["order_create_requests"] == 1


def test_the_kill_switch_aimed_at_an_unknown_market_is_refused_before_anything_is_halted(
    tools: AgentTools, sim: SimHarness, tmp_path: Path
) -> None:
    """As `kalshi cancel-all --ticker` refuses a typo one digit short (exit 6), so does the
    assistant's `cancel_all`: the account is not halted, and the market meant is untouched."""
    said = refused(
        partial(tools.kill_switch.cancel_all, ticker=T[:-1]), "NOT_FOUND UNKNOWN_TICKER:"
    )
    assert said == (
        f"NOT_FOUND UNKNOWN_TICKER: unknown ticker {T[:-1]}: nothing was halted or cancelled "
        "(`kalshi markets` lists them)"
    )
    shown = kalshi(["status", "--json"], tmp_path, environ(sim, tmp_path))
    assert json.loads(shown.stdout)["state"] == "ACTIVE"


def test_the_kill_switch_aimed_at_a_market_and_an_event_together_is_refused_before_anything(
    tools: AgentTools, sim: SimHarness, tmp_path: Path
) -> None:
    """As `kalshi cancel-all --ticker T --event E` is refused (exit 2), so is the assistant's
    `cancel_all(ticker, event)`: the exchange lists the orders of both filters at once, so a
    market outside the event read empty and was "proven" clear while its orders rested."""
    placed = kalshi(
        ["order", "place", T, "--side", "yes", "--action", "buy", "--count", "1",
         "--price", "0.10"],
        tmp_path, environ(sim, tmp_path),
    )  # fmt: skip
    assert placed.exit_code == 0, placed.output
    with pytest.raises(KalshiError) as refused:
        tools.kill_switch.cancel_all(ticker=T, event="KXOTHER-EVENT")
    assert refused.value.exit_code == 2, refused.value.message
    assert refused.value.message == (
        "give at most one of a ticker and an event: nothing was halted or cancelled"
    )
    assert refused.value.hint == (
        "a market's orders: the ticker; every market of an event: the event"
    )
    shown = kalshi(["status", "--json"], tmp_path, environ(sim, tmp_path))
    assert json.loads(shown.stdout)["state"] == "ACTIVE"
    resting = kalshi(["order", "list", "--json"], tmp_path, environ(sim, tmp_path))
    assert [o["status"] for o in json.loads(resting.stdout)["orders"]] == ["resting"]
