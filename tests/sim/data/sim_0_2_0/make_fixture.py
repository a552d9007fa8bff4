"""Writes a simulator data directory with the code of version 0.2.0: run it with that version
importable (`git worktree add DIR 94784e49`, the release of 0.2.0, then `PYTHONPATH=DIR python
make_fixture.py OUT [--snapshot]`). The state is the default scenario, an account of $1,000.00
with a subaccount, a resting order and a fill; with `--snapshot` compacted into a snapshot halfway,
then more records after it, else a journal alone (as a simulator keeps it below 100,000 records)."""

import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.sim.core.records import PlaceRequest
from kalshi_cli.sim.core.scenarios import build_exchange
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide, SelfTradePrevention, TimeInForce

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=False)
clock = ManualClock(1_790_000_000.0)
exchange: Any = build_exchange(  # 0.2.0's Exchange: its methods have moved since
    "default", clock=clock, journal=out / "exchange.journal"
)
user = exchange.create_account(key_id="fixture-key", public_key_pem="", cash_cents=100_000)


def order(ticker: str, side: BookSide, price: str, count: str) -> None:
    exchange.place_order(
        user.account_id,
        PlaceRequest(
            ticker, side, Decimal(price), Decimal(count), TimeInForce.GTC, SelfTradePrevention.MAKER
        ),
    )


exchange.create_subaccount(user.account_id)
exchange.transfer(
    user.account_id,
    client_transfer_id="fixture-1",
    from_subaccount=0,
    to_subaccount=1,
    amount_cents=2_500,
)
for _ in range(5):
    clock.advance(2)
    exchange.tick()
order("KXBTCD-SIM-T97000", BookSide.BID, "0.10", "5")  # rests
order("KXBTCD-SIM-T97000", BookSide.BID, "0.99", "2")  # takes the book's best offer
if "--snapshot" in sys.argv[2:]:
    exchange.compact()
clock.advance(2)
exchange.tick()
order("KXNBAGAME-SIM-LALGSW-LAL", BookSide.BID, "0.05", "3")
exchange.close()
