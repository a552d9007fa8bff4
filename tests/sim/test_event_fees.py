"""Event-level fees: an event's `fee_type_override`/`fee_multiplier_override`
take precedence over its series' fees on every fill in the event's markets, scheduled event
fee changes (`GET /events/fee_changes`) set or clear the override at their time, and each
taking effect is announced as `event_fee_update` on `market_lifecycle_v2` (asyncapi.yaml)."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path
from typing import Any

from kalshi_cli.client import KalshiClient
from kalshi_cli.services.fees import load_fee_models
from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.records import EventFeeUpdated, SimEvent, SimNotice, SimSeries
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.models import FeeModel, FeeType, Market, decode_answer
from tests.conftest import STANDARD_FEES, SimHarness
from tests.sim.test_core import ASK, BID, Env, market, refused
from tests.sim.test_spec_audit import ws_problems
from tests.sim.wsutil import Ws
from tests.wire import order_body


def _event_env(**override: Any) -> Env:
    env = Env()  # the exchange's default: quadratic, multiplier 1 (takers only)
    env.ex.reference.add_series(SimSeries("EVS", "series with an overridden event"))
    env.ex.reference.add_event(SimEvent("EVS-OVR", "EVS", "overridden", **override))
    env.ex.reference.add_event(SimEvent("EVS-PLAIN", "EVS", "plain"))
    env.ex.add_market(market("O", event_ticker="EVS-OVR", series_ticker="EVS"))
    env.ex.add_market(market("P", event_ticker="EVS-PLAIN", series_ticker="EVS"))
    return env


def test_a_fill_in_an_overridden_event_pays_the_override_to_the_cent() -> None:
    env = _event_env(fee_type_override="quadratic_with_maker_fees", fee_multiplier_override="2")
    env.place(env.b, ASK, "0.50", 10, ticker="O")
    r = env.place(env.a, BID, "0.50", 10, ticker="O")
    assert r.fills[0].fee == D("0.35")  # 2 x 0.07 x 10 x 0.5 x 0.5
    assert env.ex.history.fills(env.b)[0].fee == D("0.0875")  # the maker: 2 x 0.0175 x 10 x 0.25
    # the same series' other event keeps the series' fees: takers only, multiplier 1
    env.place(env.b, ASK, "0.50", 10, ticker="P")
    r = env.place(env.a, BID, "0.50", 10, ticker="P")
    assert r.fills[0].fee == D("0.175")
    assert env.ex.history.fills(env.b)[0].fee == 0
    assert env.ex.reference.fees.fee_model("O") == FeeModel(
        FeeType.QUADRATIC_WITH_MAKER_FEES, D(2), None
    )


def test_an_override_without_a_multiplier_keeps_the_series_multiplier() -> None:
    env = Env()
    env.ex.reference.add_series(SimSeries("X3", "x3", fee_type="quadratic", fee_multiplier="3"))
    env.ex.reference.add_event(
        SimEvent("X3-E", "X3", "e", fee_type_override="quadratic_with_maker_fees")
    )
    env.ex.add_market(market("X", event_ticker="X3-E", series_ticker="X3"))
    env.place(env.b, ASK, "0.40", 1, ticker="X")  # NO at 0.60
    r = env.place(env.a, BID, "0.40", 1, ticker="X")
    assert r.fills[0].fee == D("0.0504")  # 3 x 0.07 x 0.4 x 0.6
    assert env.ex.history.fills(env.b)[0].fee == D("0.0126")  # 3 x 0.0175 x 0.24


def test_an_event_overriding_only_the_multiplier_is_charged_it_at_the_series_type() -> None:
    """EventFeeChange: a null `fee_type_override` "falls back to the parent series' fee
    structure"; the multiplier given still applies."""
    env = Env()
    env.ex.reference.add_series(
        SimSeries("HALF", "h", fee_type="quadratic_with_maker_fees", fee_multiplier="1")
    )
    env.ex.reference.add_event(SimEvent("HALF-E", "HALF", "e", fee_multiplier_override="0.5"))
    env.ex.add_market(market("H", event_ticker="HALF-E", series_ticker="HALF"))
    env.place(env.b, ASK, "0.50", 10, ticker="H")
    r = env.place(env.a, BID, "0.50", 10, ticker="H")
    assert r.fills[0].fee == D("0.0875")  # 0.5 x 0.07 x 10 x 0.5 x 0.5
    assert env.ex.history.fills(env.b)[0].fee == D("0.0219")  # 0.5 x 0.0175 x 2.5 = 0.021875, up
    assert env.ex.reference.fees.event_fee_override("HALF-E") == (None, "0.5")
    assert env.ex.reference.fees.fee_model("H") == FeeModel(
        FeeType.QUADRATIC_WITH_MAKER_FEES, D("0.5"), None
    )


