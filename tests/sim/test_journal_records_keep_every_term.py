"""A restart keeps every term of the journaled inputs of several fields (an amend, a series' or an
event's fee change, a subaccount transfer, an API key, an RFQ, a quote): the session of
`every_journaled_term.py` sets each away from its default, and the replayed exchange has the
state the live one had. A journal the code before these records were typed wrote (its
`data/journal_before_typed_records/`) replays to the state this code makes of the same
session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.vocabulary.clock import ManualClock
from tests.conftest import STANDARD_FEES
from tests.sim.every_journaled_term import START, build, kept, run

WRITTEN_BEFORE = Path(__file__).parent / "data" / "journal_before_typed_records"


def test_every_term_of_a_journaled_input_survives_a_restart(tmp_path: Path) -> None:
    journal = tmp_path / "exchange.journal"
    clock = ManualClock(START)
    live = Exchange(clock, fees=STANDARD_FEES, journal=journal)
    build(live)
    run(live, clock)
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
    run(live, clock)
    replayed = Exchange(ManualClock(clock.wall() + 60), fees=STANDARD_FEES, journal=journal)
    try:
        assert replayed.restored
        assert kept(replayed) == kept(live)
    finally:
        replayed.close()
