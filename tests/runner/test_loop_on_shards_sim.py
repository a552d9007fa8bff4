"""The trade loop on the simulator's exchange shards, end to end: `kalshi trade` as a process over
loopback, as a new user runs it.

On the builtin `shards` scenario (crypto on shard 2, the account's money on shard 0) the start
says which shards the markets sit on with each shard's balance, and that the crypto strategy's
shard holds less than one order's cost; `kalshi shard move` funds it and the loop, reading the
shards again, trades there; no SAFE_MODE at any point. A shard paused alone (`trading_active`
false) has the loop's quotes there withdrawn and takes no order, while the other shard's markets
trade on."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.checks.test_check_cli import WARNING, account_env, check
from tests.conftest import SimHarness, _start
from tests.runner.simproc import (
    Book,
    client_for,
    log_events,
    observer_for,
    stop,
    trade_command,
    trade_env,
    trade_process,
)
from tests.waiting import wait_until

SENDS = ("order_placed", "order_unknown", "order_rejected", "order_amended", "amend_unknown")
# the hourly Bitcoin series the loop is asked for: its markets close at the top of each hour and
# the next hour's open then, and a loop asked for a series takes each one on as it opens, so the
# test runs the same whatever the minute it starts at
HOURLY = "KXBTCD"


def _kalshi(account: AccountInfo, home: Path, *args: str, **more: str) -> Any:
    """`kalshi ARGS --json` as the account's person runs it (`more`: environment variables
    beside the account's); its JSON answer."""
    env = {"KALSHI_HOME": str(home), **account_env(account), **more}
    result = CliRunner().invoke(
        app, [*args, "--json"], obj=AppContext(environ=env), env={"NO_COLOR": "1"}
    )
    assert result.exit_code == 0, (args, result.output)
    return json.loads(result.stdout)


def _events(log: Path, *names: str) -> list[dict[str, Any]]:
    return [e for e in log_events(log) if e["event"] in names]


def _listed_open(sim: SimHarness, series: str) -> bool:
    """Whether the series' markets are listed and open (the simulator lists them once its
    index has a first value)."""
    with client_for(sim.new_account()) as reader:
        return any(reader.markets.iter_markets(status="open", series_ticker=series))


def _no_safe_mode(log: Path) -> None:
    states = [e.get("state") for e in _events(log, "trading_state")]
    assert "SAFE_MODE" not in states, states
    assert not _events(log, "safe_mode"), _events(log, "safe_mode")


@pytest.mark.slow
def test_a_new_user_sees_the_short_shard_moves_money_and_the_loop_trades_there(
    tmp_path: Path,
) -> None:
    sim = _start(tmp_path / "sim", "shards")
    try:
        wait_until(lambda: _listed_open(sim, HOURLY), f"{HOURLY} markets listed open")
        trader = sim.new_account(balance_cents=100_000)
        home = tmp_path / "home"
        home.mkdir()
        # the shards are read again every second, so the move is seen at once. The strategy
        # quotes (`quote`): a bid below each ask whenever the model has an opinion, so an order
        # follows the move whatever the market does; taking the ask waits for the model to
        # disagree with the simulator's market maker by `min_edge` after the fee: in bursts
        # half a minute apart, and in one loaded run not once in two minutes
        (home / "config.yaml").write_text(
            "trade:\n  shard_poll_s: 1\nstrategies:\n  crypto:\n    quote: true\n",
            encoding="utf-8",
        )
        log = tmp_path / "trade.log"
        command = trade_command("crypto", HOURLY, log, "--duration", "240")
        command[command.index("--markets")] = "--series"  # as on prod, where one is required
        with trade_process(command, trade_env(trader, home, tmp_path / "state.db")) as proc:
            started = wait_until(
                lambda: _events(log, "shards_at_start"), "the shards listed at start"
            )[0]
            lines = started["lines"]
            # the series' shard, empty, and the move from where the money is
            assert any(line.startswith("shard 2: ") and "$0.00" in line for line in lines)
            short = [line for line in lines if line.startswith("crypto: ") and "shard 2" in line]
            assert len(short) == 1 and "`kalshi shard move 50.00 --from 0 --to 2`" in short[0]
            moved = _kalshi(trader, home, "shard", "move", "300", "--from", "0", "--to", "2")
            assert moved["status"] == "complete", moved
            wait_until(
                lambda: [
                    e
                    for e in _events(log, "order_placed")
                    if str(e["ticker"]).startswith(f"{HOURLY}-")
                ],
                lambda: (
                    "an order of the crypto strategy placed on shard 2; the log's last "
                    f"entries: {log_events(log)[-30:]}"
                ),
            )
            _no_safe_mode(log)
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert short[0] in out  # the start's line as the person reads it
        _no_safe_mode(log)
    finally:
        sim.close()


