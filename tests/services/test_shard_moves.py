"""`MoneyMover` (services/shards.py), the one path that moves money between exchange shards,
against a fake exchange of several shards (tests/services/shard_exchange.py): a transfer is
sent once; an answer lost after it landed is found in the transfer history and the money moves
once; a transfer the history does not show stays of unknown outcome and is never sent again; a
step that fails says where the money stayed; nothing is sent to a shard that takes no transfers
or does not exist."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshi_cli.client.portfolio import TransferOutcomeUnknown
from kalshi_cli.services.shards import (
    MoneyMover,
    Move,
    TransferNotComplete,
    TransferRefused,
    TransferShort,
    refuse_unknown_places,
)
from kalshi_cli.store import Store
from kalshi_cli.store.errors import StateFileLocked
from kalshi_cli.store.transfer_intents import TransferIntentRepository
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import KalshiError, UsageError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.keys import generate_private_key
from tests.services.shard_exchange import ShardExchange, client_of

D = Decimal


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    made = generate_private_key()
    assert isinstance(made, rsa.RSAPrivateKey)
    return made


def _mover(exchange: ShardExchange, key: rsa.RSAPrivateKey) -> MoneyMover:
    clock = ManualClock()
    return MoneyMover(client_of(exchange, key, clock), clock, wait_s=30, lookup_s=10)


def test_a_move_sends_one_transfer_waits_for_it_and_shows_where_the_money_is(
    key: rsa.RSAPrivateKey,
) -> None:
    exchange = ShardExchange({(0, 0): D("100"), (0, 2): D("0")}, pending_reads=3)
    result = _mover(exchange, key).move(Move(D("40"), 0, 2))
    assert len(exchange.posts) == 1
    assert exchange.posts[0]["amount"] == 400_000  # centi-cents, as the spec has it
    assert result.transfer.complete and not result.looked_up
    assert [(p.exchange_index, p.balance) for p in result.places] == [(0, D("60")), (2, D("40"))]


def test_no_wait_returns_the_transfer_pending(key: rsa.RSAPrivateKey) -> None:
    exchange = ShardExchange({(0, 0): D("100"), (0, 2): D("0")}, pending_reads=3)
    result = _mover(exchange, key).move(Move(D("40"), 0, 2), wait=False)
    assert result.transfer.status == "pending"
    assert exchange.reads == {"tr-1": 1}


@pytest.mark.parametrize("answer", ["lost", "503"])
def test_a_transfer_whose_answer_is_lost_moves_the_money_once(
    key: rsa.RSAPrivateKey, answer: str
) -> None:
    exchange = ShardExchange({(0, 0): D("100"), (0, 2): D("0")}, answer=answer)  # type: ignore[arg-type]
    exchange.history_lag = 2  # the history shows it only on the third look
    result = _mover(exchange, key).move(Move(D("25"), 0, 2))
    assert len(exchange.posts) == 1
    assert result.looked_up and result.transfer.transfer_id == "tr-1"
    assert result.transfer.complete
    assert exchange.balances == {(0, 0): D("75"), (0, 2): D("25")}


def test_an_earlier_transfer_of_the_same_amount_is_not_taken_for_the_lost_one(
    key: rsa.RSAPrivateKey,
) -> None:
    exchange = ShardExchange({(0, 0): D("100"), (0, 2): D("0")})
    mover = _mover(exchange, key)
    mover.move(Move(D("10"), 0, 2))
    exchange.answer = "lost"
    exchange.history_lag = 1_000  # the new one never shows
    with pytest.raises(TransferOutcomeUnknown) as raised:
        mover.move(Move(D("10"), 0, 2))
    assert len(exchange.posts) == 2  # each move sent once, the lost one never again
    assert raised.value.exit_code == ExitCode.OUTCOME_UNKNOWN
    message = raised.value.one_line()
    assert "no such transfer in the history after 10s" in message
    assert "primary account on shard 0: $80.00" in message  # where the money is now
    assert "kalshi shard transfers" in message


def test_a_step_that_fails_says_where_the_money_stayed(key: rsa.RSAPrivateKey) -> None:
    exchange = ShardExchange({(3, 0): D("50"), (0, 0): D("0"), (0, 2): D("0"), (3, 2): D("0")})
    exchange.failing_step = True
    with pytest.raises(TransferShort) as raised:
        _mover(exchange, key).move(Move(D("50"), 0, 2, subaccount=3))
    assert len(exchange.posts) == 1
    assert raised.value.exit_code == ExitCode.TRANSFER_SHORT
    message = raised.value.one_line()
    assert "is complete, but subaccount 3 on shard 2 gained $0.00 of it: a step failed" in message
    assert (
        "subaccount 3 on shard 0: $50.00 -> $0.00; primary account on shard 0: $0.00 -> $50.00; "
        "primary account on shard 2: $0.00 -> $0.00; subaccount 3 on shard 2: $0.00 -> $0.00"
    ) in message


def test_a_transfer_still_pending_when_the_wait_ends_says_where_the_money_is(
    key: rsa.RSAPrivateKey,
) -> None:
    exchange = ShardExchange({(3, 0): D("50"), (0, 0): D("0"), (0, 2): D("0"), (3, 2): D("0")})
    exchange.pending_reads = 1_000_000
    with pytest.raises(TransferNotComplete) as raised:
        _mover(exchange, key).move(Move(D("50"), 0, 2, subaccount=3))
    assert len(exchange.posts) == 1
    assert (
        exchange.posts[0]["source_subaccount"] == exchange.posts[0]["destination_subaccount"] == 3
    )
    message = raised.value.one_line()
    assert "still pending after 30s" in message
    assert raised.value.exit_code == ExitCode.OUTCOME_UNKNOWN
    assert (
        "subaccount 3 on shard 0: $0.00; primary account on shard 0: $0.00; "
        "primary account on shard 2: $0.00; subaccount 3 on shard 2: $50.00"
    ) in message


def test_a_refused_transfer_says_where_the_money_is(key: rsa.RSAPrivateKey) -> None:
    exchange = ShardExchange({(0, 0): D("5"), (0, 2): D("0")})
    with pytest.raises(KalshiError) as raised:
        _mover(exchange, key).move(Move(D("50"), 0, 2))
    assert raised.value.exit_code == ExitCode.REJECTED
    message = raised.value.one_line()
    assert "the transfer of $50.00 from shard 0 to shard 2 failed" in message
    assert "too little; the money is now: primary account on shard 0: $5.00" in message


def test_nothing_is_sent_to_a_shard_that_takes_no_transfers_or_does_not_exist(
    key: rsa.RSAPrivateKey,
) -> None:
    exchange = ShardExchange({(0, 0): D("100"), (0, 2): D("0")}, transfers_active={2: False})
    mover = _mover(exchange, key)
    with pytest.raises(TransferRefused, match="shard 2 takes no transfers now"):
        mover.move(Move(D("1"), 0, 2))
    with pytest.raises(UsageError, match="no shard 7"):
        mover.move(Move(D("1"), 0, 7))
    assert exchange.posts == []


def test_a_move_while_the_exchange_answers_its_status_down_is_refused_not_called_a_bad_shard(
    key: rsa.RSAPrivateKey,
) -> None:
    exchange = ShardExchange({(0, 0): D("100"), (0, 2): D("0")}, down=True)
    with pytest.raises(TransferRefused) as raised:
        _mover(exchange, key).move(Move(D("1"), 0, 2))
    assert raised.value.exit_code == ExitCode.REJECTED
    assert (raised.value.code, raised.value.message, raised.value.hint) == (
        "exchange_inactive",
        "the exchange is not active now (exchange_active is false); nothing was sent",
        "`kalshi exchange status` shows when it is again",
    )
    assert exchange.posts == []


def test_nothing_is_sent_to_or_from_a_shard_under_maintenance(key: rsa.RSAPrivateKey) -> None:
    """A shard whose status says `exchange_active` false takes no state change at all (the
    spec), whatever its transfers flag says: a move to or from it, and a transfer between
    subaccounts on it, are refused before anything is sent, never sent for an answer of
    unknown outcome."""
    exchange = ShardExchange({(0, 0): D("100"), (0, 2): D("0")}, exchange_active={2: False})
    mover = _mover(exchange, key)
    for source, target in ((0, 2), (2, 0)):
        with pytest.raises(TransferRefused) as raised:
            mover.move(Move(D("1"), source, target))
        assert raised.value.code == "shard_inactive"
        assert raised.value.message == (
            "shard 2 takes no state change now (exchange_active is false: under maintenance); "
            "nothing was sent"
        )
    client = client_of(exchange, key, ManualClock())
    with pytest.raises(TransferRefused, match="shard 2 takes no state change now"):
        refuse_unknown_places(client, (0,), (2,))
    assert exchange.posts == []


class _NoBreakdown(ShardExchange):
    """An active exchange whose status gives no per-shard breakdown: the spec's
    `exchange_index_statuses` is absent when it is unavailable, the top-level fields shard 0's."""

    def status(self) -> dict[str, Any]:
        return {
            "exchange_active": True,
            "trading_active": True,
            "intra_exchange_transfers_active": True,
        }