def test_a_scheduled_change_of_the_multiplier_alone_drops_the_earlier_override_type() -> None:
    """A change replaces the whole override: one giving only a multiplier charges it at the
    series' type, not at the type the event overrode before; both null clear it."""
    env = _event_env(fee_type_override="quadratic_with_maker_fees", fee_multiplier_override="2")
    now = env.clock.wall()
    env.ex.schedule_event_fee_change("EVS-OVR", None, "3", now + 60)
    env.ex.schedule_event_fee_change("EVS-OVR", None, None, now + 120)
    env.clock.advance(60)
    env.ex.tick()
    assert env.ex.reference.fees.event_fee_override("EVS-OVR") == (None, "3")
    env.place(env.b, ASK, "0.50", 10, ticker="O")
    assert env.place(env.a, BID, "0.50", 10, ticker="O").fills[0].fee == D("0.525")
    assert env.ex.history.fills(env.b)[0].fee == 0  # the series' type: no maker fee
    env.clock.advance(60)
    env.ex.tick()
    assert env.ex.reference.fees.event_fee_override("EVS-OVR") is None
    env.place(env.b, ASK, "0.50", 10, ticker="O")
    assert env.place(env.a, BID, "0.50", 10, ticker="O").fills[0].fee == D("0.175")


def test_fee_changes_scheduled_out_of_order_take_effect_by_their_times() -> None:
    """A series' and an event's changes each keep the order of their times, not of their
    scheduling: the last one due is the one in force."""
    env = _event_env()
    now = env.clock.wall()
    series_late = env.ex.schedule_fee_change("EVS", "quadratic", "3", now + 120)
    series_early = env.ex.schedule_fee_change("EVS", "quadratic", "2", now + 60)
    event_late = env.ex.schedule_event_fee_change("EVS-OVR", None, "5", now + 120)
    event_early = env.ex.schedule_event_fee_change("EVS-OVR", None, "4", now + 60)
    fees = env.ex.reference.fees
    assert fees.fee_changes("EVS") == [series_early, series_late]
    assert fees.event_fee_changes("EVS-OVR") == [event_early, event_late]
    env.clock.advance(90)
    env.ex.tick()
    assert fees.series_fees("EVS").multiplier == 2
    assert fees.event_fee_override("EVS-OVR") == (None, "4")
    env.clock.advance(60)
    env.ex.tick()
    assert fees.series_fees("EVS").multiplier == 3
    assert fees.event_fee_override("EVS-OVR") == (None, "5")


def test_a_scheduled_event_fee_change_sets_then_clears_the_override_at_its_times() -> None:
    env = _event_env()
    notices: list[SimNotice] = []
    env.ex.reference.add_listener(notices.append)
    now = env.clock.wall()
    set_at = env.ex.schedule_event_fee_change("EVS-OVR", "quadratic", "3", now + 60)
    clear_at = env.ex.schedule_event_fee_change("EVS-OVR", None, None, now + 120)
    assert env.ex.reference.fees.event_fee_changes("EVS-OVR") == [set_at, clear_at]
    assert env.ex.reference.fees.event_fee_changes("EVS-PLAIN") == []
    env.place(env.b, ASK, "0.50", 30, ticker="O")
    assert env.place(env.a, BID, "0.50", 10, ticker="O").fills[0].fee == D("0.175")
    env.clock.advance(60)
    env.ex.tick()
    assert env.ex.reference.fees.event_fee_override("EVS-OVR") == ("quadratic", "3")
    assert env.place(env.a, BID, "0.50", 10, ticker="O").fills[0].fee == D("0.525")
    env.clock.advance(60)
    env.ex.tick()
    assert env.ex.reference.fees.event_fee_override("EVS-OVR") is None
    assert env.place(env.a, BID, "0.50", 10, ticker="O").fills[0].fee == D("0.175")
    announced = [e.change for e in notices if isinstance(e, EventFeeUpdated)]
    assert announced == [set_at, clear_at]  # each once, when it took effect


