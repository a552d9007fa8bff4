"""The assistant trades only the contracts it owns. Kalshi nets YES and NO of one market, so an
order that takes from the side the account holds (a YES sale, or a NO buy, while the account
holds YES) first closes what the account holds: beyond the assistant's own part, a running
strategy's contracts or a person's. Such an order, or an amend growing one, is refused at its
preview and again at `execute` with what it may take, and nothing is sent; an order that adds
to the side, or one in a market where the account holds only the assistant's, goes as before."""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from kalshi_cli.agent.settings import load_agent_config
from kalshi_cli.agent.tools import AgentTools
from kalshi_cli.agent.tools.common import one_line
from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli._services import open_store, order_service
from kalshi_cli.cli.mcp_cmd import CliAccess
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import KalshiError, OrderOutcomeUnknown
from kalshi_cli.vocabulary.order_terms import OrderRequest, owned_client_order_id
from kalshi_cli.vocabulary.units import Action, Side
from tests.agent.test_agent_tools import environ, refused
from tests.wire import order_body

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.conftest import SimHarness

T = "KXOWN-26JAN01-T3"
NOT_ITS_OWN = "REJECTED NOT_THE_AGENTS_CONTRACTS"
CONFIG = """\
agent:
  writes:
    sim: true
risk:
  max_position_per_market: 100
  max_order_count: 100
"""


@pytest.fixture
def tools(sim: SimHarness, tmp_path: Path) -> Iterator[AgentTools]:
    sim.create_market(T)
    (tmp_path / "config.yaml").write_text(CONFIG)
    app = AppContext(environ=environ(sim, tmp_path))
    clock = ManualClock(1_700_000_000.0)
    yield AgentTools(CliAccess(app), load_agent_config(app.settings().config_path), clock=clock)
    app.close()


def offer(sim: SimHarness, count: int, price: str = "0.60") -> None:
    """Another account's YES ask resting in the market, for the buys below to take."""
    other = sim.new_account()
    ask = order_body(T, side="ask", price=price, count=str(count))
    assert sim.place_order(other, ask).is_success


def bought_by(tools: AgentTools, owner: str, count: int) -> None:
    """`owner` (a strategy, or `manual`: a person) buys `count` YES at the offer's price through
    the order service, as `kalshi trade` or `kalshi order place` does."""
    app = tools.access._app  # type: ignore[attr-defined]
    with open_store(app) as store:
        service = order_service(app, store)
        request = OrderRequest(
            T,
            Side.YES,
            Action.BUY,
            Decimal(count),
            Decimal("0.60"),
            strategy=owner,
            client_order_id=owned_client_order_id(owner) if owner != "manual" else None,
        )
        placed = service.place(service.prepare(request))
    assert placed.status == "executed", placed


def sold_by(tools: AgentTools, owner: str, count: int) -> None:
    """`owner` (a strategy) rests an ask of `count` YES at 0.95 through the order service."""
    app = tools.access._app  # type: ignore[attr-defined]
    with open_store(app) as store:
        service = order_service(app, store)
        request = OrderRequest(
            T,
            Side.YES,
            Action.SELL,
            Decimal(count),
            Decimal("0.95"),
            strategy=owner,
            client_order_id=owned_client_order_id(owner),
        )
        service.place(service.prepare(request))


def agent_buys(tools: AgentTools, count: str) -> None:
    preview = tools.orders.preview_order(T, side="yes", action="buy", count=count, price="0.60")
    assert tools.orders.execute(preview["token"])["status"] == "executed"


def preview(tools: AgentTools, side: str, action: str, count: str) -> Any:
    price = "0.95" if action == "sell" and side == "yes" else "0.05"  # rests: crosses nothing
    return tools.orders.preview_order(T, side=side, action=action, count=count, price=price)  # type: ignore[arg-type]