def test_an_active_exchange_listing_no_shard_is_read_as_shard_0_alone_not_as_down(
    key: rsa.RSAPrivateKey,
) -> None:
    exchange = _NoBreakdown({(0, 0): D("100"), (0, 2): D("0")})
    client = client_of(exchange, key, ManualClock())
    listed = refuse_unknown_places(client, (0,), (0,))
    assert [
        (s.exchange_index, s.exchange_active, s.intra_exchange_transfers_active)
        for s in listed.values()
    ] == [(0, True, True)]
    with pytest.raises(UsageError) as raised:
        _mover(exchange, key).move(Move(D("1"), 0, 2))
    assert raised.value.message == "the exchange has no shard 2 (it lists 0)"
    assert exchange.posts == []


def test_a_move_within_one_shard_or_of_nothing_is_refused_before_anything() -> None:
    with pytest.raises(UsageError, match="both name shard 2"):
        Move(D("1"), 2, 2)
    with pytest.raises(UsageError, match="positive"):
        Move(D("0"), 0, 2)


def test_a_transfer_made_whose_status_cannot_be_read_is_never_sent_again(
    key: rsa.RSAPrivateKey,
) -> None:
    exchange = ShardExchange({(0, 0): D("100"), (0, 2): D("0")}, broken_after_post="status")
    with pytest.raises(TransferNotComplete) as raised:
        _mover(exchange, key).move(Move(D("10"), 0, 2))
    assert len(exchange.posts) == 1
    message = raised.value.one_line()
    assert "transfer tr-1 ($10.00 from shard 0 to shard 2) was made, but its status" in message
    assert "do not send it again" in message


