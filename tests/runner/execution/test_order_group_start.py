"""The session's order group at a start (runner/execution/order_group.py `open_session_group`):
a loop restarted again and again (cron, a service manager) must keep starting. Kalshi holds at
most 100,000 groups per user, and every start makes one; the start deletes the loop's own
earlier groups that hold no resting order, and nothing else. Against the simulator over
loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.config import TradeConfig
from kalshi_cli.runner.execution.order_group import open_session_group
from kalshi_cli.runner.preflight import StartupRefused
from kalshi_cli.services.killswitch.order_groups import session_order_groups
from kalshi_cli.sim.core import order_groups as sim_order_groups
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.store import Store
from kalshi_cli.store.records import IntentRecord
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.units import Action, BookSide, Side
from tests.conftest import SimHarness, tier_simulator
from tests.prime_tier import funded_subaccount
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
    log = EntryLog(SystemClock(), path=log_path, stderr=None)
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


def _resting_row(store: Store, order_id: str, subaccount: int) -> None:
    """A bid the state file holds as resting on `subaccount` under `order_id`."""
    intent = store.orders.record_intent(
        IntentRecord(
            client_order_id=f"market-maker:{order_id}",
            ticker=TICKER,
            book_side=BookSide.BID,
            price=Decimal("0.40"),
            count=Decimal(1),
            side=Side.YES,
            action=Action.BUY,
            subaccount=subaccount,
        )
    )
    store.orders.mark_sent(
        intent.client_order_id,
        order_id=order_id,
        status="resting",
        fill_count=Decimal(0),
        remaining_count=Decimal(1),
    )


def test_a_start_on_the_primary_deletes_an_idle_group_on_a_subaccount_there_and_keeps_a_busy_one(
    advanced: SimHarness, tmp_path: Path
) -> None:
    """Two earlier sessions of this state file ran on subaccount 1 (`--subaccount 1`): the
    first's group holds a resting order there, the second's holds none. A start on the
    primary judges each group by subaccount 1's own resting orders and deletes the idle one on
    1: judged by the primary's orders, the busy group's delete cancelled the order in it;
    deleted on the primary, the exchange answered not found and the group was forgotten while
    it stayed on 1. An order the state file holds resting on the primary, which subaccount 1's
    listing never shows, keeps no group of 1."""
    advanced.create_market(TICKER)
    account = advanced.new_account(balance_cents=10_000_000)
    log_path = tmp_path / "trade.log"
    with client_for(account) as client, Store.open(tmp_path / "state.db") as store:
        on_1 = client.on_subaccount(funded_subaccount(client))
        busy = _start(on_1, store, log_path)
        in_it = on_1.orders.create_order(
            CreateOrder(TICKER, BookSide.BID, Decimal("0.10"), Decimal(1), order_group_id=busy)
        )
        idle = _start(on_1, store, log_path)
        _resting_row(store, in_it.order_id, 1)  # what the first session's loop booked
        _resting_row(store, "resting-on-the-primary", 0)

        group = _start(client, store, log_path)

        on_1_now = {g.order_group_id for g in on_1.order_groups.list_order_groups()}
        assert on_1_now == {busy}, "the idle group on 1 deleted there, the busy one kept"
        assert session_order_groups(store) == [busy, group]
        assert client.orders.get_order(in_it.order_id).status == "resting"
    deleted = [
        e["order_group_id"] for e in log_events(log_path) if e["event"] == "order_group_deleted"
    ]
    assert deleted == [idle]


def test_an_earlier_group_deleted_by_hand_is_forgotten_at_the_next_start(
    sim: SimHarness, tmp_path: Path
) -> None:
    """`kalshi order-group delete` took the earlier session's group away: the next start,
    whose listing no longer shows it, stops listing it for the kill switch."""
    account = sim.new_account(balance_cents=10_000_000)
    log_path = tmp_path / "trade.log"
    with client_for(account) as client, Store.open(tmp_path / "state.db") as store:
        earlier = _start(client, store, log_path)
        client.order_groups.delete_order_group(earlier)
        group = _start(client, store, log_path)
        assert session_order_groups(store) == [group]


class Answering(httpx.BaseTransport):
    """The real simulator over loopback, except that requests of `method` whose path matches
    `path` (a regular expression) are answered `status`, with the exchange's error body."""

    def __init__(self, method: str, path: str, status: int, code: str) -> None:
        self._inner = httpx.HTTPTransport()
        self._method, self._path, self._status, self._code = method, path, status, code
        self.answered = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == self._method and re.search(self._path, request.url.path):
            self.answered += 1
            body = {"error": {"code": self._code, "message": self._code, "details": ""}}
            return httpx.Response(self._status, json=body)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def _through(account: AccountInfo, transport: httpx.BaseTransport) -> KalshiClient:
    key, _ = load_private_key(path=Path(account.private_key_path))
    return KalshiClient(
        api_base=account.api_base, key_id=account.key_id, private_key=key, transport=transport
    )


