"""`kalshi trade` with an API key restricted to one subaccount and no `--subaccount`
(runner/lifecycle/session.py `key_subaccount`).

Such a key "may only read and trade on" its subaccount (openapi.yaml 3.31.0, `ApiKey.subaccount`):
its orders go there and its unnamed reads are that subaccount's. The loop asks the key's
restriction once at start (GET /api_keys) and then trades exactly as `--subaccount N`: its fills,
positions, heartbeat, banner and summary are N's. A restriction it cannot learn stops the start
(the loop would not know which book it trades); `--subaccount N` names it and asks nothing.
Live, against the simulator over loopback: as a process, and in-process where the exchange must
refuse the key listing.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from kalshi_cli.client import KalshiClient
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.client.signing import KalshiAuth
from kalshi_cli.runner.config import Selection, StrategyChoice, TradeOptions, load_trade_config
from kalshi_cli.runner.lifecycle.session import trade
from kalshi_cli.runner.preflight import StartupRefused
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import SimHarness, tier_simulator
from tests.key_listing import RefusingKeyListing
from tests.runner.simproc import (
    Book,
    client_for,
    kalshi_process,
    log_events,
    observer_for,
    trade_command,
    trade_env,
)
from tests.waiting import poll_until

TICKER = "KXRESTRICT-26-A"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimHarness]:
    """The simulator on the Advanced tier: subaccounts need it (REFERENCE.md)."""
    yield from tier_simulator(tmp_path, "advanced")


def _key_on_1_holding_5(sim: SimHarness, tmp_path: Path) -> tuple[dict[str, str], str]:
    """An account whose subaccount 1 holds 5 YES (bought at 0.50), a book quoted 0.30/0.70 by
    another account, and a key of the account restricted to subaccount 1: the environment
    that runs `kalshi trade` with that key (no --subaccount), and the key's id."""
    sim.create_market(TICKER)
    trader = sim.new_account(balance_cents=10_000_000)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    book = Book(other, TICKER)
    book.quote("0.30", "0.70")
    book.order(BookSide.ASK, "0.50", "5", TimeInForce.GTC)
    with observer_for(trader) as mine:  # not the loop's whole read budget
        assert mine.subaccounts.create_subaccount() == 1
        mine.subaccounts.transfer_between_subaccounts(
            from_subaccount=0, to_subaccount=1, amount_cents=5_000_000
        )
        mine.on_subaccount(1).orders.create_order(
            CreateOrder(TICKER, BookSide.BID, Decimal("0.50"), Decimal(5), TimeInForce.IOC)
        )
        generated = mine.api_keys.generate_api_key("loop on 1", subaccount=1)
    other.close()
    pem = tmp_path / "sub1.pem"
    pem.write_text(generated.private_key_pem)
    pem.chmod(0o600)
    env = trade_env(trader, tmp_path / "home", tmp_path / "state.db")
    env |= {"KALSHI_API_KEY_ID": generated.api_key_id, "KALSHI_PRIVATE_KEY_PATH": str(pem)}
    return env, generated.api_key_id


def _requests(sim: SimHarness, key_id: str) -> dict[str, int]:
    """What the simulator received from the key, by endpoint (nothing: empty)."""
    account = sim.stats()["accounts"].get(key_id, {"requests": {}})
    requests: dict[str, int] = account["requests"]
    return requests