def test_a_lost_answer_whose_history_cannot_be_read_stays_unknown(key: rsa.RSAPrivateKey) -> None:
    exchange = ShardExchange(
        {(0, 0): D("100"), (0, 2): D("0")}, answer="lost", broken_after_post="history"
    )
    with pytest.raises(TransferOutcomeUnknown) as raised:
        _mover(exchange, key).move(Move(D("10"), 0, 2))
    assert len(exchange.posts) == 1
    assert "the transfer history could not be read" in raised.value.one_line()
    assert raised.value.exit_code == ExitCode.OUTCOME_UNKNOWN


def _written_mover(
    exchange: ShardExchange, key: rsa.RSAPrivateKey, store: Store, clock: ManualClock
) -> MoneyMover:
    client = client_of(exchange, key, clock)
    return MoneyMover(client, clock, intents=store.transfer_intents, wait_s=30, lookup_s=10)


@pytest.mark.parametrize("subaccount", [0, 3])
def test_a_move_whose_run_ended_before_its_answer_is_found_by_the_next_run_not_sent_again(
    key: rsa.RSAPrivateKey, tmp_path: Path, subaccount: int
) -> None:
    """The run that sent the move never learned it was made (its answer lost and the history
    slow past its look, as a kill between sending and the answer leaves it): the move stays
    open in the state file, and the next run of the same move finds it in the history and
    sends nothing; a subaccount's move as well."""
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock)
    exchange = ShardExchange({(subaccount, 0): D("100"), (subaccount, 2): D("0")}, answer="lost")
    move = Move(D("25"), 0, 2, subaccount)
    exchange.history_lag = 1_000
    with pytest.raises(TransferOutcomeUnknown):
        _written_mover(exchange, key, store, clock).move(move)
    (left,) = store.transfer_intents.open_intents()
    assert (left.amount, left.source, left.target, left.subaccount) == (D("25"), 0, 2, subaccount)

    exchange.history_lag = exchange._unseen = 0  # the history shows it now
    exchange.answer = "sent"
    again = _written_mover(exchange, key, store, clock).move(move)
    assert len(exchange.posts) == 1  # sent once, by the first run
    assert not again.sent and again.transfer.transfer_id == "tr-1"
    (earlier,) = again.earlier
    assert (earlier.outcome, earlier.transfer_id) == ("made", "tr-1")
    assert "was made: transfer tr-1" in earlier.describe()
    assert store.transfer_intents.open_intents() == []  # closed: a third run sends anew
    _written_mover(exchange, key, store, clock).move(move)
    assert len(exchange.posts) == 2
    assert exchange.balances == {(subaccount, 0): D("50"), (subaccount, 2): D("50")}


class LockedAfterSending:
    """The state file's moves, whose write closing a sent move finds the file locked."""

    def __init__(self, inner: TransferIntentRepository) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def close(self, intent_id: int, outcome: str, transfer_id: str | None = None) -> None:
        raise StateFileLocked("the state file is locked: another writer held it past 10s")


