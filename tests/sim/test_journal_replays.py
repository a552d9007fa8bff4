"""A journal always replays: long mixed sessions of the default scenario (its liquidity provider
and noise traders), a quoting loop, hand orders, IOCs, kill switches, order groups, subaccounts,
API keys, RFQs, pauses, compactions and idle stops, each restart rebuilding the state that was
served."""

from __future__ import annotations

import contextlib
import random
import uuid
from decimal import Decimal as D
from pathlib import Path

import pytest

from kalshi_cli.sim.core.communications import QuoteRequest, RfqRequest
from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.historical import HistoryPolicy, attach_retention
from kalshi_cli.sim.core.records import ExchangeError, PlaceRequest, ledger_id
from kalshi_cli.sim.core.scenarios import build_exchange
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide, SelfTradePrevention, TimeInForce
from tests.runner.fakes import place_on_desk

LOOP_TICKER = "KXBTCD-SIM-T99000"


def served(ex: Exchange) -> str:
    """What a client can be served (the participants' finished orders, which the exchange
    forgets, left out): ids, books, money, positions, resting orders, groups, RFQs."""
    lines = [str(ex.reference.seq)]
    markets = ex.reference.markets.values()
    lines += [f"{m.ticker} {m.status} {ex.engine.book(m.ticker)!r}" for m in markets]
    for ledger, acct in sorted(ex.accounts.states.items()):
        resting = sorted(
            (o.order_id, o.client_order_id, o.remaining_count, o.price, o.expiration_time)
            for orders in acct.resting.values()
            for o in orders.values()
        )
        positions = sorted((t, p.position, p.cost_basis) for t, p in acct.positions.items())
        cash, held = sorted(acct.cash.items()), sorted(acct.held_on.items())
        lines.append(f"{ledger} {cash} {held} {positions} {resting}")
    groups = ex.groups.groups.values()
    lines.append(repr(sorted((g.order_group_id, g.triggered, list(g.matched)) for g in groups)))
    lines.append(repr(sorted((q.quote_id, q.status, q.order_id) for q in ex.quotes.values())))
    lines.append(repr(sorted(ex.subaccounts.keyring.added)))
    return "\n".join(lines)