def test_a_resting_maker_reserve_covers_an_event_override_to_come() -> None:
    env = _event_env()
    env.place(env.b, ASK, "0.50", 10, ticker="O")
    held = env.ex.accounts.held_dollars(env.b)
    env.ex.schedule_event_fee_change(
        "EVS-OVR", "quadratic_with_maker_fees", "2", env.clock.wall() + 3600
    )
    # 10 NO at 0.50 now hold their maker fee at the override: 2 x 0.0175 x 0.25 -> 0.0088 each
    assert env.ex.accounts.held_dollars(env.b) == held + D("0.088")


def test_a_resting_maker_reserve_covers_a_multiplier_override_to_come() -> None:
    env = Env()
    env.ex.reference.add_series(
        SimSeries("MK", "m", fee_type="quadratic_with_maker_fees", fee_multiplier="1")
    )
    env.ex.reference.add_event(SimEvent("MK-E", "MK", "e"))
    env.ex.add_market(market("MKA", event_ticker="MK-E", series_ticker="MK"))
    env.place(env.b, ASK, "0.50", 10, ticker="MKA")
    held = env.ex.accounts.held_dollars(env.b)
    env.ex.schedule_event_fee_change("MK-E", None, "2", env.clock.wall() + 3600)
    # 10 NO at 0.50 held 0.0175 x 0.25 -> 0.0044 each; at twice the multiplier, 0.0088
    assert env.ex.accounts.held_dollars(env.b) == held + D("0.044")


def test_event_fee_overrides_the_model_cannot_price_are_refused() -> None:
    env = _event_env()
    refused(env, 404, "not_found", lambda: env.ex.schedule_event_fee_change("NOPE", None, None, 0))
    refused(
        env,
        400,
        "invalid_parameters",
        lambda: env.ex.schedule_event_fee_change("EVS-OVR", "flat", "1", 0),
    )
    refused(
        env,
        400,
        "invalid_parameters",
        lambda: env.ex.schedule_event_fee_change("EVS-OVR", None, "-1", 0),
    )
    refused(
        env,
        400,
        "invalid_parameters",
        lambda: env.ex.reference.add_event(
            SimEvent("EVS-NEG", "EVS", "n", fee_multiplier_override="-1")
        ),
    )


# ---- over HTTP and the WebSocket ----------------------------------------------------------------

T = "KXEVF-26JAN01-A"
EVENT = "KXEVF-26JAN01"


def _order(side: str, tif: str = "good_till_canceled") -> dict[str, Any]:
    return order_body(T, side=side, price="0.52", count="1", time_in_force=tif)