def test_a_move_made_that_the_state_file_cannot_record_says_it_was_made(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """Before: "the state file is locked" alone (exit 21), of a transfer that had moved the
    money: a person would move it again."""
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock)
    exchange = ShardExchange({(0, 0): D("100"), (0, 2): D("0")})
    client = client_of(exchange, key, clock)
    intents = cast(TransferIntentRepository, LockedAfterSending(store.transfer_intents))
    mover = MoneyMover(client, clock, intents=intents, wait_s=30, lookup_s=10)
    with pytest.raises(KalshiError) as raised:
        mover.move(Move(D("25"), 0, 2))
    assert raised.value.exit_code == ExitCode.STATE_WRITE_FAILED
    said = raised.value.one_line()
    assert "transfer tr-1 ($25.00 from shard 0 to shard 2) was made" in said, said
    assert "the state file is locked" in said and "do not send it again" in said
    assert len(exchange.posts) == 1
    # left open in the state file, the next move of it finds it made and sends nothing
    again = _written_mover(exchange, key, store, clock).move(Move(D("25"), 0, 2))
    assert not again.sent and len(exchange.posts) == 1


def test_a_move_left_open_that_the_history_never_shows_was_not_made(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """A move written and never sent (the run killed before its request left): absent from the
    history once the lookup's time has passed, it is closed as not made and the move is sent."""
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock)
    exchange = ShardExchange({(0, 0): D("100"), (0, 2): D("0")})
    store.transfer_intents.record(D("25"), 0, 2, 0, known=())
    mover = _written_mover(exchange, key, store, clock)
    assert mover.settle_earlier(wait=False) == []  # too young to tell: left open
    result = mover.move(Move(D("25"), 0, 2))
    assert result.sent and len(exchange.posts) == 1
    assert [(e.outcome, e.transfer_id) for e in result.earlier] == [("not_made", None)]
    assert store.transfer_intents.open_intents() == []


def test_two_open_moves_of_one_amount_never_claim_the_same_transfer(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """Two runs each wrote the same move (shards and amount) and neither saw its answer; the
    history shows one such transfer. One move was made, so one intent closes made and the other,
    once the lookup's time has passed, not made: the money is counted as moved once."""
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock)
    exchange = ShardExchange({(0, 0): D("100"), (0, 2): D("0")})
    store.transfer_intents.record(D("25"), 0, 2, 0, known=())
    store.transfer_intents.record(D("25"), 0, 2, 0, known=())
    _mover(exchange, key).move(Move(D("25"), 0, 2))  # one of the two reached the exchange
    settled = _written_mover(exchange, key, store, clock).settle_earlier(wait=True)
    assert sorted((e.outcome, e.transfer_id) for e in settled) == [
        ("made", "tr-1"),
        ("not_made", None),
    ]
    assert store.transfer_intents.open_intents() == []


class AnotherMoveAfterTheFirstLook(ShardExchange):
    """A transfer of $25 from shard 0 to shard 2 by another subaccount lands right after the
    history is first read listing a transfer: one listed early is not yet the only one."""

    other_sent = False

    def _read(self, path: str, params: httpx.QueryParams) -> httpx.Response:
        answer = super()._read(path, params)
        listing = path == "/portfolio/intra_exchange_instance_transfers"
        if listing and self.history and not self.other_sent:
            self.other_sent = True
            another_subaccounts_move(self)
        return answer


def another_subaccounts_move(exchange: ShardExchange) -> None:
    """Subaccount 4 moves $25 from shard 0 to shard 2, answered: like the move under test."""
    exchange.balances[(4, 0)] = D("25")
    body = {
        "amount": 250_000,
        "source_subaccount": 4,
        "destination_subaccount": 4,
        "source_exchange_shard": 0,
        "destination_exchange_shard": 2,
    }
    sent = exchange.answer
    exchange.answer = "sent"
    exchange._transfer(body)
    exchange.answer = sent


class AnotherMoveAtTheWindowsEnd(ShardExchange):
    """Another subaccount's like transfer (`another_subaccounts_move`) is first listed by the
    read of the history `window_s` after its first read: the lookup window's very end."""

    clock: ManualClock
    window_s = 10.0
    first_look: float | None = None

    def _read(self, path: str, params: httpx.QueryParams) -> httpx.Response:
        if path == "/portfolio/intra_exchange_instance_transfers":
            now = self.clock.monotonic()
            self.first_look = now if self.first_look is None else self.first_look
            if now >= self.first_look + self.window_s and len(self.history) == 1:
                another_subaccounts_move(self)
        return super()._read(path, params)


def test_a_like_transfer_first_listed_at_the_lookups_very_end_leaves_a_lost_answer_unknown(
    key: rsa.RSAPrivateKey,
) -> None:
    """The history is read to the window's end: a second like transfer listed only by its last
    read could be ours as well, so the lost answer stays unknown, both named."""
    clock = ManualClock()
    exchange = AnotherMoveAtTheWindowsEnd({(0, 0): D("100"), (0, 2): D("0")}, answer="lost")
    exchange.clock = clock
    mover = MoneyMover(client_of(exchange, key, clock), clock, wait_s=30, lookup_s=10)
    with pytest.raises(TransferOutcomeUnknown) as raised:
        mover.move(Move(D("25"), 0, 2))
    message = raised.value.one_line()
    assert "2 new transfers of that amount between those shards (tr-2, tr-1)" in message


