"""One session of the simulated exchange that gives every term of the inputs journaled with
several fields (an account, an amend, a scheduled series or event fee change, a subaccount
transfer, an API key, an RFQ, a quote and a transfer across shards) a value other than its
default, so a term a replay dropped shows as a difference in `kept`. The code before these
records were typed ran the same session (its RFQs and quotes made by its own calls) and wrote
the journal under `data/journal_before_typed_records/` (`make_fixture.py` there)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

from kalshi_cli.sim.core.communications import Communications
from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import (
    PlaceRequest,
    SimEvent,
    SimMarket,
    SimSeries,
    ledger_id,
)
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import PRICE_STRUCTURES
from kalshi_cli.vocabulary.units import BookSide, SelfTradePrevention, TimeInForce

START = 1_790_000_000.0  # the session's clock at its start
ON_0, ON_1, OTHER = "J-ONE", "J-SHARD", "J-TWO"
RFQ_IDS = ("6f1c2a34-8b7d-4e5f-9a0b-1c2d3e4f5a6b", "0a9b8c7d-6e5f-4a3b-8c1d-2e3f4a5b6c7d")
QUOTE_ID = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
EXECUTED_IDS = ("9d8c7b6a-5f4e-4d3c-9b2a-1f0e9d8c7b6a", "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e")
# the RFQs' terms (the second replaces the first) and the quote's, as keywords: the code before
# these records were typed took them so, this code takes them as one value
RFQS: tuple[dict[str, Any], ...] = (
    {"market_ticker": OTHER, "contracts": D(3), "target_cost": None, "rest_remainder": False},
    {"market_ticker": ON_0, "contracts": None, "target_cost": D("4.00"), "rest_remainder": True,
     "replace_existing": True, "obscure_creator_id": True, "target_cost_excludes_fees": True,
     "subaccount": 1},
)  # fmt: skip
QUOTE: dict[str, Any] = {"rfq_id": RFQ_IDS[1], "yes_bid": D("0.40"), "no_bid": D("0.55"),
                         "rest_remainder": True, "post_only": True, "subaccount": 1}  # fmt: skip
# creates an RFQ (or a quote) of an account: (its communications, account id, terms, id)
Create = Callable[[Communications, str, dict[str, Any], str], object]


def _market(ticker: str, event: str, series: str) -> SimMarket:
    return SimMarket(
        ticker, event, series, ticker, "yes", "no", "open", "linear_cent",
        PRICE_STRUCTURES["linear_cent"], 0.0, 2_000_000_000.0, 2_000_000_000.0, 0.0, 0.0,
    )  # fmt: skip


def build(ex: Exchange) -> None:
    """The series, events and markets: one event on shard 0 with two markets, one on shard 1."""
    ex.reference.add_series(SimSeries("J", "series"))
    ex.reference.add_series(SimSeries("JS", "on shard 1", exchange_index=1))
    ex.reference.add_event(SimEvent("J-E", "J", "event"))
    ex.reference.add_event(SimEvent("JS-E", "JS", "event on shard 1", exchange_index=1))
    ex.add_market(_market(ON_0, "J-E", "J"))
    ex.add_market(_market(OTHER, "J-E", "J"))
    ex.add_market(_market(ON_1, "JS-E", "JS"))


def run(ex: Exchange, clock: ManualClock, ask: Create, offer: Create) -> None:
    """Every journaled input of several fields, each field away from its default. `ask` and
    `offer` create an RFQ and a quote of the terms `RFQS` and `QUOTE` give, with the id given."""
    accounts, subs, comms = ex.accounts, ex.subaccounts, ex.communications
    maker = accounts.create_account(key_id="maker", public_key_pem="", cash_cents=500_00,
                                    shards=(0, 1)).account_id  # fmt: skip
    taker = accounts.create_account(key_id="taker", public_key_pem="", cash_cents=500_00).account_id
    clock.advance(1)
    ex.schedule_fee_change("J", "quadratic_with_maker_fees", "2", START + 3600)
    ex.schedule_event_fee_change("J-E", "quadratic", "3", START + 7200)
    for user in (maker, taker):
        subs.create_subaccount(user)
    clock.advance(1)
    subs.transfer(maker, client_transfer_id="move-on-shard-1", from_subaccount=0,
                  to_subaccount=1, amount_cents=123_45, exchange_index=1)  # fmt: skip
    subs.transfer(maker, client_transfer_id="move-on-shard-0", from_subaccount=0,
                  to_subaccount=1, amount_cents=100_00)  # fmt: skip
    subs.transfer(taker, client_transfer_id="move-on-shard-0", from_subaccount=0,
                  to_subaccount=1, amount_cents=200_00)  # fmt: skip
    subs.add_api_key(maker, name="bot", public_key_pem="PEM", scopes=("read", "write::trade"),
                     subaccount=1)  # fmt: skip
    clock.advance(1)
    order = ex.desk.place_order(
        maker,
        PlaceRequest(ON_0, BookSide.ASK, D("0.70"), D(10), TimeInForce.GTC,
                     SelfTradePrevention.MAKER, client_order_id="first-coid"),
    ).order  # fmt: skip
    clock.advance(1)
    ex.desk.amend_order(
        maker, order.order_id, ticker=ON_0, book_side=BookSide.ASK, price=D("0.68"), count=D(12),
        updated_client_order_id="amended-coid", expiration_time=int(START) + 86_400,
    )  # fmt: skip
    for rfq_id, terms in zip(RFQ_IDS, RFQS, strict=True):
        clock.advance(1)
        ask(comms, taker, terms, rfq_id)
    clock.advance(1)
    offer(comms, maker, QUOTE, QUOTE_ID)
    clock.advance(1)
    comms.accept_quote(taker, QUOTE_ID, "no")
    comms.confirm_quote(maker, QUOTE_ID)
    clock.advance(20)
    comms.execute(QUOTE_ID, client_order_ids=EXECUTED_IDS)
    clock.advance(1)
    ex.shard_transfers.start(maker, source_subaccount=1, destination_subaccount=0,
                             source_shard=0, destination_shard=1,
                             amount_centicents=12_345)  # fmt: skip


def kept(ex: Exchange) -> list[Any]:
    """What the session changed, as plain values (so two exchanges compare)."""
    fees = ex.reference.fees
    ledgers = sorted(ex.accounts.states)
    return [
        ex.reference.seq,
        fees.fee_changes(),
        fees.event_fee_changes(),
        sorted(ex.subaccounts.users.items()),
        sorted(ex.subaccounts.keyring.added.items()),
        ex.shard_transfers.book,
        sorted(ex.rfqs.items()),
        sorted(ex.quotes.items()),
        [(lid, ex.history.orders(lid), ex.history.fills(lid)) for lid in ledgers],
        [(lid, sorted(ex.accounts.states[lid].cash.items())) for lid in ledgers],
        [ledger_id(u, 1) in ex.accounts.states for u in sorted(ex.subaccounts.users)],
    ]
