"""Everyday commands that used to succeed at nothing: `kalshi record` and `kalshi watch` on an
unknown ticker or an unreachable exchange (exit 0, "recorded 0 frames of 0 markets", a data set
marked complete; `server error: subscribe: 11`; reconnecting forever), and a listing whose
filter matches nothing (a bare header). Each now exits with its documented code
(docs/exit-codes.md), or says "nothing matched" on stderr, within a deadline."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

from kalshi_cli.data.manifest import read_manifest
from kalshi_cli.vocabulary.exit_codes import ExitCode

from .test_cli_data import environ, run

if TYPE_CHECKING:
    from tests.conftest import SimHarness


def test_record_of_an_unknown_ticker_exits_not_found_and_marks_nothing_complete(
    sim: SimHarness, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    done = run(
        ["record", "--tickers", "NOPE-26JAN01-X", "--out", str(out), "--duration", "1"],
        environ(sim, tmp_path),
    )
    assert done.returncode == ExitCode.NOT_FOUND, done.stderr
    assert "NOPE-26JAN01-X" in done.stderr and "recorded 0 frames" not in done.stderr
    manifest = read_manifest(out)
    assert manifest is None or manifest["status"] != "complete"


def test_watch_of_an_unknown_ticker_exits_not_found(sim: SimHarness, tmp_path: Path) -> None:
    done = run(
        ["watch", "orderbook", "--tickers", "NOPE-26JAN01-X", "--duration", "5"],
        environ(sim, tmp_path),
    )
    assert done.returncode == ExitCode.NOT_FOUND, done.stderr
    assert "NOPE-26JAN01-X" in done.stderr and "server error" not in done.stderr
    assert done.stdout == ""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_record_and_watch_against_an_unreachable_exchange_exit_unreachable(
    sim: SimHarness, tmp_path: Path
) -> None:
    port = _closed_port()
    env = environ(sim, tmp_path)
    env.update(
        KALSHI_API_BASE=f"http://127.0.0.1:{port}/trade-api/v2",
        KALSHI_WS_URL=f"ws://127.0.0.1:{port}/trade-api/ws/v2",
    )
    out = tmp_path / "rec"
    recorded = run(["record", "--tickers", "ANY-X", "--out", str(out)], env)  # no --duration
    assert recorded.returncode == ExitCode.UNREACHABLE, recorded.stderr
    manifest = read_manifest(out)
    assert manifest is None or manifest["status"] != "complete"
    watched = run(["watch", "orderbook", "--tickers", "ANY-X"], env)
    assert watched.returncode == ExitCode.UNREACHABLE, watched.stderr


def test_a_filter_matching_nothing_says_so(sim: SimHarness, tmp_path: Path) -> None:
    env = environ(sim, tmp_path)
    for args in (
        ["markets", "--event", "NOPE-EVENT"],
        ["series", "--category", "No Such Category"],
        ["positions", "--ticker", "NOPE-26JAN01-X"],
    ):
        done = run(args, env)
        assert done.returncode == 0, (args, done.stderr)
        assert done.stdout == "", (args, done.stdout)
        assert "nothing matched" in done.stderr, (args, done.stderr)
        as_json = run([*args, "--json"], env)  # a document, empty: scripts read it as before
        assert as_json.returncode == 0 and as_json.stdout.strip().startswith("{"), args
