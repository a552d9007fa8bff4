"""Exchange shards in the core: every market is on its event's shard, an account keeps a balance
per shard, an order's cost, fees and collateral are checked and taken on its market's shard
alone, a settlement pays there, and intra-exchange transfers move money between shards in
steps, pending until due, journaled."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal as D
from pathlib import Path

import pytest

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import ExchangeError, SimEvent, SimSeries, ledger_id
from kalshi_cli.sim.core.reference import check_shard, exchange_shards
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import STANDARD_FEES
from tests.runner.fakes import place_on_desk
from tests.sim.test_core import market

ON_0, ON_2 = "ZERO-A", "TWO-A"


def exchange(journal: Path | None = None) -> Exchange:
    ex = Exchange(ManualClock(), fees=STANDARD_FEES, journal=journal)
    if ex.restored:
        return ex
    ex.reference.add_series(SimSeries("SER", "series"))
    ex.reference.add_series(SimSeries("CRY", "crypto", exchange_index=2))
    ex.reference.add_event(SimEvent("EV0", "SER", "on shard 0"))
    ex.reference.add_event(SimEvent("EV2", "CRY", "on shard 2", exchange_index=2))
    ex.add_market(market(ON_0, event_ticker="EV0"))
    ex.add_market(market(ON_2, event_ticker="EV2", series_ticker="CRY"))
    return ex


def bid(ex: Exchange, who: str, ticker: str, price: str, count: str) -> None:
    place_on_desk(ex, who, ticker, BookSide.BID, price, count)


def test_a_market_is_on_its_events_shard() -> None:
    ex = exchange()
    assert ex.reference.markets[ON_2].exchange_index == 2
    assert ex.reference.markets[ON_0].exchange_index == 0
    assert exchange_shards(ex.reference) == [0, 2]
    with pytest.raises(ExchangeError, match="exchange_index 1 does not exist"):
        check_shard(ex.reference, 1)


def test_an_order_is_checked_on_its_markets_shard_alone() -> None:
    ex = exchange()
    me = ex.accounts.create_account(key_id="me", public_key_pem="", cash_cents=100_00).account_id
    with pytest.raises(ExchangeError) as refused:  # $100 on shard 0, nothing on shard 2
        bid(ex, me, ON_2, "0.40", "1")
    assert refused.value.code == "insufficient_balance"
    ex.shard_transfers.start(
        me,
        source_subaccount=0,
        destination_subaccount=0,
        source_shard=0,
        destination_shard=2,
        amount_centicents=5_0000,
    )
    ex.shard_transfers.run_due(ex.reference.now())
    bid(ex, me, ON_2, "0.40", "10")  # $4.00 held on shard 2 (no maker fee to reserve)
    balances = ex.accounts.acct(me).balances()
    assert balances[0] == D("95")
    assert balances[2] == D("1")
    with pytest.raises(ExchangeError) as refused:  # $95 on shard 0 does not cover it
        bid(ex, me, ON_2, "0.40", "3")
    assert refused.value.code == "insufficient_balance"
    assert ex.accounts.account(me).balance == balances[0] + balances[2]
    bid(ex, me, ON_0, "0.40", "10")  # shard 0's money is for shard 0's markets
    assert ex.accounts.acct(me).balances()[2] == balances[2]


def test_a_settlement_pays_on_the_markets_shard() -> None:
    ex = exchange()
    me = ex.accounts.create_account(key_id="me", public_key_pem="", cash_cents=0, shards=(2,))
    other = ex.accounts.create_account(
        key_id="o", public_key_pem="", cash_cents=100_00, shards=(2,)
    )
    ex.accounts.create_account(key_id="z", public_key_pem="", cash_cents=10_00)
    ex.shard_transfers.delay_s = 0
    # `me` has nothing: give it $10 on shard 2 from nowhere but the other's sale
    ex.accounts.acct(me.account_id).move(2, D("10"), ex.reference.now())
    bid(ex, me.account_id, ON_2, "0.50", "4")
    place_on_desk(ex, other.account_id, ON_2, BookSide.ASK, "0.50", "4")
    before = dict(ex.accounts.acct(me.account_id).cash)
    ex.settlement.settle(ON_2, "yes")
    after = dict(ex.accounts.acct(me.account_id).cash)
    assert after[2] - before[2] == D("4")
    assert 0 not in after


def transfer(ex: Exchange, who: str, **route: int) -> str:
    fields = {
        "source_subaccount": 0,
        "destination_subaccount": 0,
        "source_shard": 0,
        "destination_shard": 2,
        "amount_centicents": 10_0000,
    }
    fields.update(route)
    return ex.shard_transfers.start(who, **fields).transfer_id


def test_a_cross_shard_transfer_is_pending_until_due_then_complete() -> None:
    ex = exchange()
    me = ex.accounts.create_account(key_id="me", public_key_pem="", cash_cents=100_00).account_id
    ex.shard_transfers.delay_s = 5
    made = transfer(ex, me)
    [listed] = ex.shard_transfers.transfers(me)
    assert (listed.transfer_id, listed.status) == (made, "pending")
    assert dict(ex.accounts.acct(me).cash) == {0: D("100")}  # nothing moved yet
    assert ex.shard_transfers.run_due(ex.reference.now() + 4) == []
    assert [t.transfer_id for t in ex.shard_transfers.run_due(ex.reference.now() + 5)] == [made]
    assert listed.status == "complete"
    assert dict(ex.accounts.acct(me).cash) == {0: D("90"), 2: D("10")}


def test_a_failed_later_step_leaves_the_money_in_the_primary_account() -> None:
    """Subaccount 1 on shard 0 to subaccount 2 on shard 2: three steps; the third failing
    leaves the money with the primary account on shard 2, the first two not undone."""
    ex = exchange()
    me = ex.accounts.create_account(key_id="me", public_key_pem="", cash_cents=100_00).account_id
    one, two = ex.subaccounts.create_subaccount(me), ex.subaccounts.create_subaccount(me)
    ex.accounts.acct(ledger_id(me, one)).move(0, D("20"), ex.reference.now())
    ex.accounts.acct(me).move(0, D("-20"), ex.reference.now())
    transfer(ex, me, source_subaccount=one, destination_subaccount=two)
    [run] = ex.shard_transfers.run_due(ex.reference.now(), fail_step=3)
    assert (run.status, run.steps_done, run.failed_step) == ("complete", 2, 3)
    assert dict(ex.accounts.acct(ledger_id(me, one)).cash) == {0: D("10")}
    assert dict(ex.accounts.acct(me).cash) == {0: D("80"), 2: D("10")}
    assert dict(ex.accounts.acct(ledger_id(me, two)).cash) == {0: D("0")}
    transfer(ex, me, source_subaccount=one, destination_subaccount=two)
    ex.shard_transfers.run_due(ex.reference.now(), fail_step=2)  # the first step stays done
    assert dict(ex.accounts.acct(ledger_id(me, one)).cash) == {0: D("0")}
    assert dict(ex.accounts.acct(me).cash) == {0: D("90"), 2: D("10")}


def test_a_failed_step_comes_back_failed_through_the_journal(tmp_path: Path) -> None:
    """The third step of a transfer from subaccount 1 on shard 0 to subaccount 2 on shard 2
    failed: a restart replays it failing there, the money left with the primary on shard 2."""
    journal = tmp_path / "exchange.journal"
    ex = exchange(journal)
    me = ex.accounts.create_account(key_id="me", public_key_pem="", cash_cents=100_00).account_id
    one, two = ex.subaccounts.create_subaccount(me), ex.subaccounts.create_subaccount(me)
    ex.subaccounts.transfer(
        me,
        client_transfer_id="c7a1e3d2-4b5f-4e6a-9c8d-0f1e2d3c4b5a",
        from_subaccount=0,
        to_subaccount=one,
        amount_cents=20_00,
    )
    transfer(ex, me, source_subaccount=one, destination_subaccount=two)
    ex.shard_transfers.run_due(ex.reference.now(), fail_step=3)

    def where(x: Exchange) -> object:
        cash = [dict(x.accounts.acct(ledger_id(me, n)).cash) for n in (0, one, two)]
        [t] = x.shard_transfers.transfers(me)
        return cash, (t.status, t.steps_done, t.failed_step)

    expected = where(ex)
    assert expected == ([{0: D("80"), 2: D("10")}, {0: D("10")}, {0: D("0")}], ("complete", 2, 3))
    ex.close()
    again = exchange(journal)
    assert where(again) == expected
    again.close()


def test_a_transfer_within_a_shard_is_a_subaccount_transfer() -> None:
    ex = exchange()
    me = ex.accounts.create_account(key_id="me", public_key_pem="", cash_cents=100_00).account_id
    one = ex.subaccounts.create_subaccount(me)
    made = transfer(ex, me, destination_subaccount=one, destination_shard=0)
    [listed] = ex.shard_transfers.transfers(me)
    assert (listed.transfer_id, listed.status) == (made, "complete")
    assert [t.transfer_id for t in ex.subaccounts.transfers(me)] == [made]
    assert dict(ex.accounts.acct(ledger_id(me, one)).cash) == {0: D("10")}


def test_a_transfer_the_source_cannot_cover_is_refused() -> None:
    ex = exchange()
    me = ex.accounts.create_account(key_id="me", public_key_pem="", cash_cents=5_00).account_id
    with pytest.raises(ExchangeError) as refused:
        transfer(ex, me)
    assert refused.value.code == "insufficient_balance"
    assert ex.shard_transfers.transfers(me) == []
    with pytest.raises(ExchangeError, match="exchange_index 3 does not exist"):
        transfer(ex, me, amount_centicents=1_0000, destination_shard=3)


def test_shards_and_transfers_come_back_through_the_journal_and_a_snapshot(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "exchange.journal"
    ex = exchange(journal)
    me = ex.accounts.create_account(key_id="me", public_key_pem="", cash_cents=100_00).account_id
    one = ex.subaccounts.create_subaccount(me)
    ex.shard_transfers.delay_s = 5
    transfer(ex, me)  # runs before the snapshot
    transfer(ex, me, destination_subaccount=one, destination_shard=0)
    ex.shard_transfers.run_due(ex.reference.now() + 5)
    bid(ex, me, ON_2, "0.30", "10")
    transfer(ex, me, amount_centicents=7_0000)  # still pending
    expected = (
        dict(ex.accounts.acct(me).cash),
        dict(ex.accounts.states[me].held_on),
        [(t.transfer_id, t.status) for t in ex.shard_transfers.transfers(me)],
    )
    ex.close()
    for compact in (False, True):
        again = exchange(journal)
        assert again.restored
        got = (
            dict(again.accounts.acct(me).cash),
            dict(again.accounts.states[me].held_on),
            [(t.transfer_id, t.status) for t in again.shard_transfers.transfers(me)],
        )
        assert got == expected
        assert again.reference.markets[ON_2].exchange_index == 2
        if compact:
            again.shard_transfers.run_due(again.reference.now() + 60)
            assert dict(again.accounts.acct(me).cash)[2] == expected[0][2] + D("7")
        else:
            again.compact()
        again.close()


def test_a_rebalance_moves_the_sweepable_balance_to_the_allocation() -> None:
    """$100 on shard 0 with $4.00 held for a resting order there; 25% to shard 0, 75% to
    shard 2, the reservation `sum` leaving the order's margin beside it: of the $92 sweepable
    (100 - 4 held - 4 reserved), $23 stays and $69 moves; then the allocation cleared, nothing
    moves again."""
    ex = exchange()
    me = ex.accounts.create_account(key_id="me", public_key_pem="", cash_cents=100_00).account_id
    bid(ex, me, ON_0, "0.40", "10")
    ex.shard_transfers.rebalance_s = 60
    ex.shard_transfers.set_allocation(me, [(0, 25), (2, 75)], "sum")
    now = ex.reference.now()
    ex.shard_transfers.rebalance_due(now + 60)
    assert dict(ex.accounts.acct(me).cash) == {0: D("31"), 2: D("69")}
    assert ex.accounts.acct(me).balances() == {0: D("27"), 2: D("69")}
    ex.shard_transfers.set_allocation(me, [(2, 100)], "none")
    ex.shard_transfers.rebalance_due(now + 90)  # not due yet
    assert dict(ex.accounts.acct(me).cash)[2] == D("69")
    ex.shard_transfers.rebalance_due(now + 120)  # `none`: all but what is held moves
    assert dict(ex.accounts.acct(me).cash) == {0: D("4"), 2: D("96")}
    ex.shard_transfers.set_allocation(me, [])
    ex.shard_transfers.rebalance_due(now + 180)
    assert dict(ex.accounts.acct(me).cash) == {0: D("4"), 2: D("96")}


@pytest.mark.parametrize(
    ("allocations", "reservation", "why"),
    [
        ([(0, 50), (2, 40)], "sum", "percentages must total 100"),
        ([(0, 50), (1, 50)], "sum", "exchange_index 1 does not exist"),
        ([(0, 50), (0, 50)], "sum", "each exchange_index at most once"),
        ([(0, 100)], "all", "resting_margin_reservation must be none, max or sum"),
    ],
)
def test_an_allocation_that_is_not_one_is_refused(
    allocations: list[tuple[int, int]], reservation: str, why: str
) -> None:
    ex = exchange()
    me = ex.accounts.create_account(key_id="me", public_key_pem="", cash_cents=100_00).account_id
    with pytest.raises(ExchangeError, match=why):
        ex.shard_transfers.set_allocation(me, allocations, reservation)
    assert ex.shard_transfers.allocation(me).allocations == []


def test_an_allocation_and_its_rebalance_come_back_through_the_journal(tmp_path: Path) -> None:
    journal = tmp_path / "exchange.journal"
    ex = exchange(journal)
    me = ex.accounts.create_account(key_id="me", public_key_pem="", cash_cents=100_00).account_id
    ex.shard_transfers.set_allocation(me, [(0, 40), (2, 60)], "max")
    at = ex.reference.now()
    ex.shard_transfers.rebalance_due(at)
    assert dict(ex.accounts.acct(me).cash) == {0: D("40"), 2: D("60")}
    stamps = dict(ex.accounts.states[me].stamps)
    ex.close()
    again = exchange(journal)
    assert dict(again.accounts.acct(me).cash) == {0: D("40"), 2: D("60")}
    # each shard's balance stamped at the rebalance's time, as before
    assert dict(again.accounts.states[me].stamps) == stamps
    # the rebalance's time comes back too: the next is due a whole interval after it
    again.accounts.acct(me).move(0, D("10"), at)
    again.shard_transfers.rebalance_due(at + again.shard_transfers.rebalance_s - 1)
    assert dict(again.accounts.acct(me).cash) == {0: D("50"), 2: D("60")}
    again.shard_transfers.rebalance_due(at + again.shard_transfers.rebalance_s)
    assert dict(again.accounts.acct(me).cash) == {0: D("44"), 2: D("66")}
    assert again.shard_transfers.allocation(me).allocations == [(0, 40), (2, 60)]
    assert again.shard_transfers.allocation(me).reservation == "max"
    again.close()


def test_a_transfer_journaled_in_whole_cents_comes_back_in_centi_cents(tmp_path: Path) -> None:
    """A journal written before transfers kept the spec's unit (centi-cents) holds
    `amount_cents`: it replays as the same money, and a pending one moves it when due."""
    journal = tmp_path / "exchange.journal"
    ex = exchange(journal)
    me = ex.accounts.create_account(key_id="me", public_key_pem="", cash_cents=100_00).account_id
    ex.shard_transfers.delay_s = 5
    transfer(ex, me, amount_centicents=7_0000)
    ex.close()
    lines = journal.read_text().splitlines()

    def in_cents(line: str) -> str:
        rec = json.loads(line)
        if rec.get("op") != "shard_transfer":
            return line
        rec["amount_cents"] = rec.pop("amount_centicents") // 100
        return json.dumps(rec)

    old = [in_cents(line) for line in lines]
    assert old != lines
    journal.write_text("\n".join(old) + "\n")
    again = exchange(journal)
    [listed] = again.shard_transfers.transfers(me)
    assert listed.amount_centicents == 7_0000
    again.shard_transfers.run_due(again.reference.now() + 60)
    assert dict(again.accounts.acct(me).cash) == {0: D("93"), 2: D("7")}
    again.close()


def test_a_cross_shard_transfer_moves_centi_cents() -> None:
    ex = exchange()
    me = ex.accounts.create_account(key_id="me", public_key_pem="", cash_cents=100_00).account_id
    transfer(ex, me, amount_centicents=10)  # $0.001
    ex.shard_transfers.run_due(ex.reference.now() + 60)
    assert dict(ex.accounts.acct(me).cash) == {0: D("99.999"), 2: D("0.001")}


@dataclasses.dataclass
class SimShardTransfer:
    """A transfer as a snapshot written before centi-cents holds it (its name is the one a
    snapshot gives it)."""

    transfer_id: str
    user: str
    source_subaccount: int
    destination_subaccount: int
    source_shard: int
    destination_shard: int
    amount_cents: int
    created_ts: float
    due_ts: float
    status: str = "pending"
    steps_done: int = 0
    failed_step: int = 0


def test_a_transfer_in_a_snapshot_of_whole_cents_comes_back_in_centi_cents(
    tmp_path: Path,
) -> None:
    from kalshi_cli.sim.core import shard_transfers
    from kalshi_cli.sim.core.journal import read_snapshot, write_snapshot

    journal = tmp_path / "exchange.journal"
    old = SimShardTransfer("t1", "me", 0, 0, 0, 2, 7_00, 1.0, 6.0)
    write_snapshot(journal, {"generation": 1, "state": {"t": old}}, [SimShardTransfer])
    read = read_snapshot(journal, [shard_transfers.SimShardTransfer])
    assert read is not None
    made = read["state"]["t"]
    assert isinstance(made, shard_transfers.SimShardTransfer)
    assert (made.amount_centicents, made.amount, made.due_ts) == (7_0000, D("7"), 6.0)


def test_a_transfer_of_nothing_is_refused_and_one_of_a_single_centi_cent_moves_it() -> None:
    ex = exchange()
    me = ex.accounts.create_account(key_id="me", public_key_pem="", cash_cents=100_00).account_id
    with pytest.raises(ExchangeError) as refused:
        transfer(ex, me, amount_centicents=0)
    assert (refused.value.code, refused.value.message) == (
        "invalid_parameters",
        "amount must be positive",
    )
    assert ex.shard_transfers.transfers(me) == []
    transfer(ex, me, amount_centicents=1)  # $0.0001
    ex.shard_transfers.run_due(ex.reference.now() + 60)
    assert dict(ex.accounts.acct(me).cash) == {0: D("99.9999"), 2: D("0.0001")}


def test_a_transfer_within_a_shard_of_part_of_a_cent_is_refused_in_its_words() -> None:
    ex = exchange()
    me = ex.accounts.create_account(key_id="me", public_key_pem="", cash_cents=100_00).account_id
    with pytest.raises(ExchangeError) as refused:
        transfer(ex, me, amount_centicents=150, destination_shard=0)
    assert (refused.value.code, refused.value.message) == (
        "invalid_parameters",
        "a transfer within a shard is a subaccount transfer, which moves whole cents: amount "
        "must be a multiple of 100 centi-cents",
    )
    assert ex.shard_transfers.transfers(me) == []
