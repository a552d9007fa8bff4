"""The session's order group at a start (runner/execution/order_group.py `open_session_group`):
a loop restarted again and again (cron, a service manager) must keep starting. Kalshi holds at
most 100,000 groups per user, and every start makes one; the start deletes the loop's own
earlier groups that hold no resting order, and nothing else. Against the simulator over
loopback."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.runner.books.eventlog import EventLog
from kalshi_cli.runner.config import TradeConfig
from kalshi_cli.runner.execution.order_group import open_session_group
from kalshi_cli.services.killswitch import session_order_groups
from kalshi_cli.sim.core import order_groups as sim_order_groups
from kalshi_cli.store import Store
from kalshi_cli.store.records import IntentRecord
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.models import Action, BookSide, Side
from tests.conftest import SimHarness, tier_simulator
from tests.runner.simproc import Book, client_for, log_events, market_maker_session

TICKER = "KXOGSTART-SIM-A"
# the user's cap, made small so that a few starts reach it (the simulator's is Kalshi's 100,000)
CAP = 4


def _groups(client: KalshiClient) -> set[str]:
    return {g.order_group_id for g in client.order_groups.list_order_groups()}


def _holding_resting_orders(client: KalshiClient) -> dict[str, set[str]]:
    """Each group's resting orders, from the exchange's listing."""
    held: dict[str, set[str]] = {}
    for order in client.orders.iter_orders(ticker=TICKER, status="resting"):
        group = order.raw.get("order_group_id")
        if group is not None:
            held.setdefault(group, set()).add(order.order_id)
    return held


def test_a_loop_started_again_and_again_keeps_starting_and_deletes_only_its_idle_groups(
    sim: SimHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: every start made a group and none deleted an earlier one (a `--once` pass, a
    crash, a kill leave it), so the groups piled up until the exchange refused the next
    (`too_many_order_groups`) and the loop could not start at all. Now each start deletes the
    groups its earlier sessions left that hold no resting order: the first pass's group, which
    holds an order placed by hand, is kept on every start, and so is a group another program
    made."""
    monkeypatch.setattr(sim_order_groups, "MAX_GROUPS_PER_USER", CAP)
    sim.create_market(TICKER)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    Book(other, TICKER).quote("0.40", "0.60")
    account = sim.new_account(balance_cents=10_000_000)
    config = TradeConfig(strategies={"market-maker": {}})
    with client_for(account) as client:
        foreign = client.order_groups.create_order_group(Decimal(5))  # another program's
        made: list[str] = []
        for run in range(CAP + 2):
            before = _groups(client)
            resting_before = _holding_resting_orders(client)
            market_maker_session(
                account, client, TICKER, tmp_path, config, duration_s=None, once=True
            )
            made = [
                str(e["order_group_id"])
                for e in log_events(tmp_path / "trade.log")
                if e["event"] == "order_group_created"
            ]
            assert len(made) == run + 1, "the pass started"
            if run == 0:  # the loop never touches an order placed by hand
                by_hand = CreateOrder(
                    ticker=TICKER,
                    book_side=BookSide.BID,
                    price=Decimal("0.10"),
                    count=Decimal(1),
                    order_group_id=made[0],
                )
                client.orders.create_order(by_hand)
            now = _groups(client)
            assert {foreign, made[-1]} <= now
            # a group holding a resting order at the start is kept, one of the loop's holding
            # none is deleted
            assert set(resting_before) <= now
            idle = (before & set(made)) - set(resting_before)
            assert not idle & now, f"idle earlier groups left: {idle & now}"
            with Store.open(tmp_path / "state.db") as store:
                assert set(session_order_groups(store)) == now - {foreign}
        assert made[0] in now
    other.close()


