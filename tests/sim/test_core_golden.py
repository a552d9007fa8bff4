"""Golden pin of the matching core: a seeded random stream of orders, cancels,
amends and decreases over markets of every price structure (whole-cent, deci-cent, tapered
sub-penny ticks), whole and fractional counts, and three fee schedules (taker only, maker
fees, combo maker fees at a multiplier that makes the fee and rounding fees arise), answered
by the exchange core and recorded as served: each order, fill and trade through the wire's
serializers (fixed-point dollar strings), every refusal, the book deltas the WebSocket layer
hears, and every 100 steps the books, balances, positions, fees collected and open interest;
at the end a settlement. The record was written by the core as it was before its integer
rewrite (commit d51dcfc) and must not change: any change in a price, a count, a fee to the
$0.000001, a balance, a book level or the order of fills shows here.

Ids are random per exchange (a salt), so each id is replaced by its order of first
appearance. `python tests/sim/test_core_golden.py --write` rewrites the record (only when a
change of behaviour is intended and argued)."""

from __future__ import annotations

import json
import random
import sys
from dataclasses import fields
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import (
    BookChanged,
    ExchangeError,
    SimEvent,
    SimNotice,
    SimOrder,
    SimSeries,
    TradeHappened,
    copy_order,
)
from kalshi_cli.sim.core.serialize import (
    fill_json,
    order_json,
    orderbook_json,
    position_json,
    settlement_json,
    trade_json,
)
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.models import PRICE_STRUCTURES, FeeModel, FeeType
from kalshi_cli.vocabulary.units import BookSide, SelfTradePrevention, TimeInForce, fmt_dollars
from tests.runner.fakes import place_on_desk
from tests.sim.test_core import market

GOLDEN = Path(__file__).parent / "data" / "core_golden.json"
STEPS = 1_200
# (ticker, series, price structure, fractional)
MARKETS = [
    ("CENT", "TAKER", "linear_cent", False),
    ("DECI", "MAKER", "deci_cent", False),
    ("TAPER", "COMBO", "tapered_deci_cent", False),
    ("FRAC", "MAKER", "linear_cent", True),
    ("FTAPER", "COMBO", "tapered_deci_cent", True),
    ("FDECI", "MAKER", "deci_cent", True),
]
SERIES = [
    SimSeries("TAKER", "taker fees only", fee_type="quadratic", fee_multiplier="1"),
    SimSeries("MAKER", "maker fees", fee_type="quadratic_with_maker_fees", fee_multiplier="1"),
    SimSeries(
        "COMBO",
        "combo maker fees",
        fee_type="quadratic_with_combo_maker_fees",
        fee_multiplier="1.37",
    ),
]
ID_KEYS = {"order_id", "trade_id", "fill_id", "client_order_id", "user_id"}
# constants and duplicates of the served documents, left out of the record to keep it small
SAME = {"side", "action", "type", "exchange_index", "market_ticker", "ts", "created_time"}
SAME |= {"self_trade_prevention_type", "order_group_id", "cancel_order_on_pause"}
SAME |= {"expiration_time", "taker_side", "taker_outcome_side", "is_block_trade"}


def _ticks(structure: str) -> list[Decimal]:
    out: set[Decimal] = set()
    for r in PRICE_STRUCTURES[structure]:
        p = r.start
        while p <= r.end:
            out.add(p)
            p += r.step
    return sorted(out)


class Recorder:
    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.events: list[Any] = []

    def alias(self, value: str) -> str:
        if value not in self.aliases:
            self.aliases[value] = f"id{len(self.aliases)}"
        return self.aliases[value]

    def canon(self, doc: Any) -> Any:
        if isinstance(doc, dict):
            return {
                k: (self.alias(v) if k in ID_KEYS and isinstance(v, str) else self.canon(v))
                for k, v in doc.items()
                if k not in SAME
            }
        if isinstance(doc, list):
            return [self.canon(v) for v in doc]
        return doc

    def listen(self, notice: SimNotice) -> None:
        if isinstance(notice, BookChanged):
            self.events.append(
                ["book", notice.ticker, notice.side.value, str(notice.price), str(notice.delta)]
            )
        elif isinstance(notice, TradeHappened):
            self.events.append(["trade", self.canon(trade_json(notice.trade))])


FEES = FeeModel(FeeType.QUADRATIC, Decimal(1), None)


