"""A hand order interrupted (Ctrl-C) while its breaker's catch-up listings are out ends its
process at once: the listings, reads of the exchange alone whose answer no one will book, are
not waited for at the process's exit (docs/risk.md "Daily circuit breaker"). Waited for, a
`kalshi order place` stopped by hand against a slow exchange hung until the listing's own
deadline and retries ran out.

The order runs in a process of its own (the wait is the interpreter's, at its exit), against
the simulator, through a transport that holds each fills listing HOLD_S and interrupts the
order's market read."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HOLD_S = 15.0
# how long the exit may take after the interrupt: the simulator's and the state file's close
EXIT_WITHIN_S = 5.0

ORDER = """
import sys, tempfile, time
from decimal import Decimal as D
from pathlib import Path
import httpx
from kalshi_cli.services.orders.place import OrderService
from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.order_terms import OrderRequest
from kalshi_cli.vocabulary.units import Action, Side
from tests.conftest import SimHarness
from tests.prime_tier import connect, make_markets

class Held(httpx.HTTPTransport):
    def handle_request(self, request):
        if request.url.path.endswith("/portfolio/fills"):
            time.sleep(float(sys.argv[2]))
        elif "/markets/" in request.url.path:
            raise KeyboardInterrupt
        return super().handle_request(request)

where = Path(sys.argv[1])
harness = SimHarness(start_simulator(where / "sim", scenario="empty", tier="prime"))
(ticker,) = make_markets(harness, 1)
store = Store.open(where / "state.db")
client = connect(harness.account, transport=Held())
try:
    OrderService(client, store).prepare(OrderRequest(ticker, Side.YES, Action.BUY, D(1), D("0.10")))
except KeyboardInterrupt:
    print(time.time(), flush=True)
finally:
    client.close()
    store.close()
    harness.close()
"""


def test_an_order_interrupted_while_its_catch_up_is_out_exits_at_once(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-c", ORDER, str(tmp_path), str(HOLD_S)]
    done = subprocess.run(
        command, check=True, cwd=root, capture_output=True, text=True, timeout=4 * HOLD_S
    )
    ended = time.time()
    assert done.stdout.strip(), done.stderr  # interrupted during the order's market read
    assert ended - float(done.stdout) < EXIT_WITHIN_S
