"""The simulator's snapshot is versioned MessagePack, not a pickle: a served simulator's state
comes back whole through one, and a snapshot this version cannot read (a pickle of an older
version, a damaged file, a newer format) is refused with a line that says what to do, the files
left as they were."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kalshi_cli.sim.core.exchange import Exchange
from kalshi_cli.sim.core.journal import (
    SNAPSHOT_MAGIC,
    SNAPSHOT_VERSION,
    JournalError,
    snapshot_path,
)
from kalshi_cli.sim.core.records import ExchangeError, SimEvent, SimSeries
from kalshi_cli.sim.core.scenarios import build_exchange
from kalshi_cli.sim.server.announce import AccountInfo
from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.models import PriceRange
from kalshi_cli.vocabulary.units import BookSide
from tests.conftest import STANDARD_FEES, SimHarness
from tests.runner.fakes import place_on_desk
from tests.sim.test_core import market

T = "KXSNAP-26JAN01-A"
# a journal and its snapshot pickled by an older version (compacted once, one record after)
PICKLED = Path(__file__).parent / "data" / "pickle_snapshot"


def _order(side: str, price: str, count: str, **extra: Any) -> dict[str, Any]:
    return {
        "ticker": T,
        "side": side,
        "price": price,
        "count": count,
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
        **extra,
    }


def _everything(sim: SimHarness, who: AccountInfo) -> dict[str, Any]:
    def get(path: str) -> Any:
        answer = sim.signed(who, "GET", path)
        assert answer.status_code == 200, answer.text
        return answer.json()

    return {
        "orders": get("/portfolio/orders")["orders"],
        "fills": get("/portfolio/fills")["fills"],
        "positions": get("/portfolio/positions")["market_positions"],
        "balance": get("/portfolio/balance")["balance"],
        "subaccounts": get("/portfolio/subaccounts/balances"),
        "book": get(f"/markets/{T}/orderbook"),
        "trades": get("/markets/trades"),
    }


def _compact(data_dir: Path) -> None:
    """Compact the stopped simulator's journal into a snapshot, as a long-served one does."""
    exchange = build_exchange("empty", clock=ManualClock(), journal=data_dir / "exchange.journal")
    try:
        exchange.compact()
    finally:
        exchange.close()


def test_a_served_simulators_state_comes_back_whole_through_a_snapshot(tmp_path: Path) -> None:
    with start_simulator(tmp_path, scenario="empty", tier="advanced") as first:
        sim = SimHarness(first)
        sim.create_market(T)
        me, other = sim.account, sim.new_account()
        assert sim.signed(me, "POST", "/portfolio/subaccounts").status_code == 201
        moved = {
            "client_transfer_id": str(uuid.uuid4()),
            "from_subaccount": 0,
            "to_subaccount": 1,
            "amount_cents": 25_00,
        }
        assert sim.signed(me, "POST", "/portfolio/subaccounts/transfer", json=moved).is_success
        placed = [
            sim.place_order(me, _order("bid", "0.40", "10")),
            sim.place_order(other, _order("ask", "0.40", "4")),
            sim.place_order(other, _order("ask", "0.55", "3")),
            sim.place_order(
                me, _order("bid", "0.20", "2", client_order_id="not-a-uuid", subaccount=1)
            ),
        ]
        assert [p.status_code for p in placed] == [201] * 4
        before = [_everything(sim, who) for who in (me, other)]
        assert before[0]["fills"] and before[0]["positions"]  # the stage holds a trade
        sim.http.close()
    _compact(tmp_path)
    snapshot = snapshot_path(tmp_path / "exchange.journal")
    assert snapshot.read_bytes().startswith(SNAPSHOT_MAGIC)
    assert (tmp_path / "exchange.journal").read_text().count("\n") == 1  # the init record only
    with start_simulator(tmp_path, scenario="empty", tier="advanced") as second:
        sim = SimHarness(second)
        # the same keys, at the new address
        me, other = (who._replace(api_base=second.account.api_base) for who in (me, other))
        assert [_everything(sim, who) for who in (me, other)] == before
        # it goes on where it stopped: the client order id is still taken, the book still
        # crosses the resting ask
        again = sim.place_order(
            me, _order("bid", "0.20", "2", client_order_id="not-a-uuid", subaccount=1)
        )
        assert again.status_code == 409, again.text
        taken = sim.place_order(me, _order("bid", "0.55", "3"))
        assert taken.status_code == 201
        fills = sim.signed(me, "GET", "/portfolio/fills").json()["fills"]
        assert len(fills) == len(before[0]["fills"]) + 1
        assert Decimal(fills[0]["count_fp"]) == 3
        sim.http.close()


def _compacted(tmp_path: Path) -> tuple[Path, Path]:
    journal = tmp_path / "exchange.journal"
    ex = build_exchange("quiet", clock=ManualClock(), journal=journal)
    ex.accounts.create_account(key_id="a", public_key_pem="", cash_cents=100_00)
    ex.compact()
    ex.close()
    return journal, snapshot_path(journal)


