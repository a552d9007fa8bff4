"""The exchange's panels cover every subaccount of the account.

`/portfolio/positions` answers for one subaccount (0 unless named; openapi.yaml 3.31.0) while the
order listing covers all of them, and the state file books each fill on its subaccount. So the
dashboard lists the account's subaccounts (`GET /portfolio/subaccounts/balances`), marks each
one's positions against that subaccount's own book, and names the subaccount of each row when
the account has more than subaccount 0. An exchange that will not list them leaves the panel on
subaccount 0, as before, with a note saying so."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest

from kalshi_cli.cli.dashboard_app import DashboardApp, Wiring
from kalshi_cli.client import KalshiClient
from kalshi_cli.client.connection import Area
from kalshi_cli.client.portfolio import PortfolioApi
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.client.subaccounts import SubaccountsApi
from kalshi_cli.dashboard import actions
from kalshi_cli.dashboard.snapshot import Sources, remote_snapshot
from kalshi_cli.services.reconcile import catch_up
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import SystemClock
from kalshi_cli.vocabulary.errors import ForbiddenError, KalshiError, NotFoundError
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.models import Position
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import SimHarness, tier_simulator
from tests.dashboard.prepared import TICKER, drive, until
from tests.fakes import Swapped
from tests.runner.simproc import client_for

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from kalshi_cli.client.subaccounts import SubaccountBalance
    from kalshi_cli.services.killswitch.report import KillReport


@pytest.fixture
def prime(tmp_path: Path) -> Iterator[SimHarness]:
    """A simulator on a tier that has subaccounts (the spec: Advanced and above)."""
    yield from tier_simulator(tmp_path, "prime")


def _sources(tmp_path: Path) -> Sources:
    return Sources(state_path=tmp_path / "state.db", limit=D(20))


def _connect(sim: SimHarness) -> KalshiClient:
    key, _ = load_private_key(path=Path(sim.account.private_key_path))
    return KalshiClient(api_base=sim.account.api_base, key_id=sim.account.key_id, private_key=key)


A = TypeVar("A", bound=Area)


def _connect_as(sim: SimHarness, area: type[A]) -> Swapped[A]:
    """A client one of whose areas is `area`, a test's subclass of it."""
    key, _ = load_private_key(path=Path(sim.account.private_key_path))
    return Swapped(area, api_base=sim.account.api_base, key_id=sim.account.key_id, private_key=key)


def _buy(client: KalshiClient, price: str, count: str, subaccount: int | None = None) -> str:
    client.subaccount = subaccount
    try:
        return client.orders.create_order(
            CreateOrder(TICKER, BookSide.BID, D(price), D(count), time_in_force=TimeInForce.GTC)
        ).order_id
    finally:
        client.subaccount = None


def _two_subaccounts(sim: SimHarness, client: KalshiClient, state: Path) -> dict[str, str]:
    """Subaccount 0 buys 4 YES at 0.40 and rests a bid of 3 at 0.20; subaccount 1 buys 5 YES at
    0.45 and rests a bid of 2 at 0.25; another account bids 0.35 (the mark). Netted as one book
    the entry would be 3.85 / 9; each subaccount's is its own price. The state file is brought
    up to date as `kalshi positions` does (`catch_up`). Returns the resting orders' ids."""
    sim.create_market(TICKER)
    assert client.subaccounts.create_subaccount() == 1
    client.subaccounts.transfer_between_subaccounts(
        from_subaccount=0, to_subaccount=1, amount_cents=5000
    )
    with client_for(sim.new_account()) as maker:
        maker.orders.create_order(CreateOrder(TICKER, BookSide.ASK, D("0.40"), D(4)))
        _buy(client, "0.40", "4")
        maker.orders.create_order(CreateOrder(TICKER, BookSide.ASK, D("0.45"), D(5)))
        _buy(client, "0.45", "5", subaccount=1)
        maker.orders.create_order(CreateOrder(TICKER, BookSide.BID, D("0.35"), D(1)))
    resting = {"zero": _buy(client, "0.20", "3"), "one": _buy(client, "0.25", "2", subaccount=1)}
    with Store.open(state) as store:
        catch_up(client, store, now=SystemClock().wall())
    return resting


