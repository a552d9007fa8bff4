"""The strategies one trade loop runs (`Lineup`), each a `Member`: the strategy, resolved once, its
validated params, and the params file a reload (`kill -HUP`) reads again.

A member's name is the owner its orders and fills carry in the state file; each member decides on
its own orders and its own part of the position (`PositionView.own`), while the risk engine,
stop-loss and kill switch count the whole account. A lineup refuses two members of one name and a
name the client order id cannot carry whole (`OWNER_NAME`). docs/strategies.md "Several strategies
in one loop".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kalshi_cli.strategies.deadline import BoundedCall, bounded_decide
from kalshi_cli.vocabulary.errors import UsageError
from kalshi_cli.vocabulary.owners import OWNER_NAME, OWNER_NAME_RULE

if TYPE_CHECKING:
    from kalshi_cli.strategy_api import MarketTerms
    from kalshi_cli.strategy_api.strategy import Strategy
    from kalshi_cli.vocabulary.decisions import Decision


@dataclass(frozen=True)
class Member:
    strategy: Strategy[Any]
    params: Any
    params_file: Path | None = None

    @cached_property
    def name(self) -> str:  # read several times on every market's turn
        return self.strategy.name

    @cached_property
    def bounded(self) -> BoundedCall[Sequence[Decision]]:
        """Its `decide` on a worker under its deadline (runner/loop/market_pass.py)."""
        return bounded_decide(self.strategy, self.params, f"decide-{self.name}")

    def close(self) -> None:
        if "bounded" in self.__dict__:
            self.bounded.close()

    @property
    def window_s(self) -> float | None:
        """The strategy's mid window, when its params have one."""
        window = getattr(self.params, "window_s", None)
        return None if window is None else float(window)


class Lineup:
    """The members in the order the trader named them: the order each market asks them in."""

    def __init__(self, members: Sequence[Member]) -> None:
        if not members:
            raise UsageError("a trade loop needs at least one strategy", hint="--strategy NAME")
        seen: set[str] = set()
        for member in members:
            if not OWNER_NAME.match(member.name):
                raise UsageError(
                    f"strategy name {member.name!r}: {OWNER_NAME_RULE} (its order ids carry "
                    "it whole; an order the state file does not know is owned by the name its "
                    "id carries)"
                )
            if member.name in seen:
                raise UsageError(
                    f"the strategy {member.name} is named twice; each strategy runs once in a "
                    "loop (its orders and positions are owned by its name)",
                    hint="name each strategy once",
                )
            seen.add(member.name)
        self.members: tuple[Member, ...] = tuple(members)
        self._flags: dict[str, bool] = {}  # `any`'s answers: the members never change
        # asked on every market's turn: read as an attribute, without a call
        self.reads_mids = self.any("reads_mids")

    def __iter__(self) -> Iterator[Member]:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.members)

    def traded(self, terms: Mapping[str, MarketTerms]) -> dict[str, list[str]]:
        """Each member's name -> the tickers of `terms` it trades (`Strategy.trades`; every one
        for a strategy that does not say)."""
        return {
            m.name: [
                t
                for t, term in terms.items()
                if m.strategy.trades is None or m.strategy.trades(term)
            ]
            for m in self.members
        }

    def get(self, name: str) -> Member | None:
        for member in self.members:
            if member.name == name:
                return member
        return None

    def replaced(self, member: Member) -> Lineup:
        """This lineup with the member of the same name replaced (new params, a reload)."""
        if self.get(member.name) is None:
            raise KeyError(member.name)
        return Lineup([member if m.name == member.name else m for m in self.members])

    def any(self, flag: str) -> bool:
        """Whether any member's strategy says `flag` (reads_mids, reads_index, ...)."""
        said = self._flags.get(flag)
        if said is None:
            said = self._flags[flag] = any(getattr(m.strategy, flag) for m in self.members)
        return said

    def history_s(self, default: float) -> float:
        """The mid history the loop keeps: the longest window of a member that has one."""
        windows = [w for m in self.members if (w := m.window_s) is not None]
        return max(windows) if windows else default

    def describe(self) -> str:
        """`NAME` for a built-in, `NAME (SPEC)` for one loaded from a file or a package, each
        strategy in order: what the start-up line, `kalshi status` and the dashboard show."""
        return ", ".join(
            m.name if m.strategy.origin == "built-in" else f"{m.name} ({m.strategy.spec})"
            for m in self.members
        )

    def to_json(self, stopped: Mapping[str, str] | None = None) -> list[dict[str, str | None]]:
        """Each member's name and spec, and with `stopped`, why it is stopped (None: it is
        not), as the heartbeat tells it."""
        listed: list[dict[str, str | None]] = []
        for m in self.members:
            listed.append({"name": m.name, "spec": m.strategy.spec or m.name})
            if stopped is not None:
                listed[-1]["stopped"] = stopped.get(m.name)
        return listed