def _refused(journal: Path) -> str:
    """The refusal of opening `journal`, its files unchanged by it."""
    files = {p: p.read_bytes() for p in journal.parent.iterdir()}
    with pytest.raises(JournalError) as refused:
        Exchange(ManualClock(), fees=STANDARD_FEES, journal=journal)
    assert {p: p.read_bytes() for p in journal.parent.iterdir()} == files
    return str(refused.value)


def test_a_pickle_snapshot_of_an_older_version_is_refused_saying_what_to_do(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "exchange.journal"
    journal.write_bytes((PICKLED / "compacted.jsonl").read_bytes())
    snapshot_path(journal).write_bytes((PICKLED / "compacted.jsonl.snapshot").read_bytes())
    why = _refused(journal)
    assert "older kalshi-cli (a pickle)" in why
    assert "with the same account" in why and f"mv {journal} {journal}.unreadable-" in why


def test_kalshi_sim_serve_refuses_a_pickle_snapshot_in_one_line(tmp_path: Path) -> None:
    journal = tmp_path / "exchange.journal"
    journal.write_bytes((PICKLED / "compacted.jsonl").read_bytes())
    snapshot_path(journal).write_bytes((PICKLED / "compacted.jsonl.snapshot").read_bytes())
    environ = {**os.environ, "KALSHI_HOME": str(tmp_path / "home"), "KALSHI_DEBUG": ""}
    for name in ("KALSHI_ENV", "KALSHI_STATE", "KALSHI_CONFIG"):
        environ.pop(name, None)
    serve = ["sim", "serve", "--port", "0", "--data-dir", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, "-m", "kalshi_cli", *serve],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environ,
    )
    assert done.returncode == ExitCode.FAILURE, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("Error: the simulator's state cannot be restored: ")
    assert "a pickle" in line and "with the same account" in line
    assert "a bug" not in line


def test_a_damaged_snapshot_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    journal, snapshot = _compacted(tmp_path)
    whole = snapshot.read_bytes()
    damages = {
        "cut in a frame": whole[: len(whole) // 2],
        "without its end frame": whole[: -(8 + 1)],  # a length and MessagePack's nil
        "garbled after the magic": SNAPSHOT_MAGIC + b"\x00" * 7 + b"\x05" + b"\xc1" * 5,
        "nothing after the magic": SNAPSHOT_MAGIC,
        "a header without a version": SNAPSHOT_MAGIC + b"\x00" * 7 + b"\x01" + b"\x80",
        "not a snapshot": b"{}",
    }
    for damage, data in damages.items():
        snapshot.write_bytes(data)
        why = _refused(journal)
        assert str(snapshot) in why, damage
        assert f"mv {snapshot} {snapshot}.unreadable-" in why, damage
        assert "damaged" in why or "not a simulator snapshot" in why, damage


def test_a_snapshot_of_a_newer_format_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    journal, snapshot = _compacted(tmp_path)
    data = snapshot.read_bytes()
    at = len(SNAPSHOT_MAGIC)
    (size,) = struct.unpack_from(">Q", data, at)
    header = msgspec.msgpack.decode(data[at + 8 : at + 8 + size])
    assert header["version"] == SNAPSHOT_VERSION
    newer = msgspec.msgpack.encode({**header, "version": SNAPSHOT_VERSION + 1})
    snapshot.write_bytes(
        SNAPSHOT_MAGIC + struct.pack(">Q", len(newer)) + newer + data[at + 8 + size :]
    )
    why = _refused(journal)
    assert f"format {SNAPSHOT_VERSION + 1}, newer than this kalshi-cli reads" in why
    assert "upgrade kalshi-cli" in why


def test_markets_price_grids_come_back_through_a_snapshot(tmp_path: Path) -> None:
    """A market's price ranges are frozen msgspec Structs, which cannot be made empty and
    filled in as the snapshot's other objects are: a snapshot holding one must still read,
    each market keeping its own grid (two markets share the same ranges, written once)."""
    journal = tmp_path / "exchange.journal"
    first = Exchange(ManualClock(), fees=STANDARD_FEES, journal=journal)
    first.reference.add_series(SimSeries("SER", "series"))
    first.reference.add_event(SimEvent("EV", "SER", "event"))
    for ticker, structure in (("CENT", "linear_cent"), ("TAPER", "tapered_deci_cent")):
        first.add_market(market(ticker, structure))
    first.add_market(market("TAPER2", "tapered_deci_cent"))
    who = first.accounts.create_account(key_id="a", public_key_pem="", cash_cents=100_00).account_id
    first.compact()
    grids = {t: m.price_ranges for t, m in first.reference.markets.items()}
    first.close()

    second = Exchange(ManualClock(), fees=STANDARD_FEES, journal=journal)
    try:
        assert second.restored
        assert {t: m.price_ranges for t, m in second.reference.markets.items()} == grids
        assert all(type(r) is PriceRange for g in grids.values() for r in g)
        # the grids still judge prices: a tenth of a cent is a tick only on the tapered one
        placed = place_on_desk(second, who, "TAPER", BookSide.BID, "0.005", 1)
        assert placed.order.status == "resting"
        with pytest.raises(ExchangeError) as refused:
            place_on_desk(second, who, "CENT", BookSide.BID, "0.005", 1)
        assert refused.value.code == "invalid_price"
    finally:
        second.close()
