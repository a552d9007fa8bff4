"""The loop's shard watch (runner/loop/shard_watch.py) sends no read of the shards' statuses and
balances while one is out: an answer never meets an older or newer one booked out of order, so
an older balance can never be put back in force after a newer one. Proved with the loop's calls
on its send workers and the balance read held in the network across many poll periods."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.vocabulary.models import Balance, ExchangeStatus, Market, decode_answer
from tests.runner.fakes import FakeClient, make_rig
from tests.waiting import PATIENCE_S, pause, poll_until

POLL_S = 1.0


class HeldReads:
    """The patched exchange's balance reads: how many began, and a gate they wait behind."""

    def __init__(self) -> None:
        self.began = 0
        self.open = threading.Event()
        self.open.set()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> HeldReads:
    held = HeldReads()
    market_of = FakeClient.get_market
    balance_of = FakeClient.get_balance

    def get_market(self: FakeClient, ticker: str) -> Market:
        return decode_answer(Market, {**market_of(self, ticker).raw, "exchange_index": 2})

    def get_balance(self: FakeClient) -> Balance:
        held.began += 1
        # longer than the test waits for anything: the test says what it waited for first
        assert held.open.wait(2 * PATIENCE_S), "the held balance read was never let through"
        total = balance_of(self).balance
        breakdown = [{"exchange_index": 2, "balance": str(total)}]
        return decode_answer(
            Balance, {"balance_dollars": str(total), "balance_breakdown": breakdown}
        )

    def get_shard_statuses(self: FakeClient) -> tuple[Any, ...]:
        shard = {
            "exchange_index": 2,
            "exchange_active": True,
            "trading_active": True,
            "intra_exchange_transfers_active": True,
        }
        status = {"exchange_active": True, "trading_active": True}
        answer = decode_answer(ExchangeStatus, {**status, "exchange_index_statuses": [shard]})
        return answer.per_shard()

    monkeypatch.setattr(FakeClient, "get_market", get_market)
    monkeypatch.setattr(FakeClient, "get_balance", get_balance)
    monkeypatch.setattr(FakeClient, "get_shard_statuses", get_shard_statuses, raising=False)
    return held


def test_no_second_shard_read_goes_out_while_one_is_out(tmp_path: Path, reads: HeldReads) -> None:
    rig = make_rig(tmp_path / "s.db", send_workers=2, settings={"shard_poll_s": POLL_S})
    dispatch = rig.loop.dispatch
    try:
        rig.step()
        first = reads.began  # the reads made as the loop was built and its first, waited for
        reads.open.clear()
        rig.step(POLL_S)
        assert poll_until(lambda: reads.began == first + 1), "the next read goes out"
        for _ in range(10):  # ten poll periods with that read still out
            rig.step(POLL_S)
        # every call the loop sends is counted as it is sent (on this thread); a worker is free
        # for any other, so a second read sent would be out too: only the held one is
        held_only = poll_until(lambda: dispatch.in_flight == 1, between=lambda: rig.step(0))
        assert held_only, f"{dispatch.in_flight} calls out besides the held read"
        assert reads.began == first + 1
        reads.open.set()

        def booked() -> None:
            pause()
            dispatch.drain()

        assert poll_until(lambda: dispatch.in_flight == 0, between=booked)
        assert reads.began == first + 1, "no read was sent while it was out"
        rig.step(POLL_S)
        assert poll_until(lambda: reads.began == first + 2), "the watch reads again once booked"
    finally:
        reads.open.set()
        dispatch.close()
