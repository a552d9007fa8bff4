"""`kalshi trade` reads its markets and their fees after its start-up reconcile and before the
loop exists (seconds on a large selection): a fill made then is the loop's to book, though no
comparison of positions may notice it (a bid and an ask of the same size filled leave the
position where it was)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.client.signing import KalshiAuth
from kalshi_cli.runner.config import Selection, StrategyChoice, TradeOptions, load_trade_config
from kalshi_cli.runner.lifecycle.session import trade
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import SimHarness
from tests.runner.simproc import Book, client_for

TICKER = "KXSTARTGAP-26-A"
READING_S = 3.0  # how long the start's fee reads take here: past the fill reads' 2 s margin


class SlowFeeReads(httpx.BaseTransport):
    """The simulator over loopback, except that the first read of the events' fee changes (the
    start's fee model, after its reconcile) runs `meanwhile` and then takes `READING_S`."""

    def __init__(self, meanwhile: Callable[[], None]) -> None:
        self._inner = httpx.HTTPTransport()
        self._meanwhile: Callable[[], None] | None = meanwhile

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events/fee_changes") and self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            meanwhile()
            time.sleep(READING_S)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_a_bid_and_an_ask_filled_while_the_start_reads_its_fees_are_booked(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A bid and an ask of 4 rest on the account (a stopped run's quotes, or placed by hand).
    The start reconciles, then, while it reads the fee model, both fill: the position is 0 as
    the reconcile found it, and the comparison passes. A pass of the loop (`--once`, its stop
    reading fills once more) must book both: before, its reads began 2 s before it was built,
    after the fills, and the state file never had them."""
    sim.create_market(TICKER)
    account = sim.new_account(balance_cents=10_000_000)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    Book(other, TICKER).quote("0.30", "0.70")
    key, _ = load_private_key(path=Path(account.private_key_path))
    own = KalshiClient(api_base=account.api_base, key_id=account.key_id, private_key=key)
    for book_side, price in ((BookSide.BID, "0.45"), (BookSide.ASK, "0.55")):
        own.orders.create_order(
            CreateOrder(TICKER, book_side, Decimal(price), Decimal(4), TimeInForce.GTC)
        )
    own.close()

    def both_fill() -> None:
        for book_side, price in ((BookSide.ASK, "0.45"), (BookSide.BID, "0.55")):
            other.orders.create_order(
                CreateOrder(TICKER, book_side, Decimal(price), Decimal(4), TimeInForce.IOC)
            )

    client = KalshiClient(
        api_base=account.api_base,
        key_id=account.key_id,
        private_key=key,
        transport=SlowFeeReads(both_fill),
    )
    options = TradeOptions(
        strategies=(StrategyChoice("market-maker"),),
        selection=Selection(tickers=(TICKER,)),
        once=True,
        dry_run=True,
        log_file=tmp_path / "trade.log",
        order_group=False,
    )
    with client:
        trade(
            options,
            env="sim",
            state_path=tmp_path / "state.db",
            config=load_trade_config(None),
            client=client,
            ws_url=account.ws_url,
            signer=KalshiAuth(account.key_id, key),
            out=io.StringIO(),
            read_lag_s=0.0,
        )
    other.close()
    with Store.open(tmp_path / "state.db") as store:
        fills = store.fills.read(ticker=TICKER)
        assert sorted((f.book_side, f.yes_price, f.count) for f in fills) == [
            (BookSide.ASK, Decimal("0.55"), Decimal(4)),
            (BookSide.BID, Decimal("0.45"), Decimal(4)),
        ]
        assert [o for o in store.orders.open_orders() if o.ticker == TICKER] == []
