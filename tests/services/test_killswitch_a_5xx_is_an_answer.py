"""A batch cancel the exchange answers 503 on every try: the client raises the doubt that its
cancels may have acted (`OrderOutcomeUnknown`, a `TransportError` raised from the 503 its retry
was answered), and the kill switch tries it again until its deadline. The exchange answered
every request, so the run is NOT PROVEN for the order left resting, never "the exchange could
not be reached", and it is not given up on as an exchange no connection reaches: it tries to
its deadline."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

from kalshi_cli.cli._output import Output
from kalshi_cli.cli.trading import render_kill_report
from kalshi_cli.client.requests import CancelResult
from kalshi_cli.client.retry import UnknownOutcome, resent
from kalshi_cli.services.killswitch.pull import UNREACHABLE_GIVE_UP_S
from kalshi_cli.services.killswitch.switch import KillSwitch
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import ApiError, KalshiError, OrderOutcomeUnknown
from kalshi_cli.vocabulary.models import Order
from tests.services.killswitch_fakes import UnexpectedCalls, resting_order

TICKER = "KXT-EV-M00"
DEADLINE_S = 4 * UNREACHABLE_GIVE_UP_S


class AnswersEveryBatchCancel503(UnexpectedCalls):
    """Lists one resting order; answers every try of a batch cancel 503, its retry too, so each
    call raises what the client raises then (`retry.resent`): the doubt."""

    def __init__(self) -> None:
        self.doubts: list[OrderOutcomeUnknown] = []

    def iter_orders(self, **filters: object) -> Iterator[Order]:
        yield resting_order("o-1", TICKER)

    def batch_cancel(
        self, orders: list[tuple[str, str | None]], *, subaccounts: dict[str, int] | None = None
    ) -> list[CancelResult]:
        def send(on_retry: Callable[[KalshiError], object]) -> list[CancelResult]:
            on_retry(self._503())  # the first try's answer: it may have acted
            raise self._503()  # and its retry's

        unknown = UnknownOutcome.read_by(
            "the batch cancel", "some of them may have been cancelled", "kalshi order list"
        )
        try:
            return resent(send, unknown)
        except OrderOutcomeUnknown as doubt:
            self.doubts.append(doubt)
            raise

    @staticmethod
    def _503() -> ApiError:
        return ApiError.from_response(503, {"error": {"code": "unavailable", "message": "x"}})


def test_a_cancel_in_doubt_after_a_5xx_is_not_said_unreachable() -> None:
    clock = ManualClock()
    exchange = AnswersEveryBatchCancel503()

    report = KillSwitch(exchange, None, clock, deadline_s=DEADLINE_S, read_lag_s=0).run(
        ticker=TICKER
    )

    assert not report.proven and report.left == ["o-1"]
    assert len(exchange.doubts) >= 2  # the switch tried the batch cancel again
    assert report.errors[-1] == exchange.doubts[-1].one_line()
    assert report.unreachable is False
    assert report.to_json()["unreachable"] is False
    # tried to its deadline (less the last wait, which would pass it), never given up on as an
    # exchange no connection reaches
    assert clock.monotonic() >= DEADLINE_S - 2.0
    assert not [e for e in report.errors if "no connection reached" in e]
    out = io.StringIO()
    render_kill_report(Output(stdout=out), report, scope=TICKER)
    text = out.getvalue()
    assert "could not be reached" not in text
    assert f"NOT PROVEN: 1 resting order(s) left ({TICKER})" in text.splitlines()
