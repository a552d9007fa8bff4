"""`kalshi trade` as a process against the test's simulator, and a second account to move it."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.client.signing import KalshiAuth
from kalshi_cli.runner.config import Selection, StrategyChoice, TradeConfig, TradeOptions
from kalshi_cli.runner.lifecycle.session import trade
from kalshi_cli.runner.loop.summary import Summary
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.units import BookSide, TimeInForce

# Key ids of the accounts a test reads at the tier's whole budget (`client_for`) and of those a
# `kalshi trade` process trades (`trade_env`). One account may not be both: the simulator, as
# Kalshi, keeps one read budget per account, so a test client polling at the whole of it starves
# the process, whose reads then meet 429 until its retries give up and it exits 8 (a CI flake
# twice over). Such a test watches through `observer_for` instead; the guard makes the mistake
# fail at once rather than now and then.
_FULL_BUDGET: set[str] = set()
_TRADED: set[str] = set()


def _not_traded(account: AccountInfo) -> None:
    if account.key_id in _TRADED:
        raise AssertionError(
            f"account {account.key_id} is traded by a `kalshi trade` process: "
            "watch it with observer_for(), not client_for()"
        )


def client_for(account: AccountInfo) -> KalshiClient:
    """A client of `account` paced to the tier's whole budget: for counterparties and for
    accounts no `kalshi trade` process uses (see `_FULL_BUDGET`)."""
    _not_traded(account)
    _FULL_BUDGET.add(account.key_id)
    key, _ = load_private_key(path=Path(account.private_key_path))
    return KalshiClient(api_base=account.api_base, key_id=account.key_id, private_key=key)


def trade_env(account: AccountInfo, home: Path, state: Path) -> dict[str, str]:
    """The environment that points `kalshi` at `account` on a running simulator (no config
    file: KALSHI_HOME is an empty directory)."""
    if account.key_id in _FULL_BUDGET:
        raise AssertionError(
            f"account {account.key_id} already has a test client at the whole read budget: "
            "watch a traded account with observer_for(), not client_for()"
        )
    _TRADED.add(account.key_id)
    return {
        **os.environ,
        "KALSHI_HOME": str(home),
        "KALSHI_ENV": "sim",
        "KALSHI_API_BASE": account.api_base,
        "KALSHI_WS_URL": account.ws_url,
        "KALSHI_API_KEY_ID": account.key_id,
        "KALSHI_PRIVATE_KEY_PATH": account.private_key_path,
        "KALSHI_STATE": str(state),
    }


def trade_command(strategy: str, ticker: str, log: Path, *bounds: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "kalshi_cli",
        "trade",
        "--strategy",
        strategy,
        "--markets",
        ticker,
        *bounds,
        "--log-file",
        str(log),
    ]


def kalshi_process(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`kalshi ARGS` run to its end as a process of its own, with the environment `env`."""
    return subprocess.run(
        [sys.executable, "-m", "kalshi_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@contextmanager
def trade_process(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """`kalshi trade` as a process, its output piped: on leaving, killed if it still runs and its
    pipes closed whatever failed (an unclosed pipe is a ResourceWarning a later test reports)."""
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()


def stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM to the trade process and its stderr once it has exited."""
    proc.send_signal(signal.SIGTERM)
    return proc.communicate(timeout=20)[1]


def log_events(log: Path) -> list[dict[str, object]]:
    if not log.exists():
        return []
    text = log.read_text(encoding="utf-8")
    # the last line may be half written while the loop runs
    return [json.loads(line) for line in text.splitlines() if line.endswith("}")]


class Book:
    """A second account's resting orders, one per named slot, which make a market's book."""

    def __init__(self, client: KalshiClient, ticker: str) -> None:
        self.client = client
        self.ticker = ticker
        self.slots: dict[str, str] = {}

    def set(self, slot: str, book_side: BookSide | None, yes_price: str = "") -> None:
        old = self.slots.pop(slot, None)
        if old is not None:
            self.client.orders.cancel_order(old, ticker=self.ticker)
        if book_side is not None:
            self.slots[slot] = self.order(book_side, yes_price, "100", TimeInForce.GTC)

    def quote(self, yes_bid: str, yes_ask: str) -> None:
        self.set("bid", None)
        self.set("ask", None)
        self.set("bid", BookSide.BID, yes_bid)
        self.set("ask", BookSide.ASK, yes_ask)

    def order(self, book_side: BookSide, yes_price: str, count: str, tif: TimeInForce) -> str:
        result = self.client.orders.create_order(
            CreateOrder(
                ticker=self.ticker,
                book_side=book_side,
                price=Decimal(yes_price),
                count=Decimal(count),
                time_in_force=tif,
            )
        )
        return result.order_id


# What a test's watching client may read of the account a `kalshi trade` process trades: the
# simulator, as Kalshi, keeps one read budget per account (basic tier: 200 tokens a second, 10
# a listing), and a client of the test's own paced to the whole of it (`client_for`) takes what
# the process needs: its reads at start then meet 429 after 429 until its retries give up and
# it exits 8 (RATE_LIMITED). A tenth leaves the process the rest: 2 listings a second.
OBSERVER_READ_TOKENS_PER_S = 20


def observer_for(account: AccountInfo) -> KalshiClient:
    """A client of `account` for a test that watches a `kalshi trade` process of the same
    account: its reads are paced to OBSERVER_READ_TOKENS_PER_S, its writes to the tier's."""
    from kalshi_cli.client.ratelimit import BucketLimit, TierLimits, tier_limits

    key, _ = load_private_key(path=Path(account.private_key_path))
    reads = BucketLimit(OBSERVER_READ_TOKENS_PER_S, OBSERVER_READ_TOKENS_PER_S)
    return KalshiClient(
        api_base=account.api_base,
        key_id=account.key_id,
        private_key=key,
        rate_limits=TierLimits(reads, tier_limits("basic").write),
    )


def market_maker_session(
    account: AccountInfo,
    client: KalshiClient,
    ticker: str,
    tmp_path: Path,
    config: TradeConfig,
    *,
    duration_s: float | None,
    out: io.StringIO | None = None,
    order_group: bool = True,
    once: bool = False,
) -> Summary:
    """`kalshi trade --strategy market-maker` on `ticker` for `duration_s` (or one pass:
    `once`, `--once`), run in this process as the command runs it (its stop, the session's
    order group unless `order_group` is False: `--no-order-group`, the summary), through
    `client`; its log is `tmp_path / "trade.log"`, its state file `tmp_path / "state.db"`."""
    key, _ = load_private_key(path=Path(account.private_key_path))
    options = TradeOptions(
        strategies=(StrategyChoice("market-maker"),),
        selection=Selection(tickers=(ticker,)),
        duration_s=duration_s,
        once=once,
        log_file=tmp_path / "trade.log",
        order_group=order_group,
    )
    return trade(
        options,
        env="sim",
        state_path=tmp_path / "state.db",
        config=config,
        client=client,
        ws_url=account.ws_url,
        signer=KalshiAuth(account.key_id, key),
        out=out or io.StringIO(),
        read_lag_s=0.0,
    )