def build(journal: Path | None = None) -> tuple[Exchange, ManualClock, list[str], Recorder]:
    clock = ManualClock()
    ex = Exchange(clock, fees=FEES, journal=journal)
    for series in SERIES:
        ex.reference.add_series(series)
        ex.reference.add_event(SimEvent(f"EV-{series.ticker}", series.ticker, series.title))
    for ticker, series_ticker, structure, fractional in MARKETS:
        ex.add_market(
            market(
                ticker,
                structure,
                event_ticker=f"EV-{series_ticker}",
                series_ticker=series_ticker,
                fractional_trading_enabled=fractional,
            )
        )
    accounts = [
        ex.accounts.create_account(key_id=f"k{i}", public_key_pem="", cash_cents=cash).account_id
        for i, cash in enumerate([5_000, 20_000, 100_000, 250_000, 1_000_000, 3_000])
    ]
    accounts.append(
        ex.subaccounts.subaccount_ledger(accounts[2], ex.subaccounts.create_subaccount(accounts[2]))
    )
    ex.subaccounts.transfer(
        accounts[2], client_transfer_id="t1", from_subaccount=0, to_subaccount=1,
        amount_cents=40_000,
    )  # fmt: skip
    recorder = Recorder()
    ex.reference.add_listener(recorder.listen)
    return ex, clock, accounts, recorder


def snapshot(ex: Exchange, accounts: list[str], rec: Recorder) -> dict[str, Any]:
    return {
        "books": {t: orderbook_json(ex.engine, t, 0)["orderbook_fp"] for t, *_ in MARKETS},
        "accounts": [
            {
                "balance": fmt_dollars(ex.accounts.account(a).balance),
                "cash_cents": ex.accounts.account(a).cash_cents,
                "cash_exact": f"{ex.accounts.cash_dollars(a).normalize():f}",
                "held_exact": f"{ex.accounts.held_dollars(a).normalize():f}",
                "collateral_cents": ex.accounts.resting_collateral_cents(a),
                "portfolio_cents": ex.accounts.portfolio_value_cents(a),
                "positions": [rec.canon(position_json(p)) for p in ex.accounts.positions(a)],
                "resting": sorted(rec.alias(o.order_id) for o in ex.accounts.resting_orders(a)),
            }
            for a in accounts
        ],
        "fees_collected": f"{ex.engine.fees_collected.normalize():f}",
        "open_interest": f"{ex.accounts.open_interest().normalize():f}",
        "markets": {
            t: [str(m.last_price), str(m.volume), str(m.open_interest)]
            for t, m in sorted(ex.reference.markets.items())
        },
    }


def count_for(rng: random.Random, fractional: bool) -> Decimal:
    whole = Decimal(rng.randint(1, 12))
    if fractional and rng.random() < 0.7:
        return whole - Decimal(rng.randint(1, 99)) / 100
    return whole


def record(journal: Path | None = None) -> list[Any]:
    return run(journal)[0]


