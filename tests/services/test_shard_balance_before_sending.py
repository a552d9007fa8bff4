"""`SHARD_BALANCE` on every order path outside the loop: `kalshi order place`, `batch`, `amend` and
`kalshi mcp` refuse an order whose cost is over its market's exchange shard's balance before
anything is sent, naming the market, its shard, what it needs, what the shard holds and the
`kalshi shard move` that would cover it (docs/risk.md "A shard's balance"). Most tests give the
exchange's answers a split balance (the market on shard 2, the balance split between shards 0
and 2, as Kalshi answers: openapi.yaml 3.31.0) to set each figure exactly; the last runs on the
simulator's own shards, the money moved by a transfer."""

from __future__ import annotations

import json
from decimal import Decimal as D
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_cli.agent.settings import load_agent_config
from kalshi_cli.agent.tools import AgentTools
from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.mcp_cmd import CliAccess
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.agent.test_agent_tools import environ, refused
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, connect

T = "KXSHARD-26-T1"


class OnShardTwo(httpx.BaseTransport):
    """The simulator over loopback, but `T` trades on shard 2, which holds `on_two` of the
    account's balance (shard 0 the rest)."""

    def __init__(self, on_two: str) -> None:
        self._inner = httpx.HTTPTransport()
        self.on_two = D(on_two)
        self.balance_reads = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        path = request.url.path
        if request.method != "GET" or not (
            path.endswith(f"/markets/{T}") or path.endswith("/portfolio/balance")
        ):
            return response
        response.read()
        body: dict[str, Any] = json.loads(response.content)
        if path.endswith("/portfolio/balance"):
            self.balance_reads += 1
            total = D(body["balance_dollars"])
            body["balance_breakdown"] = [
                {"exchange_index": 0, "balance": str(total - self.on_two)},
                {"exchange_index": 2, "balance": str(self.on_two)},
            ]
        else:
            body["market"]["exchange_index"] = 2
        return httpx.Response(response.status_code, json=body)

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def market(prime: SimHarness) -> str:
    prime.create_market(T)
    return T


def _creates(prime: SimHarness) -> int:
    return int(prime.stats()["order_create_requests"])


def place(kalshi: Kalshi, prime: SimHarness, shards: OnShardTwo, count: str, price: str) -> Any:
    return kalshi(
        "order", "place", T, "--side", "yes", "--action", "buy", "--count", count,
        "--price", price, client=lambda: connect(prime.account, transport=shards),
    )  # fmt: skip


def test_order_place_is_refused_past_its_shards_balance_naming_the_move(
    prime: SimHarness, kalshi: Kalshi, market: str
) -> None:
    shards = OnShardTwo("1.50")
    before = _creates(prime)
    refused_ = place(kalshi, prime, shards, "10", "0.40")
    assert refused_.exit_code == ExitCode.REJECTED, refused_.output
    assert (
        f"{T} trades on shard 2: the order needs $4.00, shard 2 holds $1.50; "
        "`kalshi shard move 2.50 --from 0 --to 2` would cover it"
    ) in " ".join(refused_.stderr.split())
    assert _creates(prime) == before
    # within the shard's balance it goes, with one balance read for the order
    shards.on_two = D("4.00")
    reads = shards.balance_reads
    sent = place(kalshi, prime, shards, "10", "0.40")
    assert sent.exit_code == 0, sent.output
    assert _creates(prime) == before + 1
    assert shards.balance_reads == reads + 1


def test_a_batch_spends_its_shards_balance_row_by_row(
    prime: SimHarness, kalshi: Kalshi, market: str, tmp_path: Path
) -> None:
    """$5.00 on shard 2: two rows of $3.00 each fit alone, not together; nothing is sent."""
    shards = OnShardTwo("5.00")
    rows = tmp_path / "orders.csv"
    rows.write_text(
        f"ticker,side,action,count,price\n{T},yes,buy,10,0.30\n{T},yes,buy,10,0.30\n",
        encoding="utf-8",
    )
    before = _creates(prime)
    result = kalshi(
        "order", "batch", "--file", str(rows), "--yes",
        client=lambda: connect(prime.account, transport=shards),
    )  # fmt: skip
    assert result.exit_code == ExitCode.REJECTED, result.output
    assert "shard 2 holds $2.00" in result.stderr  # what the first row left
    assert "orders.csv:3" in result.stderr
    assert _creates(prime) == before
    assert shards.balance_reads == 1  # one read for the whole batch