class Session:
    """One trader's session on a served exchange, restarted from its journal at idle stops."""

    def __init__(self, journal: Path, seed: int) -> None:
        self.journal = journal
        self.rng = random.Random(seed)
        self.clock = ManualClock(start=1_700_000_000.0)
        self.ex = self.build()
        accounts = self.ex.accounts
        self.me = accounts.create_account(key_id="me", public_key_pem="PEM", cash_cents=1_000_00)
        self.other = accounts.create_account(key_id="o", public_key_pem="PEM", cash_cents=500_00)
        self.ex.subaccounts.create_subaccount(self.me.account_id)
        self.ledgers = [self.me.account_id, ledger_id(self.me.account_id, 1)]
        self.orders: list[tuple[str, str]] = []
        self.groups: list[tuple[str, str]] = []
        self.quotes: list[str] = []

    def build(self) -> Exchange:
        ex = build_exchange("default", clock=self.clock, journal=self.journal)
        attach_retention(ex, HistoryPolicy())  # as served: finished records are archived
        return ex

    def idle_stop(self) -> None:
        """The simulator stops, and a later command starts it again from its journal."""
        before = served(self.ex)
        self.ex.close()
        self.clock = ManualClock(start=self.clock.wall() + self.rng.choice([60, 900, 3600]))
        self.ex = self.build()
        assert served(self.ex) == before

    def place(self, ledger: str, **terms: object) -> None:
        rng = self.rng
        request = {
            "ticker": rng.choice(sorted(self.ex.reference.markets)),
            "book_side": rng.choice(list(BookSide)),
            "price": D(rng.randint(1, 99)) / 100,
            "count": D(rng.randint(1, 20)),
            "time_in_force": rng.choice([TimeInForce.GTC, TimeInForce.IOC]),
            "self_trade_prevention": rng.choice(list(SelfTradePrevention)),
            **terms,
        }
        if request["time_in_force"] is TimeInForce.GTC and rng.random() < 0.2:
            request["expiration_time"] = int(self.clock.wall()) + rng.randint(1, 20)
        if rng.random() < 0.3:
            request["client_order_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if rng.random() < 0.2:
            request["cancel_order_on_pause"] = True
        mine = [g for owner, g in self.groups if owner == ledger]
        if mine and rng.random() < 0.3:
            request["order_group_id"] = rng.choice(mine)
        order = self.ex.desk.place_order(ledger, PlaceRequest(**request)).order  # type: ignore[arg-type]
        self.orders.append((ledger, order.order_id))

    def loop_turn(self) -> None:
        """A quoting strategy's turn: withdraw its quotes, quote again around the mid."""
        me = self.me.account_id
        for order in self.ex.accounts.resting_orders(me, LOOP_TICKER):
            self.ex.desk.cancel_order(me, order.order_id)
        for side, price in ((BookSide.BID, "0.30"), (BookSide.ASK, "0.42")):
            self.place(me, ticker=LOOP_TICKER, book_side=side, price=D(price), count=D(5),
                       time_in_force=TimeInForce.GTC)  # fmt: skip

    def step(self) -> None:  # noqa: C901 (one branch per kind of input)
        rng, ex, desk = self.rng, self.ex, self.ex.desk
        ledger = rng.choice(self.ledgers)
        op = rng.random()
        if op < 0.25:
            self.place(ledger)
        elif op < 0.30:
            self.loop_turn()
        elif op < 0.38 and self.orders:
            desk.cancel_order(*rng.choice(self.orders))
        elif op < 0.43 and self.orders:
            owner, order_id = rng.choice(self.orders)
            order = ex.history.order(owner, order_id)
            desk.amend_order(
                owner, order_id, ticker=order.ticker, book_side=order.book_side,
                price=D(rng.randint(1, 99)) / 100, count=order.fill_count + rng.randint(1, 20),
                expiration_time=rng.choice([None, 0, int(self.clock.wall()) + 5]),
            )  # fmt: skip
        elif op < 0.46 and self.orders:
            desk.decrease_order(*rng.choice(self.orders), reduce_by=D(1), reduce_to=None)
        elif op < 0.48:  # the kill switch
            desk.cancel_all(ledger, ticker=rng.choice([None, LOOP_TICKER]))
        elif op < 0.50:
            group = ex.groups.create_order_group(ledger, D(rng.randint(1, 30)))
            self.groups.append((ledger, group.order_group_id))
        elif op < 0.52 and self.groups:
            owner, group_id = rng.choice(self.groups)
            change = rng.choice([ex.groups.trigger_order_group, ex.groups.reset_order_group])
            change(owner, group_id)
        elif op < 0.53:
            ex.subaccounts.transfer(
                self.me.account_id, client_transfer_id=str(uuid.UUID(int=rng.getrandbits(128))),
                from_subaccount=rng.randint(0, 1), to_subaccount=rng.randint(0, 1),
                amount_cents=rng.randint(1, 500),
            )  # fmt: skip
        elif op < 0.54:  # `kalshi key create`, between orders
            ex.subaccounts.add_api_key(self.me.account_id, name="bot", public_key_pem="PEM")
        elif op < 0.55:
            ticker = rng.choice(sorted(ex.reference.markets))
            status = ex.reference.markets[ticker].status
            ex.settlement.set_market_status(ticker, "paused" if status == "open" else "open")
        elif op < 0.56:
            rfq = ex.communications.create_rfq(
                self.other.account_id,
                RfqRequest(
                    market_ticker=rng.choice(sorted(ex.reference.markets)),
                    contracts=D(rng.randint(1, 10)),
                    target_cost=None,
                    rest_remainder=True,
                    replace_existing=True,
                ),
            )
            quote = ex.communications.create_quote(
                self.me.account_id,
                QuoteRequest(
                    rfq_id=rfq.rfq_id,
                    yes_bid=D("0.40"),
                    no_bid=D("0.40"),
                    rest_remainder=rng.random() < 0.5,
                ),
            )
            self.quotes.append(quote.quote_id)
        elif op < 0.57 and self.quotes:
            quote_id = rng.choice(self.quotes)
            side = rng.choice(["yes", "no"])
            ex.communications.accept_quote(self.other.account_id, quote_id, side)
            ex.communications.confirm_quote(self.me.account_id, quote_id)
        elif op < 0.58:
            ex.compact()
        elif op < 0.985:
            self.clock.advance(rng.choice([0.1, 0.5, 1, 3, 10]))
            ex.tick()
        else:
            self.idle_stop()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_long_mixed_session_replays_at_every_idle_stop(tmp_path: Path, seed: int) -> None:
    session = Session(tmp_path / "exchange.journal", seed)
    for _ in range(500):
        with contextlib.suppress(ExchangeError):  # refused: nothing was journaled
            session.step()
    session.idle_stop()
    session.ex.close()


def test_an_api_key_made_between_orders_keeps_the_ids_a_replay_makes(tmp_path: Path) -> None:
    journal = tmp_path / "exchange.journal"
    clock = ManualClock()
    ex = build_exchange("quiet", clock=clock, journal=journal)
    me = ex.accounts.create_account(key_id="me", public_key_pem="PEM", cash_cents=100_00)
    key = ex.subaccounts.add_api_key(me.account_id, name="bot", public_key_pem="PEM")
    order = place_on_desk(
        ex, me.account_id, "KXFEDDECISION-SIM-DEC-H0", BookSide.BID, "0.05", 1
    ).order
    ex.desk.cancel_order(me.account_id, order.order_id)
    ex.close()
    again = build_exchange("quiet", clock=clock, journal=journal)
    assert again.history.order(me.account_id, order.order_id).status == "canceled"
    assert again.subaccounts.api_key(key.api_key_id) == key
    again.close()