@pytest.mark.parametrize("owner", ["market-maker", "manual"])
def test_the_assistant_cannot_close_contracts_it_does_not_own(
    tools: AgentTools, sim: SimHarness, owner: str
) -> None:
    offer(sim, 10)
    bought_by(tools, owner, 10)
    before = sim.stats()
    for side, action in (("no", "buy"), ("yes", "sell")):
        line = refused(partial(preview, tools, side, action, "4"), NOT_ITS_OWN)
        assert "at most 0" in line, line
    # adding to the side held takes nothing from it
    assert preview(tools, "yes", "buy", "4")["would_send"]["count"] == "4.00"
    assert sim.stats()["order_create_requests"] == before["order_create_requests"]
    assert [o["strategy"] for o in tools.reads.orders()["orders"]] == []


def test_the_assistant_sells_its_own_part_and_no_more(tools: AgentTools, sim: SimHarness) -> None:
    offer(sim, 14)
    bought_by(tools, "market-maker", 10)
    agent_buys(tools, "4")
    line = refused(lambda: preview(tools, "yes", "sell", "5"), NOT_ITS_OWN)
    assert "at most 4" in line, line
    refused(lambda: preview(tools, "no", "buy", "5"), NOT_ITS_OWN)
    assert preview(tools, "no", "buy", "4")["would_send"]["count"] == "4.00"
    # its ask of 3 rests: what it takes comes off the part first
    rest = preview(tools, "yes", "sell", "3")
    order_id = tools.orders.execute(rest["token"])["order_id"]
    line = refused(lambda: preview(tools, "yes", "sell", "2"), NOT_ITS_OWN)
    assert "at most 1" in line, line
    # an amend growing the resting ask is held to the part, the ask itself not counted twice
    refused(lambda: tools.orders.preview_amend(order_id, count="5"), NOT_ITS_OWN)
    assert tools.orders.preview_amend(order_id, count="4")["would_send"]["count"] == "4.00"


def test_a_check_passed_at_the_preview_is_asked_again_at_execute(
    tools: AgentTools, sim: SimHarness
) -> None:
    offer(sim, 14)
    agent_buys(tools, "4")
    # all the account holds is the assistant's: it may turn the position
    sale = preview(tools, "yes", "sell", "10")
    bought_by(tools, "market-maker", 10)  # then a strategy buys beside it
    line = refused(lambda: tools.orders.execute(sale["token"]), NOT_ITS_OWN)
    assert "at most 4" in line, line
    assert [o["strategy"] for o in tools.reads.orders()["orders"]] == []


def test_where_the_account_holds_only_its_own_the_assistant_may_turn_the_position(
    tools: AgentTools, sim: SimHarness
) -> None:
    offer(sim, 4)
    agent_buys(tools, "4")
    assert preview(tools, "yes", "sell", "10")["would_send"]["count"] == "10.00"
    assert preview(tools, "no", "buy", "10")["would_send"]["count"] == "10.00"


def lost(sim: SimHarness, write: Callable[[], Any]) -> None:
    """`write` answered 503: the state file holds its order as of unknown outcome (it may
    still land), and the exchange never made it."""
    sim.set_faults(write_503_rate=1.0)
    try:
        with pytest.raises(KalshiError) as caught:
            write()
    finally:
        sim.clear_faults()
    assert "OUTCOME_UNKNOWN" in one_line(caught.value) or isinstance(
        caught.value, OrderOutcomeUnknown
    ), caught.value


def test_a_sale_of_the_assistants_whose_answer_was_lost_comes_off_its_part(
    tools: AgentTools, sim: SimHarness
) -> None:
    """Its sale of 3 may still land: a second sale may take only the 1 left of its 4."""
    offer(sim, 14)
    bought_by(tools, "market-maker", 10)
    agent_buys(tools, "4")
    sale = preview(tools, "yes", "sell", "3")
    lost(sim, lambda: tools.orders.execute(sale["token"]))
    line = refused(lambda: preview(tools, "yes", "sell", "2"), NOT_ITS_OWN)
    assert "at most 1" in line, line