def test_an_amend_counts_what_the_order_held_given_back(
    prime: SimHarness, kalshi: Kalshi, market: str
) -> None:
    """YES 10 at $0.40 rests ($4.00 held) and shard 2 holds $1.00 more: a new price of $0.50
    needs $5.00 of the $5.00 it then has; 20 contracts need $10.00."""
    shards = OnShardTwo("5.00")
    placed = place(kalshi, prime, shards, "10", "0.40")
    assert placed.exit_code == 0, placed.output
    with connect(prime.account) as client:
        (order,) = client.orders.iter_orders(ticker=T, status="resting")
    shards.on_two = D("1.00")
    amend = partial(
        kalshi, "order", "amend", order.order_id,
        client=lambda: connect(prime.account, transport=shards),
    )  # fmt: skip
    grown = amend("--count", "20", "--yes")
    assert grown.exit_code == ExitCode.REJECTED, grown.output
    assert "the order needs $8.00, shard 2 holds $5.00" in " ".join(grown.stderr.split())
    repriced = amend("--price", "0.50", "--yes")
    assert repriced.exit_code == 0, repriced.output


def test_the_assistants_order_is_refused_past_its_shards_balance(
    prime: SimHarness, market: str, tmp_path: Path
) -> None:
    shards = OnShardTwo("1.50")
    home = tmp_path / "mcp"
    home.mkdir()
    (home / "config.yaml").write_text("agent:\n  writes:\n    sim: true\n")
    app = AppContext(
        environ=environ(prime, home),
        client_factory=lambda _app, _settings, _anonymous: connect(prime.account, transport=shards),
    )
    try:
        config = load_agent_config(app.settings().config_path)
        tools = AgentTools(CliAccess(app), config, clock=ManualClock(1_700_000_000.0))
        preview = partial(
            tools.orders.preview_order, T, side="yes", action="buy", count="10", price="0.40"
        )
        text = refused(preview, "REJECTED SHARD_BALANCE: ")
        assert "`kalshi shard move 2.50 --from 0 --to 2` would cover it" in text, text
        shards.on_two = D("4.00")
        assert "SHARD_BALANCE" in preview()["checks"]["passed"]
    finally:
        app.close()


def test_against_the_simulators_shards_the_order_waits_for_the_move(
    prime: SimHarness, kalshi: Kalshi
) -> None:
    """The simulator's own shards: a market on shard 2 and the account's money on shard 0. The
    order is refused before it is sent, naming the move; once the money is moved, it goes."""
    from tests.waiting import wait_until

    on_two = "KXSHARDSIM-26-T1"
    prime.create_market(on_two, exchange_index=2)
    before = _creates(prime)
    args = ("order", "place", on_two, "--side", "yes", "--action", "buy", "--count", "5")
    refused_ = kalshi(*args, "--price", "0.40")
    assert refused_.exit_code == ExitCode.REJECTED, refused_.output
    assert (
        f"{on_two} trades on shard 2: the order needs $2.00, shard 2 holds $0.00; "
        "`kalshi shard move 2.00 --from 0 --to 2` would cover it"
    ) in " ".join(refused_.stderr.split())
    assert _creates(prime) == before
    moved = prime.signed(
        prime.account,
        "POST",
        "/portfolio/intra_exchange_instance_transfer",
        json={
            "source": "event_contract",
            "destination": "event_contract",
            "amount": 2_00 * 100,  # centi-cents
            "source_exchange_shard": 0,
            "destination_exchange_shard": 2,
        },
    )
    assert moved.status_code == 200, moved.text
    with connect(prime.account) as client:
        wait_until(
            lambda: (client.portfolio.get_balance().shards() or {}).get(2, D(0)) >= D(2),
            "the move to shard 2 to complete",
        )
    sent = kalshi(*args, "--price", "0.40")
    assert sent.exit_code == 0, sent.output
    assert _creates(prime) == before + 1


