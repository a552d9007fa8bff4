"""KalshiClient against the real simulator over loopback.

Every response here also passes the suite's openapi.yaml check (the `sim` fixture validates
each one). The simulator's `/sim/v1/stats` counts what actually arrived, which is how these
tests prove that a burst stayed inside the tier and that an order was sent exactly once.
"""

from __future__ import annotations

import re
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import AmendOrder, CreateOrder
from kalshi_cli.client.signing import KalshiAuth, KeyOnDemand
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import (
    AuthError,
    CredentialsError,
    NotFoundError,
    OrderOutcomeUnknown,
    RateLimitedError,
    ServerError,
)
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.keys import generate_private_key, load_private_key
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.openapi_check import RECORDER

if TYPE_CHECKING:
    from kalshi_cli.vocabulary.keys import PrivateKey
    from tests.conftest import SimHarness


class FastClock:
    """Real wall time (signatures must be fresh) but sleeping is instant: backoff and pacing
    waits move a virtual monotonic clock instead of holding the test up."""

    def __init__(self) -> None:
        self.slept = 0.0

    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic() + self.slept

    def sleep(self, seconds: float) -> None:
        self.slept += max(0.0, seconds)


class SkewedClock:
    """A machine whose clock is `offset` seconds off."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def wall(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


def _client(account: AccountInfo, **kwargs: Any) -> KalshiClient:
    key, _ = load_private_key(path=account.private_key_path)
    return KalshiClient(api_base=account.api_base, key_id=account.key_id, private_key=key, **kwargs)


def _stats(admin_url: str, key_id: str) -> dict[str, Any]:
    stats = httpx.get(f"{admin_url}/stats").json()
    account: dict[str, Any] = stats["accounts"].get(
        key_id, {"requests": {}, "total_requests": 0, "rate_limited": 0, "order_create_requests": 0}
    )
    return account


def _bid(ticker: str, price: str = "0.40", count: int = 3, **extra: Any) -> CreateOrder:
    return CreateOrder(
        ticker=ticker, book_side=BookSide.BID, price=Decimal(price), count=Decimal(count), **extra
    )


# ------------------------------------------------------------------------------------------
# signatures


def test_signed_requests_are_accepted(sim: SimHarness) -> None:
    with _client(sim.account) as client:
        balance = client.portfolio.get_balance()
        assert balance.balance == Decimal("1000.00")
        assert client.last_latency_ms is not None
        assert abs(client.exchange.clock_skew_seconds()) < 2.0
    # the skew probe goes unsigned (a bad clock must not stop it), so one signed request
    assert _stats(sim.admin_url, sim.account.key_id)["total_requests"] == 1


def test_an_id_that_needs_escaping_reaches_the_exchange(sim: SimHarness) -> None:
    """The signature covers the path as sent (escaped), as Kalshi verifies it (REFERENCE.md
    section 2), so an id with a space, '%', '?', '#' or a non-ASCII letter is answered by the
    endpoint (here: not found, naming the id as given), never refused as a bad signature."""
    with _client(sim.account) as client:
        for ident in ("id with space", "A%B", "a?b", "a#b", "\u00e9-\u00fc"):
            with pytest.raises(NotFoundError, match=re.escape(f"unknown order {ident}")):
                client.orders.get_order(ident)
            with pytest.raises(NotFoundError, match=re.escape(f"unknown ticker {ident}")):
                client.markets.get_market(ident)


def test_the_orderbook_is_read_without_a_key_and_signed_with_one(sim: SimHarness) -> None:
    """API 3.31.0 made the orderbook public; a server that still wants a signature gets one
    whenever a key is configured (the client signs every request it has a key for)."""
    sim.create_market("KXOB-SIM-A")
    anonymous = KalshiClient(api_base=sim.account.api_base)
    assert anonymous.markets.get_orderbook("KXOB-SIM-A").ticker == "KXOB-SIM-A"
    anonymous.close()
    with _client(sim.account) as signed:
        signed.markets.get_orderbook("KXOB-SIM-A")
    # counted under its key id: the request carried the signature headers
    assert _stats(sim.admin_url, sim.account.key_id)["total_requests"] == 1


def test_a_key_read_on_demand_signs_public_reads_only_once_a_private_request_read_it(
    sim: SimHarness,
) -> None:
    """A client whose key is read on demand (the CLI's) sends a public read unsigned and never
    reads the key for it; the first private request reads it, and from then on every request is
    signed, public reads too (`client.signing.signs`)."""
    sim.create_market("KXOB-SIM-B")
    reads: list[str] = []

    def load() -> PrivateKey:
        reads.append(sim.account.private_key_path)
        return load_private_key(path=sim.account.private_key_path)[0]

    client = KalshiClient(
        api_base=sim.account.api_base, key_id=sim.account.key_id, private_key=KeyOnDemand(load)
    )
    with client:
        assert client.authenticated
        client.markets.get_market("KXOB-SIM-B")
        assert reads == []
        assert _stats(sim.admin_url, sim.account.key_id)["total_requests"] == 0  # unsigned
        client.portfolio.get_balance()
        client.markets.get_market("KXOB-SIM-B")
    assert len(reads) == 1
    # the balance and the second market read, each under its key id: both signed
    assert _stats(sim.admin_url, sim.account.key_id)["total_requests"] == 2


def test_order_book_reads_are_signed_whenever_a_key_is_configured(sim: SimHarness) -> None:
    """The order book reads are public in the pinned spec, but the exchange marked them as
    wanting a signature from 3.13 (REFERENCE.md): a client with a key signs them, reading the
    key for them, so a server that still wants one gets it."""
    sim.create_market("KXOB-SIM-D")
    client = KalshiClient(
        api_base=sim.account.api_base,
        key_id=sim.account.key_id,
        private_key=KeyOnDemand(lambda: load_private_key(path=sim.account.private_key_path)[0]),
    )
    with client:
        client.markets.get_orderbook("KXOB-SIM-D")
        client.markets.get_orderbooks(["KXOB-SIM-D"])
    assert _stats(sim.admin_url, sim.account.key_id)["total_requests"] == 2


def test_a_key_that_cannot_be_read_fails_the_first_private_request_before_it_is_sent(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A key file that cannot be read does not stop a public read; the first request that needs
    the key fails with its one-line credentials error (exit 4), nothing sent."""
    sim.create_market("KXOB-SIM-C")
    missing = tmp_path / "gone.pem"

    def load() -> PrivateKey:
        return load_private_key(path=missing)[0]

    client = KalshiClient(
        api_base=sim.account.api_base, key_id=sim.account.key_id, private_key=KeyOnDemand(load)
    )
    with client:
        assert client.markets.get_market("KXOB-SIM-C").ticker == "KXOB-SIM-C"
        with pytest.raises(CredentialsError, match="does not exist") as info:
            client.portfolio.get_balance()
    assert info.value.exit_code is ExitCode.CREDENTIALS
    assert _stats(sim.admin_url, sim.account.key_id)["total_requests"] == 0


def test_a_wrong_key_gets_a_clear_auth_error(sim: SimHarness) -> None:
    impostor = KalshiClient(
        api_base=sim.account.api_base, key_id=sim.account.key_id, private_key=generate_private_key()
    )
    with impostor, pytest.raises(AuthError) as info:
        impostor.portfolio.get_balance()
    assert (info.value.status, info.value.code) == (401, "authentication_error")
    assert "SIGNATURE" in info.value.message
    assert info.value.exit_code is ExitCode.AUTH
    assert "key" in info.value.one_line()


def test_an_unknown_key_id_gets_a_clear_auth_error(sim: SimHarness) -> None:
    key, _ = load_private_key(path=sim.account.private_key_path)
    client = KalshiClient(api_base=sim.account.api_base, key_id="no-such-key", private_key=key)
    with client, pytest.raises(AuthError, match="unknown API key"):
        client.portfolio.get_balance()


def test_a_stale_timestamp_is_refused_and_blames_the_clock(sim: SimHarness) -> None:
    with _client(sim.account, clock=SkewedClock(-600)) as client:
        with pytest.raises(AuthError) as info:
            client.portfolio.get_balance()
        assert "timestamp" in info.value.message
        assert "clock" in (info.value.hint or "")
        # the Date header tells how far off we are
        assert client.exchange.clock_skew_seconds() == pytest.approx(600, abs=2)


# ------------------------------------------------------------------------------------------
# rate limits


def test_a_burst_of_60_reads_never_trips_the_limiter(tmp_path: Path) -> None:
    # The client and the simulator share one ManualClock: the client's pacing waits advance it
    # and the simulator's buckets refill by it, so the arithmetic is exact however slowly this
    # machine runs (on real clocks a loaded machine refilled the bucket between slow requests).
    clock = ManualClock(time.time())  # now, so signatures are fresh
    running = start_simulator(
        tmp_path, scenario="empty", tier="basic", clock=clock, response_hook=RECORDER.hook
    )
    try:
        market = {"ticker": "KXBURST-1", "event_ticker": "KXB", "series_ticker": "KX", "title": "b"}
        httpx.post(f"{running.admin_url}/markets", json=market).raise_for_status()
        account = running.account
        started = clock.monotonic()
        with _client(account, tier="basic", clock=clock) as client:
            for _ in range(60):
                assert client.markets.get_market("KXBURST-1").ticker == "KXBURST-1"
        paced = clock.monotonic() - started
        stats = _stats(running.admin_url, account.key_id)
        assert stats["rate_limited"] == 0
        assert stats["total_requests"] == 60  # nothing was refused, so nothing was retried
        # 600 tokens against a 200-token bucket refilled at 200/s: the client had to wait for
        # the 400 the bucket did not hold (the clock moves only when the client waits)
        assert paced >= 2.0

        # the control: the same burst without pacing is refused by the simulator at the 21st
        # read (200 tokens, 10 a read, and the clock does not move between them)
        other = httpx.post(f"{running.admin_url}/accounts", json={}).json()
        naive_key, _ = load_private_key(path=other["private_key_path"])
        auth = KalshiAuth(other["key_id"], naive_key, clock=clock)
        with httpx.Client(auth=auth) as naive:
            codes = [
                naive.get(f"{account.api_base}/markets/KXBURST-1").status_code for _ in range(21)
            ]
        assert codes == [200] * 20 + [429]
        assert _stats(running.admin_url, other["key_id"])["rate_limited"] == 1
    finally:
        running.stop()


# ------------------------------------------------------------------------------------------
# retries


def test_gets_are_retried_through_injected_5xx_and_429(sim: SimHarness) -> None:
    sim.create_market("KXRETRY-1")
    sim.set_faults(http_5xx_rate=0.3, http_429_rate=0.3, seed=11)
    with _client(sim.account, clock=FastClock(), max_attempts=10, max_retry_seconds=600) as c:
        for _ in range(20):
            assert c.markets.get_market("KXRETRY-1").ticker == "KXRETRY-1"
    sim.clear_faults()
    stats = _stats(sim.admin_url, sim.account.key_id)
    sent = stats["requests"]["GET /markets/{ticker}"]
    injected_429 = stats["rate_limited"]
    assert injected_429 > 0
    assert sent - 20 - injected_429 > 0  # some 5xx were retried too
    assert sent > 20


def test_gets_give_up_after_the_attempt_bound(sim: SimHarness) -> None:
    sim.set_faults(http_5xx_rate=1.0)
    client = _client(sim.account, clock=FastClock(), max_attempts=3)
    with client, pytest.raises(ServerError) as info:
        client.portfolio.get_balance()
    sim.clear_faults()
    assert info.value.exit_code is ExitCode.EXCHANGE_ERROR
    assert _stats(sim.admin_url, sim.account.key_id)["requests"]["GET /portfolio/balance"] == 3


def test_an_order_is_never_resent_and_is_reconciled_by_client_order_id(sim: SimHarness) -> None:
    sim.create_market("KXONCE-1")
    key_id = sim.account.key_id
    with _client(sim.account, clock=FastClock()) as client:
        # 5xx before the handler ran: unknown outcome for us, and in fact nothing exists
        sim.set_faults(http_5xx_rate=1.0)
        lost = _bid("KXONCE-1")
        with pytest.raises(OrderOutcomeUnknown) as info:
            client.orders.create_order(lost)
        assert info.value.client_order_id == lost.client_order_id
        assert _stats(sim.admin_url, key_id)["order_create_requests"] == 1

        # 429: refused, nothing created, not re-sent
        sim.clear_faults()
        sim.set_faults(http_429_rate=1.0)
        with pytest.raises(RateLimitedError):
            client.orders.create_order(_bid("KXONCE-1"))
        assert _stats(sim.admin_url, key_id)["order_create_requests"] == 2

        # the answer is dropped after the exchange committed the order
        sim.clear_faults()
        sim.set_faults(drop_response_after_commit_rate=1.0)
        committed = _bid("KXONCE-1", price="0.41")
        with pytest.raises(OrderOutcomeUnknown) as info:
            client.orders.create_order(committed)
        assert info.value.client_order_id == committed.client_order_id
        assert _stats(sim.admin_url, key_id)["order_create_requests"] == 3
        sim.clear_faults()

        found = client.orders.find_order_by_client_id(committed.client_order_id, "KXONCE-1")
        assert found is not None
        assert found.yes_price == Decimal("0.41")
        assert found.status == "resting"
        assert client.orders.find_order_by_client_id(lost.client_order_id, "KXONCE-1") is None
    assert _stats(sim.admin_url, key_id)["order_create_requests"] == 3


# ------------------------------------------------------------------------------------------
# pagination and every endpoint


def test_pagination_across_many_pages(sim: SimHarness) -> None:
    tickers = [f"KXPAGE-{i:02d}" for i in range(23)]
    for ticker in tickers:
        sim.create_market(ticker, event_ticker="KXPAGE", series_ticker="KXP")
    progress: list[int] = []
    with _client(sim.account) as client:
        seen = [
            m.ticker
            for m in client.markets.iter_markets(
                event_ticker="KXPAGE", page_size=2, on_page=progress.append
            )
        ]
        assert sorted(seen) == tickers
        assert len(seen) == len(set(seen))
        assert progress[-1] == 23
        assert len(progress) == 12
        assert (
            len(list(client.markets.iter_markets(event_ticker="KXPAGE", limit=5, page_size=2))) == 5
        )
    counts = _stats(sim.admin_url, sim.account.key_id)["requests"]
    assert counts["GET /markets"] == 12 + 3


def test_every_client_call_against_the_simulator(sim: SimHarness) -> None:
    sim.create_market("KXTOUR-1", event_ticker="KXTOUR", series_ticker="KXT")
    seller_account = sim.new_account()
    with _client(sim.account) as client, _client(seller_account) as seller:
        assert client.exchange.get_exchange_status().exchange_active
        assert client.markets.get_market("KXTOUR-1").ticker == "KXTOUR-1"
        with pytest.raises(NotFoundError, match="unknown ticker KXNOPE"):
            client.markets.get_market("KXNOPE")
        assert client.markets.get_event("KXTOUR")["event"]["event_ticker"] == "KXTOUR"
        assert any(e["event_ticker"] == "KXTOUR" for e in client.markets.iter_events())
        assert client.markets.get_series("KXT")["ticker"] == "KXT"
        assert client.exchange.get_series_fee_changes(series_ticker="KXT") == []
        now = int(time.time())
        for at in (now - 60, now + 3600):
            sim.http.post(
                sim.admin_url + "/series/KXT/fee_changes",
                json={"fee_type": "quadratic", "fee_multiplier": 3, "scheduled_ts": at},
            ).raise_for_status()
        [upcoming] = client.exchange.get_series_fee_changes(series_ticker="KXT")
        assert (upcoming["series_ticker"], upcoming["fee_multiplier"]) == ("KXT", 3)
        assert (
            len(client.exchange.get_series_fee_changes(series_ticker="KXT", show_historical=True))
            == 2
        )
        assert (
            client.exchange.get_series_fee_changes(series_ticker="KXOTHER", show_historical=True)
            == []
        )
        assert client.exchange.get_account_limits().usage_tier == "basic"

        resting = client.orders.create_order(_bid("KXTOUR-1", price="0.40", count=5))
        assert resting.remaining_count == Decimal(5)
        assert resting.fill_count == 0
        book = client.markets.get_orderbook("KXTOUR-1")
        assert book.best_yes_bid == (Decimal("0.40"), Decimal(5))

        # the seller sells YES at 0.40 (an ask), crossing two of the five
        taken = seller.orders.create_order(
            CreateOrder(
                ticker="KXTOUR-1",
                book_side=BookSide.ASK,
                price=Decimal("0.40"),
                count=Decimal(2),
                time_in_force=TimeInForce.IOC,
            )
        )
        assert taken.fill_count == Decimal(2)
        assert taken.average_fill_price == Decimal("0.40")

        order = client.orders.get_order(resting.order_id)
        assert (order.fill_count, order.remaining_count) == (Decimal(2), Decimal(3))
        [position] = client.portfolio.get_positions(ticker="KXTOUR-1")
        assert position.position == Decimal(2)
        fills = list(client.portfolio.iter_fills(ticker="KXTOUR-1"))
        assert [f.count for f in fills] == [Decimal(2)]
        assert [t.count for t in client.markets.iter_trades(ticker="KXTOUR-1")] == [Decimal(2)]

        amended = client.orders.amend_order(
            resting.order_id,
            AmendOrder(
                ticker="KXTOUR-1", book_side=BookSide.BID, price=Decimal("0.39"), count=Decimal(4)
            ),
        )
        new_id = amended.order_id
        assert client.orders.get_order(new_id).yes_price == Decimal("0.39")
        decreased = client.orders.decrease_order(new_id, reduce_by=Decimal(1))
        assert decreased.remaining_count == Decimal(1)
        cancel = client.orders.cancel_order(new_id, ticker="KXTOUR-1")
        assert cancel.reduced_by == Decimal(1)

        extra = [
            client.orders.create_order(_bid("KXTOUR-1", price="0.30", count=1)) for _ in range(3)
        ]
        results = client.orders.batch_cancel([(r.order_id, "KXTOUR-1") for r in extra[:2]])
        assert [r.reduced_by for r in results] == [Decimal(1), Decimal(1)]
        assert all(r.error is None for r in results)
        client.orders.cancel_all_orders()
        assert list(client.orders.iter_orders(status="resting")) == []

        sim.settle("KXTOUR-1", "yes")
        [settlement] = list(client.portfolio.iter_settlements(ticker="KXTOUR-1"))
        assert settlement.market_result == "yes"
        assert settlement.yes_count == Decimal(2)
