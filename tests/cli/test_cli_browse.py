"""Browse commands and `kalshi exchange` end to end: the real commands
against the simulator over loopback, on the manual clock of tests/sim/test_market_data_ops.py
(the first minute: an ask of 10 at 0.60, a bid of 3 at 0.40, 4 bought at 0.60; the third
minute: an ask of 2 at 0.55)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.checks.test_check_cli import account_env
from tests.conftest import SimHarness
from tests.sim.test_market_data_ops import EVENT, T, U, _session, clocked

__all__ = ["clocked"]

Clocked = tuple[SimHarness, ManualClock, int]


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def kalshi(sim: SimHarness, home: Path, *args: str) -> Result:
    context = AppContext(environ={"KALSHI_HOME": str(home), **account_env(sim.account)})
    return CliRunner().invoke(app, list(args), obj=context, prog_name="kalshi")


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_events_event_and_series(clocked: Clocked, tmp_path: Path) -> None:
    sim, clock, _ = clocked
    _session(sim, clock)
    events = as_json(kalshi(sim, tmp_path, "events", "--with-markets", "--json"))
    [event] = events["events"]
    assert event["event_ticker"] == EVENT and event["series_ticker"] == "KXMD"
    assert [m["ticker"] for m in event["markets"]] == [T, U]
    one = as_json(kalshi(sim, tmp_path, "event", EVENT, "--json"))
    assert [m["ticker"] for m in one["markets"]] == [T, U]
    assert one["markets"][0]["last_price"] == "0.6000"
    plain = kalshi(sim, tmp_path, "event", EVENT)
    assert plain.exit_code == 0 and T in plain.stdout and "KXMD" in plain.stdout
    series = as_json(kalshi(sim, tmp_path, "series", "--json"))
    assert series["series"][0]["ticker"] == "KXMD"
    assert series["series"][0]["fee_type"] == "quadratic"
    assert as_json(kalshi(sim, tmp_path, "series", "--category", "None", "--json"))["count"] == 0


def test_an_event_shows_an_override_of_its_fee_multiplier_alone(
    clocked: Clocked, tmp_path: Path
) -> None:
    """An event overriding only its multiplier is charged the series' type at it: `kalshi
    event` shows that override, rather than none."""
    sim, clock, b = clocked
    _session(sim, clock)
    sim.http.post(
        f"{sim.admin_url}/events/{EVENT}/fee_changes",
        json={"fee_type_override": None, "fee_multiplier_override": 0.5, "scheduled_ts": b},
    ).raise_for_status()
    plain = kalshi(sim, tmp_path, "event", EVENT)
    assert plain.exit_code == 0, plain.output
    [line] = [x for x in plain.stdout.splitlines() if "fee override" in x]
    assert line.split() == ["fee", "override", "series", "type", "x", "0.5"]


def test_trades_is_the_tape(clocked: Clocked, tmp_path: Path) -> None:
    sim, clock, b = clocked
    _session(sim, clock)
    tape = as_json(kalshi(sim, tmp_path, "trades", T, "--json"))
    [trade] = tape["trades"]
    assert (trade["yes_price"], trade["no_price"], trade["count"]) == ("0.6000", "0.4000", "4.00")
    assert trade["taker_side"] == "yes"
    later = as_json(kalshi(sim, tmp_path, "trades", T, "--since", str(b + 60), "--json"))
    assert later["count"] == 0
    table = kalshi(sim, tmp_path, "trades", T)
    assert "bought yes" in table.stdout
    # a mistyped ticker is named as one, with where to find the right one, as `orderbook` does
    unknown = kalshi(sim, tmp_path, "trades", "NOPE-1")
    assert unknown.exit_code == ExitCode.NOT_FOUND, unknown.output
    assert unknown.stderr == "Error: unknown ticker NOPE-1 (`kalshi markets` lists them)\n"


def test_candles_table_json_and_chart(clocked: Clocked, tmp_path: Path) -> None:
    sim, clock, b = clocked
    _session(sim, clock)
    window = ("--period", "1m", "--from", str(b), "--to", str(b + 180))
    document = as_json(kalshi(sim, tmp_path, "candles", T, *window, "--json"))
    first, quiet, third = document["candles"]
    assert first["end_ts"] == b + 60 and first["price"]["close"] == "0.6000"
    assert first["yes_bid"] == {"open": "0.0000", "high": "0.4000", "low": "0.0000",
                                "close": "0.4000"}  # fmt: skip
    assert quiet["price"]["close"] is None and quiet["previous_price"] == "0.6000"
    assert (quiet["volume"], quiet["open_interest"]) == ("0.00", "4.00")
    assert third["yes_ask"]["close"] == "0.5500"
    table = kalshi(sim, tmp_path, "candles", T, *window, "--format", "csv")
    rows = table.stdout.splitlines()
    assert rows[0].startswith("end (UTC),open,high,low,close,yes bid,yes ask")
    assert len(rows) == 4
    chart = kalshi(sim, tmp_path, "candles", T, *window, "--chart")
    assert chart.exit_code == 0, chart.output
    assert "█" in chart.stdout and "·" in chart.stdout  # a traded minute, then quiet ones
    unknown = kalshi(sim, tmp_path, "candles", "NOPE-1", *window)
    assert unknown.exit_code != 0 and "unknown ticker NOPE-1" in unknown.output


def test_search_finds_series_and_events(clocked: Clocked, tmp_path: Path) -> None:
    sim, clock, _ = clocked
    _session(sim, clock)
    found = as_json(kalshi(sim, tmp_path, "search", "kxmd", "--json"))
    assert [(m["kind"], m["ticker"]) for m in found["matches"]] == [
        ("series", "KXMD"),
        ("event", EVENT),
    ]
    assert as_json(kalshi(sim, tmp_path, "search", "no such words", "--json"))["count"] == 0


def test_exchange_status_and_schedule(clocked: Clocked, tmp_path: Path) -> None:
    sim, clock, b = clocked
    status = as_json(kalshi(sim, tmp_path, "exchange", "status", "--json"))
    assert status == {
        "exchange_active": True,
        "trading_active": True,
        "exchange_estimated_resume_time": None,
        "shards": status["shards"],  # each shard's own: the simulator's as it runs them
    }
    assert status["shards"][0]["exchange_index"] == 0
    assert all(s["trading_active"] for s in status["shards"])
    none = kalshi(sim, tmp_path, "exchange", "schedule")
    # one line that says so, not that and a listing's "nothing matched" after it
    assert none.exit_code == 0 and none.stderr == "no maintenance scheduled\n"
    sim.http.post(
        sim.admin_url + "/exchange/maintenance", json={"start_ts": b + 60, "end_ts": b + 3660}
    ).raise_for_status()
    schedule = as_json(kalshi(sim, tmp_path, "exchange", "schedule", "--json"))
    [window] = schedule["maintenance_windows"]
    assert window == {"start": _iso(b + 60), "end": _iso(b + 3660)}
    table = kalshi(sim, tmp_path, "exchange", "schedule")
    assert window["start"] in table.stdout and "1h00m" in table.stdout
    clock.advance(60)
    status = as_json(kalshi(sim, tmp_path, "exchange", "status", "--json"))
    assert (status["exchange_active"], status["trading_active"]) == (False, False)
    assert status["exchange_estimated_resume_time"] is not None
    assert "PAUSED" in kalshi(sim, tmp_path, "exchange", "status").stdout


# docs/output.md's shapes of these commands, checked against the simulator's real output
SIM_DOCUMENTED = {
    "events": ["events"],
    "event EVENT": ["event", EVENT],
    "series": ["series"],
    "trades TICKER": ["trades", T],
    "candles TICKER": ["candles", T, "--period", "1m"],
    "search WORDS": ["search", "kxmd"],
    "exchange status": ["exchange", "status"],
    "exchange schedule": ["exchange", "schedule"],
}


def test_documented_shapes_match_the_output(clocked: Clocked, tmp_path: Path) -> None:
    from tests.cli.test_cli_output_docs import documented, same_shape

    sim, clock, b = clocked
    _session(sim, clock)
    sim.http.post(
        f"{sim.admin_url}/events/{EVENT}/fee_changes",
        json={"fee_type_override": "quadratic", "fee_multiplier_override": 2, "scheduled_ts": b},
    ).raise_for_status()
    sim.http.post(
        sim.admin_url + "/exchange/maintenance", json={"start_ts": b, "end_ts": b + 3600}
    ).raise_for_status()
    docs = documented()
    for heading, args in SIM_DOCUMENTED.items():
        extra = ["--from", str(b), "--to", str(b + 180)] if args[0] == "candles" else []
        real = as_json(kalshi(sim, tmp_path, *args, *extra, "--json"))
        same_shape(real, docs[heading], heading)


def test_candles_over_a_range_longer_than_one_answer_reach_the_latest_minutes(
    clocked: Clocked, tmp_path: Path
) -> None:
    sim, clock, b = clocked
    _session(sim, clock)
    clock.advance(8 * 86_400)  # the market has traded for more than 10,000 minutes
    now = b + 8 * 86_400 + 300
    window = ("--period", "1m", "--from", str(b - 330 * 86_400), "--to", str(now))
    document = as_json(kalshi(sim, tmp_path, "candles", T, *window, "--json"))
    ends = [c["end_ts"] for c in document["candles"]]
    # one batch answer holds the earliest 10,000 candles; the range asked goes on past them
    assert len(ends) > 10_000 and ends == sorted(set(ends))
    assert ends[0] == b + 60 and ends[-1] >= b + 8 * 86_400