def run(
    journal: Path | None = None,
) -> tuple[list[Any], Exchange, list[str], Recorder]:
    rng = random.Random(17)
    ex, clock, accounts, rec = build(journal)
    ticks = {t: _ticks(s) for t, _, s, _ in MARKETS}
    out: list[Any] = []
    for step in range(STEPS):
        clock.advance(0.25)
        ticker, _, _, fractional = MARKETS[rng.randrange(len(MARKETS))]
        acct = accounts[rng.randrange(len(accounts))]
        what = rng.random()
        rec.events.clear()
        entry: dict[str, Any]
        try:
            resting = ex.accounts.resting_orders(acct)
            if what < 0.12 and resting:
                order = resting[rng.randrange(len(resting))]
                old, reduced = ex.desk.cancel_order(acct, order.order_id)
                entry = {"cancel": rec.canon(order_json(old)), "reduced": str(reduced)}
            elif what < 0.18 and resting:
                order = resting[rng.randrange(len(resting))]
                cut = count_for(rng, ex.reference.markets[order.ticker].fractional_trading_enabled)
                new = ex.desk.decrease_order(acct, order.order_id, reduce_by=cut, reduce_to=None)
                entry = {"decrease": rec.canon(order_json(new))}
            elif what < 0.26 and resting:
                order = resting[rng.randrange(len(resting))]
                grid = ticks[order.ticker]
                i = grid.index(order.price) + rng.randint(-4, 4)
                price = grid[min(max(i, 0), len(grid) - 1)]
                frac = ex.reference.markets[order.ticker].fractional_trading_enabled
                count = order.fill_count + count_for(rng, frac)
                old, new, fills = ex.desk.amend_order(
                    acct,
                    order.order_id,
                    ticker=order.ticker,
                    book_side=order.book_side,
                    price=price,
                    count=count,
                )
                entry = {
                    "amend": rec.canon(order_json(old)),
                    "new": rec.canon(order_json(new)),
                    "fills": [rec.canon(fill_json(f)) for f in fills],
                }
            else:
                grid = ticks[ticker]
                side = BookSide.BID if rng.random() < 0.5 else BookSide.ASK
                centre = len(grid) // 2 + rng.randint(-len(grid) // 12, len(grid) // 12)
                i = centre + rng.randint(-len(grid) // 25 - 1, len(grid) // 25 + 1)
                price = grid[min(max(i, 0), len(grid) - 1)]
                tif = rng.choices([TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK], [8, 2, 1])[0]
                reduce_only = tif is TimeInForce.IOC and rng.random() < 0.3
                result = place_on_desk(
                    ex,
                    acct,
                    ticker,
                    side,
                    price,
                    count_for(rng, fractional),
                    time_in_force=tif,
                    self_trade_prevention=rng.choice(list(SelfTradePrevention)),
                    post_only=tif is TimeInForce.GTC and rng.random() < 0.1,
                    reduce_only=reduce_only,
                )
                entry = {
                    "place": rec.canon(order_json(result.order)),
                    "fills": [rec.canon(fill_json(f)) for f in result.fills],
                }
        except ExchangeError as exc:
            entry = {"refused": [exc.status, exc.code, exc.message]}
        entry["events"] = list(rec.events)
        out.append(entry)
        if step % 100 == 99:
            out.append({"snapshot": snapshot(ex, accounts, rec)})
    ex.settlement.settle("CENT", "yes")
    ex.settlement.settle("FTAPER", "no")
    out.append({"snapshot": snapshot(ex, accounts, rec)})
    out.append(
        {
            "settlements": [
                [rec.canon(settlement_json(s)) for s in ex.accounts.settlements(a)]
                for a in accounts
            ],
            "fills": [[rec.canon(fill_json(f)) for f in ex.history.fills(a)] for a in accounts],
        }
    )
    return out, ex, accounts, rec


def test_the_core_answers_as_recorded() -> None:
    got = json.loads(json.dumps(record()))
    want = json.loads(GOLDEN.read_text())
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"entry {i} differs"


def test_a_restart_from_the_journal_restores_the_same_state(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    got, ex, accounts, rec = run(path)
    assert json.loads(json.dumps(got)) == json.loads(GOLDEN.read_text())
    ex.close()
    restored = Exchange(ManualClock(), fees=FEES, journal=path)
    try:
        assert restored.restored
        assert snapshot(restored, accounts, rec) == snapshot(ex, accounts, rec)
        fills = [[rec.canon(fill_json(f)) for f in restored.history.fills(a)] for a in accounts]
        assert fills == [[rec.canon(fill_json(f)) for f in ex.history.fills(a)] for a in accounts]
    finally:
        restored.close()


def test_the_record_exercises_what_it_pins() -> None:
    """The stream reaches fills with rounding and rebates, maker fees, every refusal kind the
    plan raises, fractional fills and sub-penny prices: a pin of nothing would pass anyway."""
    want = json.loads(GOLDEN.read_text())
    fills = [f for e in want for f in e.get("fills", []) if isinstance(f, dict)]
    fills += [f for e in want if "settlements" in e for per in e["fills"] for f in per]
    refused = {e["refused"][1] for e in want if "refused" in e}
    assert len(fills) > 300
    assert any(f["is_taker"] is False and f["fee_cost"] != "0.000000" for f in fills)
    assert any(not f["count_fp"].endswith(".00") for f in fills)
    assert any(len(f["yes_price_dollars"].rstrip("0").split(".")[1]) == 3 for f in fills)
    assert any(len(f["fee_cost"].rstrip("0").split(".")[1]) > 4 for f in fills)
    assert {"insufficient_balance", "fill_or_kill_insufficient_resting_volume"} <= refused
    assert any("amend" in e for e in want) and any("decrease" in e for e in want)
    assert any(e.get("settlements") for e in want)


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    GOLDEN.write_text(json.dumps(record(), indent=None, separators=(",", ":")) + "\n")


def test_a_copied_order_has_every_attribute_of_the_order() -> None:
    """`copy_order` names the fields one by one; an order with no field at its default is
    copied whole, as a distinct object (a field left out would come back as its default)."""
    ex, clock, accounts, _ = build()
    order = place_on_desk(
        ex,
        accounts[0],
        "FDECI",
        BookSide.ASK,
        "0.517",
        "3.25",
        self_trade_prevention=SelfTradePrevention.MAKER,
        client_order_id="c1",
        expiration_time=int(clock.wall()) + 60,
        cancel_order_on_pause=True,
        order_group_id=ex.groups.create_order_group(
            accounts[0], contracts_limit=Decimal(100)
        ).order_group_id,
    ).order
    place_on_desk(
        ex,
        accounts[1],
        "FDECI",
        BookSide.BID,
        "0.517",
        "1.01",
        time_in_force=TimeInForce.IOC,
        self_trade_prevention=SelfTradePrevention.MAKER,
    )
    live = ex.history.order(accounts[0], order.order_id)
    live.taker_fill_cost = Decimal("0.0123")
    live.taker_fees = Decimal("0.0007")
    live.reduce_only = live.post_only = True
    copied = copy_order(live)
    assert copied is not live
    assert vars(copied) == vars(live)
    defaults = {f.name: f.default for f in fields(SimOrder)}
    assert all(vars(live)[name] != default for name, default in defaults.items())
