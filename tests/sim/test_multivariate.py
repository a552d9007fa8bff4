"""Multivariate collections and combo markets (sim/server/routes/multivariate.py): a collection a
scenario defines, a combo market created from legs under the collection's rules, trading like
any market, and settling by itself from its legs."""

from __future__ import annotations

from typing import Any

from tests.conftest import SimHarness
from tests.waiting import wait_until
from tests.wire import order_body

A1, A2 = "KXGAMEA-26JAN01-A1", "KXGAMEA-26JAN01-A2"
B1 = "KXGAMEB-26JAN01-B1"
COLLECTION = "KXMVECOMBO"
PATH = f"/multivariate_event_collections/{COLLECTION}"


def collection(**extra: Any) -> dict[str, Any]:
    return {
        "collection_ticker": COLLECTION,
        "series_ticker": "KXMVECOMBO",
        "title": "Game combos",
        "description": "Two games",
        "open_date": "2020-01-01T00:00:00Z",
        "close_date": "2099-01-01T00:00:00Z",
        "associated_events": [
            {"ticker": "KXGAMEA-26JAN01", "is_yes_only": False, "active_quoters": []},
            {"ticker": "KXGAMEB-26JAN01", "is_yes_only": False, "active_quoters": []},
        ],
        "associated_event_tickers": ["KXGAMEA-26JAN01", "KXGAMEB-26JAN01"],
        "is_ordered": False,
        "is_single_market_per_event": True,
        "is_all_yes": False,
        "size_min": 2,
        "size_max": 2,
        "functional_description": "one market of each game",
        **extra,
    }


def legs(*picks: tuple[str, str]) -> dict[str, Any]:
    return {
        "selected_markets": [
            {"event_ticker": t.rsplit("-", 1)[0], "market_ticker": t, "side": s} for t, s in picks
        ]
    }


def setup(sim: SimHarness, **extra: Any) -> None:
    for ticker in (A1, A2, B1):
        sim.create_market(ticker)
    answer = sim.http.put(
        sim.admin_url + "/data/multivariate_event_collections",
        json={"items": [collection(**extra)]},
    )
    answer.raise_for_status()


def test_a_combo_market_is_created_once_per_selection_and_trades(sim: SimHarness) -> None:
    setup(sim)
    me = sim.account
    made = sim.signed(
        me, "POST", PATH, json={**legs((A1, "yes"), (B1, "no")), "with_market_payload": True}
    )
    assert made.status_code == 200, made.text
    ticker = made.json()["market_ticker"]
    assert made.json()["market"]["ticker"] == ticker
    again = sim.signed(me, "POST", PATH, json=legs((B1, "no"), (A1, "yes")))  # order-insensitive
    assert again.json()["market_ticker"] == ticker
    other = sim.signed(me, "POST", PATH, json=legs((A1, "yes"), (B1, "yes")))
    assert other.json()["market_ticker"] != ticker
    listed = sim.http.get(
        me.api_base + "/events/multivariate",
        params={"with_nested_markets": "true", "collection_ticker": COLLECTION},
    ).json()
    assert {e["markets"][0]["ticker"] for e in listed["events"]} == {
        ticker,
        other.json()["market_ticker"],
    }
    order = order_body(ticker, price="0.20", count="1")
    sim.placed(me, order)
    got = sim.http.get(me.api_base + PATH).json()["multivariate_contract"]
    assert got["collection_ticker"] == COLLECTION


def test_the_collection_rules_are_enforced(sim: SimHarness) -> None:
    setup(sim)
    me = sim.account
    bad: dict[str, Any]
    for bad in (
        legs((A1, "yes")),  # fewer than size_min
        legs((A1, "yes"), (A2, "yes")),  # two markets of one event
        legs((A1, "maybe"), (B1, "yes")),
        legs((A1, "yes"), ("KXNOPE-26-X", "yes")),
        {"selected_markets": []},
    ):
        answer = sim.signed(me, "POST", PATH, json=bad)
        assert answer.status_code == 400, (bad, answer.text)
    assert (
        sim.signed(
            me, "POST", "/multivariate_event_collections/NOPE", json=legs((A1, "yes"), (B1, "yes"))
        ).status_code
        == 404
    )


