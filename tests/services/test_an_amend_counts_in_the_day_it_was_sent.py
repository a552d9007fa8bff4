"""An amend is counted in the UTC day it was sent (agent/ledger.py reads `amend_sent_at`),
whatever the state file held of its order when it left: an order of the assistant's placed
yesterday, whose answer was never booked here (its row pending, without the exchange's id),
amended today by id is today's, as one the file held resting is. Otherwise the assistant's
budget would not see the contracts and dollars the amend added."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from kalshi_cli.agent.ledger import day_orders, spent_today
from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.services.fees import load_fee_models
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.store import IntentRecord, Store
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.order_terms import owned_client_order_id
from kalshi_cli.vocabulary.owners import AGENT
from kalshi_cli.vocabulary.units import Action, BookSide, Side

YESTERDAY = 1_700_000_000.0  # 22:13:20 UTC
TODAY = 1_700_006_400.0 + 600  # ten minutes into the next UTC day


def test_an_amend_of_an_order_held_pending_counts_in_the_day_it_was_sent(
    client: KalshiClient, ticker: str, tmp_path: Path
) -> None:
    clock = ManualClock(YESTERDAY)
    with Store.open(tmp_path / "state.db", clock=clock) as store:
        create = CreateOrder(
            ticker, BookSide.BID, D("0.03"), D(2), client_order_id=owned_client_order_id(AGENT)
        )
        pending = IntentRecord.pending(
            create, side=Side.YES, action=Action.BUY, subaccount=0, now=clock.wall(), strategy=AGENT
        )
        store.orders.record_intent(pending)
        # sent, and its process gone before the answer was booked
        order_id = client.orders.create_order(create).order_id
        clock.advance(TODAY - YESTERDAY)

        OrderService(client, store, clock=clock).amends.amend(order_id, price=D("0.05"), count=D(6))

        found = day_orders(store, AGENT)
        assert [(i.client_order_id, placed) for i, placed in found] == [
            (create.client_order_id, False)
        ]
        fees = load_fee_models(client, [client.markets.get_market(ticker)])
        assert spent_today(store, AGENT, fees).contracts == 6
