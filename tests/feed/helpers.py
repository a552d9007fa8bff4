"""Shared by the feed tests: waiting on a condition, and driving a simulator market's book."""

from __future__ import annotations

import random
import uuid
from typing import Any

from kalshi_cli.client.signing import KalshiAuth
from kalshi_cli.feed.book import FeedMessage, MessageSink
from kalshi_cli.feed.ws import FrameSink, WsFeed
from kalshi_cli.vocabulary.clock import Backoff
from kalshi_cli.vocabulary.errors import NotFoundError
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.models import Orderbook, decode_orderbook
from tests.waiting import wait_until
from tests.wire import order_body


class SimBooks:
    """Makes a simulator market's book move through the REST API, and reads it back."""

    def __init__(self, sim: Any, seed: int = 5) -> None:
        self.sim = sim
        self.maker = sim.account
        self.taker = sim.new_account(balance_cents=10_000_000)
        self.rng = random.Random(seed)
        self.resting: list[str] = []

    def market(self, ticker: str) -> str:
        self.sim.create_market(ticker)
        return ticker

    def order(
        self, account: Any, ticker: str, *, side: str, price: str, count: str, tif: str
    ) -> Any:
        body = order_body(
            ticker,
            side=side,
            price=price,
            count=count,
            time_in_force=tif,
            client_order_id=str(uuid.uuid4()),
        )
        return self._send(account, "POST", "/portfolio/events/orders", json=body).json()

    def _send(self, account: Any, method: str, path: str, **kwargs: Any) -> Any:
        """A signed request, waiting out the simulator's rate limit (the basic tier allows
        about ten orders a second)."""
        answer: list[Any] = []

        def accepted() -> bool:
            answer[:] = [self.sim.signed(account, method, path, **kwargs)]
            return bool(answer[0].status_code != 429)

        wait_until(accepted, f"{method} {path} past the rate limit")
        response = answer[0]
        assert response.status_code in (200, 201, 404), response.text
        return response

    def rest_orders(self, ticker: str, n: int) -> None:
        """n resting orders that do not cross (YES bids below 0.50, asks above), some of them
        cancelled again, so the feed sees additions and removals on both sides."""
        for _ in range(n):
            if self.rng.random() < 0.5:
                side, cents = "bid", self.rng.randint(1, 45)
            else:
                side, cents = "ask", self.rng.randint(55, 99)
            count = f"{self.rng.randint(1, 20)}.00"
            placed = self.order(
                self.maker,
                ticker,
                side=side,
                price=f"0.{cents:02d}00",
                count=count,
                tif="good_till_canceled",
            )
            self.resting.append(placed["order_id"])
            if self.rng.random() < 0.25:
                self.cancel(ticker, self.resting.pop(self.rng.randrange(len(self.resting))))

    def cancel(self, ticker: str, order_id: str) -> None:
        self._send(
            self.maker,
            "DELETE",
            f"/portfolio/events/orders/{order_id}",
            params={"market_ticker": ticker},
        )

    def cross(self, ticker: str) -> None:
        """Take liquidity from the best levels of both sides with another account."""
        for side, price in (("bid", "0.9900"), ("ask", "0.0100")):
            self.order(
                self.taker, ticker, side=side, price=price, count="7.00", tif="immediate_or_cancel"
            )

    def rest_book(self, ticker: str) -> Orderbook:
        response = self._send(self.maker, "GET", f"/markets/{ticker}/orderbook")
        if response.status_code == 404:
            raise NotFoundError(f"unknown ticker {ticker}", status=404)
        return decode_orderbook(ticker, response.json())

    def signer(self) -> KalshiAuth:
        key, _ = load_private_key(path=self.maker.private_key_path)
        return KalshiAuth(self.maker.key_id, key)

    def feed(
        self,
        tickers: list[str],
        messages: list[FeedMessage],
        *,
        idle_timeout: float = 5.0,
        signed: bool = True,
        sink: MessageSink | None = None,
        yes_priced: bool = True,
        frame_sink: FrameSink | None = None,
    ) -> WsFeed:
        return WsFeed(
            self.maker.ws_url,
            tickers,
            yes_priced=yes_priced,
            sink=sink or messages.append,
            frame_sink=frame_sink,
            auth=self.signer() if signed else None,
            idle_timeout=idle_timeout,
            backoff=Backoff(base=0.05, cap=0.2),
        )

    def wait_equal(self, feed: Any, ticker: str) -> None:
        """Wait until the feed's book equals the simulator's REST book (Decimal levels). Only
        the test moves this market, so the REST book read once is the final one."""
        rest = self.rest_book(ticker)
        wait_until(
            lambda: feed.book(ticker) == rest,
            lambda: f"the {ticker} book: feed={feed.book(ticker)} sim={rest}",
        )
