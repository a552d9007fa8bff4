"""`kalshi state prune` on a state file of real orders against the simulator, with a policy whose
ages have all passed: the finished orders go, the resting one stays, `pnl` and `positions` say
the same to the cent before and after, and `reconcile` afterwards copies no fill twice; the
assistant's orders of the day stay."""

from __future__ import annotations

import json
import time
from decimal import Decimal as D
from pathlib import Path

import pytest
from typer.testing import Result

from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.store import IntentRecord, Store
from kalshi_cli.vocabulary.clock import utc_day
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness
from tests.prime_tier import kalshi_as
from tests.wire import order_body

TICKER = "KXPRUNE-26JAN01-T1"
# every age passed a moment after the orders were written
AGED = """\
retention:
  unfilled_orders_s: 0.001
  filled_orders_s: 0.001
  order_history_s: 0.001
"""


def kalshi(home: Path, account: AccountInfo, *args: str) -> Result:
    return kalshi_as(account, home, tier=None, columns=160)(*args)


def place(home: Path, account: AccountInfo, action: str, price: str, count: str) -> str:
    result = kalshi(
        home, account, "order", "place", TICKER, "--side", "yes", "--action", action,
        "--count", count, "--price", price, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["order"]["order_id"])


def offer(sim: SimHarness, account: AccountInfo, book_side: str, price: str, count: str) -> None:
    body = order_body(
        TICKER,
        side=book_side,
        price=price,
        count=count,
        client_order_id=f"maker-{book_side}-{price}",
    )
    sim.placed(account, body)


def figures(home: Path, account: AccountInfo) -> tuple[object, object]:
    pnl = kalshi(home, account, "pnl", "--json")
    positions = kalshi(home, account, "positions", "--json")
    assert pnl.exit_code == 0 and positions.exit_code == 0, pnl.output + positions.output
    return json.loads(pnl.stdout), json.loads(positions.stdout)["positions"]


def test_state_prune_keeps_pnl_and_the_resting_order_and_reconcile_after(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(TICKER)
    seller = sim.new_account(balance_cents=1_000_000)
    offer(sim, seller, "ask", "0.4100", "10.00")
    offer(sim, seller, "bid", "0.3000", "10.00")
    bought = place(tmp_path, sim.account, "buy", "0.41", "7")  # fills at once
    sold = place(tmp_path, sim.account, "sell", "0.30", "3")  # closes 3 at a loss
    resting = place(tmp_path, sim.account, "buy", "0.05", "2")
    canceled = place(tmp_path, sim.account, "buy", "0.06", "2")
    assert kalshi(tmp_path, sim.account, "order", "cancel", canceled).exit_code == 0
    before = figures(tmp_path, sim.account)  # also brings the fills into the state file
    (tmp_path / "config.yaml").write_text(AGED, encoding="utf-8")
    path = Path(kalshi(tmp_path, sim.account, "state", "path").stdout.strip())

    dry = kalshi(tmp_path, sim.account, "state", "prune", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    would = json.loads(dry.stdout)
    assert would["dry_run"] is True and would["removed"]["orders"] == 3
    with Store.open(path, create=False) as store:
        assert len(store.orders.intents()) == 4  # nothing removed yet

    done = kalshi(tmp_path, sim.account, "state", "prune", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["removed"] == would["removed"]
    with Store.open(path, create=False) as store:
        left = {i.order_id for i in store.orders.intents()}
        fills = len(list(store.fills.iter_fills()))
    assert left == {resting}, (bought, sold, canceled)

    assert figures(tmp_path, sim.account) == before
    reconciled = kalshi(tmp_path, sim.account, "reconcile")
    assert reconciled.exit_code == 0, reconciled.output
    assert figures(tmp_path, sim.account) == before
    with Store.open(path, create=False) as store:
        assert len(list(store.fills.iter_fills())) == fills  # no fill copied twice


def test_state_prune_without_a_state_file_creates_none(sim: SimHarness, tmp_path: Path) -> None:
    result = kalshi(tmp_path, sim.account, "state", "prune", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total"] == 0
    path = Path(kalshi(tmp_path, sim.account, "state", "path").stdout.strip())
    assert not path.exists()


def test_state_prune_refuses_a_bad_retention_section(sim: SimHarness, tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("retention:\n  events_days: 3\n", encoding="utf-8")
    result = kalshi(tmp_path, sim.account, "state", "prune")
    assert result.exit_code == 3, result.output
    assert "retention.events_days" in result.output


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("manual", "another owner's name"),
        ("market-maker", "another owner's name"),
        ("desk assistant", "at most 31 ASCII"),
        ("7", "expected text, not 7"),
    ],
)
def test_state_prune_refuses_an_assistant_name_kalshi_mcp_refuses(
    sim: SimHarness, tmp_path: Path, name: str, why: str
) -> None:
    """Retention keeps the day's orders of `agent.strategy` by the name `kalshi mcp` places
    them under, read by the one rule `kalshi mcp` reads it by: a name it refuses is refused
    here too, at its line, and nothing is pruned (`manual` kept a person's cancelled orders
    of the day past their age, as if they were the assistant's)."""
    (tmp_path / "config.yaml").write_text(AGED + f"agent:\n  strategy: {name}\n")
    result = kalshi(tmp_path, sim.account, "state", "prune")
    assert result.exit_code == 3, result.output
    assert "config.yaml:6" in result.output and "agent.strategy" in result.output, result.output
    assert why in result.output, result.output


def test_state_prune_keeps_the_assistants_orders_of_today(sim: SimHarness, tmp_path: Path) -> None:
    """The config's `agent.strategy` names the orders whose day `kalshi mcp`'s budget counts."""
    for attempt in range(2):  # a prune run across UTC midnight reads another day: once more
        home = tmp_path / str(attempt)
        home.mkdir()
        (home / "config.yaml").write_text(AGED + "agent:\n  strategy: desk-assistant\n")
        path = Path(kalshi(home, sim.account, "state", "path").stdout.strip())
        day = utc_day(time.time())
        with Store.open(path) as store:
            for coid, strategy in (("assistant", "desk-assistant"), ("quote", "market-maker")):
                store.orders.record_intent(
                    IntentRecord(
                        coid, TICKER, BookSide.BID, D("0.40"), D(1), Side.YES, Action.BUY,
                        strategy=strategy,
                    )
                )  # fmt: skip
                store.orders.mark_sent(
                    coid, order_id=f"o-{coid}", status="canceled", fill_count=D(0),
                    remaining_count=D(0),
                )  # fmt: skip
        done = kalshi(home, sim.account, "state", "prune", "--json")
        if utc_day(time.time()) == day:
            break
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["removed"]["orders"] == 1
    with Store.open(path, create=False) as store:
        assert [i.client_order_id for i in store.orders.intents()] == ["assistant"]
