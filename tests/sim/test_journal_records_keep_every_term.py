"""A restart keeps every term of the journaled inputs of several fields (an account, an amend,
a series' or an event's fee change, a subaccount transfer, an API key, an RFQ, a quote, a
transfer across shards): the session of `every_journaled_term.py` sets each away from its
default, and the replayed exchange has the state the live one had. A journal the code before
these records were typed wrote (its `data/journal_before_typed_records/`) replays to the state
this code makes of the same session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import msgspec

from kalshi_cli.sim.core.communications import Communications, QuoteRequest, RfqRequest
from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import (
    AccountRequest,
    AmendRequest,
    FeeChangeRequest,
    FeeOverrideChangeRequest,
    PlaceRequest,
    from_journal,
    journal,
)
from kalshi_cli.sim.core.shard_transfers import ShardTransferRequest
from kalshi_cli.sim.core.subaccounts import ApiKeyRequest, TransferRequest
from kalshi_cli.vocabulary.clock import ManualClock
from tests.conftest import STANDARD_FEES
from tests.sim.every_journaled_term import START, build, kept, run

WRITTEN_BEFORE = Path(__file__).parent / "data" / "journal_before_typed_records"
# each record the session writes of a type that names its terms, by the record's op
TYPED: dict[str, type[msgspec.Struct]] = {
    "account": AccountRequest,
    "amend": AmendRequest,
    "fee_change": FeeChangeRequest,
    "event_fee_change": FeeOverrideChangeRequest,
    "transfer": TransferRequest,
    "api_key": ApiKeyRequest,
    "rfq_create": RfqRequest,
    "quote_create": QuoteRequest,
    "shard_transfer": ShardTransferRequest,
}


def session(ex: Exchange, clock: ManualClock) -> None:
    """`run`, its RFQs and quote made as this code takes them."""

    def ask(comms: Communications, account: str, terms: dict[str, Any], rfq_id: str) -> object:
        return comms.create_rfq(account, RfqRequest(**terms), rfq_id)

    def offer(comms: Communications, account: str, terms: dict[str, Any], quote_id: str) -> object:
        return comms.create_quote(account, QuoteRequest(**terms), quote_id)

    run(ex, clock, ask, offer)


def test_the_session_sets_every_term_of_every_typed_record_away_from_its_default(
    tmp_path: Path,
) -> None:
    """So the restart below would show a term a replay dropped, a term added since included
    (an order's own terms are proven by the tests of `place`, tests/sim/test_journal.py)."""
    requests = {
        kind
        for kind in msgspec.Struct.__subclasses__()
        if kind.__module__.startswith("kalshi_cli.sim.core.") and kind.__name__.endswith("Request")
    }
    assert requests == {PlaceRequest, *TYPED.values()}
    journal = tmp_path / "exchange.journal"
    clock = ManualClock(START)
    ex = Exchange(clock, fees=STANDARD_FEES, journal=journal)
    build(ex)
    session(ex, clock)
    ex.close()
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    for op, kind in TYPED.items():
        written = [from_journal(kind, rec) for rec in records if rec["op"] == op]
        for term in msgspec.structs.fields(kind):
            if term.default is not msgspec.NODEFAULT:
                assert any(getattr(w, term.name) != term.default for w in written), (op, term.name)


def test_every_term_of_a_journaled_input_survives_a_restart(tmp_path: Path) -> None:
    journal = tmp_path / "exchange.journal"
    clock = ManualClock(START)
    live = Exchange(clock, fees=STANDARD_FEES, journal=journal)
    build(live)
    session(live, clock)
    served = kept(live)
    live.close()
    again = Exchange(ManualClock(clock.wall() + 60), fees=STANDARD_FEES, journal=journal)
    try:
        assert again.restored
        assert kept(again) == served
    finally:
        again.close()


def test_a_journal_written_before_the_records_were_typed_replays_to_this_codes_state(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "exchange.journal"
    shutil.copy(WRITTEN_BEFORE / "exchange.journal", journal)
    with journal.open() as lines:
        salt = int(json.loads(next(lines))["salt"], 16)
    clock = ManualClock(START)
    live = Exchange(clock, fees=STANDARD_FEES)
    live.reference.set_salt(salt)  # the ids the old session made
    build(live)
    session(live, clock)
    replayed = Exchange(ManualClock(clock.wall() + 60), fees=STANDARD_FEES, journal=journal)
    try:
        assert replayed.restored
        assert kept(replayed) == kept(live)
    finally:
        replayed.close()


def test_a_term_equal_to_its_default_is_left_out_of_a_type_that_omits_defaults() -> None:
    """As the records were before they were typed: an account on shard 0 alone names no shards,
    however its tuple was made, and a transfer on shard 0 no `exchange_index`."""
    on_zero = journal(AccountRequest("k", "PEM", 100, tuple([0])))
    assert on_zero == {"key_id": "k", "public_key_pem": "PEM", "cash_cents": 100}
    assert journal(AccountRequest("k", "PEM", 100, (0, 1)))["shards"] == (0, 1)
    transfer = TransferRequest("c", 0, 1, 5, exchange_index=int("0"))
    assert "exchange_index" not in journal(transfer, account_id="u")
