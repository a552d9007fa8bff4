"""Join the best bid and ask: a YES bid at the best YES bid and a NO bid at the best NO bid
(a YES ask at the best YES ask), `count` contracts each, post-only; a quote no longer at the
best is replaced. The benchmark's order-heavy strategy (bench_vs_nautilus.py;
nautilus_trader runs the same one)."""

from collections.abc import Sequence
from decimal import Decimal

from kalshi_cli.strategy_api import (
    Action,
    Cancel,
    Decision,
    Intent,
    MarketSnapshot,
    Params,
    PositionView,
    Side,
    Strategy,
    TimeInForce,
)

NAME = "bench-join-best"


class JoinBestParams(Params, frozen=True):
    count: Decimal = Decimal("10")


def decide(snap: MarketSnapshot, pos: PositionView, params: JoinBestParams) -> Sequence[Decision]:
    book = snap.book
    out: list[Decision] = []
    for side, best in ((Side.YES, book.best_yes_bid), (Side.NO, book.best_no_bid)):
        resting = [o for o in pos.resting if o.side is side and o.action is Action.BUY]
        if best is None:
            out += [Cancel(snap.ticker, o.order_id, f"{NAME}: no {side} bid") for o in resting]
            continue
        if len(resting) == 1 and resting[0].price == best[0]:
            continue
        out.append(
            Intent(
                ticker=snap.ticker,
                side=side,
                action=Action.BUY,
                price=best[0],
                count=params.count,
                model_fair=best[0] + Decimal("0.01"),  # the edge the risk engine asks for
                reason=f"{NAME}: join the {side} bid at {best[0]}",
                strategy=NAME,
                post_only=True,
                time_in_force=TimeInForce.GTC,
                fee_rate=snap.maker_fee_rate,
                replaces=tuple(o.order_id for o in resting),
            )
        )
    return out


def _always(_: PositionView) -> bool:
    return True


STRATEGY = Strategy(NAME, JoinBestParams, decide, reads_mids=False, clock_free=_always)