def test_a_position_on_subaccount_1_is_in_the_snapshot_at_its_own_cost(
    prime: SimHarness, tmp_path: Path
) -> None:
    src = _sources(tmp_path)
    with _connect(prime) as client:
        resting = _two_subaccounts(prime, client, src.state_path)
        snap = remote_snapshot(src, client, SystemClock())
    assert snap.error is None
    # subaccount 1's 5 contracts are listed, each subaccount at its own average entry
    assert [(p.contracts, p.entry) for p in snap.positions] == [(4, D("0.40")), (5, D("0.45"))]
    assert snap.subaccounts == (0, 1) and snap.subaccounts_note is None
    rows = [
        (p.subaccount, p.ticker, p.side, p.contracts, p.entry, p.mark, p.unrealized, p.exposure)
        for p in snap.positions
    ]
    assert rows == [
        (0, TICKER, "yes", D(4), D("0.40"), D("0.35"), D("-0.20"), D(7)),
        (1, TICKER, "yes", D(5), D("0.45"), D("0.35"), D("-0.50"), D(7)),
    ]
    assert snap.unrealized == D("-0.70")  # the account's: both subaccounts
    assert {o.order_id: o.subaccount for o in snap.orders} == {
        resting["zero"]: 0,
        resting["one"]: 1,
    }
    assert snap.names_subaccounts


def _panels(app: DashboardApp, *keys: str) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}

    async def look(pilot: Pilot[None]) -> None:
        for key in keys:
            seen[key] = [" ".join(line.split()) for line in app.panel_text(key).splitlines()]

    drive(app, look)
    return seen


def test_each_row_names_its_subaccount_when_the_account_has_several(
    prime: SimHarness, tmp_path: Path
) -> None:
    src = _sources(tmp_path)
    with _connect(prime) as client:
        _two_subaccounts(prime, client, src.state_path)
        app = DashboardApp(Wiring(sources=src, clock=SystemClock(), client=client))
        seen = _panels(app, "positions", "orders", "pnl")
    positions, orders = seen["positions"], seen["orders"]
    assert positions[0].startswith("sub market side qty")
    assert f"0 {TICKER} yes 4.00 $0.40 $0.35 -$0.20 35%" in positions
    assert f"1 {TICKER} yes 5.00 $0.45 $0.35 -$0.50 35%" in positions
    assert orders[0].startswith("sub market side action")
    assert f"0 {TICKER} yes buy $0.20 3.00 0.00 -" in orders
    assert f"1 {TICKER} yes buy $0.25 2.00 0.00 -" in orders
    # to the places of the panel's realized figure (-$0.1539)
    assert "unrealized -$0.7000" in seen["pnl"]


def test_an_account_with_subaccount_0_only_looks_as_before(
    prime: SimHarness, tmp_path: Path
) -> None:
    """No subaccount column, no note: the rows read exactly as they did before subaccounts."""
    prime.create_market(TICKER)
    src = _sources(tmp_path)
    with _connect(prime) as client, client_for(prime.new_account()) as maker:
        maker.orders.create_order(CreateOrder(TICKER, BookSide.ASK, D("0.40"), D(4)))
        _buy(client, "0.40", "4")
        maker.orders.create_order(CreateOrder(TICKER, BookSide.BID, D("0.35"), D(1)))
        _buy(client, "0.20", "3")
        with Store.open(src.state_path) as store:
            catch_up(client, store, now=SystemClock().wall())
        snap = remote_snapshot(src, client, SystemClock())
        app = DashboardApp(Wiring(sources=src, clock=SystemClock(), client=client))
        seen = _panels(app, "positions", "orders", "fills")
    assert snap.subaccounts == (0,) and not snap.names_subaccounts
    assert [p.subaccount for p in snap.positions] == [0]
    assert seen["positions"] == [
        "market side qty entry mark unreal. limit use",
        f"{TICKER} yes 4.00 $0.40 $0.35 -$0.20 35%",
    ]
    assert seen["orders"] == [
        "market side action price left ahead strategy",
        f"{TICKER} yes buy $0.20 3.00 0.00 -",
    ]
    assert seen["fills"][0] == "time market trade price qty slip model_fair"
    assert [_no_time(line) for line in seen["fills"][1:]] == [f"{TICKER} buy yes $0.40 4.00 - -"]


def _no_time(line: str) -> str:
    """A fills row without its time column (the fill's time is the simulator's clock)."""
    return line.split(" ", 1)[1]


