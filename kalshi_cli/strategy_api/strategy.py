"""`Strategy`: a name, a params type and a pure `decide`, plus what the loop must know about
what `decide` reads (so it hands no more than needed, and skips calls that cannot change)."""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Generic

from kalshi_cli.strategy_api.index import MarketTerms
from kalshi_cli.strategy_api.params import P, validate_params
from kalshi_cli.strategy_api.snapshot import MarketSnapshot
from kalshi_cli.vocabulary.decisions import Decision, PositionView

_PACKAGE = Path(__file__).resolve().parents[1]  # kalshi_cli/


def raised_at(exc: BaseException) -> str | None:
    """Where a strategy's code raised `exc`, `FILE:LINE`: the innermost line of the trader's own
    code, not of the package's helpers it called; None when none of it is in the traceback."""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not Path(f.filename).resolve().is_relative_to(_PACKAGE)
    ]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else None


@dataclass(frozen=True)
class Strategy(Generic[P]):
    name: str
    params_type: type[P]
    decide_fn: Callable[[MarketSnapshot, PositionView, P], Sequence[Decision]]
    # reads `snapshot.event`: the loop groups the selected markets of mutually exclusive events
    uses_events: bool = False
    # reads `RestingOrder.queue_position`: the loop reads the queue positions of its orders
    uses_queue_positions: bool = False
    # reads `snapshot.mids`: without it the loop keeps no mid history and hands none
    reads_mids: bool = True
    # reads of `snapshot.book` only its top: each side's best bid with its size (`best_yes_bid`,
    # `best_no_bid`, `yes_ask`, `no_ask`, `mid`, `spread`), so a change below the top is no
    # change to what it reads (docs/strategies.md "When `decide` is called"). False (the
    # default): it may read the whole book, and any change of it is one
    reads_top: bool = False
    # reads `snapshot.index`: the loop follows the reference index of each market whose rules
    # name one, and hands its latest values
    reads_index: bool = False
    # the markets it trades, when not every one: a loop whose markets hold none of them says
    # so once at its start (`strategy_idle`)
    trades: Callable[[MarketTerms], bool] | None = None
    # for a position like this one, `decide` reads the time only through the mids of its
    # window (`snapshot.window(snapshot.ts - window_s)`, `window_s` being the loop's history
    # horizon), so with the same book, mids, position and fees it decides the same: the loop
    # skips such a call after one that decided nothing (runner/loop/trade_loop.py, "quiet markets").
    # None (the default): it may read the clock, and is always called
    clock_free: Callable[[PositionView], bool] | None = None
    # set by the loader (kalshi_cli.strategies.loader), not by the strategy: how it was named
    # on the command line, where it came from, and the fingerprint of its source (a file's
    # hash, a distribution's version) that backtest caches are keyed on
    spec: str = ""
    origin: str = "built-in"
    source: str = ""

    def params(self, raw: Mapping[str, Any] | None = None) -> P:
        return validate_params(self.params_type, raw, where=f"strategies.{self.name}")

    def decide(
        self, snapshot: MarketSnapshot, position: PositionView, params: P
    ) -> Sequence[Decision]:
        return self.decide_fn(snapshot, position, params)

    @cached_property
    def decide_at(self) -> str:
        """Where its `decide` is defined, `FILE:LINE` (the name alone when the source has no
        file): what a refusal of what `decide` did points the trader at."""
        fn = inspect.unwrap(self.decide_fn)
        try:
            path = inspect.getsourcefile(fn)
            _, line = inspect.getsourcelines(fn)
        except (OSError, TypeError):
            return self.name
        return f"{path}:{line}" if path else self.name
