"""Crypto markets on the simulator as Kalshi lists and settles them: hourly and 15-minute events
with the strike fields of openapi `Market`, opened, closed and settled on schedule, the
settlement value the trimmed mean of the 60 one-second index values in `[close - 60, close)`,
read through the REST market answer after the close; and the market maker's quotes ordered by
the fair value.

The simulator runs on a test clock from `C - 1000`, `C` an hourly close (so also a quarter-hour
one); the BTC index replays rows written here:

- 100030.00 until `C - 61`, so every event is listed with its strikes centred on 100030;
- `100000 + j` at `C - 60 + j` for j = 0..47, then twelve outliers `101000 + j` (j = 48..59):
  trimming drops the outliers and j = 0..11, and the mean of j = 12..47 is 100029.50. The
  untrimmed mean, the window shifted to `(C - 60, C]` or to `[C - 61, C - 1)` would each give
  another value (100229.50, 100058.28, 100029.03), and other outcomes at the strikes below;
- 200000.00 at `C` itself (left out of the window), then 100030.00.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.sim.core import indices
from kalshi_cli.sim.core.scenarios import build_exchange
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.reference_index import settlement_value, settles_yes
from tests.conftest import SimHarness, _start
from tests.waiting import wait_until
from tests.wire import order_body

C = 1_800_000_000  # 2027-01-15 03:00 EST: an hourly close
ORIGIN = C - 1000

SCENARIO = """
description: crypto settlement pins
indices:
  - id: BRTI
    replay: btc.csv
crypto:
  series:
    - {ticker: KXBTCD, index: BRTI, name: Bitcoin, period: hourly, kind: above, strikes: 5,
       step: "0.5"}
    - {ticker: KXBTC, index: BRTI, name: Bitcoin, period: hourly, kind: range, strikes: 2,
       step: "0.5"}
    - {ticker: KXBTC15M, index: BRTI, name: Bitcoin, period: 15min, kind: above, strikes: 3,
       step: "0.5"}