class GroupDeletesRefused(httpx.BaseTransport):
    """The real simulator over loopback, except that every delete of an order group is
    refused (400, as for a group the exchange will not let go)."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.refused = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE" and "/portfolio/order_groups/" in request.url.path:
            self.refused += 1
            body = {"error": {"code": "bad_request", "message": "refused", "details": ""}}
            return httpx.Response(400, json=body)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def _start(client: KalshiClient, store: Store, log_path: Path) -> str:
    log = EventLog(SystemClock(), path=log_path, stderr=None)
    try:
        return open_session_group(client, store, TradeConfig(), log)
    finally:
        log.close()


def test_a_refused_delete_of_an_earlier_group_does_not_hold_the_start_back(
    sim: SimHarness, tmp_path: Path
) -> None:
    account = sim.new_account(balance_cents=10_000_000)
    key, _ = load_private_key(path=Path(account.private_key_path))
    refusing = GroupDeletesRefused()
    log_path = tmp_path / "trade.log"
    with (
        client_for(account) as client,
        KalshiClient(
            api_base=account.api_base, key_id=account.key_id, private_key=key, transport=refusing
        ) as refused,
        Store.open(tmp_path / "state.db") as store,
    ):
        earlier = _start(client, store, log_path)
        group = _start(refused, store, log_path)  # the next start: the delete is refused
        assert refusing.refused >= 1, "the idle earlier group's delete was asked"
        assert _groups(client) == {earlier, group}
        assert session_order_groups(store) == [earlier, group], "kept listed for the kill switch"
        # the start after, its delete answered, deletes both
        third = _start(client, store, log_path)
        assert _groups(client) == {third}
        assert session_order_groups(store) == [third]
    kept = [e for e in log_events(log_path) if e["event"] == "order_group_kept"]
    assert [e["order_group_id"] for e in kept] == [earlier]


def test_an_order_the_listing_does_not_show_yet_keeps_every_earlier_group(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A listing may lag the write that placed an order: one the state file holds as resting
    that the listing does not show may be in any group, whose delete would cancel it."""
    account = sim.new_account(balance_cents=10_000_000)
    log_path = tmp_path / "trade.log"
    with client_for(account) as client, Store.open(tmp_path / "state.db") as store:
        earlier = _start(client, store, log_path)
        intent = store.orders.record_intent(
            IntentRecord(
                client_order_id="market-maker:placed-just-before-the-kill",
                ticker=TICKER,
                book_side=BookSide.BID,
                price=Decimal("0.40"),
                count=Decimal(1),
                side=Side.YES,
                action=Action.BUY,
            )
        )
        store.orders.mark_sent(
            intent.client_order_id,
            order_id="not-listed-yet",
            status="resting",
            fill_count=Decimal(0),
            remaining_count=Decimal(1),
        )
        group = _start(client, store, log_path)
        assert _groups(client) == {earlier, group}
        assert session_order_groups(store) == [earlier, group]
    (kept,) = [e for e in log_events(log_path) if e["event"] == "order_groups_kept"]
    assert kept["unlisted_orders"] == ["not-listed-yet"]


@pytest.fixture
def advanced(tmp_path: Path) -> Iterator[SimHarness]:
    """The simulator on the Advanced tier: subaccounts need it (REFERENCE.md)."""
    yield from tier_simulator(tmp_path, "advanced")


def test_a_key_restricted_to_a_subaccount_starts_beside_a_group_on_the_primary(
    advanced: SimHarness, tmp_path: Path
) -> None:
    """An earlier session on subaccount 0 left its group (a `--once` pass); the loop now runs on
    a key restricted to subaccount 1, which may read nothing of 0's. Before, the start asked
    for 0's groups, the exchange refused the key (403), and the loop could not start at all,
    however many times it was started again. Now the groups it cannot see stay listed, for a
    kill switch run with a key that reaches them, and the start goes on."""
    account = advanced.new_account(balance_cents=10_000_000)
    log_path = tmp_path / "trade.log"
    with client_for(account) as client, Store.open(tmp_path / "state.db") as store:
        assert client.subaccounts.create_subaccount() == 1
        generated = client.api_keys.generate_api_key("loop on 1", subaccount=1)
        on_primary = _start(client, store, log_path)  # the earlier session's, on 0
        key, _ = load_private_key(pem=generated.private_key_pem)
        with KalshiClient(
            api_base=account.api_base, key_id=generated.api_key_id, private_key=key
        ) as restricted:
            restricted.subaccount = 1  # as the start sets it for a key restricted to 1
            group = _start(restricted, store, log_path)
        assert session_order_groups(store) == [on_primary, group]
        assert _groups(client) == {on_primary, group}
        assert [g.order_group_id for g in client.order_groups.list_order_groups(subaccount=1)] == [
            group
        ]
    (kept,) = [e for e in log_events(log_path) if e["event"] == "order_groups_kept"]
    assert kept["subaccount"] == 0
