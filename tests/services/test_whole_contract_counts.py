"""A fractional count on a market that trades whole contracts is refused here, nothing written and
nothing sent, when the market's answer says so.

Kalshi counts are whole contracts except on markets with fractional trading (REFERENCE.md,
"FixedPointCount"). The 3.13 market object carried `fractional_trading_enabled`; 3.31.0 dropped
it from the spec, and the simulator answers like 3.31.0. Where an answer carries the flag (an
exchange still sending it), `kalshi order place` refuses a count of 2.5 on a whole-contract market
before the intent is written; where it does not, the order goes out and the exchange decides (its
400 is a rejection, exit 9). The flag is added here by a transport between the client and the
real simulator, as such an answer would carry it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.conftest import SimHarness
from tests.prime_tier import Kalshi, connect, state_path

TICKER = "KXW-EV-M00"
PLACE = ("order", "place", TICKER, "--side", "yes", "--action", "buy", "--price", "0.40")


class WithFlag(httpx.BaseTransport):
    """The real simulator, its market answers carrying `fractional_trading_enabled`."""

    def __init__(self, fractional: bool) -> None:
        self._inner = httpx.HTTPTransport()
        self._fractional = fractional

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.method != "GET" or not request.url.path.endswith(f"/markets/{TICKER}"):
            return response
        body: dict[str, Any] = json.loads(response.read())
        body["market"]["fractional_trading_enabled"] = self._fractional
        return httpx.Response(response.status_code, json=body)

    def close(self) -> None:
        self._inner.close()


def _client(prime: SimHarness, fractional: bool) -> KalshiClient:
    return connect(prime.account, transport=WithFlag(fractional))


def test_a_fractional_count_on_a_whole_contract_market_is_refused_before_anything_is_written(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    prime.create_market(TICKER, event_ticker="KXW-EV", series_ticker="KXW")
    before = prime.stats()["order_create_requests"]
    placed = kalshi(*PLACE, "--count", "2.5", client=lambda: _client(prime, fractional=False))
    assert placed.exit_code == ExitCode.REJECTED, placed.output
    assert "whole contracts" in placed.stderr and "2.5" in placed.stderr
    assert prime.stats()["order_create_requests"] == before  # nothing sent
    path = state_path(tmp_path)
    if path.exists():
        with Store.open(path) as store:
            assert list(store.orders.intents()) == []  # nothing written
    # a whole count on the same market goes out
    whole = kalshi(*PLACE, "--count", "2", client=lambda: _client(prime, fractional=False))
    assert whole.exit_code == 0, whole.output


def test_without_the_flag_the_order_goes_out_and_the_exchange_decides(
    prime: SimHarness, kalshi: Kalshi
) -> None:
    """3.31.0's answer (the simulator's own) says nothing of fractions: refusing here would block
    every fractional market, so the order is sent and the exchange's 400 is a rejection."""
    prime.create_market(TICKER, event_ticker="KXW-EV", series_ticker="KXW")
    before = prime.stats()["order_create_requests"]
    placed = kalshi(*PLACE, "--count", "2.5")
    assert placed.exit_code == ExitCode.REJECTED, placed.output
    assert "invalid_count" in placed.stderr
    assert prime.stats()["order_create_requests"] == before + 1