ON_0, ON_3 = "KXZERO-26JAN01-A", "KXTEN-26JAN01-A"


@pytest.mark.slow
def test_a_shard_paused_alone_withdraws_its_quotes_and_the_other_shard_trades(
    sim: SimHarness, tmp_path: Path
) -> None:
    sim.create_market(ON_0)
    sim.create_market(ON_3, exchange_index=3)
    trader = sim.new_account(balance_cents=10_000_000)
    mine = observer_for(trader)
    _kalshi(trader, tmp_path / "person", "shard", "move", "50000", "--from", "0", "--to", "3")
    counterparty = sim.new_account(balance_cents=10_000_000)
    _kalshi(counterparty, tmp_path / "other", "shard", "move", "50000", "--from", "0", "--to", "3")
    other = client_for(counterparty)
    books = {t: Book(other, t) for t in (ON_0, ON_3)}
    for book in books.values():
        book.quote("0.40", "0.60")
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text("trade:\n  shard_poll_s: 1\n", encoding="utf-8")
    log = tmp_path / "trade.log"
    command = trade_command("market-maker", f"{ON_0},{ON_3}", log, "--duration", "240")

    def resting(ticker: str) -> list[Any]:
        return list(mine.orders.iter_orders(ticker=ticker, status="resting"))

    with trade_process(command, trade_env(trader, home, tmp_path / "state.db")) as proc:
        wait_until(lambda: resting(ON_0) and resting(ON_3), "quotes on both shards")
        sim._admin("POST", "/shards/3", {"trading_active": False})
        paused = wait_until(lambda: _events(log, "shard_paused"), "the pause seen")[0]
        assert paused["shard"] == 3
        wait_until(lambda: not resting(ON_3), "the quotes on the paused shard withdrawn")
        # `kalshi status` names the shard the loop holds paused, as `kalshi check exchange`
        # names the shard the exchange pauses
        state = str(tmp_path / "state.db")

        def shards_held() -> Any:
            shards = _kalshi(trader, home, "status", KALSHI_STATE=state).get("loop_shards")
            return shards if shards and shards["paused"] else None

        assert wait_until(shards_held, "the loop's heartbeat naming the shard paused") == {
            "short": [],
            "paused": [3],
        }
        exchange = check(home, "exchange", "--no-alert", environ=account_env(trader))
        assert exchange.exit_code == WARNING, exchange.output
        assert "trading paused on shard 3 " in exchange.output
        health = CliRunner().invoke(
            app,
            ["health-check", "--json"],
            obj=AppContext(environ={"KALSHI_HOME": str(home), **account_env(trader)}),
        )
        (line,) = [c for c in json.loads(health.stdout)["checks"] if c["name"] == "shards"]
        assert line["status"] == "warn" and "shard 3 trades nothing now" in line["detail"], line
        seen = len(log_events(log))
        # the loop's bid on shard 0 is hit: it quotes again there
        books[ON_0].order(BookSide.ASK, "0.40", "10", TimeInForce.IOC)
        wait_until(
            lambda: [
                e for e in log_events(log)[seen:] if e["event"] in SENDS and e["ticker"] == ON_0
            ],
            "a quote on shard 0 after the pause",
        )
        after = log_events(log)[seen:]
        assert not [e for e in after if e["event"] in SENDS and e["ticker"] == ON_3], after
        held = [e for e in after if e["event"] == "intent_held" and e["ticker"] == ON_3]
        assert all("shard 3" in str(e["reason"]) for e in held)
        _no_safe_mode(log)
        err = stop(proc)
    assert proc.returncode == 0, err
    _no_safe_mode(log)


