"""A `check:positions` row left firing by a `--subaccount N` check of an unreleased build.

The development builds before `check:NAME:subaccount:N` filed a
narrowed check's breach under `check:positions`, which the narrowed check no longer touches. No
released version can have written such a row: `kalshi check --subaccount` is new since 0.1.0
(CHANGELOG.md), and 0.1.0's `check:positions` is the check of the whole account,
which still owns that fingerprint. So there is no adoption: the behaviour pinned here is the one
docs/alerts.md documents for such a row. The narrowed check keeps to its own fingerprint and
never resolves the whole account's; the check of the whole account, on its next OK, sends the
row's one "resolved" message (the remedy the upgrade note gives for a development build)."""

from __future__ import annotations

from pathlib import Path

from kalshi_cli.store import Store
from tests.alerts.receiver import Receiver
from tests.checks.test_check_alert_scope import (  # noqa: F401  (fixtures)
    configure,
    fired,
    sim,
    trade,
)
from tests.checks.test_check_cli import account_env, check
from tests.conftest import SimHarness

OK, CRITICAL = 0, 2


def test_a_whole_account_row_left_by_a_narrowed_check_is_resolved_by_the_whole_check(
    sim: SimHarness,  # noqa: F811
    tmp_path: Path,
    receiver: Receiver,
) -> None:
    sim.create_market("KXNUP-1")
    configure(tmp_path, receiver)
    env = account_env(sim.account)
    trade(sim, "KXNUP-1", 101, subaccount=1)
    assert check(tmp_path, "positions", "--subaccount", "1", environ=env).exit_code == CRITICAL
    [state] = tmp_path.rglob("state.db")
    with Store.open(state) as store:
        # what a development build's `--subaccount 1` line left: the breach under check:positions
        store.alerts.record_alert(
            "check:positions",
            status="firing",
            severity="critical",
            summary="1 market over limit: KXNUP-1 101/100 on subaccount 1",
            sent=True,
        )
    assert check(tmp_path, "positions", "--subaccount", "1", environ=env).exit_code == CRITICAL
    trade(sim, "KXNUP-1", 50, subaccount=1, sell=True)
    assert check(tmp_path, "positions", "--subaccount", "1", environ=env).exit_code == OK
    # the narrowed check posted and cleared its own alert only
    assert fired(receiver) == [
        ("firing", "check:positions:subaccount:1"),
        ("resolved", "check:positions:subaccount:1"),
    ]
    with Store.open(state) as store:
        left = store.alerts.alert_state("check:positions")
    assert left is not None and left.status == "firing"
    # the check of the whole account, OK: the one "resolved" message for that row
    assert check(tmp_path, "positions", environ=env).exit_code == OK
    assert check(tmp_path, "positions", environ=env).exit_code == OK
    assert fired(receiver)[2:] == [("resolved", "check:positions")]
    assert receiver.posts[2]["summary"].endswith(
        "(was: 1 market over limit: KXNUP-1 101/100 on subaccount 1)"
    )
    with Store.open(state) as store:
        done = store.alerts.alert_state("check:positions")
    assert done is not None and done.status == "resolved"
