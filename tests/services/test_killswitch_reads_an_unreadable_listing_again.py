"""A listing of the resting orders the kill switch cannot read (a body that is no JSON, an item
that does not decode, a page without the list or the cursor the spec requires) is tried again
within the deadline, as a 503 is: a garbled answer from a proxy, or a body cut short, passes
like one. It is never proof: a listing that cannot be read says nothing about what rests.

On the old code the first such answer ended the run at once, NOT PROVEN (exit 11), with the
orders already cancelled and the deadline barely touched."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest

from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.conftest import SimHarness
from tests.garbled_listings import (
    EACH_REASON,
    UNREADABLE,
    ListingsGarbledAfterTheCancels,
    a_proxys_page,
)
from tests.prime_tier import Kalshi, connect, make_markets, resting_count, seed_resting

# the longest pause between two tries: the switch stops as soon as the next one would end past
# its deadline, so it may stop this much short of it
LONGEST_PAUSE_S = 2.0


# each unreadable answer once, the two scopes (batched cancels of one market, the exchange's
# cancel-all of every market) taking turns: the reading of the listing is the same for both
EACH_ONCE_IN_A_SCOPE = [
    pytest.param(*damage.values, i % 2 == 0, id=f"{damage.id}-{scope}")
    for i, damage in enumerate(UNREADABLE)
    for scope in ["one market" if i % 2 == 0 else "every market"]
]


@pytest.mark.parametrize(("garbled", "named", "one_market"), EACH_ONCE_IN_A_SCOPE)
def test_a_listing_that_cannot_be_read_once_is_listed_again_and_proven(
    prime: SimHarness,
    kalshi: Kalshi,
    garbled: Callable[[], httpx.Response],
    named: str,
    one_market: bool,
) -> None:
    """Three orders resting, cancelled; the first listing after the cancels unreadable, the
    next one fine: PROVEN (exit 0) within the deadline, the unreadable answer named among the
    errors. On the old code: NOT PROVEN (exit 11) at the first unreadable listing."""
    (ticker,) = make_markets(prime, 1)
    seed_resting(prime, [ticker], 3)
    transport = ListingsGarbledAfterTheCancels(garbled, times=1)
    scope = ["--ticker", ticker] if one_market else ["--yes"]
    done = kalshi(
        "cancel-all",
        *scope,
        "--deadline",
        "20",
        "--json",
        client=lambda: connect(prime.account, transport=transport),
    )
    assert transport.listings_garbled == 1, "the listing after the cancels was garbled"
    with connect(prime.account) as client:
        assert resting_count(client) == 0
    assert done.stdout, f"the run ended with no report: {done.output}"
    report = json.loads(done.stdout)
    assert done.exit_code == 0, done.output
    assert report["proven"] is True, report
    assert any(named in e for e in report["errors"]), report["errors"]


@pytest.mark.parametrize(("garbled", "named"), EACH_REASON)
def test_listings_that_can_never_be_read_are_not_proven_at_the_deadline(
    prime: SimHarness,
    kalshi: Kalshi,
    garbled: Callable[[], httpx.Response],
    named: str,
) -> None:
    """Every listing after the cancels unreadable: the orders are cancelled on the simulator,
    but no listing could show it, so NOT PROVEN (exit 11) with the reason named, and only once
    the deadline is spent, listing again in between (the old code gave up at the first)."""
    (ticker,) = make_markets(prime, 1)
    seed_resting(prime, [ticker], 3)
    transport = ListingsGarbledAfterTheCancels(garbled, times=None)
    deadline_s = 5.0
    started = time.monotonic()
    done = kalshi(
        "cancel-all",
        "--ticker",
        ticker,
        "--deadline",
        f"{deadline_s:g}",
        "--json",
        client=lambda: connect(prime.account, transport=transport),
    )
    took = time.monotonic() - started
    with connect(prime.account) as client:
        assert resting_count(client) == 0, "the cancels went out"
    assert done.stdout, f"the run ended with no report: {done.output}"
    report = json.loads(done.stdout)
    assert done.exit_code == ExitCode.NOT_PROVEN, done.output
    assert report["proven"] is False, report
    assert any(named in e for e in report["errors"]), report["errors"]
    assert transport.listings_garbled > 1, "listed again within the deadline"
    assert deadline_s - LONGEST_PAUSE_S <= took < deadline_s + 5, (
        f"gave up after {took:.2f}s of a {deadline_s:g}s deadline"
    )


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_a_cancel_all_whose_listings_cannot_be_read_counts_its_cancels_as_unknown(
    prime: SimHarness, kalshi: Kalshi, as_json: bool
) -> None:
    """Three orders resting, every market: the exchange's cancel-all takes all three, but no
    listing after it can be read. The report cannot say how many it cancelled: `unknown`, and
    null in `--json`; the old code said `cancelled: 0 order(s)` beside NOT PROVEN."""
    (ticker,) = make_markets(prime, 1)
    seed_resting(prime, [ticker], 3)
    transport = ListingsGarbledAfterTheCancels(a_proxys_page, times=None)
    args = ["cancel-all", "--yes", "--deadline", "3", *(["--json"] if as_json else [])]
    done = kalshi(*args, client=lambda: connect(prime.account, transport=transport))
    with connect(prime.account) as client:
        assert resting_count(client) == 0, "the exchange's cancel-all took them"
    assert done.exit_code == ExitCode.NOT_PROVEN, done.output
    if as_json:
        report = json.loads(done.stdout)
        assert report["cancelled_count"] is None and report["contracts_cancelled"] is None
    else:
        assert "cancelled: unknown" in done.output and "cancelled: 0" not in done.output
