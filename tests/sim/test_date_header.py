"""The simulator's `Date` header is the exchange's clock when the answer is made.

`kalshi health-check` and `kalshi check api` read the clock skew from it. uvicorn's own header
is a string it renews once a second from its event loop, so on a loaded machine it ran a second
or more behind, and both reported a skew of -1.2 s against a simulator on the same host (in
CI). The real exchange's header is the time it answered, to the second (RFC 9110).
"""

from __future__ import annotations

from email.utils import formatdate, parsedate_to_datetime

from kalshi_cli.vocabulary.clock import ManualClock
from tests.conftest import SimHarness


def test_the_date_header_is_the_exchange_clock_at_the_answer(
    manual_sim: SimHarness, manual_clock: ManualClock
) -> None:
    for step in (0.0, 3600.0, 0.4, 86_400.0):
        manual_clock.advance(step)
        response = manual_sim.http.get(manual_sim.account.api_base + "/exchange/status")
        assert response.status_code == 200
        assert response.headers.get_list("date") == [formatdate(manual_clock.wall(), usegmt=True)]


def test_every_api_answer_carries_one_date(manual_sim: SimHarness) -> None:
    for path in ("/exchange/status", "/markets", "/no/such/path"):
        response = manual_sim.http.get(manual_sim.account.api_base + path)
        dates = response.headers.get_list("date")
        assert len(dates) == 1, (path, dates)
        parsedate_to_datetime(dates[0])
