from decimal import Decimal as D

from kalshi_cli.strategies.mean_reversion import MeanReversionParams, decide, zscore
from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.vocabulary.decisions import Intent, PositionView
from kalshi_cli.vocabulary.models import Orderbook
from kalshi_cli.vocabulary.units import Action, Side

FLAT = PositionView("T")
PARAMS = MeanReversionParams()


def book_around(mid: D, half: D = D("0.01")) -> Orderbook:
    return Orderbook("T", ((mid - half, D(100)),), ((1 - (mid + half), D(100)),))


def snapshots(path: list[D], step: float = 5.0) -> list[MarketSnapshot]:
    history: list[tuple[float, D]] = []
    out = []
    for i, mid in enumerate(path):
        ts = 1000.0 + i * step
        history.append((ts, mid))
        out.append(MarketSnapshot("T", ts, book_around(mid), tuple(history)))
    return out


def wobble(n: int) -> list[D]:
    return [D("0.49") if i % 2 else D("0.51") for i in range(n)]


def test_zscore_of_a_known_series():
    known = zscore([D("0.48"), D("0.52")], D("0.54"))
    assert known is not None
    mean, z = known
    assert mean == D("0.50") and z == D(2)
    assert zscore([D("0.5")] * 3, D("0.5")) is None


def test_quiet_wobble_never_triggers():
    assert all(decide(s, FLAT, PARAMS) == [] for s in snapshots(wobble(60)))


def test_a_rich_mid_buys_no_and_a_cheap_one_buys_yes():
    rich = snapshots([*wobble(30), D("0.56")])[-1]
    (buy_no,) = decide(rich, FLAT, PARAMS)
    assert isinstance(buy_no, Intent)
    assert (buy_no.side, buy_no.action, buy_no.price) == (Side.NO, Action.BUY, D("0.45"))
    mean = (30 * D("0.50") + D("0.56")) / 31
    assert buy_no.model_fair == 1 - mean
    assert buy_no.edge_after_fees >= PARAMS.min_edge

    cheap = snapshots([*wobble(30), D("0.44")])[-1]
    (buy_yes,) = decide(cheap, FLAT, PARAMS)
    assert isinstance(buy_yes, Intent) and (buy_yes.side, buy_yes.price) == (Side.YES, D("0.45"))


def test_too_few_samples_do_not_trade():
    assert decide(snapshots([*wobble(10), D("0.56")])[-1], FLAT, PARAMS) == []


def test_exit_once_z_is_back_inside_exit_z_and_hold_before():
    long_yes = PositionView("T", D(10), D("0.45"), D("4.50"), opened_at=1000.0)
    still_cheap = snapshots([*wobble(30), D("0.44")])[-1]
    assert decide(still_cheap, long_yes, PARAMS) == []
    back = snapshots([*wobble(30), D("0.50")])[-1]
    (exit_,) = decide(back, long_yes, PARAMS)
    assert isinstance(exit_, Intent)
    assert (exit_.side, exit_.action, exit_.price, exit_.count) == (
        Side.YES,
        Action.SELL,
        D("0.49"),
        D(10),
    )
    assert exit_.reduce_only
