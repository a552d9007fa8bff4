"""`kalshi data download` against the simulator's live and historical tiers: the rows are what
the API returns, each once; an interrupted run resumed gives the same files.

The simulator runs on a `ManualClock`, so trades can lie hours apart and the historical cutoff
can fall between them.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any, TypeVar

import pytest
from typer.testing import CliRunner, Result

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.client import KalshiClient
from kalshi_cli.client.connection import Connection
from kalshi_cli.client.historical import HistoricalApi
from kalshi_cli.client.requests import CreateOrder
from kalshi_cli.data.download import DownloadRequest, download
from kalshi_cli.data.replay import iter_records
from kalshi_cli.sim.server.embed import start_simulator
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.errors import NotFoundError, TransportError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.keys import load_private_key
from kalshi_cli.vocabulary.models import Trade
from kalshi_cli.vocabulary.units import BookSide, TimeInForce
from tests.conftest import SimHarness
from tests.fakes import Swapped
from tests.openapi_check import RECORDER
from tests.prime_tier import TIER, cli_env, connect

HOUR = 3600
SERIES, EVENT = "KXDL", "KXDL-26JAN01"
A, B = f"{EVENT}-A", f"{EVENT}-B"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimHarness]:
    harness = SimHarness(
        start_simulator(
            tmp_path / "sim",
            scenario="empty",
            tier=TIER,
            clock=ManualClock(time.time()),
            auth_window_s=30 * 24 * HOUR,  # the client signs with the real clock
            response_hook=RECORDER.hook,
        )
    )
    yield harness
    harness.close()


def cross(maker: KalshiClient, taker: KalshiClient, ticker: str, price: str, count: int) -> None:
    maker.orders.create_order(CreateOrder(ticker, BookSide.ASK, D(price), D(count)))
    taker.orders.create_order(
        CreateOrder(ticker, BookSide.BID, D(price), D(count), time_in_force=TimeInForce.IOC)
    )


@pytest.fixture
def traded(sim: SimHarness) -> SimHarness:
    """A (settled) traded twice at t0, B once at t0 and twice at t0 + 2 h; the cutoff at
    t0 + 1 h: A and the trades of t0 are historical, B and its later trades live."""
    clock = sim.running.state.clock
    assert isinstance(clock, ManualClock)
    for t in (A, B):
        sim.create_market(t, event_ticker=EVENT, series_ticker=SERIES)
    with connect(sim.account) as me, connect(sim.new_account(1_000_000)) as other:
        cross(other, me, A, "0.40", 2)
        cross(other, me, A, "0.45", 1)
        cross(other, me, B, "0.30", 3)
        clock.advance(60)
        sim.settle(A, "yes")
        clock.advance(2 * HOUR)
        cross(other, me, B, "0.35", 1)
        cross(other, me, B, "0.36", 4)
    sim.http.put(sim.admin_url + "/historical", json={"lag_seconds": HOUR}).raise_for_status()
    return sim


def kalshi(
    sim: SimHarness, home: Path, *args: str, client: Callable[[], Any] | None = None
) -> Result:
    factory = None if client is None else (lambda _app, _settings, _anonymous: client())
    context = AppContext(environ=cli_env(sim.account, home), client_factory=factory)
    return CliRunner().invoke(app, list(args), obj=context, env={"COLUMNS": "120"})


def files(root: Path) -> dict[str, bytes]:
    """Every file of a data set but its staging area, by relative path."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".download" not in p.parts
    }


def api_trades(sim: SimHarness) -> list[dict[str, Any]]:
    with connect(sim.account) as client:
        rows = [t.raw for t in client.markets.iter_trades()]
        rows += [t.raw for t in client.historical.iter_historical_trades()]
    return rows


