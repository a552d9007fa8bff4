"""A loop's strategies are owned by their names: each name once, and each one the client order
id carries whole, however the strategy reached the loop (the loader checks a file's; a program
may build a `Strategy` itself)."""

from __future__ import annotations

from typing import Any

import pytest

from kalshi_cli.runner.loop.lineup import Lineup, Member
from kalshi_cli.strategy_api import Params, Strategy
from kalshi_cli.vocabulary.errors import UsageError
from kalshi_cli.vocabulary.order_terms import owned_client_order_id, owner_in


class _P(Params, frozen=True):
    pass


def _member(name: str) -> Member:
    def decide(snap: Any, pos: Any, params: Any) -> list[Any]:
        return []

    strategy: Strategy[Any] = Strategy(name, _P, decide)
    return Member(strategy, _P())


@pytest.mark.parametrize("name", ["élan", "two words", "x" * 32, ""])
def test_a_strategy_built_in_code_its_order_ids_cannot_carry_whole_is_refused(name: str) -> None:
    with pytest.raises(UsageError, match="at most 31 ASCII letters, digits, - and _"):
        Lineup([_member(name)])


def test_the_same_name_twice_is_refused() -> None:
    with pytest.raises(UsageError, match="named twice"):
        Lineup([_member("mine"), _member("mine")])


@pytest.mark.parametrize("name", ["a", "x" * 31, "Mom_2-b"])
def test_every_name_a_lineup_takes_is_what_its_order_ids_carry(name: str) -> None:
    (member,) = Lineup([_member(name)])
    assert owner_in(owned_client_order_id(member.name)) == member.name
