"""A command run in-process (a test, a library user calling the app) leaves the process as it
found it: a signal handler it left installed would decide what every later Ctrl-C or SIGTERM in
that process does."""

from __future__ import annotations

import signal
from pathlib import Path

from kalshi_cli.vocabulary.process import Handler, signal_handlers
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, make_markets


def test_a_recording_puts_back_the_signal_handlers_it_found(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    (ticker,) = make_markets(prime, 1)

    def callers_own(*_: object) -> None:
        pass

    # the caller's handlers; SIGINT ignored, as in a script's background job
    found: dict[signal.Signals, Handler] = {
        signal.SIGINT: signal.SIG_IGN,
        signal.SIGTERM: callers_own,
    }
    with signal_handlers(found):
        done = kalshi(
            "record", "--tickers", ticker, "--out", str(tmp_path / "rec"), "--duration", "1"
        )
        assert done.exit_code == 0, done.output
        assert "recorded " in done.output
        assert {sig: signal.getsignal(sig) for sig in found} == found