def test_an_amend_to_a_fractional_total_on_a_whole_contract_market_is_refused_before_it_is_sent(
    prime: SimHarness, kalshi: Kalshi
) -> None:
    prime.create_market(TICKER, event_ticker="KXW-EV", series_ticker="KXW")
    flagged = {"client": lambda: _client(prime, fractional=False)}
    placed = kalshi(*PLACE, "--count", "2", "--json", **flagged)
    assert placed.exit_code == 0, placed.output
    order_id = json.loads(placed.stdout)["order"]["order_id"]
    amended = kalshi("order", "amend", order_id, "--count", "2.5", **flagged)
    assert amended.exit_code == ExitCode.REJECTED, amended.output
    assert "new total count 2.5" in amended.stderr and "whole contracts" in amended.stderr
    with _client(prime, fractional=False) as client:
        assert client.orders.get_order(order_id).remaining_count == 2  # nothing was sent


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "sent"])
def test_a_batch_row_with_a_fractional_count_on_a_whole_contract_market_is_refused(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path, dry_run: bool
) -> None:
    """`order batch`, and its `--dry-run`, refuse the row as `order place` refuses the order,
    naming its line; nothing is sent."""
    prime.create_market(TICKER, event_ticker="KXW-EV", series_ticker="KXW")
    rows = tmp_path / "orders.csv"
    rows.write_text(
        f"ticker,side,action,count,price\n{TICKER},yes,buy,2,0.40\n{TICKER},yes,buy,2.5,0.40\n"
    )
    before = prime.stats()["order_create_requests"]
    args = ["order", "batch", "--file", str(rows), *(["--dry-run"] if dry_run else [])]
    result = kalshi(*args, client=lambda: _client(prime, fractional=False))
    assert result.exit_code == ExitCode.REJECTED, result.output
    assert f"{rows}:3" in result.stderr and "whole contracts" in result.stderr
    assert prime.stats()["order_create_requests"] == before