def test_a_second_like_transfer_listed_ends_a_lost_answers_lookup_at_once(
    key: rsa.RSAPrivateKey,
) -> None:
    """Two candidates listed: nothing later in the window can make the outcome known, so the
    trader is told at once, not when the window ends."""
    clock = ManualClock()
    exchange = AnotherMoveAfterTheFirstLook({(0, 0): D("100"), (0, 2): D("0")}, answer="lost")
    mover = MoneyMover(client_of(exchange, key, clock), clock, wait_s=30, lookup_s=10)
    started = clock.monotonic()
    with pytest.raises(TransferOutcomeUnknown) as raised:
        mover.move(Move(D("25"), 0, 2))
    assert clock.monotonic() - started < 10
    assert "(tr-2, tr-1)" in raised.value.one_line()


def test_an_open_move_with_a_second_candidate_in_its_window_is_ambiguous_not_made(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """The history names no subaccount: a move left open whose window shows one transfer of its
    shards and amount, then another, could be either; it is never closed as made by the first."""
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock)
    exchange = AnotherMoveAfterTheFirstLook({(0, 0): D("100"), (0, 2): D("0")})
    store.transfer_intents.record(D("25"), 0, 2, 0, known=())
    _mover(exchange, key).move(Move(D("25"), 0, 2))  # the open move reached the exchange
    settled = _written_mover(exchange, key, store, clock).settle_earlier(wait=True)
    assert [(e.outcome, sorted(e.candidates)) for e in settled] == [("ambiguous", ["tr-1", "tr-2"])]
    assert store.transfer_intents.open_intents() == []


def test_a_move_left_open_is_not_told_before_its_whole_window_has_passed(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """Half a second before its window ends a move is still too young to tell: a run that does
    not wait leaves it open and reads no history for it."""
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock)
    exchange = ShardExchange({(0, 0): D("100"), (0, 2): D("0")})
    store.transfer_intents.record(D("25"), 0, 2, 0, known=())
    clock.advance(9.5)
    assert _written_mover(exchange, key, store, clock).settle_earlier(wait=False) == []
    assert len(store.transfer_intents.open_intents()) == 1


class AnotherMoveOnTheSecondRead(ShardExchange):
    """Another subaccount's like transfer (`another_subaccounts_move`) is first listed by the
    second read of the history."""

    history_reads = 0

    def _read(self, path: str, params: httpx.QueryParams) -> httpx.Response:
        if path == "/portfolio/intra_exchange_instance_transfers":
            self.history_reads += 1
            if self.history_reads == 2:
                another_subaccounts_move(self)
        return super()._read(path, params)


def test_a_move_whose_window_has_passed_is_told_by_one_read_of_the_history(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """A move written and never sent, its window over: the history read now shows no like
    transfer, so it was not made; another's like transfer listed a moment later is not taken
    for it."""
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock)
    exchange = AnotherMoveOnTheSecondRead({(0, 0): D("100"), (0, 2): D("0")})
    store.transfer_intents.record(D("25"), 0, 2, 0, known=())
    clock.advance(10)
    settled = _written_mover(exchange, key, store, clock).settle_earlier(wait=True)
    assert [(e.outcome, e.transfer_id) for e in settled] == [("not_made", None)]


def test_two_open_moves_with_two_like_transfers_are_each_ambiguous(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """Either transfer could be either move's: neither move is closed as made by one, which
    would leave the other to take the second as its own."""
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock)
    exchange = ShardExchange({(0, 0): D("100"), (0, 2): D("0")})
    for _ in range(2):
        store.transfer_intents.record(D("25"), 0, 2, 0, known=())
        _mover(exchange, key).move(Move(D("25"), 0, 2))
    settled = _written_mover(exchange, key, store, clock).settle_earlier(wait=True)
    assert [(e.outcome, e.transfer_id) for e in settled] == [("ambiguous", None)] * 2
    assert store.transfer_intents.open_intents() == []


def test_a_transfer_an_earlier_run_found_made_is_never_a_later_runs_move(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """One run finds the first open move made by tr-1 and leaves a younger one open; the next
    run, once that one's window has passed, does not take tr-1 for it: it was not made."""
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock)
    exchange = ShardExchange({(0, 0): D("100"), (0, 2): D("0")})
    written = clock.wall()
    store.transfer_intents.record(D("25"), 0, 2, 0, known=())
    _mover(exchange, key).move(Move(D("25"), 0, 2))
    clock.advance(11)
    store.transfer_intents.record(D("25"), 0, 2, 0, known=())  # written, never sent
    first = _written_mover(exchange, key, store, clock).settle_earlier(wait=False)
    # when it was written too: `shard move --json` gives it (`recorded_at`)
    assert [(e.outcome, e.transfer_id, e.recorded_at) for e in first] == [("made", "tr-1", written)]
    clock.advance(11)
    later = _written_mover(exchange, key, store, clock).settle_earlier(wait=False)
    assert [(e.outcome, e.transfer_id) for e in later] == [("not_made", None)]