def test_trades_from_both_tiers_are_the_api_rows_each_once_in_time_order(
    traded: SimHarness, tmp_path: Path
) -> None:
    out = tmp_path / "trades"
    result = kalshi(traded, tmp_path, "data", "download", "trades", "--series", SERIES,
                    "--out", str(out), "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["markets"], summary["rows"]) == (2, 5)
    assert summary["rows_by_tier"] == {"historical": 3, "live": 2}
    assert "download: [1/2]" in result.stderr and "download: [2/2]" in result.stderr

    skipped: Counter[str] = Counter()
    records = list(iter_records(out, skipped))
    assert not skipped
    assert [ns for ns, _, _ in records] == sorted(ns for ns, _, _ in records)
    lines = [json.loads(line) for p in sorted((out / "frames").iterdir()) for line in _gunzip(p)]
    expected = api_trades(traded)
    assert len(expected) == 5 and len({t["trade_id"] for t in expected}) == 5
    assert sorted((line["rest"] for line in lines), key=lambda t: t["trade_id"]) == sorted(
        expected, key=lambda t: t["trade_id"]
    )
    for line in lines:
        msg = line["frame"]["msg"]
        assert line["frame"]["type"] == "trade"
        assert (msg["trade_id"], msg["market_ticker"], msg["count_fp"]) == (
            line["rest"]["trade_id"],
            line["rest"]["ticker"],
            line["rest"]["count_fp"],
        )

    info = json.loads(kalshi(traded, tmp_path, "data", "info", str(out), "--json").stdout)
    assert info["source"] == "download" and info["status"] == "complete"
    rows = {m["ticker"]: m["rows_by_type"] for m in info["market_list"]}
    assert rows == {A: {"trade": 2}, B: {"trade": 3}}


def _gunzip(path: Path) -> list[bytes]:
    import gzip

    return gzip.decompress(path.read_bytes()).splitlines()


class DropsOnB(HistoricalApi):
    """The real client's historical tier, whose connection drops while it reads B's trades."""

    def get_trades_page(self, **kwargs: Any) -> Any:
        if kwargs.get("ticker") == B:
            raise TransportError("connection reset (test)")
        return super().get_trades_page(**kwargs)


def test_an_interrupted_download_resumed_gives_the_same_files(
    traded: SimHarness, tmp_path: Path
) -> None:
    whole = tmp_path / "whole"
    assert kalshi(traded, tmp_path, "data", "download", "trades", "--series", SERIES,
                  "--out", str(whole)).exit_code == 0  # fmt: skip

    part = tmp_path / "part"
    cut = kalshi(traded, tmp_path, "data", "download", "trades", "--series", SERIES,
                 "--out", str(part), client=lambda: Swapped(DropsOnB, **_key(traded)))  # fmt: skip
    assert cut.exit_code == ExitCode.UNREACHABLE, cut.output
    manifest = json.loads((part / "manifest.json").read_text())
    assert manifest["status"] != "complete"
    assert not (part / "frames").exists()  # nothing half-built presented as data

    resumed = kalshi(traded, tmp_path, "data", "download", "trades", "--series", SERIES,
                     "--out", str(part), "--json")  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    summary = json.loads(resumed.stdout)
    assert (summary["resumed"], summary["fetched"]) == ([A], [B])
    assert summary["continued"] == []  # B was cut before its first page
    assert files(part) == files(whole)

    # run again once complete: rebuilt from what is staged, the same files, nothing fetched
    again = kalshi(traded, tmp_path, "data", "download", "trades", "--series", SERIES,
                   "--out", str(part), "--json")  # fmt: skip
    assert json.loads(again.stdout)["fetched"] == []
    assert files(part) == files(whole)


def test_a_download_whose_process_was_killed_is_resumed_not_refused(
    traded: SimHarness, tmp_path: Path
) -> None:
    """A download killed (SIGKILL, power lost) leaves its manifest saying `downloading` and
    its lock file with no holder. The lock decides, not the manifest's word: `data ls` shows
    it `interrupted`, and the same command run again takes the directory over and resumes."""
    whole = tmp_path / "whole"
    assert kalshi(traded, tmp_path, "data", "download", "trades", "--series", SERIES,
                  "--out", str(whole)).exit_code == 0  # fmt: skip
    out = tmp_path / "dl"
    cut = kalshi(traded, tmp_path, "data", "download", "trades", "--series", SERIES,
                 "--out", str(out), client=lambda: Swapped(DropsOnB, **_key(traded)))  # fmt: skip
    assert cut.exit_code == ExitCode.UNREACHABLE, cut.output
    assert json.loads((out / "manifest.json").read_text())["status"] == "downloading"
    # the directory's lock taken by a process that is then killed: the file stays, unheld
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(out / ".lock")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=30)
    assert (out / ".lock").exists()

    listed = kalshi(traded, tmp_path, "data", "ls", str(out), "--json")
    assert json.loads(listed.stdout)["data_sets"][0]["status"] == "interrupted"
    resumed = kalshi(traded, tmp_path, "data", "download", "trades", "--series", SERIES,
                     "--out", str(out), "--json")  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    summary = json.loads(resumed.stdout)
    assert (summary["resumed"], summary["fetched"]) == ([A], [B])
    assert files(out) == files(whole)


_HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("held", flush=True)
time.sleep(600)
"""


class WaitsOnB(HistoricalApi):
    """The real client's historical tier, which holds its first request for B's trades until
    the test lets it go: a download running, stopped in the middle of its markets."""

    reached = threading.Event()
    go_on = threading.Event()

    def get_trades_page(self, **kwargs: Any) -> Any:
        if kwargs.get("ticker") == B and not self.go_on.is_set():
            self.reached.set()
            assert self.go_on.wait(60), "the test never let the download go on"
        return super().get_trades_page(**kwargs)


def test_a_second_download_into_a_directory_a_live_download_writes_is_refused_naming_it(
    traded: SimHarness, tmp_path: Path
) -> None:
    """Two downloads of one request into one directory appended to the same staged files and
    checkpoints, each overwriting the other's. The directory's lock is held while a download
    runs: the second is refused (exit 2) before it writes anything, naming the running one,
    `data ls` shows it `downloading`, and the running one finishes with the right files."""
    whole = tmp_path / "whole"
    assert kalshi(traded, tmp_path, "data", "download", "trades", "--series", SERIES,
                  "--out", str(whole)).exit_code == 0  # fmt: skip
    out = tmp_path / "dl"
    request = DownloadRequest("trades", series=SERIES)
    WaitsOnB.reached.clear()
    WaitsOnB.go_on.clear()
    done: list[Any] = []

    def first() -> None:
        with Swapped(WaitsOnB, **_key(traded)) as client:
            done.append(download(client, request, out))

    running = threading.Thread(target=first, daemon=True)
    running.start()
    try:
        assert WaitsOnB.reached.wait(60)
        before = _every_file(out)
        second = kalshi(traded, tmp_path, "data", "download", "trades", "--series", SERIES,
                        "--out", str(out))  # fmt: skip
        assert second.exit_code == ExitCode.USAGE, second.output
        assert f"a download is running in {out}" in second.output
        assert f"series {SERIES}" in second.output  # which download: its request
        assert _every_file(out) == before
        listed = kalshi(traded, tmp_path, "data", "ls", str(out), "--json")
        assert json.loads(listed.stdout)["data_sets"][0]["status"] == "downloading"
    finally:
        WaitsOnB.go_on.set()
        running.join(60)
    assert done and done[0].fetched == [A, B]
    assert files(out) == files(whole)
    # the lock went with the download: the same command runs again, fetching nothing
    again = kalshi(traded, tmp_path, "data", "download", "trades", "--series", SERIES,
                   "--out", str(out), "--json")  # fmt: skip
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["fetched"] == []


def _key(sim: SimHarness) -> dict[str, Any]:
    key, _ = load_private_key(path=sim.account.private_key_path)
    return {"api_base": sim.account.api_base, "key_id": sim.account.key_id,
            "private_key": key, "tier": TIER}  # fmt: skip


class _Cut(HistoricalApi):
    """The historical tier of a client whose connection drops at its `cut_at`-th request."""

    cut_at: int | None = None


H = TypeVar("H", bound=_Cut)


def _cut_at(area: type[H], sim: SimHarness, cut_at: int | None) -> Swapped[H]:
    """The real client whose historical tier is `area`, cut at its `cut_at`-th request."""
    client = Swapped(area, **_key(sim))
    client.area.cut_at = cut_at
    return client


class CutAtPage(_Cut):
    """The real client's historical tier, whose connection drops when it asks for its
    `cut_at`-th page of trades (never, if None); it keeps which page each request asked for."""

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection)
        self.asked: list[tuple[bool, str | None, str | None]] = []  # historical, ticker, cursor

    def get_trades_page(
        self,
        *,
        historical: bool,
        ticker: str | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
        cursor: str | None = None,
        limit: int = 1000,
    ) -> tuple[list[Trade], str]:
        self.asked.append((historical, ticker, cursor))
        if len(self.asked) == self.cut_at:
            raise TransportError("connection reset (test)")
        return super().get_trades_page(
            historical=historical, ticker=ticker, min_ts=min_ts, max_ts=max_ts, cursor=cursor,
            limit=limit,
        )  # fmt: skip


def test_a_download_cut_off_inside_a_market_resumes_from_its_last_whole_page(
    traded: SimHarness, tmp_path: Path
) -> None:
    """Cut at every page in turn (one trade a page: each market's live and historical pages),
    with a page half-written when the process died: the resumed run asks only for the pages
    not yet written, and the files are the uninterrupted run's, byte for byte."""
    request = DownloadRequest("trades", series=SERIES)
    whole = tmp_path / "whole"
    with _cut_at(CutAtPage, traded, None) as client:
        download(client, request, whole, page_size=1)
    every_page = client.area.asked
    assert len(every_page) == 6  # A: 1 live (empty), 2 historical; B: 2 live, 1 historical
    assert any(cursor for _, _, cursor in every_page)  # pages followed by cursor

    for cut in range(1, len(every_page) + 1):
        part = tmp_path / f"cut{cut}"
        with _cut_at(CutAtPage, traded, cut) as client, pytest.raises(TransportError):
            download(client, request, part, page_size=1)
        assert not (part / "frames").exists()
        for partial in (part / ".download" / "trades").glob("*.partial.ndjson"):
            with partial.open("ab") as handle:  # the page being written when it died
                handle.write(b'{"tier":"live","trade":{"trade_id":"half-wri')
        with _cut_at(CutAtPage, traded, None) as again:
            download(again, request, part, page_size=1)
        assert again.area.asked == every_page[cut - 1 :], cut  # no page asked for twice
        assert files(part) == files(whole), cut


def test_trades_archived_while_a_download_was_stopped_are_read_from_the_historical_tier(
    traded: SimHarness, tmp_path: Path
) -> None:
    """A range after the historical cutoff is read from the live tier alone. The cutoff moves
    on: stopped after B's first page and resumed once the cutoff has passed the range, the
    download's live cursor finds nothing more there, and the trade it had not reached yet is
    now served only by the historical tier. It must be read there, not left out."""
    clock = traded.running.state.clock
    assert isinstance(clock, ManualClock)
    after_cutoff = int(clock.wall()) - HOUR // 2  # B's two later trades, both live
    request = DownloadRequest("trades", tickers=(B,), from_ts=after_cutoff)
    part = tmp_path / "part"
    with _cut_at(CutAtPage, traded, 2) as client, pytest.raises(TransportError):
        download(client, request, part, page_size=1)
    assert client.area.asked[0][0] is False  # the live tier: one trade written, then the cut

    clock.advance(60)  # a day later, say: the cutoff has passed the whole range
    traded.http.put(traded.admin_url + "/historical", json={"lag_seconds": 30}).raise_for_status()
    with _cut_at(CutAtPage, traded, None) as again:
        summary = download(again, request, part, page_size=1)
    with connect(traded.account) as direct:
        served = [t.raw for t in direct.historical.iter_historical_trades(ticker=B)]
    expected = sorted(t["trade_id"] for t in served if _ts(t) >= after_cutoff)
    assert len(expected) == 2
    assert summary.rows == 2
    got = [line["rest"]["trade_id"] for p in sorted((part / "frames").iterdir())
           for line in map(json.loads, _gunzip(p))]  # fmt: skip
    assert sorted(got) == expected


class ArchivesAfterFirstPage(CutAtPage):
    """The real client's historical tier; once its first page of trades is answered, the
    exchange's cutoff moves past every trade (a minute on, a lag of 30 s)."""

    sim: SimHarness

    def get_trades_page(self, **kwargs: Any) -> tuple[list[Trade], str]:
        page = super().get_trades_page(**kwargs)
        if len(self.asked) == 1:
            clock = self.sim.running.state.clock
            assert isinstance(clock, ManualClock)
            clock.advance(60)
            moved = self.sim.http.put(self.sim.admin_url + "/historical", json={"lag_seconds": 30})
            moved.raise_for_status()
        return page


@pytest.mark.parametrize("from_ts", [None, -HOUR // 2], ids=["both-tiers", "after-the-cutoff"])
def test_a_cutoff_moving_while_the_live_tier_is_read_loses_no_trade_and_is_no_repeated_cursor(
    traded: SimHarness, tmp_path: Path, from_ts: int | None
) -> None:
    """The live tier's first page read, the cutoff passes every trade: the live tier has no
    more, and the historical tier serves again what the live one had, under cursors the live
    listing also gave. Cursors belong to their tier's listing: one seen in the live tier is no
    repeat in the historical one (that stopped the download, `pagination cursor repeated`),
    and every trade of the range is read once."""
    now = int(traded.running.state.clock.wall())
    start = None if from_ts is None else now + from_ts
    request = DownloadRequest("trades", tickers=(B,), from_ts=start)
    ArchivesAfterFirstPage.sim = traded
    with _cut_at(ArchivesAfterFirstPage, traded, None) as client:
        summary = download(client, request, tmp_path / "out", page_size=1)
    with connect(traded.account) as direct:
        served = [t.raw for t in direct.historical.iter_historical_trades(ticker=B)]
    expected = sorted(t["trade_id"] for t in served if start is None or _ts(t) >= start)
    assert len(expected) == (3 if start is None else 2)
    got = [line["rest"]["trade_id"] for p in sorted((tmp_path / "out" / "frames").iterdir())
           for line in map(json.loads, _gunzip(p))]  # fmt: skip
    assert sorted(got) == expected and summary.rows == len(expected)


def _ts(trade: dict[str, Any]) -> float:  # unix seconds
    from kalshi_cli.vocabulary.clock import parse_iso

    return parse_iso(trade["created_time"]).timestamp()


class CutAtWindow(_Cut):
    """The real client's historical tier, whose connection drops when it asks for its
    `cut_at`-th window of candlesticks (never, if None); it keeps the windows asked for."""

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection)
        self.asked: list[tuple[str, int]] = []  # ticker, start_ts

    def _ask(self, ticker: str, start_ts: int) -> None:
        self.asked.append((ticker, start_ts))
        if len(self.asked) == self.cut_at:
            raise TransportError("connection reset (test)")

    def get_live_candlesticks(
        self, series_ticker: str, ticker: str, *, start_ts: int, end_ts: int, period_interval: int
    ) -> list[dict[str, Any]]:
        self._ask(ticker, start_ts)
        return super().get_live_candlesticks(
            series_ticker, ticker, start_ts=start_ts, end_ts=end_ts, period_interval=period_interval
        )

    def get_historical_candlesticks(
        self, ticker: str, *, start_ts: int, end_ts: int, period_interval: int
    ) -> list[dict[str, Any]]:
        self._ask(ticker, start_ts)
        return super().get_historical_candlesticks(
            ticker, start_ts=start_ts, end_ts=end_ts, period_interval=period_interval
        )


def test_candles_cut_off_inside_a_market_resume_from_the_next_window(
    traded: SimHarness, tmp_path: Path
) -> None:
    """Eleven days of minute candles are four windows a market: cut at every window in turn,
    the resumed run asks only for the windows not yet written, and the file is the
    uninterrupted run's."""
    now = int(traded.running.state.clock.wall())
    request = DownloadRequest(
        "candles", tickers=(A, B), from_ts=now - 10 * 24 * HOUR, to_ts=now + 24 * HOUR,
        period="1m",
    )  # fmt: skip
    whole = tmp_path / "whole"
    with _cut_at(CutAtWindow, traded, None) as client:
        download(client, request, whole)
    every_window = client.area.asked
    assert [t for t, _ in every_window] == [A] * 4 + [B] * 4

    for cut in range(1, len(every_window) + 1):
        part = tmp_path / f"cut{cut}"
        with _cut_at(CutAtWindow, traded, cut) as client, pytest.raises(TransportError):
            download(client, request, part)
        assert not (part / "rest").exists()
        with _cut_at(CutAtWindow, traded, None) as again:
            summary = download(again, request, part)
        assert again.area.asked == every_window[cut - 1 :], cut
        assert summary.continued == ([] if cut in (1, 5) else [every_window[cut - 1][0]])
        assert files(part) == files(whole), cut


def test_candles_and_markets_come_from_the_tier_that_holds_each_market(
    traded: SimHarness, tmp_path: Path
) -> None:
    import gzip

    out = tmp_path / "candles"
    result = kalshi(traded, tmp_path, "data", "download", "candles", "--tickers", f"{A},{B}",
                    "--period", "1h", "--out", str(out), "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in gzip.decompress((out / "rest/candles.ndjson.gz").read_bytes())
            .splitlines()]  # fmt: skip
    listed_candles = json.loads(kalshi(traded, tmp_path, "data", "ls", str(out), "--json").stdout)
    # the candles are the data set's bytes: `ls` counted frame segments only and said 0
    assert (
        listed_candles["data_sets"][0]["bytes"] == (out / "rest/candles.ndjson.gz").stat().st_size
    )
    by_market = {(r["market_ticker"], r["tier"]) for r in rows}
    assert by_market == {(A, "historical"), (B, "live")}
    a_volume = sum(D(r["candle"]["volume"]) for r in rows if r["market_ticker"] == A)
    b_volume = sum(D(r["candle"]["volume_fp"]) for r in rows if r["market_ticker"] == B)
    assert (a_volume, b_volume) == (D(3), D(8))

    markets = tmp_path / "markets"
    result = kalshi(traded, tmp_path, "data", "download", "markets", "--event", EVENT,
                    "--out", str(markets), "--json")  # fmt: skip
    assert json.loads(result.stdout)["rows_by_tier"] == {"historical": 1, "live": 1}
    listed = json.loads(kalshi(traded, tmp_path, "data", "ls", str(markets), "--json").stdout)
    assert listed["data_sets"][0]["source"] == "download"
    assert listed["data_sets"][0]["markets"] == 2


def test_refusals_are_one_line_with_their_own_exit_code(traded: SimHarness, tmp_path: Path) -> None:
    unknown = kalshi(traded, tmp_path, "data", "download", "trades", "--tickers", "KXNOPE-1",
                     "--out", str(tmp_path / "n"))  # fmt: skip
    assert unknown.exit_code == ExitCode.NOT_FOUND
    assert "no market KXNOPE-1" in unknown.output

    empty = kalshi(traded, tmp_path, "data", "download", "trades", "--tickers", A, "--from",
                   "2001-01-01", "--to", "2001-01-02", "--out", str(tmp_path / "e"))  # fmt: skip
    assert empty.exit_code == ExitCode.NO_DATA
    assert json.loads((tmp_path / "e" / "manifest.json").read_text())["status"] == "failed"

    held = kalshi(traded, tmp_path, "data", "download", "trades", "--tickers", A,
                  "--out", str(tmp_path / "d"))  # fmt: skip
    assert held.exit_code == 0, held.output
    other = kalshi(traded, tmp_path, "data", "download", "markets", "--tickers", A,
                   "--out", str(tmp_path / "d"))  # fmt: skip
    assert other.exit_code == ExitCode.USAGE and "another download" in other.output


def test_a_download_that_found_no_data_holds_no_directory_the_widened_command_runs(
    traded: SimHarness, tmp_path: Path
) -> None:
    """ "no trades ... in the range asked for" hints to widen --from/--to; the widened command
    into the same directory was refused as another download, though the first held no data."""
    out = tmp_path / "e"
    empty = kalshi(traded, tmp_path, "data", "download", "trades", "--tickers", A, "--from",
                   "2001-01-01", "--to", "2001-01-02", "--out", str(out))  # fmt: skip
    assert empty.exit_code == ExitCode.NO_DATA, empty.output
    assert "widen --from/--to" in empty.output
    widened = kalshi(traded, tmp_path, "data", "download", "trades", "--tickers", A,
                     "--from", "2001-01-01", "--out", str(out), "--json")  # fmt: skip
    assert widened.exit_code == 0, widened.output
    assert json.loads(widened.stdout)["rows"] == 2
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_the_account_s_settlements_of_the_markets_are_the_api_rows(
    traded: SimHarness, tmp_path: Path
) -> None:
    import gzip

    out = tmp_path / "settlements"
    result = kalshi(traded, tmp_path, "data", "download", "settlements", "--event", EVENT,
                    "--out", str(out), "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in gzip.decompress((out / "rest/settlements.ndjson.gz")
            .read_bytes()).splitlines()]  # fmt: skip
    with connect(traded.account) as client:
        expected = [s.raw for s in client.portfolio.iter_settlements()]
    assert [r["settlement"] for r in rows] == expected
    assert [r["settlement"]["ticker"] for r in rows] == [A]


def test_a_download_keeps_the_reference_data_of_its_markets(
    traded: SimHarness, tmp_path: Path
) -> None:
    from kalshi_cli.venue.reference import load_reference

    out = tmp_path / "trades"
    result = kalshi(traded, tmp_path, "data", "download", "trades", "--series", SERIES,
                    "--out", str(out), "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "not in the reference data" not in result.stderr
    reference = json.loads((out / "reference.json").read_text())
    assert sorted(m["ticker"] for m in reference["markets"]) == [A, B]
    assert [s["ticker"] for s in reference["series"]] == [SERIES]
    assert [e["event_ticker"] for e in reference["events"]] == [EVENT]
    infos = load_reference(out)
    # A settled before the download (and is archived): its result is in the data set
    assert (infos[A].result, infos[B].result) == ("yes", "")
    assert infos[A].assumed == () and infos[B].assumed == ()


def _every_file(root: Path) -> dict[str, bytes]:
    """Every file under `root`, its staging area and manifest included, by relative path."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_a_recorder_started_in_a_download_is_refused_before_anything_is_asked_or_written(
    traded: SimHarness, tmp_path: Path
) -> None:
    """One data set per directory, both ways: `record --out` a download's directory would
    replace the download's manifest with its own (its request lost, so it could never resume)
    and add its segments beside the downloaded ones. It is refused as a download into a
    recording is, before the exchange is asked anything, and the download is left as it was."""
    out = tmp_path / "dl"
    done = kalshi(traded, tmp_path, "data", "download", "trades", "--series", SERIES,
                  "--out", str(out))  # fmt: skip
    assert done.exit_code == 0, done.output
    before = _every_file(out)
    asked: list[str] = []

    def no_exchange() -> Any:
        asked.append("client")
        raise AssertionError("the exchange was asked")

    record = kalshi(traded, tmp_path, "record", "--tickers", B, "--out", str(out),
                    "--duration", "1", client=no_exchange)  # fmt: skip
    assert record.exit_code == ExitCode.USAGE, record.output
    assert "holds a download data set" in record.output
    assert asked == []
    assert _every_file(out) == before
    again = kalshi(traded, tmp_path, "data", "download", "trades", "--series", SERIES,
                   "--out", str(out), "--json")  # fmt: skip
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["fetched"] == []  # still the download it was: resumed


def test_an_import_into_a_candles_download_is_refused_and_leaves_it_as_it_was(
    traded: SimHarness, tmp_path: Path
) -> None:
    """A candles download has no segments, only `rest/candles.ndjson.gz`: an import looked for
    segments alone, so it wrote its frames there and replaced the download's manifest. The
    manifest's source decides, as for a download into a recording."""
    out = tmp_path / "candles"
    done = kalshi(traded, tmp_path, "data", "download", "candles", "--tickers", A,
                  "--period", "1h", "--out", str(out))  # fmt: skip
    assert done.exit_code == 0, done.output
    before = _every_file(out)
    source = tmp_path / "frames.jsonl"
    msg = {"market_ticker": A, "trade_id": "t1", "yes_price_dollars": "0.5000",
           "no_price_dollars": "0.5000", "count_fp": "1.00", "taker_side": "yes"}  # fmt: skip
    frame = {"type": "trade", "sid": 1, "seq": 1, "msg": msg}
    source.write_text(json.dumps({"recv_ns": 1, "frame": frame}) + "\n", encoding="utf-8")
    imported = kalshi(traded, tmp_path, "data", "import", str(source), "--out", str(out))
    assert imported.exit_code == ExitCode.USAGE, imported.output
    assert "holds a download data set" in imported.output
    assert _every_file(out) == before


def test_a_mistyped_ticker_writes_nothing_and_the_corrected_command_runs(
    traded: SimHarness, tmp_path: Path
) -> None:
    """The markets are looked up before the manifest is written: a ticker no tier knows exits
    6 and leaves nothing behind, where it left a `downloading` manifest holding the bad request
    and the corrected command into the same directory was refused as another download."""
    out = tmp_path / "n"
    typo = kalshi(traded, tmp_path, "data", "download", "trades", "--tickers", "KXNOPE-1",
                  "--out", str(out))  # fmt: skip
    assert typo.exit_code == ExitCode.NOT_FOUND, typo.output
    assert "nothing was written" in typo.output
    assert not out.exists()
    fixed = kalshi(traded, tmp_path, "data", "download", "trades", "--tickers", A,
                   "--out", str(out), "--json")  # fmt: skip
    assert fixed.exit_code == 0, fixed.output
    assert json.loads(fixed.stdout)["rows"] == 2

    given = tmp_path / "given"
    given.mkdir()  # a directory that exists is left as it was
    empty_series = kalshi(traded, tmp_path, "data", "download", "candles", "--series", "KXNONE",
                          "--out", str(given))  # fmt: skip
    assert empty_series.exit_code == ExitCode.NO_DATA, empty_series.output
    assert list(given.iterdir()) == []


@pytest.mark.parametrize("cut", [1, 2], ids=["before-its-first-window", "after-one-window"])
def test_candles_resumed_after_their_market_was_archived_are_read_from_the_historical_tier(
    sim: SimHarness, tmp_path: Path, cut: int
) -> None:
    """A market's tier is resolved once and staged, so a resumed run reads the same markets;
    but a live market archived while the download was stopped is no longer on the live
    candlesticks route (404), and every rerun failed there (exit 6). The market is asked for
    its tier again and the rest of its windows are read from the historical route."""
    clock = sim.running.state.clock
    assert isinstance(clock, ManualClock)
    ticker = f"{EVENT}-C"
    sim.create_market(ticker, event_ticker=EVENT, series_ticker=SERIES)
    with connect(sim.account) as me, connect(sim.new_account(1_000_000)) as other:
        cross(other, me, ticker, "0.40", 2)
    clock.advance(60)
    sim.settle(ticker, "yes")
    # settled, but the cutoff lags ten days: the market is still live
    lag = {"lag_seconds": 10 * 24 * HOUR}
    sim.http.put(sim.admin_url + "/historical", json=lag).raise_for_status()
    now = int(clock.wall())
    request = DownloadRequest(
        "candles", tickers=(ticker,), from_ts=now - 10 * 24 * HOUR, to_ts=now + 60, period="1m"
    )
    part = tmp_path / "part"
    with _cut_at(CutAtWindow, sim, cut) as client, pytest.raises(TransportError):
        download(client, request, part)
    assert client.area.asked[0] == (ticker, request.from_ts)  # from the live route

    sim.http.put(sim.admin_url + "/historical", json={"lag_seconds": 30}).raise_for_status()
    clock.advance(120)  # the cutoff has passed the market's settlement: archived
    with connect(sim.account) as direct, pytest.raises(NotFoundError):
        direct.markets.get_market(ticker)
    with _cut_at(CutAtWindow, sim, None) as again:
        summary = download(again, request, part)
    assert summary.continued == ([ticker] if cut > 1 else [])
    resumed_at = client.area.asked[cut - 1][1]  # the window the cut stopped at
    assert again.area.asked[0] == (ticker, resumed_at)
    assert [t for t, _ in again.area.asked].count(ticker) == len(again.area.asked)
    rows = [json.loads(x) for x in _gunzip(part / "rest" / "candles.ndjson.gz")]
    later = [r for r in rows if int(r["candle"]["end_period_ts"]) >= resumed_at]
    assert later and {r["tier"] for r in later} == {"historical"}
    assert sum(D(r["candle"]["volume"]) for r in later) == 2  # the market's one trade