def test_a_batch_dry_run_without_the_flag_says_the_exchange_decides_a_fractional_row(
    prime: SimHarness, kalshi: Kalshi, tmp_path: Path
) -> None:
    """Without the flag the dry run cannot know the market refuses fractions: it says so on the
    fractional row, so `not_sent / dry run` is never read as `valid`; the whole row reads plain."""
    prime.create_market(TICKER, event_ticker="KXW-EV", series_ticker="KXW")
    rows = tmp_path / "orders.csv"
    rows.write_text(
        f"ticker,side,action,count,price\n{TICKER},yes,buy,2,0.40\n{TICKER},yes,buy,1.5,0.40\n"
    )
    result = kalshi("order", "batch", "--file", str(rows), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    notes = {row["line"]: row["note"] for row in json.loads(result.stdout)["batch"]["rows"]}
    assert notes[2] == "dry run"
    assert notes[3].startswith("dry run") and "exchange decides" in notes[3], notes


def test_the_loop_refuses_a_strategys_fractional_count_on_a_whole_contract_market(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trade loop reads the same flag from the market's answer and refuses a strategy's
    count of 1.5 on a whole-contract market as a failed decision: nothing written, nothing
    sent. A whole count on the same market goes out."""
    from kalshi_cli.sim.core import serialize
    from kalshi_cli.vocabulary.units import Action, Side
    from tests.runner.fakes import swap_decide
    from tests.runner.test_strategies_share_a_loop import (
        MM,
        Recorder,
        _log,
        _order,
        _resting_of,
        _rig,
    )
    from tests.runner.test_strategy_scenarios import Mover

    answer = serialize.market_json
    monkeypatch.setattr(
        serialize,
        "market_json",
        lambda *a, **kw: {**answer(*a, **kw), "fractional_trading_enabled": False},
    )
    log = tmp_path / "loop.jsonl"
    rig = _rig(tmp_path, MM, log_path=log)
    mover = Mover(rig.exchange)
    mover.quote("0.30", "0.70")
    swap_decide(rig.loop, Recorder(_order(Side.YES, Action.BUY, "0.41", "1.5")), MM)
    rig.step(1.0)
    assert list(rig.store.orders.intents()) == [] and _resting_of(rig, MM) == []
    swap_decide(rig.loop, Recorder(_order(Side.YES, Action.BUY, "0.41", "2")), MM)
    mover.quote("0.31", "0.70")  # a new book: the strategy is asked again
    rig.step(1.0)
    assert [o.remaining_count for o in _resting_of(rig, MM)] == [2]
    (refused,) = _log(rig, log, "strategy_error")
    assert refused["error"].endswith("intent count 1.5: KXSTRAT-SIM-A trades whole contracts only")


def test_the_assistants_fractional_order_or_amend_on_a_whole_contract_market_is_refused_unsent(
    prime: SimHarness, tmp_path: Path
) -> None:
    """`kalshi mcp`'s previews hold a count to the rule `order place` and `order amend` use:
    refused by its code at the preview, nothing sent; a whole count on the market goes out."""
    from kalshi_cli.agent.settings import load_agent_config
    from kalshi_cli.agent.tools import AgentTools
    from kalshi_cli.cli._context import AppContext
    from kalshi_cli.cli.mcp_cmd import CliAccess
    from kalshi_cli.vocabulary.clock import ManualClock
    from kalshi_cli.vocabulary.errors import ValidationError
    from tests.prime_tier import cli_env

    prime.create_market(TICKER, event_ticker="KXW-EV", series_ticker="KXW")
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text("agent:\n  writes:\n    sim: true\n")
    app = AppContext(
        environ=cli_env(prime.account, home), client_factory=lambda *_: _client(prime, False)
    )
    tools = AgentTools(
        CliAccess(app), load_agent_config(app.settings().config_path), clock=ManualClock(1.7e9)
    )

    def preview(count: str) -> dict[str, Any]:
        return tools.orders.preview_order(
            TICKER, side="yes", action="buy", count=count, price="0.40"
        )

    try:
        before = prime.stats()["order_create_requests"]
        with pytest.raises(ValidationError) as fraction:
            preview("2.5")
        assert fraction.value.code == "WHOLE_CONTRACTS"
        assert prime.stats()["order_create_requests"] == before
        placed = tools.orders.execute(preview("2")["token"])
        with pytest.raises(ValidationError) as amend:
            tools.orders.preview_amend(placed["order_id"], count="2.5")
        assert amend.value.code == "WHOLE_CONTRACTS"
    finally:
        app.close()


def _requests(prime: SimHarness) -> dict[str, int]:
    counts: dict[str, int] = {}
    for account in prime.stats()["accounts"].values():
        for endpoint, n in account["requests"].items():
            counts[endpoint] = counts.get(endpoint, 0) + n
    return counts


@pytest.mark.parametrize("flag", [("--by", "0.5"), ("--to", "1.5")], ids=["by", "to"])
def test_a_fractional_decrease_on_a_whole_contract_market_is_the_exchanges_to_refuse(
    prime: SimHarness, kalshi: Kalshi, flag: tuple[str, str]
) -> None:
    """`order decrease` reads no market (a decrease only takes risk off, and a market read that
    failed would keep it on): a fractional amount on a whole-contract market goes out once and
    the exchange's refusal is a rejection, exit 9, the order as it was, also where the market's
    answer would have said so."""
    prime.create_market(TICKER, event_ticker="KXW-EV", series_ticker="KXW")
    flagged = {"client": lambda: _client(prime, fractional=False)}
    placed = kalshi(*PLACE, "--count", "2", "--json", **flagged)
    assert placed.exit_code == 0, placed.output
    order_id = json.loads(placed.stdout)["order"]["order_id"]
    before = _requests(prime)

    decreased = kalshi("order", "decrease", order_id, *flag, **flagged)

    assert decreased.exit_code == ExitCode.REJECTED, decreased.output
    assert "invalid_count" in decreased.stderr, decreased.stderr
    sent = {k: n - before.get(k, 0) for k, n in _requests(prime).items() if n != before.get(k, 0)}
    # the order read once, the decrease sent once, no market read
    assert sent == {
        "GET /portfolio/orders/{order_id}": 1,
        "POST /portfolio/events/orders/{order_id}/decrease": 1,
    }
    with _client(prime, fractional=False) as client:
        assert client.orders.get_order(order_id).remaining_count == 2
