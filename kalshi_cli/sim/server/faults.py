"""Fault injection knobs, set through `PUT /sim/v1/faults`: HTTP faults on /trade-api/v2 only and
WebSocket faults (silence, drops, sequence gaps), drawn from one seeded `random.Random`.
docs/simulator.md "Admin API" ("Fault knobs").
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from kalshi_cli.vocabulary.clock import Clock

_RATES = (
    "http_5xx_rate",
    "http_429_rate",
    "drop_response_after_commit_rate",
    "write_503_rate",
    "write_503_after_commit_rate",
)
_WS_RATES = ("ws_drop_rate", "ws_seq_gap_rate", "ws_refuse_subscribe_rate")
_NON_NEGATIVE = ("latency_ms", "ws_silence_s", "hold_request_s", "read_lag_ms")


@dataclass
class FaultSettings:
    http_5xx_rate: float = 0.0
    http_429_rate: float = 0.0
    latency_ms: float = 0.0
    drop_response_after_commit_rate: float = 0.0
    hold_request_s: float = 0.0
    write_503_rate: float = 0.0
    write_503_after_commit_rate: float = 0.0
    read_lag_ms: float = 0.0
    ws_silence_s: float = 0.0
    ws_drop_rate: float = 0.0
    ws_seq_gap_rate: float = 0.0
    ws_refuse_subscribe_rate: float = 0.0
    seed: int | None = None
    # the step (1 to 3) at which every cross-shard intra-exchange transfer run while it is set
    # fails (sim/core/shard_transfers.py); 0: none
    intra_transfer_fail_step: int = 0


class FaultError(ValueError):
    """A knob with a wrong name, type or range."""


def _chance(knob: str) -> Callable[[Faults], bool]:
    """A fault that strikes at the rate its knob sets, drawn from the faults' one generator."""

    def strikes(faults: Faults) -> bool:
        rate: float = getattr(faults.settings, knob)
        return rate > 0 and faults._rng.random() < rate

    return strikes


class Faults:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.settings = FaultSettings()
        self._rng = random.Random()
        self._silence_until = 0.0
        self._cleared = asyncio.Event()  # set by `clear`: the holds under way end
        self._hold_claim: object | None = None  # the request the armed hold belongs to

    def as_json(self) -> dict[str, Any]:
        return asdict(self.settings)

    def update(self, knobs: Any) -> None:
        """Validate every knob first, then apply them all (a bad one changes nothing)."""
        if not isinstance(knobs, dict):
            raise FaultError("expected a JSON object of fault knobs")
        allowed = {*_RATES, *_WS_RATES, *_NON_NEGATIVE, "seed", "intra_transfer_fail_step"}
        clean: dict[str, Any] = {}
        for name, value in knobs.items():
            if name not in allowed:
                raise FaultError(
                    f"unknown fault knob {name!r}; known: {', '.join(sorted(allowed))}"
                )
            if name == "intra_transfer_fail_step":
                if isinstance(value, bool) or value not in (0, 1, 2, 3):
                    raise FaultError("intra_transfer_fail_step must be 0 (none) or a step, 1 to 3")
                clean[name] = value
                continue
            if name == "seed":
                if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                    raise FaultError("seed must be an integer")
                clean[name] = value
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise FaultError(f"{name} must be a number")
            number = float(value)  # a fault rate or latency
            if number < 0 or (name in (*_RATES, *_WS_RATES) and number > 1):
                raise FaultError(f"{name} out of range")
            clean[name] = number
        for name, value in clean.items():
            setattr(self.settings, name, value)
        if "seed" in clean:
            self._rng.seed(clean["seed"])
        if "ws_silence_s" in clean:
            self._silence_until = self._clock.monotonic() + clean["ws_silence_s"]

    def clear(self) -> None:
        self.settings = FaultSettings()
        self._silence_until = 0.0
        self._hold_claim = None
        self._cleared.set()
        self._cleared = asyncio.Event()

    # each fault strikes at the rate of its knob
    inject_5xx = _chance("http_5xx_rate")
    inject_429 = _chance("http_429_rate")
    drop_after_commit = _chance("drop_response_after_commit_rate")
    write_503 = _chance("write_503_rate")
    write_503_after_commit = _chance("write_503_after_commit_rate")
    ws_drop = _chance("ws_drop_rate")
    ws_seq_gap = _chance("ws_seq_gap_rate")
    ws_refuse_subscribe = _chance("ws_refuse_subscribe_rate")

    def claim_hold(self) -> object | None:
        """The armed hold's claim for an order-creating request just arrived, if it is the first
        to arrive since the hold was armed (None: no hold is armed, or an earlier one has it)."""
        if self.settings.hold_request_s <= 0 or self._hold_claim is not None:
            return None
        self._hold_claim = object()
        return self._hold_claim

    def take_hold(self, claim: object) -> float:
        """The hold of the request holding `claim`, in seconds, then no more (0: the faults were
        cleared since it claimed)."""
        if claim is not self._hold_claim:
            return 0.0
        self._hold_claim = None
        hold, self.settings.hold_request_s = self.settings.hold_request_s, 0.0
        return hold

    async def held(self, hold_s: float) -> None:
        """Wait out a hold, or less if the faults are cleared meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._cleared.wait(), hold_s)

    @property
    def latency_s(self) -> float:
        return self.settings.latency_ms / 1000.0

    @property
    def read_lag_s(self) -> float:
        return self.settings.read_lag_ms / 1000.0

    def ws_silent(self) -> bool:
        return self._clock.monotonic() < self._silence_until
