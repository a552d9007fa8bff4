"""The `crypto` strategy: the `model` strategy on the built-in crypto model (`builtin:crypto`,
strategies/model/crypto.py), with the model's own parameters beside the model strategy's
(docs/strategies.md, "crypto"). It trades markets whose rules name a CF Benchmarks index (the
loop follows that index for it) and has no opinion on the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Annotated

import msgspec

from kalshi_cli.strategies import model
from kalshi_cli.strategies.model import ModelParams
from kalshi_cli.strategies.model.crypto import CryptoConfig
from kalshi_cli.strategies.model.sources import CryptoSource
from kalshi_cli.strategy_api import Decision, Intent, MarketSnapshot, PositionView, Strategy

NAME = "crypto"
SOURCE = "builtin:crypto"

_Seconds = Annotated[float, msgspec.Meta(gt=0)]
_Weight = Annotated[float, msgspec.Meta(ge=-1, le=1)]
_Period = Annotated[int, msgspec.Meta(ge=2)]
_Rsi = Annotated[float, msgspec.Meta(ge=0, le=100)]
# the model's own defaults, which `builtin:crypto` in the `model` strategy runs on: one copy
_MODEL = CryptoConfig()


class CryptoParams(ModelParams, frozen=True, dict=True):
    # the EWMA half-life of the volatility estimate, seconds
    halflife_s: _Seconds = _MODEL.halflife_s
    # fewer returns of the index than this: no opinion
    min_returns: Annotated[int, msgspec.Meta(ge=1)] = _MODEL.min_returns
    # a floor under the volatility, per square-root second
    min_sigma: Annotated[float, msgspec.Meta(ge=0)] = _MODEL.min_sigma
    # an index value older than this at the decision is never priced on
    max_index_age_s: _Seconds = _MODEL.max_index_age_s
    # the bars the indicators are computed on, seconds
    bar_s: _Seconds = _MODEL.bar_s
    rsi_period: _Period = _MODEL.rsi_period
    # drift per second per unit of (RSI - 50) / 50, as a fraction of the level
    rsi_weight: _Weight = _MODEL.rsi_weight
    # no opinion unless rsi_low <= RSI <= rsi_high
    rsi_low: _Rsi = _MODEL.rsi_low
    rsi_high: _Rsi = _MODEL.rsi_high
    macd_fast: _Period = _MODEL.macd_fast
    macd_slow: _Period = _MODEL.macd_slow
    macd_signal: _Period = _MODEL.macd_signal
    # drift per second per unit of the MACD histogram over the level
    macd_weight: _Weight = _MODEL.macd_weight
    # the window of the index's VWAP (time-weighted: the index has no volume), seconds
    vwap_window_s: _Seconds = _MODEL.vwap_window_s
    # drift per second per unit of (level - VWAP) / level
    vwap_weight: _Weight = _MODEL.vwap_weight

    def __post_init__(self) -> None:
        if self.source not in ("", SOURCE):
            raise ValueError(f"the crypto strategy's source is {SOURCE}; for another, use `model`")
        if not self.rsi_low <= self.rsi_high:
            raise ValueError("rsi_low must not be above rsi_high")
        if not self.macd_fast < self.macd_slow:
            raise ValueError("macd_fast must be shorter than macd_slow")
        # every field of the model's config is a parameter of the same name: one copy, by name
        config = CryptoConfig(**{f.name: getattr(self, f.name) for f in fields(CryptoConfig)})
        self.__dict__["_live"] = CryptoSource(SOURCE, config)


def decide(snap: MarketSnapshot, pos: PositionView, params: CryptoParams) -> Sequence[Decision]:
    """The model strategy's decisions, its orders named for this strategy (the P&L by
    strategy, the state file's intents)."""
    return [
        replace(d, strategy=NAME) if isinstance(d, Intent) else d
        for d in model.decide(snap, pos, params)
    ]


STRATEGY = Strategy(
    NAME,
    CryptoParams,
    decide,
    reads_mids=False,
    reads_index=True,
    trades=lambda terms: terms.index_id is not None,
)
