"""Writes `exchange.journal` here with the code from before the simulator's journal records were
typed (commit 7c475eb7): from the repository's root, with that commit's `kalshi_cli` first on the
path (`git archive 7c475eb7 kalshi_cli | tar -x -C OLD`, then `PYTHONPATH=OLD:. python
tests/sim/data/journal_before_typed_records/make_fixture.py OUT`). The session is
`tests/sim/every_journaled_term.py`'s: every term of an amend, a fee change, a transfer, an API
key, an RFQ and a quote away from its default."""

import sys
from pathlib import Path
from typing import Any

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.vocabulary.clock import ManualClock
from tests.conftest import STANDARD_FEES
from tests.sim.every_journaled_term import START, build, run


def ask(comms: Any, account: str, terms: dict[str, Any], rfq_id: str) -> object:
    return comms.create_rfq(account, rfq_id=rfq_id, **terms)  # that code's keywords


def offer(comms: Any, account: str, terms: dict[str, Any], quote_id: str) -> object:
    return comms.create_quote(account, quote_id=quote_id, **terms)


out = Path(sys.argv[1])
clock = ManualClock(START)
exchange = Exchange(clock, fees=STANDARD_FEES, journal=out)
build(exchange)
run(exchange, clock, ask, offer)
exchange.close()
