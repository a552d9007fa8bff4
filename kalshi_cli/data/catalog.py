"""`kalshi data ls|info`: what data sets a directory holds, and what one covers. `ls` reads only
manifests; `info` reads every record, so its counts are the frames' own.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kalshi_cli.data.lock import is_locked
from kalshi_cli.data.manifest import read_manifest
from kalshi_cli.data.replay import BookReplay, LocalNote, iter_records
from kalshi_cli.data.segments import FRAMES_DIR, REST_DIR, segment_paths
from kalshi_cli.feed.messages import market_of, type_of
from kalshi_cli.vocabulary.errors import NoDataError


@dataclass
class DataSetEntry:
    root: Path
    manifest: dict[str, Any] | None
    segments: list[Path]

    @property
    def bytes(self) -> int:
        """What the data set holds on disk: its frame segments and its REST files."""
        rest = self.root / REST_DIR
        files = [*self.segments, *(rest.glob("*.ndjson.gz") if rest.is_dir() else ())]
        return sum(p.stat().st_size for p in files)

    @property
    def status(self) -> str:
        status = str((self.manifest or {}).get("status", "unknown"))
        if status in ("recording", "downloading") and not is_locked(self.root):
            return "interrupted"  # the recorder or download died without closing it
        return status

    def summary(self) -> dict[str, Any]:
        manifest = self.manifest or {}
        return {
            "path": str(self.root),
            "source": manifest.get("source"),
            "status": self.status,
            "from_ns": manifest.get("started_ns"),
            "to_ns": manifest.get("ended_ns"),
            "markets": len(manifest.get("markets", {})),
            "segments": len(self.segments),
            "bytes": self.bytes,
        }


def open_data_set(root: Path) -> DataSetEntry:
    segments = segment_paths(root)
    manifest = read_manifest(root)
    if not segments and manifest is None and not (root / FRAMES_DIR).is_dir():
        raise NoDataError(
            f"{root} holds no data set (no {FRAMES_DIR}/*.ndjson.gz and no manifest.json)",
            hint="`kalshi data ls DIR` lists the data sets under a directory",
        )
    return DataSetEntry(root, manifest, segments)


def list_data_sets(root: Path) -> list[DataSetEntry]:
    """The data set at `root`, or those in its subdirectories (one level)."""
    if not root.is_dir():
        raise NoDataError(f"{root} is not a directory")
    if (root / FRAMES_DIR).is_dir() or (root / "manifest.json").exists():
        return [open_data_set(root)]
    found = []
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if (child / FRAMES_DIR).is_dir() or (child / "manifest.json").exists():
            found.append(open_data_set(child))
    return found


@dataclass
class MarketSummary:
    ticker: str
    rows: Counter[str] = field(default_factory=Counter)
    ranges: list[list[int]] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)


def describe(root: Path) -> dict[str, Any]:
    """Everything `data info` prints: the summary, per-market rows by frame type with the
    manifest's ranges and gaps, and what a reader skips and why."""
    data = open_data_set(root)
    markets: dict[str, MarketSummary] = {}
    read_skips: Counter[str] = Counter()
    replay = BookReplay()
    records = 0
    for ns, obj, is_local in iter_records(root, read_skips):
        records += 1
        replay.apply_record(ns, obj, is_local)
        if isinstance(obj, LocalNote):
            continue
        ticker = market_of(obj)
        if ticker is not None:
            info = markets.get(ticker)
            if info is None:
                info = markets[ticker] = MarketSummary(ticker)
            info.rows[str(type_of(obj))] += 1
    covered = (data.manifest or {}).get("markets", {})
    for ticker, entry in covered.items():
        info = markets.setdefault(ticker, MarketSummary(ticker))
        info.ranges = entry.get("ranges", [])
        info.gaps = entry.get("gaps", [])
    skipped = read_skips + replay.skipped
    return {
        **data.summary(),
        "records": records,
        "frames": dict(sorted(replay.frames.items())),
        "feed_gaps": (data.manifest or {}).get("gaps", []),
        "skipped": dict(sorted(skipped.items())),
        "import_skipped": (data.manifest or {}).get("skipped", {}),
        "error": (data.manifest or {}).get("error"),
        "market_list": [
            {
                "ticker": m.ticker,
                "rows": sum(m.rows.values()),
                "rows_by_type": dict(sorted(m.rows.items())),
                "ranges": m.ranges,
                "gaps": m.gaps,
            }
            for m in sorted(markets.values(), key=lambda m: m.ticker)
        ],
    }
