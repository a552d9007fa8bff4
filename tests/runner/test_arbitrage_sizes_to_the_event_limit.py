"""Arbitrage under `risk.max_event_loss`, as `kalshi trade` on the real simulator: the limit
counts a leg that may fill alone (the legs go one after another), so the strategy buys the
largest NO set whose every partial fill stays inside it, and no leg is denied; where not one
set fits, it says so once for the event, with what one set filled in part can lose."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SimHarness
from tests.runner.simproc import (
    Book,
    client_for,
    log_events,
    stop,
    trade_command,
    trade_env,
    trade_process,
)
from tests.waiting import poll_until

EVENT = "KXTEN-SIM"
TICKERS = [f"{EVENT}-{c}" for c in "ABCDEFGHIJ"]


def _run(
    sim: SimHarness, tmp_path: Path, max_event_loss: str, until: str, *, budget: bool = False
) -> list[dict[str, Any]]:
    """Ten candidates, each with a YES bid of 0.12 (a NO ask of 0.88: 8.80 a set paying 9 at
    least, 0.126 a set after fees), `max_event_loss` the account's limit or (`budget`) the
    strategy's own; the loop runs until its log has `until` for the event, then a few seconds
    more for what it would add, then SIGTERM: its log."""
    for ticker in TICKERS:
        sim.create_market(
            ticker,
            event_ticker=EVENT,
            series_ticker="KXTEN",
            mutually_exclusive=True,
            collateral_return_type="MECNET",
        )
    trader = sim.new_account(balance_cents=10_000_000)
    maker = client_for(sim.new_account(balance_cents=10_000_000))
    for ticker in TICKERS:
        Book(maker, ticker).quote("0.12", "0.15")
    home, state, log = tmp_path / "home", tmp_path / "state.db", tmp_path / "trade.log"
    home.mkdir()
    bounds = ["--duration", "60"]
    if budget:
        bounds += ["--budget", f"arbitrage:max_event_loss={max_event_loss}"]
    else:
        (home / "config.yaml").write_text(f"risk:\n  max_event_loss: {max_event_loss}\n")
    command = trade_command("arbitrage", ",".join(TICKERS), log, *bounds)
    with trade_process(command, trade_env(trader, home, state)) as proc, maker:

        def seen() -> bool:
            return any(e["event"] == until for e in log_events(log)) or proc.poll() is not None

        assert poll_until(seen) and proc.poll() is None, log_events(log)[-5:]
        poll_until(lambda: proc.poll() is not None, within_s=3)  # what else it would log
        err = stop(proc)
    assert proc.returncode == 0, err[-2000:]
    return log_events(log)


@pytest.mark.slow
@pytest.mark.parametrize("budget", [False, True], ids=["account_limit", "strategy_budget"])
def test_the_largest_set_whose_partial_fills_fit_the_limit_is_bought(
    sim: SimHarness, tmp_path: Path, budget: bool
) -> None:
    """Under $5 a leg filled alone loses $0.88 and its fee a set: 5 sets fit ($4.437), 6 do not
    ($5.3244), and no leg of them is denied (every leg of every set was, before); the strategy's
    own budget limits it as the account's limit does. A set after it is sized beside the whole
    sets held (their locked profit counted), and no leg of it is denied either."""
    events = _run(sim, tmp_path, "5", "group_done", budget=budget)
    assert [e for e in events if e["event"] == "risk_denied"] == []
    done = next(e for e in events if e["event"] == "group_done")
    assert done["held"] == {f"{t} no": "5.00" for t in TICKERS}, done  # one whole set of 5
    bought = [e for e in events if e["event"] == "order_placed" and e["action"] == "buy"]
    first = [(e["side"], e["price"], e["count"]) for e in bought[: len(TICKERS)]]
    assert first == [("no", "0.8800", "5")] * len(TICKERS)
    assert {(e["side"], e["price"]) for e in bought} == {("no", "0.8800")}


@pytest.mark.slow
def test_no_set_fitting_the_limit_is_said_once_for_the_event_with_the_figure(
    sim: SimHarness, tmp_path: Path
) -> None:
    events = _run(sim, tmp_path, "0.50", "strategy_note")
    notes = [e for e in events if e["event"] == "strategy_note"]
    assert len(notes) == 1, notes
    (note,) = notes
    assert note["strategy"] == "arbitrage" and note["ticker"] == TICKERS[0]
    assert "KXTEN-SIM" in note["text"] and "-$0.8874" in note["text"], note
    assert not [e for e in events if e["event"] in ("order_placed", "risk_denied")]