def test_each_fill_names_its_subaccount_when_the_account_has_several(
    prime: SimHarness, tmp_path: Path
) -> None:
    """The Last fills panel lists the state file's fills of every subaccount: it names each
    one's subaccount (`sub`) as the positions panel does, or a fill on subaccount 1 reads as
    one of the primary's."""
    src = _sources(tmp_path)
    with _connect(prime) as client:
        _two_subaccounts(prime, client, src.state_path)
        app = DashboardApp(Wiring(sources=src, clock=SystemClock(), client=client))
        fills = _panels(app, "fills")["fills"]
    assert fills[0] == "sub time market trade price qty slip model_fair"
    rows = sorted(f"{line.split()[0]} {_no_time(line.split(' ', 1)[1])}" for line in fills[1:])
    assert rows == [f"0 {TICKER} buy yes $0.40 4.00 - -", f"1 {TICKER} buy yes $0.45 5.00 - -"]


class _NoSubaccountListing(SubaccountsApi):
    """An exchange that will not list the subaccounts: `refusal` is what it answers."""

    refusal: KalshiError = NotFoundError("subaccount balances: not found", status=404)

    def subaccount_balances(self) -> list[SubaccountBalance]:
        raise self.refusal


@pytest.mark.parametrize(
    "refusal",
    [
        NotFoundError("not found", status=404),  # an exchange on an older API
        ForbiddenError("this API key may not read subaccounts", status=403),
        KalshiError("unexpected subaccount balance from the exchange: KeyError('balance')"),
    ],
    ids=["404", "403", "malformed"],
)
def test_an_exchange_that_will_not_list_subaccounts_leaves_subaccount_0_with_a_note(
    prime: SimHarness, tmp_path: Path, refusal: KalshiError
) -> None:
    src = _sources(tmp_path)
    with _connect(prime) as maker_of_state:
        _two_subaccounts(prime, maker_of_state, src.state_path)
    with _connect_as(prime, _NoSubaccountListing) as client:
        client.area.refusal = refusal
        snap = remote_snapshot(src, client, SystemClock())
        app = DashboardApp(Wiring(sources=src, clock=SystemClock(), client=client))
        seen = _panels(app, "positions")
    assert snap.error is None
    assert snap.subaccounts == (0,)
    assert snap.subaccounts_note == (
        f"subaccounts not listed ({refusal.one_line()}): subaccount 0's positions only"
    )
    assert [(p.subaccount, p.contracts, p.entry) for p in snap.positions] == [(0, D(4), D("0.40"))]
    # the orders listing covers every subaccount whatever: those rows still name theirs
    assert sorted(o.subaccount for o in snap.orders) == [0, 1]
    text = " ".join(" ".join(seen["positions"]).split())
    assert f"0 {TICKER} yes 4.00 $0.40 $0.35 -$0.20 35%" in text
    assert snap.subaccounts_note in text


def test_the_kill_key_cancels_on_every_subaccount(prime: SimHarness, tmp_path: Path) -> None:
    """`k` runs `kalshi cancel-all` over the whole account: the bid resting on subaccount 1 is
    cancelled with subaccount 0's, and the proof holds for both."""
    src = _sources(tmp_path)
    with _connect(prime) as client:
        resting = _two_subaccounts(prime, client, src.state_path)
        app = DashboardApp(Wiring(sources=src, clock=SystemClock(), client=client))
        proof: list[str] = []

        async def kill(pilot: Pilot[None]) -> None:
            await pilot.press("k")
            await pilot.press(*"KILL", "enter")
            await until(pilot, lambda: "PROVEN" in app.panel_text("kill"), "the kill's proof")
            proof.append(" ".join(app.panel_text("kill").split()))

        drive(app, kill)
        client.subaccount = 1
        left_on_one = list(client.orders.iter_orders(status="resting"))
        client.subaccount = None
        left = list(client.orders.iter_orders(status="resting"))
        with Store.open(src.state_path) as store:
            halted = store.trading.trading_state().state
    assert left_on_one == [] and left == []
    assert resting["one"] not in [o.order_id for o in left]
    assert "PROVEN: no resting order left (every market" in proof[0], proof
    assert "cancelled: 2 order(s), 5.00 contract(s)" in proof[0], proof
    assert halted == "HALTED"