def test_all_yes_collections_refuse_a_no_leg(sim: SimHarness) -> None:
    setup(sim, is_all_yes=True)
    answer = sim.signed(sim.account, "POST", PATH, json=legs((A1, "yes"), (B1, "no")))
    assert answer.status_code == 400


def test_a_combo_settles_from_its_legs(sim: SimHarness) -> None:
    setup(sim)
    me = sim.account
    win = sim.signed(me, "POST", PATH, json=legs((A1, "yes"), (B1, "no"))).json()["market_ticker"]
    lose = sim.signed(me, "POST", PATH, json=legs((A1, "yes"), (B1, "yes"))).json()["market_ticker"]
    sim.settle(A1, "yes")

    def result(ticker: str) -> str:
        return str(
            sim.http.get(me.api_base + f"/markets/{ticker}").json()["market"].get("result", "")
        )

    assert result(win) == ""  # one leg still open
    sim.settle(B1, "no")
    wait_until(lambda: "" not in (result(win), result(lose)), "the combos to settle")
    assert (result(win), result(lose)) == ("yes", "no")


def test_a_size_max_of_zero_means_no_maximum(sim: SimHarness) -> None:
    """Real collections write `size_max: 0` for "no maximum" (the spec's null means the same);
    taken as a maximum of 0, it refused every combo."""
    setup(
        sim,
        size_min=1,
        size_max=0,
        is_single_market_per_event=False,
        associated_events=[
            {
                "ticker": "KXGAMEA-26JAN01",
                "is_yes_only": False,
                "size_max": 0,
                "active_quoters": [],
            },
            {"ticker": "KXGAMEB-26JAN01", "is_yes_only": False, "active_quoters": []},
        ],
    )
    for picks in (((A1, "yes"),), ((A1, "yes"), (A2, "no"), (B1, "yes"))):
        answer = sim.signed(sim.account, "POST", PATH, json=legs(*picks))
        assert answer.status_code == 200, (picks, answer.text)
    # a size_min still binds
    assert sim.signed(sim.account, "POST", PATH, json={"selected_markets": []}).status_code == 400


def test_listings_tell_multivariate_markets_and_events_from_the_others(sim: SimHarness) -> None:
    """GET /markets `mve_filter` ("'only' returns only multivariate events, 'exclude' excludes
    multivariate events"; by default included), GET /historical/markets `mve_filter=exclude`,
    and GET /events ("excludes multivariate events"), by the one rule the WebSocket uses too."""
    setup(sim)
    made = sim.signed(sim.account, "POST", PATH, json=legs((A1, "yes"), (B1, "no")))
    assert made.status_code == 200, made.text
    combo = made.json()["market_ticker"]
    solo = "KXMVESOLO-26JAN01-M"  # named like Kalshi's combos, not made from a collection
    sim.create_market(solo)
    plain = {A1, A2, B1}

    def tickers(path: str, key: str, field: str, **params: str) -> set[str]:
        answer = sim.signed(sim.account, "GET", path, params=params)
        assert answer.status_code == 200, answer.text
        return {row[field] for row in answer.json()[key]}

    assert tickers("/markets", "markets", "ticker") == plain | {combo, solo}
    assert tickers("/markets", "markets", "ticker", mve_filter="only") == {combo, solo}
    assert tickers("/markets", "markets", "ticker", mve_filter="exclude") == plain
    assert tickers("/events", "events", "event_ticker") == {"KXGAMEA-26JAN01", "KXGAMEB-26JAN01"}
    for ticker in (A1, combo, solo):
        sim.settle(ticker, "yes")
    answer = sim.http.put(sim.admin_url + "/historical", json={"lag_seconds": 0})
    assert answer.status_code == 200, answer.text
    archived = tickers("/historical/markets", "markets", "ticker")
    assert archived == {A1, combo, solo}
    assert tickers("/historical/markets", "markets", "ticker", mve_filter="exclude") == {A1}