"""


def btc(second: int) -> Decimal:
    j = second - (C - 60)
    if second == C:
        return Decimal("200000.00")
    if 0 <= j < 48:
        return Decimal(100_000 + j)
    if 48 <= j < 60:
        return Decimal(101_000 + j)
    return Decimal("100030.00")


def window(close: int) -> list[Decimal]:
    return [btc(s) for s in range(close - 60, close)]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(float(ORIGIN))


@pytest.fixture
def crypto_sim(tmp_path: Path, clock: ManualClock) -> Iterator[SimHarness]:
    rows = "".join(f"{s - ORIGIN},{btc(s)}\n" for s in range(ORIGIN, C + 1200))
    (tmp_path / "btc.csv").write_text(rows)
    (tmp_path / "crypto.yaml").write_text(SCENARIO)
    harness = _start(tmp_path / "sim", str(tmp_path / "crypto.yaml"), clock)
    yield harness
    harness.close()


def markets(sim: SimHarness, event: str) -> dict[str, dict[str, Any]]:
    response = sim.signed(sim.account, "GET", "/markets", params={"event_ticker": event})
    assert response.status_code == 200, response.text
    return {m["ticker"]: m for m in response.json()["markets"]}


def wait_for(
    sim: SimHarness, event: str, done: Callable[[dict[str, dict[str, Any]]], bool]
) -> dict[str, dict[str, Any]]:
    last: list[dict[str, dict[str, Any]]] = [{}]

    def served() -> dict[str, dict[str, Any]] | None:
        last[0] = markets(sim, event)
        return last[0] if last[0] and done(last[0]) else None

    return wait_until(served, lambda: f"{event} as the test expects: {last[0]}")


def all_status(status: str) -> Callable[[dict[str, dict[str, Any]]], bool]:
    return lambda found: all(m["status"] == status for m in found.values())


def outcomes(found: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {t.rsplit("-", 1)[1]: m["result"] for t, m in found.items()}


def test_hand_computed_window_is_what_the_pins_say() -> None:
    assert settlement_value(window(C)) == Decimal("100029.5")
    shifted = [btc(s) for s in range(C - 59, C + 1)]
    early = [btc(s) for s in range(C - 61, C - 1)]
    untrimmed = sum(window(C), Decimal(0)) / 60
    assert settlement_value(shifted).quantize(Decimal("0.01")) == Decimal("100058.28")
    assert settlement_value(early).quantize(Decimal("0.01")) == Decimal("100029.03")
    assert untrimmed == Decimal("100229.5")
    # and each of them would settle some strike below otherwise
    for wrong in (settlement_value(shifted), settlement_value(early), untrimmed):
        assert any(
            settles_yes(kind, floor, cap, wrong)
            != settles_yes(kind, floor, cap, Decimal("100029.5"))
            for kind, floor, cap in (
                ("greater", Decimal("100029.49"), None),
                ("greater", Decimal("100029.99"), None),
                ("between", Decimal("100029.5"), Decimal("100029.99")),
            )
        )


def test_hourly_and_15_minute_markets_list_with_strike_fields_and_open_on_schedule(
    crypto_sim: SimHarness,
) -> None:
    hour = wait_for(crypto_sim, "KXBTCD-27JAN1503", lambda f: len(f) == 5)
    assert {t: (m["strike_type"], m["floor_strike"]) for t, m in hour.items()} == {
        "KXBTCD-27JAN1503-T100028.99": ("greater", 100028.99),
        "KXBTCD-27JAN1503-T100029.49": ("greater", 100029.49),
        "KXBTCD-27JAN1503-T100029.99": ("greater", 100029.99),
        "KXBTCD-27JAN1503-T100030.49": ("greater", 100030.49),
        "KXBTCD-27JAN1503-T100030.99": ("greater", 100030.99),
    }
    one = hour["KXBTCD-27JAN1503-T100029.99"]
    assert "cap_strike" not in one
    assert (one["open_time"], one["close_time"]) == (
        "2027-01-15T07:00:00.000Z",
        "2027-01-15T08:00:00.000Z",
    )
    assert one["status"] == "active" and one["yes_sub_title"] == "$100,030 or above"

    ranges = wait_for(crypto_sim, "KXBTC-27JAN1503", lambda f: len(f) == 4)
    fields = {
        t.rsplit("-", 1)[1]: (m["strike_type"], m.get("floor_strike"), m.get("cap_strike"))
        for t, m in ranges.items()
    }
    assert fields == {
        "T100029.49": ("less", None, 100029.5),
        "B100029.75": ("between", 100029.5, 100029.99),
        "B100030.25": ("between", 100030.0, 100030.49),
        "T100030.49": ("greater", 100030.49, None),
    }

    # the next hour is listed ahead, unopened; the current quarter and the next one too
    ahead = wait_for(crypto_sim, "KXBTCD-27JAN1504", lambda f: len(f) == 5)
    assert {m["status"] for m in ahead.values()} == {"initialized"}
    quarter = wait_for(crypto_sim, "KXBTC15M-27JAN150245", lambda f: len(f) == 3)
    assert {m["status"] for m in quarter.values()} == {"active"}
    assert next(iter(quarter.values()))["close_time"] == "2027-01-15T07:45:00.000Z"
    following = wait_for(crypto_sim, "KXBTC15M-27JAN150300", lambda f: len(f) == 3)
    assert {m["status"] for m in following.values()} == {"initialized"}


def test_markets_close_and_settle_on_the_trimmed_mean_of_the_window(
    crypto_sim: SimHarness, clock: ManualClock
) -> None:
    wait_for(crypto_sim, "KXBTC15M-27JAN150300", lambda f: len(f) == 3)

    clock.advance(C - 900 - ORIGIN + 1)  # one second past the first quarter's close
    first = wait_for(crypto_sim, "KXBTC15M-27JAN150245", all_status("finalized"))
    assert {m["expiration_value"] for m in first.values()} == {"100030.00000000"}
    assert outcomes(first) == {"T100029.49": "yes", "T100029.99": "yes", "T100030.49": "no"}
    assert wait_for(crypto_sim, "KXBTC15M-27JAN150300", all_status("active"))
    hour = markets(crypto_sim, "KXBTCD-27JAN1503")
    assert {m["status"] for m in hour.values()} == {"active"}  # its close is still ahead

    clock.advance(900)  # C + 1
    hour = wait_for(crypto_sim, "KXBTCD-27JAN1503", all_status("finalized"))
    assert {m["expiration_value"] for m in hour.values()} == {"100029.50000000"}
    assert outcomes(hour) == {
        "T100028.99": "yes",
        "T100029.49": "yes",
        "T100029.99": "no",
        "T100030.49": "no",
        "T100030.99": "no",
    }
    winner = hour["KXBTCD-27JAN1503-T100029.49"]
    assert winner["settlement_value_dollars"] == "1.0000"
    ranges = wait_for(crypto_sim, "KXBTC-27JAN1503", all_status("finalized"))
    assert outcomes(ranges) == {  # the floor of a bucket is included, a strict tail is not
        "T100029.49": "no",
        "B100029.75": "yes",
        "B100030.25": "no",
        "T100030.49": "no",
    }
    quarter = wait_for(crypto_sim, "KXBTC15M-27JAN150300", all_status("finalized"))
    assert {m["expiration_value"] for m in quarter.values()} == {"100029.50000000"}
    assert wait_for(crypto_sim, "KXBTCD-27JAN1504", all_status("active"))
    assert wait_for(crypto_sim, "KXBTCD-27JAN1505", lambda f: len(f) == 5)


def test_a_position_in_a_crypto_market_is_paid_by_the_index(
    crypto_sim: SimHarness, clock: ManualClock
) -> None:
    ticker = "KXBTCD-27JAN1503-T100029.49"
    wait_for(crypto_sim, "KXBTCD-27JAN1503", lambda f: ticker in f)
    buyer, seller = crypto_sim.account, crypto_sim.new_account()
    for account, side in ((seller, "ask"), (buyer, "bid")):
        crypto_sim.placed(account, order_body(ticker, side=side, count="3"))
    clock.advance(C - ORIGIN + 1)
    wait_for(crypto_sim, "KXBTCD-27JAN1503", all_status("finalized"))
    settlements = crypto_sim.signed(buyer, "GET", "/portfolio/settlements").json()["settlements"]
    mine = next(s for s in settlements if s["ticker"] == ticker)
    assert (mine["market_result"], mine["revenue"]) == ("yes", 300)


def test_the_builtin_crypto_scenario_quotes_every_market_around_its_fair_value(
    tmp_path: Path,
) -> None:
    clock = ManualClock(float(C - 1800))
    sim = _start(tmp_path / "sim", "crypto", clock)
    try:
        clock.advance(30)  # half a minute of index values to estimate a volatility from

        def quoted(found: dict[str, dict[str, Any]]) -> bool:
            # quoted from the index's volatility: before its first return the market maker
            # quotes every strike around 0.50, which says nothing of the strikes yet
            by_strike = sorted(found.values(), key=lambda m: m["floor_strike"])
            return (
                len(found) == 7
                and all(
                    Decimal(m["yes_bid_dollars"]) > 0 and Decimal(m["yes_ask_dollars"]) < 1
                    for m in found.values()
                )
                and Decimal(by_strike[0]["yes_bid_dollars"])
                > Decimal(by_strike[-1]["yes_bid_dollars"])
            )

        hour = wait_for(sim, "KXBTCD-27JAN1503", quoted)
        # the other series of the scenario: ETH's range event (6 buckets and 2 tails) and the
        # 15-minute events of the current quarter (02:30 to 02:45 New York time)
        eth = markets(sim, "KXETH-27JAN1503")
        quarter = markets(sim, "KXBTC15M-27JAN150245")
    finally:
        sim.close()
    by_strike = sorted(hour.values(), key=lambda m: m["floor_strike"])
    bids = [Decimal(m["yes_bid_dollars"]) for m in by_strike]
    asks = [Decimal(m["yes_ask_dollars"]) for m in by_strike]
    assert all(b < a for b, a in zip(bids, asks, strict=True))
    # a higher strike is less likely to settle YES: its quotes are lower
    assert bids == sorted(bids, reverse=True) and bids[0] > bids[-1]
    assert bids[0] >= Decimal("0.60") and asks[-1] <= Decimal("0.40")
    assert sorted(m["strike_type"] for m in eth.values()) == ["between"] * 6 + ["greater", "less"]
    assert len(quarter) == 5
    assert {m["close_time"] for m in quarter.values()} == {"2027-01-15T07:45:00.000Z"}


def test_a_restarted_simulator_settles_the_markets_it_listed_before(tmp_path: Path) -> None:
    journal = tmp_path / "exchange.journal"
    clock = ManualClock(float(ORIGIN))
    first = build_exchange("crypto", clock=clock, journal=journal)
    first.tick()
    listed = {t for t in first.reference.markets if t.startswith("KXBTCD-27JAN1503-")}
    assert len(listed) == 7
    first.close()

    clock.advance(60)
    again = build_exchange("crypto", clock=clock, journal=journal)
    again.tick()
    assert {t for t in again.reference.markets if t.startswith("KXBTCD-27JAN1503-")} == listed
    clock.advance(C - ORIGIN - 60 + 1)
    again.tick()
    feed = indices.of(again)
    value = settlement_value(feed.values("BRTI", C - 60, C))
    for ticker in listed:
        market = again.reference.markets[ticker]
        assert market.status == "settled"
        assert market.expiration_value == str(value.quantize(Decimal("0.00000001")))
        yes = settles_yes(market.strike_type, market.floor_strike, market.cap_strike, value)
        assert market.result == ("yes" if yes else "no")
    again.close()
