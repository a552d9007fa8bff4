"""A fill copied into the state file (`kalshi reconcile`, the read commands' catch-up, a trade
loop's start) that was made before fills the file already holds changes what those later
fills realized (average cost is path dependent): each fill's stored realized P&L, which the
daily circuit breaker adds up, is written again to what the replay in time order gives, the
figure `kalshi pnl` reports. Only the fills that lacked one were given theirs before."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from kalshi_cli.services.pnl import fill_record_from_api, summarize_store
from kalshi_cli.services.reconcile import reconcile
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import ManualClock, utc_day
from tests.runner.fakes import START, FakeClient, listed_fill, new_exchange, trader


def test_a_copied_fill_made_before_stored_ones_gives_them_what_the_replay_in_time_order_does(
    tmp_path: Path,
) -> None:
    clock = ManualClock(START + 60)
    exchange = new_exchange(clock=clock)
    client = FakeClient(exchange, trader(exchange), clock=clock)
    ticker = next(iter(exchange.reference.markets))
    bought = listed_fill("t1-buy", ticker, "bid", "0.4000", 10)
    more = listed_fill("t2-buy", ticker, "bid", "0.5000", 20)
    sold = listed_fill("t3-sell", ticker, "ask", "0.6000", 30)
    with Store.open(tmp_path / "s.db", clock=clock) as store:
        # as a trade loop stored them, the second purchase not listed yet: +$2.00 on the sale
        for fill, net in ((bought, "-0.01"), (sold, "1.99")):
            record = fill_record_from_api(fill, read_at=clock.wall())
            store.fills.record_fill(replace(record, realized_pnl=Decimal(net)))
        client.iter_fills = lambda **_: iter([sold, more, bought])  # type: ignore[method-assign]
        reconcile(client, store, clock=clock, read_lag_s=0.0)
        # 20 bought at $0.45 on average, 10 sold at $0.60: +$1.50 less $0.03 of fees
        stored = {f.fill_id: f.realized_pnl for f in store.fills.iter_fills()}
        assert stored == {
            "t1-buy": Decimal("-0.01"),
            "t2-buy": Decimal("-0.01"),
            "t3-sell": Decimal("1.49"),
        }
        assert summarize_store(store).realized == Decimal("1.47")
        assert store.trading.daily_realized_pnl(utc_day(START)) == Decimal("1.47")
