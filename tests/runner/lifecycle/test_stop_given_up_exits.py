"""A stop given up by a second interrupt lets the process exit at once.

The stop's cancels side by side ran on a `concurrent.futures` pool, whose worker threads the
interpreter joins at exit: a stop given up while the exchange held those cancels printed its
summary at once, and the process then stayed until each held cancel was answered or cut (up
to the stop's deadline, 20 s by default). Here, in a process of its own, the exchange holds
every single cancel for 20 s after refusing the batch, or holds the batch itself (a call the
stop makes alone, on a thread of its own); the second interrupt comes as they are held: the
process must be gone soon after the stop returns.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

HELD_S = 20.0
# how soon after the stop returned the process must be gone, on a loaded machine
EXITS_WITHIN_S = 6.0

_SCRIPT = textwrap.dedent(
    """
    import sys, threading, time
    from pathlib import Path
    from kalshi_cli.vocabulary.errors import ServerError
    from tests.runner.fakes import make_rig

    rig = make_rig(Path(sys.argv[1]), strategy="market-maker")
    rig.step(0.1)
    assert rig.loop.stop.own.resting(), "the market maker rests quotes"
    abandon = threading.Event()
    cancel = rig.client.cancel_order

    def held(order_id, **kwargs):
        abandon.set()  # the person presses Ctrl-C again as the cancels are held
        time.sleep(float(sys.argv[2]))
        return cancel(order_id, **kwargs)

    def refused(*args, **kwargs):
        raise ServerError("batch refused", status=503)

    batch = rig.client.batch_cancel

    def batch_held(*args, **kwargs):
        abandon.set()
        time.sleep(float(sys.argv[2]))
        return batch(*args, **kwargs)

    if sys.argv[3] == "one-by-one":
        rig.client.batch_cancel = refused
        rig.client.cancel_order = held
    else:
        rig.client.batch_cancel = batch_held
    summary = rig.loop.stop.shutdown(cancel_resting=True, abandon=abandon)
    assert summary.not_proven, summary
    print("returned", flush=True)
    """
)


@pytest.mark.parametrize("held", ["one-by-one", "batch"])
def test_a_stop_given_up_while_its_cancels_are_held_lets_the_process_exit(
    tmp_path: Path, held: str
) -> None:
    root = Path(__file__).resolve().parents[3]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    with subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, str(tmp_path / "s.db"), str(HELD_S), held],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=root,
    ) as process:
        try:
            assert process.stdout is not None and process.stderr is not None
            line = process.stdout.readline()
            returned = time.monotonic()
            assert line.strip() == "returned", (line, process.stderr.read())
            process.wait(timeout=HELD_S + 30)
            gone = time.monotonic() - returned
        finally:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert gone < EXITS_WITHIN_S, f"the process stayed {gone:.1f} s after the stop returned"