@pytest.mark.slow
def test_a_restricted_keys_loop_trades_its_subaccounts_book(
    sim: SimHarness, tmp_path: Path
) -> None:
    """Before: the loop rebuilt subaccount 0's book (empty), compared it with the exchange's
    positions of the key (1's: +5) and refused to start, `positions differ`."""
    env, key_id = _key_on_1_holding_5(sim, tmp_path)
    log = tmp_path / "trade.log"
    done = kalshi_process(env, *trade_command("market-maker", TICKER, log, "--once")[3:])
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "subaccount      1 (this API key is restricted to subaccount 1:" in out
    assert f"open positions  {TICKER} +5" in out
    events = log_events(log)
    (started,) = [e for e in events if e["event"] == "started"]
    assert started["subaccount"] == 1
    assert [e["subaccount"] for e in events if e["event"] == "key_subaccount"] == [1]
    with Store.open(tmp_path / "state.db") as store:
        fills = list(store.fills.iter_fills(ticker=TICKER))
        placed = [i for i in store.orders.intents(ticker=TICKER) if i.order_id]
    assert [(f.subaccount, f.count) for f in fills] == [(1, Decimal(5))]
    assert placed and {i.subaccount for i in placed} == {1}
    # the heartbeat names the loop's subaccount: `kalshi status` reads it
    status = kalshi_process(env, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["loop_subaccount"] == 1
    # the key's restriction was asked once at start; the order path asked nothing more
    requests = _requests(sim, key_id)
    # each order went out in one request: alone, or in a batch with the pass's others
    creates = requests.get("POST /portfolio/events/orders", 0)
    assert 0 < creates + requests.get("POST /portfolio/events/orders/batched", 0) <= len(placed)
    assert requests["GET /api_keys"] == 1


@pytest.mark.slow
def test_a_restricted_key_with_subaccount_given_never_asks_the_key(
    sim: SimHarness, tmp_path: Path
) -> None:
    env, key_id = _key_on_1_holding_5(sim, tmp_path)
    log = tmp_path / "trade.log"
    done = kalshi_process(
        env, *trade_command("market-maker", TICKER, log, "--once")[3:], "--subaccount", "1"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "subaccount      1 (the account's:" in done.stdout
    assert f"open positions  {TICKER} +5" in done.stdout
    assert "GET /api_keys" not in _requests(sim, key_id)


def test_a_restriction_that_cannot_be_told_stops_the_start_before_any_order(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The key may be restricted to a subaccount the loop cannot name: trading on a guessed
    book could miss its own fills and position, so nothing starts; the banner and the log say
    why, and the refusal says how to name it."""
    env, key_id = _key_on_1_holding_5(sim, tmp_path)
    key, _ = load_private_key(path=Path(env["KALSHI_PRIVATE_KEY_PATH"]))
    transport = RefusingKeyListing()
    client = KalshiClient(
        api_base=env["KALSHI_API_BASE"], key_id=key_id, private_key=key, transport=transport
    )
    out, log = io.StringIO(), tmp_path / "trade.log"
    options = TradeOptions(
        strategies=(StrategyChoice("market-maker"),),
        selection=Selection(tickers=(TICKER,)),
        once=True,
        log_file=log,
    )
    with client, pytest.raises(StartupRefused) as refused:
        trade(
            options,
            env="sim",
            state_path=tmp_path / "state.db",
            config=load_trade_config(None),
            client=client,
            ws_url=env["KALSHI_WS_URL"],
            signer=KalshiAuth(key_id, key),
            out=out,
            read_lag_s=0.0,
        )
    assert transport.refused == 1
    assert refused.value.exit_code == ExitCode.REJECTED
    assert "cannot tell which subaccount this API key trades on" in refused.value.message
    assert "--subaccount N" in (refused.value.hint or "")
    assert "subaccount      unknown (" in out.getvalue()
    events = log_events(log)
    assert [e["subaccount"] for e in events if e["event"] == "key_subaccount"] == [None]
    assert not any(e["event"] == "started" for e in events)
    requests = _requests(sim, key_id)
    assert not any(r.startswith(("POST", "DELETE", "PUT")) for r in requests), requests


@pytest.mark.slow
def test_a_paper_session_with_a_restricted_key_never_asks_the_key(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A paper session's orders and reads are its local venue's: the live key's restriction
    names none of its subaccounts, so it is not asked, and the venue's 0 is traded."""
    env, key_id = _key_on_1_holding_5(sim, tmp_path)
    log = tmp_path / "trade.log"
    done = kalshi_process(env, *trade_command("market-maker", TICKER, log, "--once")[3:], "--paper")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "subaccount      0 (the paper venue's primary" in done.stdout
    (started,) = [e for e in log_events(log) if e["event"] == "started"]
    assert (started["paper"], started["subaccount"]) == (True, 0)
    assert not any(e["event"] == "key_subaccount" for e in log_events(log))
    assert "GET /api_keys" not in _requests(sim, key_id)


@pytest.mark.slow
@pytest.mark.parametrize("group", [(), ("--no-order-group",)], ids=["group", "no-group"])
def test_a_running_loop_on_a_restricted_key_books_and_counts_its_own_fill(
    sim: SimHarness, tmp_path: Path, group: tuple[str, ...]
) -> None:
    """Before: with an order group the start asked for subaccount 0's groups and the exchange
    refused the key (403, exit 16); without one, the loop took its own fills for another
    subaccount's (the exchange names them 1, the loop thought itself on 0) and dropped them:
    its position stayed 0 while the exchange held 1, so no limit or stop-loss floor counted
    it."""
    sim.create_market(TICKER)
    trader = sim.new_account(balance_cents=10_000_000)
    other = client_for(sim.new_account(balance_cents=10_000_000))
    Book(other, TICKER).quote("0.10", "0.90")
    mine = observer_for(trader)  # not the loop's whole read budget
    assert mine.subaccounts.create_subaccount() == 1
    mine.subaccounts.transfer_between_subaccounts(
        from_subaccount=0, to_subaccount=1, amount_cents=5_000_000
    )
    generated = mine.api_keys.generate_api_key("loop on 1", subaccount=1)
    pem = tmp_path / "sub1.pem"
    pem.write_text(generated.private_key_pem)
    pem.chmod(0o600)
    state, log = tmp_path / "state.db", tmp_path / "trade.log"
    env = trade_env(trader, tmp_path / "home", state)
    env |= {"KALSHI_API_KEY_ID": generated.api_key_id, "KALSHI_PRIVATE_KEY_PATH": str(pem)}
    # no stop-loss: the loop's bid is far above the book's 0.10, where a position is marked, and
    # the floor would sell the fill this test reads back
    (tmp_path / "home").mkdir(exist_ok=True)
    (tmp_path / "home" / "config.yaml").write_text("risk:\n  stop_loss_share: 0\n")

    def loop_bids() -> list[Decimal]:
        resting = mine.on_subaccount(1).orders.iter_orders(ticker=TICKER, status="resting")
        return [o.yes_price for o in resting if o.book_side is BookSide.BID]

    def logged(event: str) -> bool:
        return any(e["event"] == event for e in log_events(log))

    command = [*trade_command("market-maker", TICKER, log, "--duration", "200"), *group]
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert poll_until(lambda: bool(loop_bids()) or proc.poll() is not None)
            assert proc.poll() is None, proc.communicate(timeout=60)[1][-2000:]
            # another account sells 1 YES into the loop's bid (above the book's 0.10)
            Book(other, TICKER).order(BookSide.ASK, str(max(loop_bids())), "1", TimeInForce.IOC)
            assert poll_until(lambda: logged("fill_received") or proc.poll() is not None)
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=60)
            other.close()
            mine.close()
    assert proc.returncode == 0, err[-2000:]
    assert [e["subaccount"] for e in log_events(log) if e["event"] == "key_subaccount"] == [1]
    assert logged("fill_received")
    assert f"open positions  {TICKER} +1" in out
    with Store.open(state) as store:
        fills = [(f.subaccount, f.count) for f in store.fills.iter_fills(ticker=TICKER)]
    assert fills == [(1, Decimal(1))]