def test_what_others_or_the_assistants_own_bids_may_land_takes_nothing_of_its_part(
    tools: AgentTools, sim: SimHarness
) -> None:
    """A strategy's ask whose answer was lost is that strategy's to take from its own part,
    and the assistant's bid whose answer was lost adds to the side held: neither comes off
    the assistant's 4, which it may still sell whole."""
    offer(sim, 14)
    bought_by(tools, "market-maker", 10)
    agent_buys(tools, "4")
    lost(sim, partial(sold_by, tools, "market-maker", 3))
    bid = preview(tools, "yes", "buy", "3")
    lost(sim, lambda: tools.orders.execute(bid["token"]))
    assert preview(tools, "yes", "sell", "4")["would_send"]["count"] == "4.00"
    assert preview(tools, "no", "buy", "4")["would_send"]["count"] == "4.00"


T2 = "KXOWN-26JAN01-T4"


def with_budget(tmp_path: Path, budget: str) -> None:
    """A budget of the assistant's in `trade.budgets`: its books then count every market."""
    (tmp_path / "config.yaml").write_text(CONFIG + f"trade:\n  budgets:\n    agent: {budget}\n")


def test_with_a_budget_a_sale_that_may_land_in_another_market_takes_nothing_here(
    tools: AgentTools, sim: SimHarness, tmp_path: Path
) -> None:
    """The budget reads the assistant's orders of every market; what may take from this
    market's YES is still only what rests or may land in this market."""
    with_budget(tmp_path, "{max_exposure: 1000}")
    sim.create_market(T2)
    offer(sim, 14)
    bought_by(tools, "market-maker", 10)
    agent_buys(tools, "4")
    elsewhere = tools.orders.preview_order(T2, side="yes", action="sell", count="3", price="0.95")
    lost(sim, lambda: tools.orders.execute(elsewhere["token"]))
    assert preview(tools, "yes", "sell", "4")["would_send"]["count"] == "4.00"


def test_the_budget_counts_the_assistants_dollars_in_every_market(
    tools: AgentTools, sim: SimHarness, tmp_path: Path
) -> None:
    """$2.00 of its bid rests in another market: a bid of $1.60 here goes past $3 at risk."""
    with_budget(tmp_path, "{max_exposure: 3}")
    sim.create_market(T2)
    elsewhere = tools.orders.preview_order(T2, side="yes", action="buy", count="5", price="0.40")
    assert tools.orders.execute(elsewhere["token"])["status"] == "resting"
    bid = partial(tools.orders.preview_order, T, side="yes", action="buy", count="4", price="0.40")
    line = refused(bid, "REJECTED STRATEGY_BUDGET: ")
    assert "$3.60" in line, line
    assert tools.orders.preview_order(T, side="yes", action="buy", count="2", price="0.40")


def test_contracts_a_person_sold_come_off_the_newest_part_the_assistants(
    tools: AgentTools, sim: SimHarness
) -> None:
    """Market-maker bought 10 YES, the assistant 4 after it, then a person sold 4 by hand: the
    newest part gave them up, as a trade loop reading the same state file splits it, so the 10
    held are all market-maker's and the assistant may sell none. On the old code the assistant
    built no part for market-maker, took the person's sale from its contracts, and could sell
    4 of them: the loop's and the assistant's parts together were 14 of the 10 held."""
    offer(sim, 14)
    bought_by(tools, "market-maker", 10)
    agent_buys(tools, "4")
    other = sim.new_account()
    bid = order_body(T, price="0.55", count="4")
    assert sim.place_order(other, bid).is_success
    app = tools.access._app  # type: ignore[attr-defined]
    with open_store(app) as store:
        service = order_service(app, store)
        sale = OrderRequest(
            T, Side.YES, Action.SELL, Decimal(4), Decimal("0.55"), strategy="manual"
        )
        assert service.place(service.prepare(sale)).status == "executed"
    for side, action in (("yes", "sell"), ("no", "buy")):
        line = refused(partial(preview, tools, side, action, "1"), NOT_ITS_OWN)
        assert "at most 0" in line, line
