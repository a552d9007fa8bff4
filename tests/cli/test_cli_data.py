"""`kalshi watch`, `kalshi record` and `kalshi data ...` as a user runs them: the installed
script against the simulator over loopback, killed, starved of disk, fed bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kalshi_cli.data.manifest import read_manifest
from kalshi_cli.data.replay import replay
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.feed.helpers import SimBooks
from tests.file_limit import NO_BYTECODE, limited_file_size
from tests.waiting import wait_until

if TYPE_CHECKING:
    from tests.conftest import SimHarness


def script() -> str:
    found = shutil.which("kalshi", path=str(Path(sys.executable).parent))
    assert found is not None
    return found


def environ(sim: SimHarness, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")}
    account = sim.account
    env.update(
        KALSHI_HOME=str(home),
        KALSHI_API_BASE=account.api_base,
        KALSHI_WS_URL=account.ws_url,
        KALSHI_API_KEY_ID=account.key_id,
        KALSHI_PRIVATE_KEY_PATH=account.private_key_path,
    )
    return env


def start(args: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [script(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [script(), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_watch_orderbook_prints_the_snapshot_then_each_delta_as_ndjson(
    sim: SimHarness, tmp_path: Path
) -> None:
    books = SimBooks(sim)
    ticker = books.market("WATCH-A")
    books.rest_orders(ticker, 1)
    proc = start(
        ["watch", "orderbook", "--tickers", ticker, "--max-events", "3"], environ(sim, tmp_path)
    )
    try:

        def moved_until_done() -> bool:
            books.rest_orders(ticker, 1)  # a delta, once the subscription is live
            return proc.poll() is not None

        wait_until(moved_until_done, "watch to print three messages")
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [m["type"] for m in lines] == [
        "orderbook_snapshot",
        "orderbook_delta",
        "orderbook_delta",
    ]
    assert all(m["msg"]["market_ticker"] == ticker for m in lines)


def test_watch_orderbook_without_tickers_is_a_usage_error(sim: SimHarness, tmp_path: Path) -> None:
    done = run(["watch", "orderbook"], environ(sim, tmp_path))
    assert done.returncode == ExitCode.USAGE
    assert done.stderr.startswith("Error: watch orderbook needs --tickers")


def test_record_killed_mid_write_reads_back(sim: SimHarness, tmp_path: Path) -> None:
    books = SimBooks(sim)
    ticker = books.market("KILL-A")
    out = tmp_path / "rec"
    proc = start(["record", "--tickers", ticker, "--out", str(out)], environ(sim, tmp_path))
    try:
        books.rest_orders(ticker, 5)
        rest = books.rest_book(ticker)

        seen: list[int] = []

        def flushed_book_matches() -> bool:
            # read while the recorder runs: only what its own once-a-second flush put on disk
            books_now = replay(out) if (out / "frames").is_dir() else None
            book = books_now.books.get(ticker) if books_now else None
            if books_now is None or book is None:
                return False
            seen[:] = [books_now.applied]
            return book.fresh and book.to_orderbook() == rest

        wait_until(flushed_book_matches, "the flushed recording to hold the book")
        books.rest_orders(ticker, 3)  # frames in flight when the kill comes
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    after = replay(out)
    assert set(after.skipped) <= {"truncated_tail"}
    assert after.applied >= seen[0]  # everything flushed before the kill is still there
    assert after.books[ticker].fresh
    manifest = read_manifest(out)
    assert manifest is not None and manifest["status"] == "recording"
    listed = run(["data", "ls", str(out), "--json"], environ(sim, tmp_path))
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["data_sets"][0]["status"] == "interrupted"
    info = run(["data", "info", str(out), "--json"], environ(sim, tmp_path))
    assert info.returncode == 0, info.stderr
    (market,) = json.loads(info.stdout)["market_list"]
    assert market["ticker"] == ticker and market["rows_by_type"]["orderbook_snapshot"] >= 1


def test_record_on_a_full_disk_stops_with_one_line_and_a_marked_manifest(
    sim: SimHarness, tmp_path: Path
) -> None:
    """A file size limit stands in for a full disk: the write fails with EFBIG instead of
    ENOSPC, through the same path."""
    books = SimBooks(sim)
    ticker = books.market("FULL-A")
    out = tmp_path / "rec"
    proc = start(
        ["record", "--tickers", ticker, "--out", str(out)],
        {**environ(sim, tmp_path), **NO_BYTECODE},
        preexec_fn=limited_file_size(6000),
    )
    try:
        for _ in range(100):
            if proc.poll() is not None:
                break
            books.rest_orders(ticker, 2)
        _out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == ExitCode.DATA_WRITE_FAILED, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith(f"Error: cannot write the recording in {out}")
    assert "Traceback" not in err
    manifest = read_manifest(out)
    assert manifest is not None and manifest["status"] == "failed" and manifest["error"]
    assert set(replay(out).skipped) <= {"truncated_tail"}


def test_record_into_an_unwritable_place_fails_before_connecting(
    sim: SimHarness, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    done = run(["record", "--tickers", "X", "--out", str(blocker / "rec")], environ(sim, tmp_path))
    assert done.returncode == ExitCode.DATA_WRITE_FAILED
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: cannot write")


def test_data_commands_on_bad_input(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")}
    env["KALSHI_HOME"] = str(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    done = run(["data", "info", str(empty)], env)
    assert done.returncode == ExitCode.NO_DATA and done.stderr.startswith("Error: ")
    source = tmp_path / "in.jsonl"
    frame = {"type": "orderbook_snapshot", "sid": 1, "seq": 1,
             "msg": {"market_ticker": "M", "yes_dollars_fp": [["0.3000", "2.00"]]}}  # fmt: skip
    source.write_text(
        "oops\n" + json.dumps({"received_ms": 1_728_000_000_000, "frame": frame}) + "\n",
        encoding="utf-8",
    )
    done = run(["data", "import", str(source), "--out", str(tmp_path / "set")], env)
    assert done.returncode == 0, done.stderr
    assert "1 malformed" in done.stderr
    done = run(["data", "export", str(tmp_path / "set"), "--out", str(tmp_path / "b.csv")], env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "b.csv").read_text().splitlines()[1].endswith("snapshot,1,1,yes,0.3000,2.00")
    counts: Counter[str] = replay(tmp_path / "set").skipped
    assert counts == Counter()


def test_watch_whose_websocket_never_connects_exits_unreachable(
    sim: SimHarness, tmp_path: Path
) -> None:
    env = environ(sim, tmp_path)
    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    env["KALSHI_WS_URL"] = f"ws://127.0.0.1:{port}/trade-api/ws/v2"
    done = run(["watch", "ticker", "--duration", "2"], env)
    assert done.returncode == ExitCode.UNREACHABLE, done.stderr
    assert "never connected" in done.stderr.splitlines()[-1]
