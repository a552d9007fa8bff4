"""The one backoff rule (`clock.Backoff`): full jitter under a cap, at any retry number, and no
wait started past a deadline."""

from __future__ import annotations

import random

from kalshi_cli.vocabulary.clock import Backoff, Deadline, ManualClock


def test_the_wait_is_full_jitter_under_the_cap() -> None:
    backoff, rng = Backoff(0.5, 4.0), random.Random(7)
    for retry in range(1, 13):
        bound = min(4.0, 0.5 * 2 ** (retry - 1))
        samples = [backoff.delay(retry, rng) for _ in range(200)]
        assert all(0 <= s <= bound for s in samples)
        assert max(samples) > bound * 0.8 and min(samples) < bound * 0.2


def test_the_ceiling_doubles_from_the_base_to_the_cap_and_stays_there() -> None:
    backoff = Backoff(0.5, 30.0)
    assert [backoff.ceiling(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert backoff.ceiling(1_100) == backoff.ceiling(10**6) == 30.0
    # a small base keeps doubling for many retries before it meets a large cap
    slow = Backoff(0.001, 1_000.0)
    assert [slow.ceiling(n) for n in (11, 20, 21)] == [1.024, 524.288, 1_000.0]


def test_a_retry_number_in_the_thousands_still_waits_under_the_cap() -> None:
    # a feed reconnecting for days, or a kill switch given a long deadline against a dead
    # exchange, counts that high: 2 ** 1100 as a float is an OverflowError
    backoff, rng = Backoff(0.1, 2.0), random.Random(1)
    waits = [backoff.delay(retry, rng) for retry in (1_100, 5_000, 10**6)]
    assert all(0 <= w <= 2.0 for w in waits)


def test_no_wait_is_started_that_would_end_past_the_deadline() -> None:
    clock = ManualClock(1_000.0)
    deadline = Deadline.after(clock, 0.5)
    waits = [Backoff(1.0, 8.0).next_delay(4, deadline, random.Random(seed)) for seed in range(50)]
    assert None in waits  # a draw of 0.5 s or more gives up
    assert all(w is None or w < 0.5 for w in waits)