class AnotherRunClaimsItsMoveFirst(ShardExchange):
    """Two `kalshi shard move` runs of $25 from shard 0 to shard 2 on one state file at once:
    ours has read the history and writes its move; its request is lost before it reaches the
    exchange, while the other run's, like it, is made as tr-1 and claimed by that run."""

    store: Store

    def _transfer(self, body: dict[str, Any]) -> httpx.Response:
        if not self.posts:
            self.answer = "sent"
            other = self.store.transfer_intents.record(D("25"), 0, 2, 0, known=())
            made = json.loads(super()._transfer(body).content)["transfer_id"]
            self.store.transfer_intents.close(other, "made", made)
            raise httpx.ReadTimeout("timed out")  # ours never landed
        return super()._transfer(body)


def test_a_lost_answer_is_never_found_in_a_transfer_another_run_claimed(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """The history lists one like transfer, and another run's move claimed it: it is not ours,
    so our lost answer stays unknown and our move open, to be looked up again, never told made
    with the other run's money."""
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock)
    exchange = AnotherRunClaimsItsMoveFirst({(0, 0): D("100"), (0, 2): D("0")})
    exchange.store = store
    with pytest.raises(TransferOutcomeUnknown) as raised:
        _written_mover(exchange, key, store, clock).move(Move(D("25"), 0, 2))
    assert "no such transfer in the history" in raised.value.one_line()
    (ours,) = store.transfer_intents.open_intents()
    assert ours.transfer_id is None
    assert store.transfer_intents.claimed() == {"tr-1"}


class AnotherRunClaimsAfterTheLastLook(ShardExchange):
    """Ours lost before it reached the exchange; the other run's like transfer (tr-1) made, and
    claimed by that run just after our lookup's last read of the history listed it unclaimed."""

    store: Store
    clock: ManualClock
    window_s = 10.0
    first_look: float | None = None

    def _transfer(self, body: dict[str, Any]) -> httpx.Response:
        if not self.posts:
            self.answer = "sent"
            super()._transfer(body)
            raise httpx.ReadTimeout("timed out")  # ours never landed
        return super()._transfer(body)

    def _read(self, path: str, params: httpx.QueryParams) -> httpx.Response:
        answer = super()._read(path, params)
        if path == "/portfolio/intra_exchange_instance_transfers":
            now = self.clock.monotonic()
            self.first_look = now if self.first_look is None else self.first_look
            if now >= self.first_look + self.window_s:
                other = self.store.transfer_intents.record(D("25"), 0, 2, 0, known=())
                self.store.transfer_intents.close(other, "made", "tr-1")
        return answer


def test_a_transfer_claimed_by_another_run_as_the_lookup_ends_is_not_claimed_twice(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """The other run claims tr-1 between our last look and our claim: the claim is one write
    that takes a transfer no move holds, so ours is refused, stays open and unknown, and tr-1 is
    one move's."""
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock)
    exchange = AnotherRunClaimsAfterTheLastLook({(0, 0): D("100"), (0, 2): D("0")})
    exchange.store, exchange.clock = store, clock
    with pytest.raises(TransferOutcomeUnknown) as raised:
        _written_mover(exchange, key, store, clock).move(Move(D("25"), 0, 2))
    assert "tr-1 was claimed by another move" in raised.value.one_line()
    assert raised.value.hint == (
        "`kalshi shard transfers` shows what the exchange has; the next `kalshi shard move` "
        "looks this one up again"
    )
    (ours,) = store.transfer_intents.open_intents()
    assert ours.transfer_id is None
    assert store.transfer_intents.claimed() == {"tr-1"}


class AnotherRunFindsOursMade(ShardExchange):
    """Ours made as tr-1 and its answer lost; while our lookup reads the history, another `kalshi
    shard move` on the state file (its `settle_earlier`) finds tr-1 and claims it for our move."""

    store: Store

    def _transfer(self, body: dict[str, Any]) -> httpx.Response:
        if not self.posts:
            self.answer = "sent"
            super()._transfer(body)
            raise httpx.ReadTimeout("timed out")  # made, its answer lost
        return super()._transfer(body)

    def _read(self, path: str, params: httpx.QueryParams) -> httpx.Response:
        answer = super()._read(path, params)
        if path == "/portfolio/intra_exchange_instance_transfers":
            for ours in self.store.transfer_intents.open_intents():
                self.store.transfer_intents.claim(ours.intent_id, "tr-1")
        return answer


