"""`kalshi trade` builds its client with a short retry budget (CLIENT_RETRY_BUDGET_S: the loop does
not tick, and SIGTERM waits, while a call retries), but its start's reads (the account's limits,
the reconcile, the markets) come before any tick: they retry within the budget every other command
has, so a slow answer there (a loaded host) does not refuse the start."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.runner.config import load_trade_config
from kalshi_cli.runner.loop.settings import CLIENT_RETRY_BUDGET_S
from kalshi_cli.vocabulary.keys import load_private_key
from tests.conftest import SimHarness
from tests.fakes import Unanswered
from tests.runner.simproc import market_maker_session

TICKER = "KXSLOWSTART-26-A"


# the start's reads: which subaccount the key trades on (its first), the reconcile's orders, the
# fee model and the positions the loop is built on and compared with
READS = ["/api_keys", "/portfolio/orders", "/fee_changes", "/portfolio/positions"]


@pytest.mark.parametrize("path", READS)
def test_a_start_read_unanswered_past_the_loops_budget_is_tried_again(
    sim: SimHarness, tmp_path: Path, path: str
) -> None:
    sim.create_market(TICKER)
    account = sim.new_account(balance_cents=1_000_000)
    key, _ = load_private_key(path=Path(account.private_key_path))
    # its first read of `path` gets no answer for longer than the loop's budget
    transport = Unanswered("GET", path, CLIENT_RETRY_BUDGET_S + 0.5, times=1)
    client = KalshiClient(
        api_base=account.api_base,
        key_id=account.key_id,
        private_key=key,
        transport=transport,
        max_retry_seconds=CLIENT_RETRY_BUDGET_S,  # as `kalshi trade` builds it
    )
    with client:
        summary = market_maker_session(
            account,
            client,
            TICKER,
            tmp_path,
            load_trade_config(None),
            duration_s=None,
            order_group=False,
            once=True,
        )
    assert transport.unanswered == 1  # the start's read did go unanswered, and was made again
    assert summary.ticks >= 1  # the start was not refused: the loop ran
    assert '"reconciled"' in (tmp_path / "trade.log").read_text()
