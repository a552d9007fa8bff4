"""What a breach covers is part of its alert: when the set of breaching subaccounts or markets
changes while `kalshi check positions` (or `exposure`) stays CRITICAL, the on-call person is told
at once; an unchanged breach stays one message, and the clearing is one more.

The alert's fingerprint stays `check:NAME` (what 0.1.0 wrote in the state file), so an alert
open across an upgrade still gets its "resolved" message. The real command, the real simulator
over loopback, and a real webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.alerts.receiver import Receiver
from tests.checks.test_check_cli import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARNING,
    account_env,
    check,
    client_for,
    line,
)
from tests.conftest import SimHarness, tier_simulator


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimHarness]:
    """The simulator on the advanced tier: subaccounts need it or above."""
    yield from tier_simulator(tmp_path, "advanced")


def configure(home: Path, receiver: Receiver, *, limit: int = 100) -> None:
    (home / "config.yaml").write_text(
        receiver.alerts_config() + f"risk: {{max_position_per_market: {limit}}}\n"
    )


def trade(
    sim: SimHarness, ticker: str, count: int, *, subaccount: int = 0, sell: bool = False
) -> None:
    """The default account buys (or sells) `count` YES at 0.40 on `subaccount` (created and
    funded with $100 first when it is new) against a second account."""
    other_account = sim.new_account()
    with client_for(sim.account) as me, client_for(other_account) as other:
        if subaccount and subaccount not in {
            b.subaccount for b in me.subaccounts.subaccount_balances()
        }:
            assert me.subaccounts.create_subaccount() == subaccount
            me.subaccounts.transfer_between_subaccounts(
                from_subaccount=0, to_subaccount=subaccount, amount_cents=10_000
            )
        me.subaccount = subaccount or None
        mine, theirs = (BookSide.ASK, BookSide.BID) if sell else (BookSide.BID, BookSide.ASK)
        price, size = Decimal("0.40"), Decimal(count)
        me.orders.create_order(CreateOrder(ticker=ticker, book_side=mine, price=price, count=size))
        other.orders.create_order(
            CreateOrder(
                ticker=ticker,
                book_side=theirs,
                price=price,
                count=size,
                time_in_force=TimeInForce.IOC,
            )
        )


def fired(receiver: Receiver) -> list[tuple[str, str]]:
    return [(p["status"], p["fingerprint"]) for p in receiver.posts]


def test_a_breach_that_widens_to_another_subaccount_is_posted_again_naming_it(
    sim: SimHarness, tmp_path: Path, receiver: Receiver
) -> None:
    sim.create_market("KXWID-1")
    sim.create_market("KXWID-2")
    trade(sim, "KXWID-1", 101, subaccount=1)
    configure(tmp_path, receiver)
    env = account_env(sim.account)

    assert check(tmp_path, "positions", environ=env).exit_code == CRITICAL
    assert check(tmp_path, "positions", environ=env).exit_code == CRITICAL  # unchanged: deduped
    assert fired(receiver) == [("firing", "check:positions")]

    trade(sim, "KXWID-2", 120, subaccount=2)  # now subaccount 2 is over as well
    widened = check(tmp_path, "positions", environ=env)
    assert widened.exit_code == CRITICAL, widened.stdout
    assert fired(receiver) == [("firing", "check:positions")] * 2
    second = receiver.posts[1]
    assert second["summary"].startswith(
        "2 markets over limit: KXWID-1 101/100 on subaccount 1, KXWID-2 120/100 on subaccount 2"
    )
    assert second["details"]["previously"] == "KXWID-1 on subaccount 1"
    assert check(tmp_path, "positions", environ=env).exit_code == CRITICAL
    assert len(receiver.posts) == 2  # the widened breach, unchanged: one message

    trade(sim, "KXWID-2", 30, subaccount=2, sell=True)  # 2 back to 90: only 1 is over
    narrowed = check(tmp_path, "positions", environ=env)
    assert narrowed.exit_code == CRITICAL, narrowed.stdout
    # a shrink: the person was told of subaccount 1 already, so it waits for the repeat interval
    assert fired(receiver) == [("firing", "check:positions")] * 2

    configure(tmp_path, receiver, limit=1000)  # every position within the limit: cleared
    assert check(tmp_path, "positions", environ=env).exit_code == OK
    assert check(tmp_path, "positions", environ=env).exit_code == OK
    assert fired(receiver) == [("firing", "check:positions")] * 2 + [
        ("resolved", "check:positions")
    ]
    # the clearing quotes the last message the person read
    assert receiver.posts[2]["summary"].endswith(
        "(was: 2 markets over limit: KXWID-1 101/100 on subaccount 1, "
        "KXWID-2 120/100 on subaccount 2)"
    )


def test_a_breach_that_moves_to_another_market_is_posted_again_and_growth_is_not(
    sim: SimHarness, tmp_path: Path, receiver: Receiver
) -> None:
    """An account without subaccounts: the breaching market is what identifies the breach."""
    sim.create_market("KXMOV-A")
    sim.create_market("KXMOV-B")
    trade(sim, "KXMOV-A", 101)
    configure(tmp_path, receiver)
    env = account_env(sim.account)
    assert check(tmp_path, "positions", environ=env).exit_code == CRITICAL
    trade(sim, "KXMOV-A", 4)  # the same market, a little more: the same breach
    assert check(tmp_path, "positions", environ=env).exit_code == CRITICAL
    assert len(receiver.posts) == 1

    trade(sim, "KXMOV-B", 101)
    trade(sim, "KXMOV-A", 100, sell=True)  # A back to 5, B over: the breach moved
    moved = check(tmp_path, "positions", environ=env)
    assert moved.exit_code == CRITICAL, moved.stdout
    assert line(moved).startswith(
        "KALSHI POSITIONS CRITICAL - 1 market over limit: KXMOV-B 101/100 |"
    )
    assert fired(receiver) == [("firing", "check:positions")] * 2
    assert receiver.posts[1]["summary"] == "1 market over limit: KXMOV-B 101/100"
    assert receiver.posts[1]["details"]["previously"] == "KXMOV-A"


def test_exposure_that_moves_to_another_subaccount_is_posted_again(
    sim: SimHarness, tmp_path: Path, receiver: Receiver
) -> None:
    sim.create_market("KXEXM-1")
    sim.create_market("KXEXM-2")
    trade(sim, "KXEXM-1", 100, subaccount=1)  # $40 on subaccount 1
    configure(tmp_path, receiver)
    env = account_env(sim.account)
    flags = ("--warn", "0.05", "--crit", "0.07")  # crit above $35 of the $500 cap
    assert check(tmp_path, "exposure", *flags, environ=env).exit_code == CRITICAL
    assert check(tmp_path, "exposure", *flags, environ=env).exit_code == CRITICAL
    assert len(receiver.posts) == 1
    trade(sim, "KXEXM-2", 100, subaccount=2)  # $40 on subaccount 2 too
    assert check(tmp_path, "exposure", *flags, environ=env).exit_code == CRITICAL
    assert fired(receiver) == [("firing", "check:exposure")] * 2
    assert receiver.posts[1]["details"]["previously"] == "subaccount 1"
    assert "subaccount 2 $40.00 (8%)" in receiver.posts[1]["summary"]


def test_an_alert_open_before_the_upgrade_stays_one_message_and_is_resolved(
    sim: SimHarness, tmp_path: Path, receiver: Receiver
) -> None:
    """0.1.0 wrote `check:positions` with the check's summary and nothing else: the same breach
    is not posted again after the upgrade, and its clearing is still announced."""
    sim.create_market("KXUPG-1")
    configure(tmp_path, receiver)
    env = account_env(sim.account)
    assert check(tmp_path, "positions", environ=env).exit_code == OK  # creates the state file
    [state] = tmp_path.rglob("state.db")
    with Store.open(state) as store:  # the row 0.1.0 left for a breach it posted
        store.alerts.record_alert(
            "check:positions",
            status="firing",
            severity="critical",
            summary="1 market over limit: KXUPG-1 101/100",
            sent=True,
        )
    trade(sim, "KXUPG-1", 101)
    assert check(tmp_path, "positions", environ=env).exit_code == CRITICAL
    assert check(tmp_path, "positions", environ=env).exit_code == CRITICAL
    assert receiver.posts == []
    trade(sim, "KXUPG-1", 50, sell=True)
    assert check(tmp_path, "positions", environ=env).exit_code == OK
    assert fired(receiver) == [("resolved", "check:positions")]
    assert receiver.posts[0]["summary"].endswith("(was: 1 market over limit: KXUPG-1 101/100)")


def test_a_check_narrowed_to_a_subaccount_alerts_apart_and_never_clears_the_whole_one(
    sim: SimHarness, tmp_path: Path, receiver: Receiver
) -> None:
    """`--subaccount N` looks at N alone: its verdict is N's, so it has its own fingerprint. An
    OK on subaccount 0 does not announce the clearing of subaccount 1's breach, and two crontab
    lines (every subaccount, and one) do not take turns re-sending each other's alert."""
    sim.create_market("KXNAR-1")
    trade(sim, "KXNAR-1", 101, subaccount=1)
    configure(tmp_path, receiver)
    env = account_env(sim.account)
    for _ in range(2):
        assert check(tmp_path, "positions", environ=env).exit_code == CRITICAL
        assert check(tmp_path, "positions", "--subaccount", "0", environ=env).exit_code == OK
        assert check(tmp_path, "positions", "--subaccount", "1", environ=env).exit_code == CRITICAL
    assert fired(receiver) == [
        ("firing", "check:positions"),
        ("firing", "check:positions:subaccount:1"),
    ]
    # `all --subaccount 1` shares the narrowed one (its other checks alert under their names)
    assert check(tmp_path, "all", "--subaccount", "1", environ=env).exit_code == CRITICAL
    configure(tmp_path, receiver, limit=1000)
    assert check(tmp_path, "positions", "--subaccount", "1", environ=env).exit_code == OK
    assert check(tmp_path, "positions", environ=env).exit_code == OK
    assert [f for f in fired(receiver) if "positions" in f[1]] == [
        ("firing", "check:positions"),
        ("firing", "check:positions:subaccount:1"),
        ("resolved", "check:positions:subaccount:1"),
        ("resolved", "check:positions"),
    ]


def test_a_check_that_goes_blind_on_a_breach_says_so_and_says_when_it_sees_again(
    sim: SimHarness, tmp_path: Path, receiver: Receiver
) -> None:
    """WARNING and UNKNOWN share a tier: before, a positions WARNING followed by "cannot tell"
    (the exchange failing) posted nothing, and the person kept trusting the last line."""
    sim.create_market("KXBLD-1")
    trade(sim, "KXBLD-1", 85)  # 85% of the limit: WARNING
    configure(tmp_path, receiver)
    env = account_env(sim.account)
    assert check(tmp_path, "positions", environ=env).exit_code == WARNING
    sim.set_faults(http_5xx_rate=1.0)
    assert check(tmp_path, "positions", environ=env).exit_code == UNKNOWN
    assert check(tmp_path, "positions", environ=env).exit_code == UNKNOWN
    sim.clear_faults()
    assert check(tmp_path, "positions", environ=env).exit_code == WARNING
    assert [(p["title"], p["details"].get("previously")) for p in receiver.posts] == [
        ("KALSHI POSITIONS WARNING", None),
        ("KALSHI POSITIONS UNKNOWN", "KXBLD-1"),
        ("KALSHI POSITIONS WARNING", "cannot tell"),
    ]