def test_a_lost_answer_another_run_found_for_this_move_is_told_made(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """The other run closed our own move made by tr-1 while we looked: tr-1 is this move's, so
    the move is told made and followed, never unknown (exit 10) with the hint that a later move
    looks it up again, which would not (it is closed) and a trader sending it again doubles."""
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock)
    exchange = AnotherRunFindsOursMade({(0, 0): D("100"), (0, 2): D("0")})
    exchange.store = store
    result = _written_mover(exchange, key, store, clock).move(Move(D("25"), 0, 2), wait=False)
    assert result.transfer.transfer_id == "tr-1"
    assert result.looked_up
    assert store.transfer_intents.open_intents() == []
    assert store.transfer_intents.claimed() == {"tr-1"}
    assert len(exchange.posts) == 1


class AnotherRunWritesItsMoveMeanwhile(ShardExchange):
    """While ours is sent (and answered), another run on the state file writes a move of the
    same amount between the same shards, having read the history before ours was made; its
    request never reaches the exchange."""

    store: Store

    def _transfer(self, body: dict[str, Any]) -> httpx.Response:
        if not self.posts:
            self.store.transfer_intents.record(D("25"), 0, 2, 0, known=())
        return super()._transfer(body)


def test_a_move_answered_is_recorded_with_its_transfer_so_no_other_move_takes_it(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """Our move is answered as tr-1 and closed with it: the other run's open move of the same
    amount, looked up once its window has passed, finds tr-1 ours and was not made. Closed
    without its transfer, tr-1 was free to be claimed for the other move: one move's money
    told as another's."""
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock)
    exchange = AnotherRunWritesItsMoveMeanwhile({(0, 0): D("100"), (0, 2): D("0")})
    exchange.store = store
    ours = _written_mover(exchange, key, store, clock).move(Move(D("25"), 0, 2))
    assert ours.sent and ours.transfer.transfer_id == "tr-1"
    assert store.transfer_intents.claimed() == {"tr-1"}
    clock.advance(11)
    later = _written_mover(exchange, key, store, clock).settle_earlier(wait=False)
    assert [(e.outcome, e.transfer_id) for e in later] == [("not_made", None)]


class AnotherRunsMoveLandsAsWeLook(ShardExchange):
    """Once `store` is set: as our run's first look of the history is read, another `kalshi shard
    move` on the state file writes its move of $25 from shard 0 to shard 2, which the exchange
    makes, and closes it made by that transfer once answered: our look lists it unclaimed, and
    our claim comes after the other run's."""

    store: Store | None = None
    other: str | None = None  # the other run's transfer

    def _read(self, path: str, params: httpx.QueryParams) -> httpx.Response:
        if path != "/portfolio/intra_exchange_instance_transfers" or self.store is None:
            return super()._read(path, params)
        intents, self.store = self.store.transfer_intents, None
        theirs = intents.record(D("25"), 0, 2, 0, known=(t["transfer_id"] for t in self.history))
        body = {
            "amount": 250_000,
            "source_subaccount": 0,
            "destination_subaccount": 0,
            "source_exchange_shard": 0,
            "destination_exchange_shard": 2,
        }
        self.other = json.loads(self._transfer(body).content)["transfer_id"]
        answer = super()._read(path, params)
        intents.close(theirs, "made", self.other)
        return answer


def test_a_transfer_another_run_claims_as_we_look_is_not_told_made_for_our_open_move(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """A run killed before sending left a move of $25 open. The next `kalshi shard move` of $25
    looks it up after its window: the one like transfer listed is another run's, claimed by that
    run before ours: it is that move's alone. Ours stays open (the next run finds it not made)
    and our move is sent; told made by the other run's transfer, the money of two moves would
    be one transfer's, and our $25 never sent."""
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock)
    exchange = AnotherRunsMoveLandsAsWeLook({(0, 0): D("100"), (0, 2): D("0")})
    killed = store.transfer_intents.record(D("25"), 0, 2, 0, known=())
    clock.advance(11)
    exchange.store = store
    ours = _written_mover(exchange, key, store, clock).move(Move(D("25"), 0, 2))
    assert exchange.other == "tr-1"
    assert ours.earlier == ()
    assert ours.sent and ours.transfer.transfer_id == "tr-2"
    assert exchange.balances == {(0, 0): D("50"), (0, 2): D("50")}  # both runs' money moved
    assert store.transfer_intents.claimed() == {"tr-1", "tr-2"}  # each one move's
    (left,) = store.transfer_intents.open_intents()
    assert left.intent_id == killed
    later = _written_mover(exchange, key, store, clock).settle_earlier(wait=False)
    assert [(e.outcome, e.transfer_id) for e in later] == [("not_made", None)]


