from decimal import Decimal as D

from kalshi_cli.strategies.spike import SpikeParams, decide
from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.vocabulary.decisions import Intent, PositionView, RestingOrder
from kalshi_cli.vocabulary.models import Orderbook
from kalshi_cli.vocabulary.units import Action, Side, TimeInForce

FLAT = PositionView("T")


def book_around(mid: D, half: D = D("0.01"), depth: D = D(100)) -> Orderbook:
    return Orderbook("T", ((mid - half, depth),), ((1 - (mid + half), depth),))


def snapshots(path: list[str], step: float = 5.0) -> list[MarketSnapshot]:
    history: list[tuple[float, D]] = []
    out = []
    for i, text in enumerate(path):
        ts, mid = 1000.0 + i * step, D(text)
        history.append((ts, mid))
        out.append(MarketSnapshot("T", ts, book_around(mid), tuple(history)))
    return out


def first_trigger(
    path: list[str], params: SpikeParams = SpikeParams()
) -> tuple[int, Intent] | None:
    for i, snap in enumerate(snapshots(path)):
        out = decide(snap, FLAT, params)
        if out:
            (intent,) = out
            assert isinstance(intent, Intent)
            return i, intent
    return None


def test_quiet_market_never_triggers():
    assert first_trigger(["0.50", "0.51", "0.50", "0.49", "0.50", "0.52", "0.51", "0.50"]) is None


def test_jump_up_is_faded_by_buying_no_at_its_ask_the_tick_it_happens():
    hit = first_trigger(["0.50", "0.50", "0.51", "0.50", "0.60"])
    assert hit is not None
    step, intent = hit
    assert step == 4
    assert (intent.side, intent.action, intent.price) == (Side.NO, Action.BUY, D("0.41"))
    assert intent.model_fair == D("0.45")  # half of 0.50 -> 0.60 expected back: YES 0.55
    assert intent.time_in_force is TimeInForce.IOC
    assert intent.count == D(10)
    assert intent.edge_after_fees >= SpikeParams().min_edge
    assert "spike" in intent.reason and intent.strategy == "spike"


def test_drop_is_faded_by_buying_yes():
    hit = first_trigger(["0.60", "0.60", "0.50"])
    assert hit is not None
    assert (hit[1].side, hit[1].price) == (Side.YES, D("0.51"))


def test_move_of_exactly_the_share_does_not_trigger():
    any_edge = SpikeParams(spike_share=D("0.10"), min_edge=D("-1"))
    assert first_trigger(["0.50", "0.55"], any_edge) is None
    assert first_trigger(["0.50", "0.56"], any_edge) is not None


def test_a_move_spread_over_more_than_the_window_is_not_a_spike():
    # 0.50 -> 0.60 over 100 s in small steps; each 60 s window moves less than 10%
    path = [f"{D('0.50') + D('0.005') * i}" for i in range(21)]
    assert first_trigger(path) is None


def test_thin_edge_after_fees_is_not_traded():
    assert first_trigger(["0.50", "0.60"], SpikeParams(reversion=D("0.1"))) is None


def test_depth_at_the_ask_caps_the_count():
    snap = snapshots(["0.50", "0.60"])[-1]
    thin = MarketSnapshot("T", snap.ts, book_around(D("0.60"), depth=D(3)), snap.mids)
    (intent,) = decide(thin, FLAT, SpikeParams())
    assert isinstance(intent, Intent) and intent.count == D(3)


def test_no_new_entry_while_orders_rest_in_the_market():
    snap = snapshots(["0.50", "0.60"])[-1]
    busy = PositionView("T", resting=(RestingOrder("x", Side.NO, Action.BUY, D("0.40"), D(1)),))
    assert decide(snap, busy, SpikeParams()) == []


def holding_no(opened_at: float) -> PositionView:
    return PositionView("T", D(-10), D("0.41"), D("4.10"), opened_at=opened_at)


def test_take_profit_sells_the_held_side_at_its_bid():
    snap = MarketSnapshot("T", 1100.0, book_around(D("0.55")))  # NO bid 0.44 = 0.41 + 0.03
    (exit_,) = decide(snap, holding_no(1090.0), SpikeParams())
    assert isinstance(exit_, Intent)
    assert (exit_.side, exit_.action, exit_.price, exit_.count) == (
        Side.NO,
        Action.SELL,
        D("0.44"),
        D(10),
    )
    assert exit_.reduce_only and "take-profit" in exit_.reason


def test_time_stop_closes_after_max_hold_and_not_before():
    snap = MarketSnapshot("T", 1300.0, book_around(D("0.60")))  # NO bid 0.39: below entry
    assert decide(snap, holding_no(1000.1), SpikeParams()) == []
    (exit_,) = decide(snap, holding_no(1000.0), SpikeParams())
    assert isinstance(exit_, Intent) and exit_.reduce_only and "time stop" in exit_.reason


def test_holding_a_position_suppresses_new_entries():
    snap = snapshots(["0.50", "0.60"])[-1]
    assert decide(snap, holding_no(snap.ts), SpikeParams()) == []
