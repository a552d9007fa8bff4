"""An account's used client order ids held as 128-bit numbers answer exactly as the set of
strings did, and the archives keep ids without their strings
(sim/core/client_ids.py).

Kalshi never frees a client order id (REFERENCE.md: a reuse, even of a long-cancelled order's
id, is 409 `order_already_exists`), so the set grows with every order. These tests drive
`UsedClientIds` and a `set[str]` with the same operations and compare every answer, and check
at the exchange that the same requests are refused as before.
"""

from __future__ import annotations

import random
import tracemalloc
import uuid
from collections.abc import Callable

import pytest

from kalshi_cli.sim.core.client_ids import IdColumn, UsedClientIds, uuid_number, uuid_text
from kalshi_cli.sim.core.records import ExchangeError
from kalshi_cli.sim.core.reference import Reference
from kalshi_cli.vocabulary.clock import ManualClock
from tests.sim.test_core import ASK, BID, GTC, IOC, Env


def _ids(rng: random.Random) -> list[str]:
    """Canonical UUIDs, the exchange's shape (a prefix and a counter), near misses that must
    stay distinct strings (upper case, `_`, `+`, no hyphens, 35 and 37 characters), edge
    numbers, and plain strings."""
    out: list[str] = []
    prefix = str(uuid.UUID(int=rng.getrandbits(128), version=4))[:24]
    for n in range(300):
        u = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        out += [u, f"{prefix}{n:012x}"]
        if n % 10 == 0:
            out += [
                u.upper(),
                u[:35],
                u + "0",
                u.replace("-", ""),
                "+" + u[1:],
                u[:9] + "_" + u[10:],
                u[:8] + "x" + u[9:],
                f"order-{n}",
                "",
            ]
    out += [str(uuid.UUID(int=0)), str(uuid.UUID(int=(1 << 128) - 1)), "00000000-0000"]
    return out


def test_uuid_numbers_map_only_the_canonical_spelling() -> None:
    u = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0ff"
    assert uuid_text(uuid_number(u) or 0) == u
    for other in (u.upper(), u.replace("-", ""), "+" + u[1:], u[:9] + "_" + u[10:], " " + u[1:]):
        assert uuid_number(other) is None, other


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_used_ids_answer_as_a_set_of_strings(seed: int) -> None:
    rng = random.Random(seed)
    pool = _ids(rng)
    used, plain = UsedClientIds(), set[str]()
    for step in range(6000):
        cid = rng.choice(pool)
        op = rng.random()
        if op < 0.55:
            used.add(cid)
            plain.add(cid)
        elif op < 0.7:  # a keyless participant's forgotten orders free their ids
            used.discard(cid)
            plain.discard(cid)
        assert (cid in used) == (cid in plain), (step, cid)
        assert len(used) == len(plain), step
    assert sorted(used) == sorted(plain)
    for cid in pool:
        assert (cid in used) == (cid in plain), cid
    assert 42 not in used


def test_an_id_column_gives_back_each_id() -> None:
    pool = _ids(random.Random(4))
    column = IdColumn()
    for cid in pool:
        column.append(cid)
    assert [column[i] for i in range(len(column))] == pool
    assert column[-1] == pool[-1]
    # only the ids that are not canonical UUIDs keep their strings
    assert len(column.odd) == sum(uuid_number(cid) is None for cid in pool) < len(pool) / 3


def _traced(build: Callable[[], object]) -> tuple[object, int]:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        built = build()
        return built, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_a_used_uuid_costs_fewer_bytes_than_its_string() -> None:
    rng = random.Random(5)
    numbers = [rng.getrandbits(128) for _ in range(20_000)]
    # each structure built from fresh strings, as the exchange's ids arrive: the set keeps them
    strings, as_strings = _traced(lambda: {uuid_text(n) for n in numbers})
    used, as_numbers = _traced(lambda: UsedClientIds(uuid_text(n) for n in numbers))
    assert isinstance(used, UsedClientIds) and isinstance(strings, set)
    assert len(used) == len(numbers) == len(strings)
    # measured 190 -> 149 bytes an id at this size (the set's slots are the same for both)
    assert as_numbers < as_strings - 35 * len(numbers), (as_strings, as_numbers)


def test_the_exchange_refuses_the_same_reuses() -> None:
    env = Env(cash=10**9)
    mine = str(uuid.uuid4())
    env.place(env.a, ASK, "0.40", 1, GTC, client_order_id=mine)
    env.ex.desk.cancel_order(env.a, env.ex.history.orders(env.a)[0].order_id)
    with pytest.raises(ExchangeError) as refused:  # a cancelled order's id stays used
        env.place(env.a, ASK, "0.40", 1, GTC, client_order_id=mine)
    assert (refused.value.status, refused.value.code) == (409, "order_already_exists")
    # the same letters in upper case are another string: accepted, as by the set of strings
    env.place(env.a, ASK, "0.40", 1, GTC, client_order_id=mine.upper())
    # an order sent without an id has its order id as client id: that id is used too
    taken = env.place(env.b, BID, "0.60", 1, IOC).order.order_id
    with pytest.raises(ExchangeError):
        env.place(env.b, BID, "0.60", 1, IOC, client_order_id=taken)
    env.place(env.a, ASK, "0.40", 1, GTC, client_order_id=taken)  # another account may
    assert env.ex.history.orders(env.a)[0].client_order_id == taken


def test_the_exchanges_own_ids_take_the_number_uuid_number_gives_them() -> None:
    """`place_order` adds an id the exchange made (an order sent without a client id) by the
    number `Reference.numbered_id` makes with it from its counter, not by parsing it: the number
    `uuid_number` gives, up to and past the counter's 48 bits."""

    reference = Reference(ManualClock(1_800_000_000.0), None)
    for seq in (0, 1, 0xABCDEF, (1 << 48) - 2, (1 << 48) - 1, 1 << 48, (1 << 48) + 5):
        reference.seq = seq - 1
        made, number = reference.numbered_id()
        assert number == uuid_number(made), (seq, made)