def test_a_claim_lost_to_another_run_leaves_the_younger_open_moves_looked_up(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """Two moves left open by killed runs: $25 (never sent) and, younger, $10 (made as tr-1).
    The first's claim is lost to another run (`AnotherRunsMoveLandsAsWeLook`); the $10 move is
    still looked up in the same run and found made, so a `kalshi shard move` of $10 sends
    nothing again. Left open until a later run, the $10 would be sent twice."""
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock)
    exchange = AnotherRunsMoveLandsAsWeLook({(0, 0): D("100"), (0, 2): D("0")})
    store.transfer_intents.record(D("25"), 0, 2, 0, known=())
    store.transfer_intents.record(D("10"), 0, 2, 0, known=())
    _mover(exchange, key).move(Move(D("10"), 0, 2))  # the younger one reached the exchange
    clock.advance(11)
    exchange.store = store
    again = _written_mover(exchange, key, store, clock).move(Move(D("10"), 0, 2))
    assert exchange.other == "tr-2"
    assert [(e.move.amount, e.outcome, e.transfer_id) for e in again.earlier] == [
        (D("10"), "made", "tr-1")
    ]
    assert not again.sent and again.transfer.transfer_id == "tr-1"
    assert [p["amount"] for p in exchange.posts] == [100_000, 250_000]  # $10 once, theirs
    assert exchange.balances == {(0, 0): D("65"), (0, 2): D("35")}


class AnotherRunFindsAnOpenMoveMade(ShardExchange):
    """Once `store` is set: the first read of the history at or after `claim_at` (wall seconds)
    is followed by another run's lookup claiming every move left open for tr-1, as a `kalshi
    shard move` whose look of the same window ends a moment before ours does."""

    store: Store | None = None
    clock: ManualClock
    claim_at = 0.0

    def _read(self, path: str, params: httpx.QueryParams) -> httpx.Response:
        answer = super()._read(path, params)
        listing = path == "/portfolio/intra_exchange_instance_transfers"
        if listing and self.store is not None and self.clock.wall() >= self.claim_at:
            for open_move in self.store.transfer_intents.open_intents():
                self.store.transfer_intents.claim(open_move.intent_id, "tr-1")
            self.store = None
        return answer


def test_an_open_move_another_run_finds_made_as_we_look_is_told_made_not_sent_again(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """A move left open by a killed run was made as tr-1. Two runs look it up in its window;
    the other claims it for that move before our last look: tr-1 is still this move's, so ours
    tells it made and sends nothing. Taken for another move's, the move would be closed not
    made over the other run's claim and the money sent again."""
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock)
    exchange = AnotherRunFindsAnOpenMoveMade({(0, 0): D("100"), (0, 2): D("0")})
    exchange.clock = clock
    store.transfer_intents.record(D("25"), 0, 2, 0, known=())
    _mover(exchange, key).move(Move(D("25"), 0, 2))  # it reached the exchange as tr-1
    exchange.store, exchange.claim_at = store, clock.wall() + 9
    again = _written_mover(exchange, key, store, clock).move(Move(D("25"), 0, 2))
    assert exchange.store is None  # the other run claimed it while ours looked
    assert [(e.outcome, e.transfer_id) for e in again.earlier] == [("made", "tr-1")]
    assert not again.sent and len(exchange.posts) == 1
    assert exchange.balances == {(0, 0): D("75"), (0, 2): D("25")}


def test_a_move_another_run_finds_made_is_not_closed_not_made_by_a_run_whose_history_lags(
    key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    """A move left open by a killed run was made as tr-1. Another run finds it made while
    ours looks, but the history our run reads never shows tr-1 in the window: ours must not
    close the move not made over that claim (tr-1 would be no move's, and the other run's
    answer, made, contradicted by the state file); the move stays the other run's, made."""
    clock = ManualClock()
    store = Store.open(tmp_path / "state.db", clock=clock)
    exchange = AnotherRunFindsAnOpenMoveMade({(0, 0): D("100"), (0, 2): D("0")})
    exchange.clock = clock
    store.transfer_intents.record(D("25"), 0, 2, 0, known=())
    exchange.history_lag = 1_000  # our run's listings never show it
    _mover(exchange, key).move(Move(D("25"), 0, 2))  # it reached the exchange as tr-1
    exchange.store, exchange.claim_at = store, clock.wall()
    clock.advance(11)
    earlier = _written_mover(exchange, key, store, clock).settle_earlier(wait=False)
    assert exchange.store is None  # the other run claimed it while ours looked
    assert [(e.outcome, e.transfer_id) for e in earlier] == []
    assert store.transfer_intents.claimed() == {"tr-1"}
    assert store.transfer_intents.open_intents() == []