class _KillWhileReading(PortfolioApi):
    """The kill key pressed while the panels read subaccount 1's positions: the screen's two
    workers share one client, so `pending` (a kill on this same client) runs then, once.
    `scopes` gets what the shared client acts on at every positions read (a handle on a
    subaccount copies the reference to `shared`)."""

    pending: list[Callable[[], None]]
    shared: KalshiClient
    scopes: list[int | None]
    kill_at = 2  # the how-manyth positions read of the refresh (subaccount 1's) runs `pending`

    def get_positions(
        self, *, ticker: str | None = None, event_ticker: str | None = None,
        include_flat: bool = False,
    ) -> list[Position]:  # fmt: skip
        self.scopes.append(self.shared.subaccount)
        if self._conn.subaccount == 1 and len(self.scopes) == self.kill_at and self.pending:
            self.pending.pop()()
        return super().get_positions(
            ticker=ticker, event_ticker=event_ticker, include_flat=include_flat
        )


@pytest.mark.parametrize(
    "read", [2, 4, 6], ids=["positions-panel", "event-lines", "positions-check"]
)
def test_a_kill_while_the_panels_read_a_subaccount_still_covers_every_subaccount(
    prime: SimHarness, tmp_path: Path, read: int
) -> None:
    """Reading subaccount 1 never scopes the shared client to it: a kill switch run on it at
    that moment, while the positions panel (the refresh's 2nd positions read), its event lines
    (the 4th) or the positions check (the 6th) reads subaccount 1, cancels and proves on every
    subaccount (a client scoped to 1 would cancel and prove on 1 only, leaving subaccount 0's
    bid resting under a PROVEN)."""
    src = _sources(tmp_path)
    reports: list[KillReport] = []
    with _connect_as(prime, _KillWhileReading) as client:
        client.area.kill_at = read
        resting = _two_subaccounts(prime, client, src.state_path)

        def kill() -> None:
            reports.append(actions.kill(client, src.state_path, SystemClock()))

        client.area.pending, client.area.shared, client.area.scopes = [kill], client, []
        snap = remote_snapshot(src, client, SystemClock())
        assert client.subaccount is None
        left = list(client.orders.iter_orders(status="resting"))
    assert snap.error is None and [p.subaccount for p in snap.positions] == [0, 1]
    (report,) = reports
    assert report.proven
    assert sorted(report.cancelled) == sorted(resting.values())
    assert left == []


def test_no_read_of_a_refresh_sets_the_shared_client_to_a_subaccount(
    prime: SimHarness, tmp_path: Path
) -> None:
    """Neither the positions panel nor the checks it runs (positions, exposure: per subaccount
    too) set the client the kill switch shares to one subaccount, even for a moment."""
    src = _sources(tmp_path)
    with _connect_as(prime, _KillWhileReading) as client:
        _two_subaccounts(prime, client, src.state_path)
        client.area.pending, client.area.shared, client.area.scopes = [], client, []
        snap = remote_snapshot(src, client, SystemClock())
    assert {c.name: c.status for c in snap.checks}["positions"] == "OK"
    # the panel's two reads, its event lines' two, and the positions and exposure checks' two each
    assert client.area.scopes == [None] * 8


def test_fills_on_0_name_it_when_the_account_has_another_subaccount(
    prime: SimHarness, tmp_path: Path
) -> None:
    """Every fill on the primary, but subaccount 1 in sight on the exchange's panels (a bid
    resting there): the fills name their subaccount too, as the positions and orders do, so a
    fill without a number is never read as the subaccount the loop trades."""
    prime.create_market(TICKER)
    src = _sources(tmp_path)
    with _connect(prime) as client, client_for(prime.new_account()) as maker:
        assert client.subaccounts.create_subaccount() == 1
        client.subaccounts.transfer_between_subaccounts(
            from_subaccount=0, to_subaccount=1, amount_cents=5000
        )
        maker.orders.create_order(CreateOrder(TICKER, BookSide.ASK, D("0.40"), D(4)))
        _buy(client, "0.40", "4")
        _buy(client, "0.20", "3", subaccount=1)
        with Store.open(src.state_path) as store:
            catch_up(client, store, now=SystemClock().wall())
        app = DashboardApp(Wiring(sources=src, clock=SystemClock(), client=client))
        seen = _panels(app, "fills", "orders")
    assert seen["orders"][0].startswith("sub market")
    assert seen["fills"][0] == "sub time market trade price qty slip model_fair"
    (row,) = seen["fills"][1:]
    assert (
        f"{row.split()[0]} {_no_time(row.split(' ', 1)[1])}" == f"0 {TICKER} buy yes $0.40 4.00 - -"
    )
