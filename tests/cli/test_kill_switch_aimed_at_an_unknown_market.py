"""A kill switch aimed at a market or event the exchange does not know (a typo one digit short)
is refused before anything is halted or cancelled, exit 6, as every command refuses an unknown
ticker: it once cancelled nothing in the typo's market, halted the account and said PROVEN while
the orders of the market meant rested on. Only the exchange's own "not found" refuses: a lookup
that fails any other way never holds back an emergency cancel."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.markets import MarketsApi
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.errors import TransportError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.models import Market
from tests.conftest import SimHarness
from tests.prime_tier import (
    Kalshi,
    connect_as,
    make_markets,
    resting_count,
    seed_resting,
    state_path,
)

EVENT = "KXT-EV"


@pytest.mark.parametrize(
    "args",
    [
        ("cancel-all", "--ticker", "KXT-EV-M0"),
        ("cancel-all", "--event", "KXT-E"),
        ("order", "cancel-all", "--ticker", "KXT-EV-M0"),
    ],
    ids=["kill-switch-ticker", "kill-switch-event", "order-cancel-all"],
)
def test_an_unknown_market_or_event_is_refused_before_anything_is_halted_or_cancelled(
    prime: SimHarness, client: KalshiClient, kalshi: Kalshi, tmp_path: Path, args: tuple[str, ...]
) -> None:
    seeded = seed_resting(prime, make_markets(prime, 1, event=EVENT), 3)

    result = kalshi(*args, "--yes")

    assert result.exit_code == ExitCode.NOT_FOUND, result.output
    [line] = result.stderr.strip().splitlines()
    what = args[-2].removeprefix("--")
    listing = "markets" if what == "ticker" else "events"
    assert line.endswith(
        f"unknown {what} {args[-1]}: nothing was halted or cancelled "
        f"(`kalshi {listing}` lists them)"
    ), line
    assert resting_count(client) == seeded
    path = state_path(tmp_path)
    if path.exists():
        with Store.open(path) as store:
            assert store.trading.trading_state().state == "ACTIVE"


class LookupsUnreachable(MarketsApi):
    """The exchange's market and event reads fail as an unreachable exchange's do."""

    def get_market(self, ticker: str) -> Market:
        raise TransportError(f"could not reach the exchange to read {ticker}")

    def get_event(self, event_ticker: str, *, with_nested_markets: bool = False) -> dict[str, str]:
        raise TransportError(f"could not reach the exchange to read {event_ticker}")


@pytest.mark.parametrize("spelled", [str, str.lower], ids=["as-listed", "lower-case"])
@pytest.mark.parametrize("flag", ["--ticker", "--event"])
def test_a_lookup_that_fails_on_the_way_never_holds_back_the_kill_switch_nor_proves(
    prime: SimHarness,
    client: KalshiClient,
    kalshi: Kalshi,
    flag: str,
    spelled: Callable[[str], str],
) -> None:
    """The cancels go out as typed; but a spelling the exchange never confirmed proves nothing:
    typed in another case, the listing of the typed name is empty while the market's orders
    rest (tickers are case-sensitive on the simulator, and the exchange's rule is unknown)."""
    [ticker] = make_markets(prime, 1, event=EVENT)
    seeded = seed_resting(prime, [ticker], 3)

    scope = spelled(ticker if flag == "--ticker" else EVENT)
    result = kalshi(
        "cancel-all",
        flag,
        scope,
        "--json",
        client=lambda: connect_as(LookupsUnreachable, prime.account),
    )

    assert result.exit_code == ExitCode.NOT_PROVEN, result.output
    assert "PROVEN: no resting order left" not in result.stdout
    assert f"could not tell whether {scope} exists" in result.stderr
    assert f"the exchange did not confirm {flag.removeprefix('--')} {scope}" in result.output
    assert "kalshi cancel-all` without --ticker or --event" in result.output
    assert json.loads(result.stdout)["proven"] is False, result.stdout
    assert resting_count(client) == (0 if scope in (ticker, EVENT) else seeded)


@pytest.mark.parametrize("spelled", [str, str.lower], ids=["as-listed", "lower-case"])
def test_order_cancel_all_whose_lookup_fails_says_so_and_never_reads_as_done(
    prime: SimHarness,
    client: KalshiClient,
    kalshi: Kalshi,
    tmp_path: Path,
    spelled: Callable[[str], str],
) -> None:
    """`order cancel-all --ticker` follows the kill switch's rule for a spelling the exchange
    never confirmed: the failed lookup is said, what the typed name lists is cancelled, and the
    end is NOT_PROVEN (exit 11), never an exit 0 "0 orders cancelled" while the market's orders
    rest under the spelling the exchange would have named. Nothing is halted."""
    [ticker] = make_markets(prime, 1, event=EVENT)
    seeded = seed_resting(prime, [ticker], 3)

    scope = spelled(ticker)
    result = kalshi(
        "order",
        "cancel-all",
        "--ticker",
        scope,
        "--yes",
        client=lambda: connect_as(LookupsUnreachable, prime.account),
    )

    assert result.exit_code == ExitCode.NOT_PROVEN, result.output
    assert f"could not tell whether {scope} exists" in result.stderr
    assert f"the exchange did not confirm ticker {scope}" in result.stderr
    assert "its orders may rest under another spelling" in result.stderr
    assert resting_count(client) == (0 if scope == ticker else seeded)
    path = state_path(tmp_path)
    assert path.exists()  # the cancels are booked in it: nothing halted there
    with Store.open(path) as store:
        assert store.trading.trading_state().state == "ACTIVE"
