"""The crypto strategy's first minutes in a trade loop joining a crypto simulator that has run
for a while (its market maker prices on minutes of the index; the loop's feed holds none of it
at its start): the model never prices a market at certainty on the few returns it has, and the
loop's first two minutes cost no more than a budget stated against its bankroll. The loop runs
on the in-process rig and a ManualClock, the index reaching it as the WebSocket carries it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.strategies import crypto
from kalshi_cli.strategy_api import Decision, MarketSnapshot, PositionView
from kalshi_cli.vocabulary.clock import ManualClock
from tests.runner.fakes import START, Rig, make_rig, new_exchange, swap_decide, trader

BANKROLL = Decimal(100)  # the strategy's default bankroll, and the account's cash


def joined_after(seconds: float, state: Path) -> Rig:
    """A loop started on the crypto scenario `seconds` after the simulator started."""
    clock = ManualClock(START)
    exchange = new_exchange("crypto", clock=clock)
    for _ in range(int(seconds)):
        clock.advance(1.0)
        exchange.tick()
    account = trader(exchange, cash_cents=int(BANKROLL * 100))
    return make_rig(state, strategy="crypto", exchange=exchange, clock=clock, account_id=account)


def liquidation_value(exchange: Exchange, account: str) -> Decimal:
    """Cash plus every position sold at its best bid now."""
    value = exchange.accounts.account(account).balance
    for p in exchange.accounts.positions(account):
        yes, no = exchange.engine.book(p.ticker)
        bids = yes if p.position > 0 else no
        value += abs(p.position) * max((price for price, _ in bids), default=Decimal(0))
    return value


def test_the_first_minute_of_prices_is_never_certain_on_a_fresh_feed(tmp_path: Path) -> None:
    rig = joined_after(180, tmp_path / "state.db")
    fairs: list[Decimal] = []

    def decide(
        snap: MarketSnapshot, pos: PositionView, params: crypto.CryptoParams
    ) -> Sequence[Decision]:
        answer = params.live_source.ask(snap)
        if answer is not None:
            fairs.append(answer.fair)
        return crypto.decide(snap, pos, params)

    swap_decide(rig.loop, decide)
    for _ in range(120):
        rig.step(0.5)
    assert len(fairs) > 1000  # every market priced on every pass once the returns sufficed
    assert Decimal(0) < min(fairs) and max(fairs) < Decimal(1), (min(fairs), max(fairs))


def test_two_minutes_from_a_fresh_feed_cost_at_most_five_percent_of_the_bankroll(
    tmp_path: Path,
) -> None:
    rig = joined_after(300, tmp_path / "state.db")
    for _ in range(240):
        rig.step(0.5)
    lost = BANKROLL - liquidation_value(rig.exchange, rig.client.account_id)
    assert lost <= BANKROLL * Decimal("0.05"), lost


def _idle(state: Path, exchange: Exchange, clock: ManualClock) -> list[dict[str, object]]:
    log = state.with_suffix(".jsonl")
    rig = make_rig(state, strategy="crypto", exchange=exchange, clock=clock, log_path=log)
    assert rig.loop.portfolio.markets, "the loop trades some markets"
    rig.loop.log.close()
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    return [r for r in rows if r["event"] == "strategy_idle"]


def test_a_loop_with_no_market_of_the_crypto_strategy_says_so_once_at_its_start(
    tmp_path: Path,
) -> None:
    # the default scenario has no market whose rules name a reference index
    clock = ManualClock(START)
    (idle,) = _idle(tmp_path / "default.db", new_exchange(clock=clock), clock)
    assert idle["strategy"] == "crypto" and "decides nothing" in str(idle["why"])
    clock = ManualClock(START)
    crypto_markets = new_exchange("crypto", clock=clock)
    clock.advance(1.0)
    crypto_markets.tick()  # its markets open
    assert _idle(tmp_path / "crypto.db", crypto_markets, clock) == []
