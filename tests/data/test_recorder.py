"""`kalshi record` against the simulator over loopback, with sequence gaps and dropped
connections: the recording rebuilds the simulator's books, marks its gaps, holds no frame twice."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import Any

from kalshi_cli.data.manifest import read_manifest
from kalshi_cli.data.recorder import Recorder
from kalshi_cli.data.replay import BookReplay, LocalNote, iter_records
from kalshi_cli.feed.messages import DeltaMessage, SnapshotMessage
from kalshi_cli.vocabulary.clock import Backoff
from kalshi_cli.vocabulary.models import Orderbook
from tests.feed.helpers import SimBooks
from tests.waiting import wait_until


def recorder_for(books: SimBooks, out: Path, tickers: list[str]) -> Recorder:
    return Recorder(
        out,
        tickers,
        ws_url=books.maker.ws_url,
        auth=books.signer(),
        backoff=Backoff(base=0.05, cap=0.2),
        idle_timeout=5.0,
        flush_every_s=0.2,
    )


def test_recording_under_gaps_and_drops_rebuilds_the_simulator_books(
    sim: Any, tmp_path: Path
) -> None:
    books = SimBooks(sim, seed=8)
    tickers = [books.market(f"REC-{i}") for i in range(3)]
    for ticker in tickers:
        books.rest_orders(ticker, 3)
    out = tmp_path / "rec"
    recorder = recorder_for(books, out, tickers)
    checkpoints: list[tuple[int, dict[str, Orderbook]]] = []
    recorder.start()
    try:
        wait_until(
            lambda: all(recorder.feed.is_fresh(t) for t in tickers),
            "all(recorder.feed.is_fresh(t) for t in tickers)",
        )
        for round_ in range(4):
            sim.set_faults(ws_seq_gap_rate=0.15, ws_drop_rate=0.03, seed=20 + round_)
            for ticker in tickers:
                books.rest_orders(ticker, 4)
                books.cross(ticker)
            sim.clear_faults()
            # a REST read of every book, then wait until the recorder's feed holds the same:
            # every frame that made it so has been written before it was handled
            rest = {t: books.rest_book(t) for t in tickers}

            def synced(rest: dict[str, Any] = rest) -> bool:
                return all(recorder.feed.book(t) == rest[t] for t in tickers)

            wait_until(synced, "the recorder's books to equal the simulator's")
            checkpoints.append((recorder.frames, rest))
            recorder.tick()
    finally:
        recorder.close()

    skipped: Counter[str] = Counter()
    replay = BookReplay()
    seen: set[tuple[int, int, int]] = set()
    connection = 0
    frames = 0
    pending = list(checkpoints)
    for ns, obj, is_local in iter_records(out, skipped):
        replay.apply_record(ns, obj, is_local)
        if isinstance(obj, LocalNote):
            connection += obj.event == "connected"
            continue
        frames += 1
        if isinstance(obj, DeltaMessage | SnapshotMessage):
            key = (connection, obj.sid, obj.seq)
            assert key not in seen, f"frame recorded twice: {obj}"
            seen.add(key)
        while pending and pending[0][0] == frames:
            _, rest = pending.pop(0)
            for ticker in tickers:
                book = replay.books[ticker]
                assert book.fresh, f"{ticker} not rebuilt at a checkpoint"
                assert book.to_orderbook() == rest[ticker]
    assert not pending, "a checkpoint lies beyond the recorded frames"
    assert skipped == Counter()
    assert replay.skipped["duplicate"] == 0
    assert replay.skipped["seq_gap"] > 0  # the fault did hit the book subscription
    assert connection >= 2  # and a connection was dropped and made again

    manifest = read_manifest(out)
    assert manifest is not None and manifest["status"] == "complete"
    reasons = {g["reason"] for t in tickers for g in manifest["markets"][t]["gaps"]}
    assert "seq_gap" in reasons and "disconnected" in reasons
    assert any(g["reason"].startswith("disconnected") for g in manifest["gaps"])
    for ticker in tickers:
        ranges = manifest["markets"][ticker]["ranges"]
        assert len(ranges) >= 2 and all(a <= b for a, b in ranges)
        assert all(r1[1] <= r2[0] for r1, r2 in itertools.pairwise(ranges))
    lines = sum(s["lines"] for s in manifest["segments"].values())
    assert lines == frames + sum(1 for _ in _locals(out))


def _locals(out: Path) -> list[LocalNote]:
    skipped: Counter[str] = Counter()
    return [obj for _, obj, _ in iter_records(out, skipped) if isinstance(obj, LocalNote)]