def test_an_order_that_takes_now_is_held_to_its_shards_balance_with_the_taker_fee(
    prime: SimHarness, kalshi: Kalshi
) -> None:
    """The exchange charges a taking order's fee from its market's shard: an IOC buy of 5 YES at
    $0.40 against an ask there costs $2.00 and a $0.0840 fee (ceil(0.07 x 5 x 0.40 x 0.60)), so
    with exactly $2.00 on shard 2 it is refused before it is sent, naming the shard and the
    move that covers the fee too; funded that far, it fills."""
    from tests.waiting import wait_until
    from tests.wire import order_body

    ticker = "KXSHARDFEE-26-T1"
    prime.create_market(ticker, exchange_index=2)

    def on_two(client: Any) -> D:
        return D((client.portfolio.get_balance().shards() or {}).get(2, D(0)))

    def move(account: Any, amount_cents: int) -> None:
        with connect(account) as client:
            before = on_two(client)
        moved = prime.signed(
            account,
            "POST",
            "/portfolio/intra_exchange_instance_transfer",
            json={
                "source": "event_contract",
                "destination": "event_contract",
                "amount": amount_cents * 100,  # centi-cents
                "source_exchange_shard": 0,
                "destination_exchange_shard": 2,
            },
        )
        assert moved.status_code == 200, moved.text
        with connect(account) as client:
            wait_until(
                lambda: on_two(client) >= before + D(amount_cents) / 100,
                "the move to shard 2 to complete",
            )

    seller = prime.new_account(balance_cents=10_000)
    move(seller, 1_000)
    prime.placed(seller, order_body(ticker, side="ask", price="0.40", count="10"))
    move(prime.account, 200)
    before = _creates(prime)
    args = ("order", "place", ticker, "--side", "yes", "--action", "buy", "--count", "5")
    refused_ = kalshi(*args, "--price", "0.40", "--tif", "ioc")
    assert refused_.exit_code == ExitCode.REJECTED, refused_.output
    assert (
        f"{ticker} trades on shard 2: the order needs $2.0840 with the taker fee, shard 2 "
        "holds $2.00; `kalshi shard move 0.09 --from 0 --to 2` would cover it"
    ) in " ".join(refused_.stderr.split())
    assert _creates(prime) == before
    move(prime.account, 9)
    sent = kalshi(*args, "--price", "0.40", "--tif", "ioc")
    assert sent.exit_code == 0, sent.output
    assert _creates(prime) == before + 1


def test_an_order_of_a_subaccount_names_the_move_of_that_subaccounts_money(
    prime: SimHarness, kalshi: Kalshi
) -> None:
    """Subaccount 1 holds $20.00 on shard 2 and nothing on shard 3 (the primary account has
    money on both): its order on a shard-3 market is refused naming the move of subaccount 1's
    own money, and that very move lets the order go. A move of the primary's money (the line
    without `--subaccount 1`) would leave subaccount 1's shard 3 empty."""
    import re
    import shlex

    on_three = "KXSHARDSUB-26-T1"
    prime.create_market(on_three, exchange_index=3)
    prime.create_market("KXSHARDSUB2-26-T1", exchange_index=2)  # the exchange runs shard 2
    for args in (
        ("subaccount", "create"),
        ("shard", "move", "40", "--from", "0", "--to", "2"),
        ("shard", "move", "40", "--from", "0", "--to", "3"),
        ("subaccount", "transfer", "--from", "0", "--to", "1", "--amount", "20",
         "--exchange-index", "2"),
    ):  # fmt: skip
        done = kalshi(*args)
        assert done.exit_code == 0, (args, done.output)
    before = _creates(prime)
    order = ("order", "place", on_three, "--side", "yes", "--action", "buy", "--count", "5")
    refused_ = kalshi(*order, "--price", "0.40", "--subaccount", "1")
    assert refused_.exit_code == ExitCode.REJECTED, refused_.output
    said = " ".join(refused_.stderr.split())
    assert "`kalshi shard move 2.00 --from 2 --to 3 --subaccount 1` would cover it" in said
    assert _creates(prime) == before
    move = re.search(r"`kalshi (shard move [^`]*)`", said)
    assert move is not None, said
    moved = kalshi(*shlex.split(move.group(1)))
    assert moved.exit_code == 0, moved.output
    sent = kalshi(*order, "--price", "0.40", "--subaccount", "1")
    assert sent.exit_code == 0, sent.output
    assert _creates(prime) == before + 1
