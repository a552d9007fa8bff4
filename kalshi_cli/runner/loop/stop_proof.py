"""What a stop proved (`StopProof`), and what a stop not proven says and exits with
(`StopNotProven`, exit 11). runner/loop/stop.py withdraws and proves.
"""

from __future__ import annotations

from dataclasses import dataclass

from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.exit_codes import ExitCode


class StopNotProven(KalshiError):
    """`kalshi trade` stopped without proving every order of its own gone (exit 11): `left`
    names those it could not, `unlisted` says why no listing looked (empty: one did)."""

    exit_code = ExitCode.NOT_PROVEN

    def __init__(self, left: tuple[str, ...], unlisted: str) -> None:
        super().__init__(
            not_proven_text(left, unlisted),
            hint="`kalshi order list --status resting` shows what rests, `kalshi cancel-all` "
            "withdraws and proves; runbooks/14-stop-not-proven.md",
        )
        self.left = left
        self.unlisted = unlisted


class SetsLeftBroken(KalshiError):
    """`kalshi trade` stopped with a set of legs neither whole nor flat (exit 11): a leg of
    unknown outcome not settled within the stop's deadline, or a sale back that found no bid,
    filled short or was refused (runner/execution/leg_sets.py). The next start finds each and
    unwinds it. A set whose every unhedged leg is held to its settlement by design is not one
    (store/leg_sets.py `held_to_settlement`)."""

    exit_code = ExitCode.NOT_PROVEN

    def __init__(self, sets: tuple[str, ...]) -> None:
        super().__init__(
            f"the stop left {len(sets)} set(s) of legs neither whole nor flat: " + ", ".join(sets),
            hint="`kalshi positions` shows what is held; the next `kalshi trade` unwinds each "
            "set (`group_broken`), or sell the extra legs by hand",
        )
        self.sets = sets


def not_proven_text(left: tuple[str, ...], unlisted: str, *, most: int | None = None) -> str:
    """What a stop not proven says: the orders it names (the first `most` of them), and why no
    listing looked."""
    named = f"the stop could not prove {len(left)} order(s) of the loop gone: "
    named += ", ".join(left[:most])
    unseen = f"no listing proved the stop ({unlisted}): an order of the loop's that no record "
    unseen += "knows may rest"
    return "; ".join(([named] if left else []) + ([unseen] if unlisted else []))


@dataclass(frozen=True)
class StopProof:
    """What a stop proved: `left`, the loop's orders not proven gone, and `unlisted`, why no
    listing looked ("": one did). Proven only when both are empty."""

    left: tuple[str, ...] = ()
    abandoned: bool = False
    unlisted: str = ""
    # a step of the withdrawal that failed with what no answer should be (a bug): the stop
    # withdrew and proved past it, and the run then ends as the crash it is
    failed: Exception | None = None

    @property
    def proven(self) -> bool:
        return not self.left and not self.unlisted