@pytest.mark.slow
def test_a_shard_holding_nothing_whose_orders_the_loop_denies_is_named_and_warned_until_funded(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The loop denies every order on a shard holding nothing before the exchange could refuse
    one: `kalshi status` names the shard short, `kalshi check heartbeat` warns and
    `health-check` says so, until a `kalshi shard move` funds it."""
    sim.create_market(ON_0)
    sim.create_market(ON_3, exchange_index=3)
    trader = sim.new_account(balance_cents=10_000_000)  # all on shard 0
    counterparty = sim.new_account(balance_cents=10_000_000)
    _kalshi(counterparty, tmp_path / "other", "shard", "move", "50000", "--from", "0", "--to", "3")
    other = client_for(counterparty)
    for ticker in (ON_0, ON_3):
        Book(other, ticker).quote("0.40", "0.60")
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(f"trade:\n  shard_poll_s: 1\n  markets: {ON_0}\n")
    log = tmp_path / "trade.log"
    state = str(tmp_path / "state.db")
    command = trade_command("market-maker", f"{ON_0},{ON_3}", log, "--duration", "240")
    environ = {**account_env(trader), "KALSHI_STATE": state}

    def held() -> Any:
        return _kalshi(trader, home, "status", KALSHI_STATE=state).get("loop_shards")

    with trade_process(command, trade_env(trader, home, tmp_path / "state.db")) as proc:
        wait_until(lambda: (held() or {}).get("short") == [3], "the loop naming shard 3 short")
        denied = [e for e in _events(log, "risk_denied") if e["ticker"] == ON_3]
        assert denied and denied[0]["code"] == "SHARD_BALANCE", denied
        assert not [e for e in _events(log, *SENDS) if e["ticker"] == ON_3]
        beat = check(home, "heartbeat", "--no-alert", environ=environ)
        assert beat.exit_code == WARNING, beat.output
        assert "the trade loop holds shard 3 short" in beat.output
        health = CliRunner().invoke(
            app,
            ["health-check", "--json"],
            obj=AppContext(environ={"KALSHI_HOME": str(home), **environ}),
        )
        (line,) = [c for c in json.loads(health.stdout)["checks"] if c["name"] == "shards"]
        assert line["status"] == "warn", line  # the config's market is on a funded shard
        assert line["detail"].startswith("the trade loop holds shard 3 short"), line
        _kalshi(trader, home, "shard", "move", "500", "--from", "0", "--to", "3")
        wait_until(lambda: held() == {"short": [], "paused": []}, "shard 3 funded, not held")
        assert check(home, "heartbeat", "--no-alert", environ=environ).exit_code == 0
        _no_safe_mode(log)
        err = stop(proc)
    assert proc.returncode == 0, err


ON_2 = "KXTWO-26JAN01-A"


@pytest.mark.slow
def test_each_order_names_its_own_shards_group_and_the_stop_ends_every_shards_group(
    sim: SimHarness, tmp_path: Path
) -> None:
    """The exchange matches an order inside its market's shard, so the session's order group is
    one per shard traded: each order names the group on its own market's shard, and the stop
    triggers, then deletes, every one of them, each on its shard."""
    sim.create_market(ON_0)
    sim.create_market(ON_2, exchange_index=2)
    trader = sim.new_account(balance_cents=10_000_000)
    _kalshi(trader, tmp_path / "person", "shard", "move", "50000", "--from", "0", "--to", "2")
    counterparty = sim.new_account(balance_cents=10_000_000)
    _kalshi(counterparty, tmp_path / "other", "shard", "move", "50000", "--from", "0", "--to", "2")
    other = client_for(counterparty)
    for ticker in (ON_0, ON_2):
        Book(other, ticker).quote("0.40", "0.60")
    mine = observer_for(trader)
    shard = {ON_0: 0, ON_2: 2}

    def groups() -> dict[str, int]:
        answer = sim.signed(trader, "GET", "/portfolio/order_groups")
        assert answer.status_code == 200, answer.text
        return {g["id"]: g["exchange_index"] for g in answer.json()["order_groups"]}

    def resting() -> list[Any] | None:
        """The loop's quotes once it has some on both shards."""
        quotes = [o for o in mine.orders.iter_orders(status="resting") if o.ticker in shard]
        return quotes if {o.ticker for o in quotes} == set(shard) else None

    home = tmp_path / "home"
    home.mkdir()
    log = tmp_path / "trade.log"
    command = trade_command("market-maker", f"{ON_0},{ON_2}", log, "--duration", "240")
    with trade_process(command, trade_env(trader, home, tmp_path / "state.db")) as proc:
        quotes = wait_until(resting, "quotes on both shards")
        made = groups()
        assert sorted(made.values()) == [0, 2], made
        for order in quotes:
            named = order.raw.get("order_group_id")
            assert made.get(named) == shard[order.ticker], (order.ticker, named, made)
        err = stop(proc)
    assert proc.returncode == 0, err
    triggered = {e["order_group_id"] for e in _events(log, "stop_group_triggered")}
    assert triggered == set(made), (triggered, made)
    assert groups() == {}  # each deleted on its own shard
    _no_safe_mode(log)
