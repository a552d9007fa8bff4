"""A set of legs in a state file as the loop leaves it: the set begun on a subaccount, and each of
its legs named here an order of the set's tag filled whole on that subaccount."""

from __future__ import annotations

from decimal import Decimal

from kalshi_cli.store import IntentRecord, Store
from kalshi_cli.store.leg_sets import SetLeg, set_tag
from kalshi_cli.vocabulary.units import Action, BookSide, Side

A, B = "KXLEGS-26JAN01-A", "KXLEGS-26JAN01-B"


def set_of_no_legs(
    store: Store,
    set_id: str,
    *,
    no_price: str,
    filled: tuple[str, ...],
    subaccount: int,
    ended: str,
    reason: str = "arbitrage: one NO in every market",
) -> None:
    """NO 5 in A and B at `no_price`, the legs in `filled` bought whole on `subaccount` by orders
    whose reason is the strategy's `reason` and the set's tag, the set marked `ended` ("whole",
    "broken")."""
    legs = [SetLeg(t, Side.NO, Decimal(no_price), Decimal(5)) for t in (A, B)]
    store.leg_sets.begin(set_id, "arbitrage", legs, subaccount)
    for ticker in filled:
        client_order_id = f"leg-{set_id}-{ticker}"
        store.orders.record_intent(
            IntentRecord(
                client_order_id=client_order_id,
                ticker=ticker,
                book_side=BookSide.ASK,
                price=1 - Decimal(no_price),
                count=Decimal(5),
                side=Side.NO,
                action=Action.BUY,
                reason=f"{reason} {set_tag(set_id)}",
                subaccount=subaccount,
            )
        )
        store.orders.mark_sent(
            client_order_id,
            order_id=f"o-{set_id}-{ticker}",
            status="executed",
            fill_count=Decimal(5),
            remaining_count=Decimal(0),
        )
    store.leg_sets.mark(set_id, ended)