def test_an_earlier_group_gone_when_its_delete_goes_is_forgotten(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The listing showed the earlier group, and its delete was answered not found (deleted by
    hand in between): nothing is left to list, so it is forgotten, not kept as refused."""
    account = sim.new_account(balance_cents=10_000_000)
    gone = Answering("DELETE", r"/portfolio/order_groups/[^/]+$", 404, "not_found")
    log_path = tmp_path / "trade.log"
    with (
        client_for(account) as client,
        _through(account, gone) as deletes_gone,
        Store.open(tmp_path / "state.db") as store,
    ):
        earlier = _start(client, store, log_path)
        group = _start(deletes_gone, store, log_path)
        assert gone.answered == 1, "the earlier group's delete was asked"
        assert session_order_groups(store) == [group]
    events = log_events(log_path)
    assert not [e for e in events if e["event"] == "order_group_kept"]
    assert [e["order_group_id"] for e in events if e["event"] == "order_group_deleted"] == [earlier]


def test_a_listing_of_resting_orders_that_fails_keeps_every_earlier_group(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Which groups hold a resting order cannot be told when the listing is refused: a delete
    cancels the orders of its group, so none is deleted, the start goes on, and the log says
    why they stay."""
    sim.create_market(TICKER)
    account = sim.new_account(balance_cents=10_000_000)
    refused = Answering("GET", r"/portfolio/orders$", 400, "bad_request")
    log_path = tmp_path / "trade.log"
    with (
        client_for(account) as client,
        _through(account, refused) as listing_refused,
        Store.open(tmp_path / "state.db") as store,
    ):
        earlier = _start(client, store, log_path)
        in_it = client.orders.create_order(
            CreateOrder(TICKER, BookSide.BID, Decimal("0.10"), Decimal(1), order_group_id=earlier)
        )
        group = _start(listing_refused, store, log_path)
        assert refused.answered >= 1
        assert _groups(client) == {earlier, group}
        assert session_order_groups(store) == [earlier, group]
        assert client.orders.get_order(in_it.order_id).status == "resting"
    (kept,) = [e for e in log_events(log_path) if e["event"] == "order_groups_kept"]
    assert (kept["subaccount"], "bad_request" in str(kept["error"])) == (0, True)


def test_a_start_that_cannot_list_its_own_subaccounts_groups_is_refused(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The groups of the loop's own subaccount are the ones it must be able to see: a refused
    listing there refuses the start (`open_group` turns it into no trading), and no group is
    made."""
    account = sim.new_account(balance_cents=10_000_000)
    refused = Answering("GET", r"/portfolio/order_groups$", 403, "forbidden")
    with (
        client_for(account) as client,
        _through(account, refused) as listing_refused,
        Store.open(tmp_path / "state.db") as store,
    ):
        with pytest.raises(KalshiError):
            _start(listing_refused, store, tmp_path / "trade.log")
        assert refused.answered == 1
        assert _groups(client) == set()
        assert session_order_groups(store) == []


class GroupCreateAnswerLost(httpx.BaseTransport):
    """The real simulator over loopback, except that the answer to an order group's create is
    lost once the simulator has made the group: the connection drops (`drop`) or a 503 comes in
    its place."""

    def __init__(self, *, drop: bool) -> None:
        self._inner = httpx.HTTPTransport()
        self._drop = drop
        self.lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.method != "POST" or not request.url.path.endswith("/order_groups/create"):
            return response
        response.read()
        self.lost += 1
        if self._drop:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        body = {"error": {"code": "service_unavailable", "message": "service unavailable"}}
        return httpx.Response(503, json=body)

    def close(self) -> None:
        self._inner.close()


@pytest.mark.parametrize("drop", [True, False], ids=["connection dropped", "503"])
def test_a_start_whose_group_create_is_unknown_refuses_to_trade_and_says_how_to_find_it(
    sim: SimHarness, tmp_path: Path, drop: bool
) -> None:
    """The exchange may have made the session's group, and the loop does not know its id: it
    neither trades outside a group nor guesses which listed group is its own (another program
    may have made one with the same limit; deleting or triggering that would stop its orders).
    The start is refused as an unknown outcome (exit 10), the create sent once, no order
    placed, and the message says where the group would be listed and what to do with it.
    Before: "could not create the session's order group" (exit 7 or 14), as if none were
    made."""
    sim.create_market(TICKER)
    account = sim.new_account(balance_cents=10_000_000)
    lost = GroupCreateAnswerLost(drop=drop)
    config = TradeConfig(strategies={"market-maker": {}})
    with _through(account, lost) as client, pytest.raises(StartupRefused) as refused:
        market_maker_session(account, client, TICKER, tmp_path, config, duration_s=None, once=True)
    assert lost.lost == 1, "the create was sent once"
    error = refused.value
    assert error.exit_code == ExitCode.OUTCOME_UNKNOWN
    assert error.message.startswith("whether the session's order group was made is unknown: ")
    assert error.message.endswith("; not trading"), error.message
    assert "`kalshi order-group list`" in (error.hint or "")
    assert "`kalshi order-group delete" in (error.hint or "")
    events = log_events(tmp_path / "trade.log")
    assert not any(e["event"] in ("started", "order_group_created") for e in events)
    requests = sim.stats()["accounts"][account.key_id]["requests"]
    assert not any(r.startswith("POST /portfolio/events/orders") for r in requests), requests
    with _through(account, httpx.HTTPTransport()) as reader, Store.open(tmp_path / "state.db") as s:
        assert len(_groups(reader)) == 1, "the exchange made it"
        assert session_order_groups(s) == []