def test_the_served_event_fee_override_is_what_a_fill_is_charged(sim: SimHarness) -> None:
    sim.create_market(T)
    ws = Ws(sim.account)
    ws.subscribe(["market_lifecycle_v2"])
    now = int(sim.running.state.clock.wall())
    admin = sim.http.post(
        f"{sim.admin_url}/events/{EVENT}/fee_changes",
        json={"fee_type_override": "quadratic", "fee_multiplier_override": 2, "scheduled_ts": now},
    )
    assert admin.status_code == 201, admin.text
    update = ws.recv_until(lambda m: m["type"] == "event_fee_update")
    ws.close()
    assert ws_problems(update) == []
    assert update["msg"] == {
        "event_ticker": EVENT,
        "fee_type_override": "quadratic",
        "fee_multiplier_override": 2.0,
    }
    event = sim.signed(sim.account, "GET", f"/events/{EVENT}").json()["event"]
    assert (event["fee_type_override"], event["fee_multiplier_override"]) == ("quadratic", 2.0)
    listed = sim.signed(sim.account, "GET", "/events/fee_changes", params={"event_ticker": EVENT})
    [change] = listed.json()["event_fee_changes"]
    assert change["id"] == admin.json()["id"] and listed.json()["cursor"] == ""
    other = sim.new_account()
    sim.place_order(other, _order("ask"))
    sim.placed(sim.account, _order("bid", "immediate_or_cancel"))
    [fill] = sim.signed(sim.account, "GET", "/portfolio/fills", params={"ticker": T}).json()[
        "fills"
    ]
    # 2 x 0.07 x 1 x 0.52 x 0.48 = 0.034944 -> 0.0350 (up to $0.0001)
    assert fill["fee_cost"] == "0.035000"
    # the client's fee model, read from the served series and event, charges the same
    key, _ = load_private_key(path=sim.account.private_key_path)
    with KalshiClient(
        api_base=sim.account.api_base, key_id=sim.account.key_id, private_key=key
    ) as client:
        raw = sim.signed(sim.account, "GET", f"/markets/{T}").json()["market"]
        models = load_fee_models(client, [decode_answer(Market, raw)])
    assert models[T].fee(D(1), D("0.52"), taker=True, at=now) == D("0.0350")


def test_a_served_multiplier_only_override_is_what_a_fill_is_charged(sim: SimHarness) -> None:
    """An EventFeeChange with a null type and a multiplier is accepted (the spec makes each
    nullable on its own), served, charged at the series' type, and read the same by the
    client's fee model, which the trade loop and the assistant price with."""
    sim.create_market(T)
    now = int(sim.running.state.clock.wall())
    admin = sim.http.post(
        f"{sim.admin_url}/events/{EVENT}/fee_changes",
        json={"fee_type_override": None, "fee_multiplier_override": 0.5, "scheduled_ts": now},
    )
    assert admin.status_code == 201, admin.text
    event = sim.signed(sim.account, "GET", f"/events/{EVENT}").json()["event"]
    assert "fee_type_override" not in event  # x-omitempty: null is absent
    assert event["fee_multiplier_override"] == 0.5
    other = sim.new_account()
    sim.place_order(other, _order("ask"))
    sim.placed(sim.account, _order("bid", "immediate_or_cancel"))
    [fill] = sim.signed(sim.account, "GET", "/portfolio/fills", params={"ticker": T}).json()[
        "fills"
    ]
    # the series' quadratic at half: 0.5 x 0.07 x 1 x 0.52 x 0.48 = 0.008736 -> 0.0088
    assert fill["fee_cost"] == "0.008800"
    key, _ = load_private_key(path=sim.account.private_key_path)
    with KalshiClient(
        api_base=sim.account.api_base, key_id=sim.account.key_id, private_key=key
    ) as client:
        raw = sim.signed(sim.account, "GET", f"/markets/{T}").json()["market"]
        models = load_fee_models(client, [decode_answer(Market, raw)])
    assert models[T].fee(D(1), D("0.52"), taker=True, at=now) == D("0.0088")


def test_an_event_fee_change_replays_from_the_journal(tmp_path: Path) -> None:
    journal = tmp_path / "exchange.jsonl"
    clock = ManualClock()
    ex = Exchange(clock, fees=STANDARD_FEES, journal=journal)
    ex.reference.add_series(SimSeries("J", "j"))
    ex.reference.add_event(SimEvent("J-E", "J", "e", fee_type_override="quadratic_with_maker_fees"))
    change = ex.schedule_event_fee_change("J-E", "quadratic", "2", clock.wall() + 10)
    ex.close()
    again = Exchange(ManualClock(start=clock.wall() + 100), fees=STANDARD_FEES, journal=journal)
    try:
        assert again.reference.fees.event_fee_changes("J-E") == [change]
        assert again.reference.events["J-E"].fee_type_override == "quadratic_with_maker_fees"
        assert again.reference.fees.event_fee_override("J-E") == ("quadratic", "2")
    finally:
        again.close()
