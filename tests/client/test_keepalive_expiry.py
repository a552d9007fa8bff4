"""An idle connection is let go by the client before the server closes it.

Both timers at 5 s (httpx's default keep-alive expiry, uvicorn's default idle timeout) raced: a
request written on a pooled connection just as the server closed it got no answer ("Server
disconnected without sending a response"), so a POST's outcome was unknown and its market held
until the lookups found nothing: seen in `kalshi trade --strategy spike --duration 60` on the
simulator. The client now drops an idle connection a clear second before the server would."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.connection import KEEPALIVE_EXPIRY_S
from kalshi_cli.sim.server.embed import IDLE_TIMEOUT_S

if TYPE_CHECKING:
    from tests.conftest import SimHarness


def test_the_client_drops_an_idle_connection_a_second_before_the_simulator_closes_it() -> None:
    assert KEEPALIVE_EXPIRY_S + 1 <= IDLE_TIMEOUT_S
    client = KalshiClient(api_base="http://127.0.0.1:9/trade-api/v2")
    try:
        # httpx keeps the expiry on its connection pool only
        assert client.connection._http._transport._pool._keepalive_expiry == KEEPALIVE_EXPIRY_S  # type: ignore[attr-defined]
    finally:
        client.close()


def test_the_tests_admin_client_drops_an_idle_connection_before_the_simulator_closes_it(
    sim: SimHarness,
) -> None:
    """The same race in the tests' own admin calls: `sim.stats()` after a stop that took a few
    seconds was written on a connection the simulator closed at that moment, and the test
    failed with "Server disconnected without sending a response" on a busy machine."""
    assert sim.http._transport._pool._keepalive_expiry == KEEPALIVE_EXPIRY_S  # type: ignore[attr-defined]
