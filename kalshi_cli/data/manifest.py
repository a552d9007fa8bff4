"""The manifest of a data set (`manifest.json`, `kalshi-cli-data/1`): what each market's recording
covers and where the gaps are, replaced atomically at every flush. A range opens when a book
becomes exact and closes, with a gap and its reason, when it may no longer be; a restarted
recorder records the time between as `not_recording`. docs/data.md "Layout and formats".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "kalshi-cli-data/1"
MANIFEST = "manifest.json"


@dataclass
class MarketCoverage:
    ranges: list[list[int]] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    frames: int = 0
    open_since: int | None = None
    last_ns: int = 0
    # a count in its frames had a fraction of a contract: it trades fractions (replay.py
    # `fractional_market`); False: none seen (a manifest from before this was kept says nothing)
    fractional: bool = False

    def _open_range_to(self, ns: int) -> list[list[int]]:
        """The open range as ending at `ns` (never before it opened); none when none is open."""
        if self.open_since is None:
            return []
        return [[self.open_since, max(ns, self.open_since)]]

    def end_range(self, ns: int) -> None:
        """Close the open range, if one is, at `ns`."""
        self.ranges += self._open_range_to(ns)
        self.open_since = None

    def to_json(self) -> dict[str, Any]:
        ranges = [list(r) for r in self.ranges] + self._open_range_to(self.last_ns)
        return {
            "ranges": ranges,
            "gaps": list(self.gaps),
            "frames": self.frames,
            "fractional": self.fractional,
        }


class Coverage:
    """Per-market ranges and gaps, fed with book freshness transitions in time order."""

    def __init__(self) -> None:
        self.markets: dict[str, MarketCoverage] = {}
        self.gaps: list[dict[str, Any]] = []

    def _market(self, ticker: str) -> MarketCoverage:
        market = self.markets.get(ticker)
        if market is None:
            market = self.markets[ticker] = MarketCoverage()
        return market

    def seen(self, ns: int, ticker: str) -> None:
        market = self._market(ticker)
        market.frames += 1
        market.last_ns = ns

    def mark_fractional(self, ticker: str) -> None:
        """`ticker`'s frames showed a count in fractions of a contract."""
        self._market(ticker).fractional = True

    def fresh(self, ns: int, ticker: str) -> None:
        market = self._market(ticker)
        market.last_ns = max(market.last_ns, ns)
        if market.open_since is None:
            market.open_since = ns

    def stale(self, ns: int, ticker: str, reason: str) -> None:
        market = self._market(ticker)
        market.end_range(ns)
        market.gaps.append({"at_ns": ns, "reason": reason})

    def feed_gap(self, ns: int, reason: str) -> None:
        self.gaps.append({"at_ns": ns, "reason": reason})

    def close(self, ns: int) -> None:
        for market in self.markets.values():
            market.end_range(ns)

    def to_json(self) -> dict[str, Any]:
        return {
            "markets": {t: m.to_json() for t, m in sorted(self.markets.items())},
            "gaps": list(self.gaps),
        }

    def resume(self, earlier: dict[str, Any], *, stopped_ns: int, started_ns: int) -> None:
        """Start from an earlier run's coverage (`to_json`'s shape, from its manifest): its
        ranges, gaps and frame counts are kept, and the time no recorder ran, `stopped_ns` to
        `started_ns`, is a gap of the feed (`not_recording`)."""
        for ticker, entry in (earlier.get("markets") or {}).items():
            if not isinstance(entry, dict):
                continue
            market = self._market(str(ticker))
            market.ranges = [list(r) for r in entry.get("ranges", []) if len(r) == 2]
            market.gaps = list(entry.get("gaps", []))
            market.frames = int(entry.get("frames", 0))
            market.fractional = entry.get("fractional") is True
            market.last_ns = max((r[1] for r in market.ranges), default=0)
        self.gaps = list(earlier.get("gaps") or [])
        self.gaps.append({"at_ns": stopped_ns, "until_ns": started_ns, "reason": "not_recording"})


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    """Replace the manifest atomically: a reader sees the old one or the new one, never half."""
    from kalshi_cli.vocabulary.files import write_whole

    write_whole(root / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n", mode=0o644)


def read_manifest(root: Path) -> dict[str, Any] | None:
    """The manifest, or None when there is none or it is unreadable (the frames still are)."""
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None
