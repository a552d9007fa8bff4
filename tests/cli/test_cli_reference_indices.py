"""The reference index channels as a user runs them, against the simulator streaming a scenario's
indices over a real socket: `kalshi watch cfbenchmarks|cfbenchmarks5hz|pyth` prints the values
(and, with `--list`, the channel's ids), and `kalshi record` keeps the index a market's rules name
beside its book, which the replay reads back without a skip."""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kalshi_cli.data.replay import LocalNote, iter_records, replay
from kalshi_cli.feed.index import IndexTick, decode_tick
from kalshi_cli.feed.messages import (
    Cfb5HzValueMessage,
    CfbValueMessage,
    IndexValueMessage,
    convert_frame,
    type_of,
)
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.cli.test_cli_data import environ, run, start
from tests.conftest import SimHarness, _start
from tests.waiting import wait_until

SCENARIO = """
description: reference indices for the CLI tests
indices:
  - id: BRTI
    walk: {start: "95000.00", volatility: "0.0001", seed: 3}
  - id: ETHUSD_RTI
    walk: {start: "3000.00", volatility: "0.0002", seed: 4}
  - id: Metal.XAU/USD
    source: pyth
    walk: {start: "2365.12", volatility: "0.0001", seed: 7}
"""
RULES = (
    "If the simple average of the sixty seconds of CF Benchmarks' Bitcoin Real-Time Index "
    "(BRTI) before the close is above 95000, then the market resolves to Yes."
)


@pytest.fixture
def index_sim(tmp_path: Path) -> Iterator[SimHarness]:
    (tmp_path / "indices.yaml").write_text(SCENARIO)
    harness = _start(tmp_path / "sim", str(tmp_path / "indices.yaml"))
    yield harness
    harness.close()


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def tick(printed: dict[str, Any]) -> IndexTick:
    """A printed value message, read as the feed reads it."""
    message = convert_frame(printed)
    assert isinstance(message, IndexValueMessage), message
    return decode_tick(message)


def test_watch_cfbenchmarks_prints_the_list_then_the_values_of_the_index_named(
    index_sim: SimHarness, tmp_path: Path
) -> None:
    done = run(
        ["watch", "cfbenchmarks", "--index", "BRTI", "--list", "--max-events", "4"],
        environ(index_sim, tmp_path),
    )
    assert done.returncode == 0, done.stderr
    printed = lines(done.stdout)
    assert len(printed) == 4
    listed = [m for m in printed if m["type"] == "cfbenchmarks_value_indexlist"]
    assert [m["msg"]["index_ids"] for m in listed] == [["BRTI", "ETHUSD_RTI"]]
    values = [tick(m) for m in printed if m["type"] == "cfbenchmarks_value"]
    assert len(values) == 3
    assert {v.index_id for v in values} == {"BRTI"}  # ETH is offered, not followed
    # once a second, each with Kalshi's trailing average
    assert all(v.avg_60s is not None for v in values)
    times = [v.ts for v in values]
    assert times == sorted(times) and all(t == int(t) for t in times)


def test_watch_cfbenchmarks5hz_and_pyth_print_their_own_messages(
    index_sim: SimHarness, tmp_path: Path
) -> None:
    env = environ(index_sim, tmp_path)
    fast = run(["watch", "cfbenchmarks5hz", "--index", "BRTI", "--max-events", "6"], env)
    assert fast.returncode == 0, fast.stderr
    ticks = [tick(m) for m in lines(fast.stdout)]
    assert {t.channel for t in ticks} == {"cfbenchmarks_value_5hz"}
    assert any(t.ts != int(t.ts) for t in ticks)  # ticks between whole seconds
    pyth = run(["watch", "pyth", "--max-events", "2"], env)  # every underlying by default
    assert pyth.returncode == 0, pyth.stderr
    assert [tick(m).index_id for m in lines(pyth.stdout)] == ["Metal.XAU/USD"] * 2


def test_watch_of_an_index_channel_with_markets_or_of_a_market_channel_with_ids_is_refused(
    index_sim: SimHarness, tmp_path: Path
) -> None:
    env = environ(index_sim, tmp_path)
    index_sim.create_market("KXSIMX-1")
    markets = run(["watch", "cfbenchmarks", "--tickers", "KXSIMX-1"], env)
    assert markets.returncode == 2
    assert "watch cfbenchmarks follows indices, not markets" in markets.stderr
    ids = run(["watch", "trades", "--index", "BRTI"], env)
    assert ids.returncode == 2
    assert "--index is for cfbenchmarks, cfbenchmarks5hz and pyth" in ids.stderr


def test_record_keeps_the_index_a_markets_rules_name_beside_its_book(
    index_sim: SimHarness, tmp_path: Path
) -> None:
    ticker = "KXBTCSIM-26JAN01-T95000"
    index_sim.create_market(ticker, rules_primary=RULES)
    out = tmp_path / "rec"
    proc = start(["record", "--tickers", ticker, "--out", str(out)], environ(index_sim, tmp_path))
    try:

        def seconds_recorded() -> bool:
            if proc.poll() is not None:
                return True
            found = Counter(
                type_of(obj)
                for _, obj, _ in iter_records(out, Counter())
                if not isinstance(obj, LocalNote)
            )
            return found["cfbenchmarks_value"] >= 3 and found["cfbenchmarks_value_5hz"] >= 5

        wait_until(seconds_recorded, "three seconds of BRTI in the recording")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"recording 1 markets and the indices BRTI to {out}" in err
    books = replay(out)
    assert books.skipped["unknown_type"] == 0
    assert books.books[ticker].fresh
    ticks = [
        decode_tick(obj)
        for _, obj, _ in iter_records(out, Counter())
        if isinstance(obj, CfbValueMessage | Cfb5HzValueMessage)
    ]
    assert {t.index_id for t in ticks} == {"BRTI"}  # the rules' index, not every one
    assert all(Decimal(80_000) < t.value < Decimal(110_000) for t in ticks)
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"cfbenchmarks_value", "cfbenchmarks_value_5hz"} <= set(manifest["channels"])


def test_watch_of_an_index_the_channel_does_not_offer_is_refused(
    index_sim: SimHarness, tmp_path: Path
) -> None:
    done = run(
        ["watch", "cfbenchmarks", "--index", "NOPE", "--duration", "20"],
        environ(index_sim, tmp_path),
    )
    assert done.returncode == ExitCode.NOT_FOUND, done.stderr
    assert "offers no NOPE" in done.stderr and "BRTI" in done.stderr
    assert done.stdout == ""
