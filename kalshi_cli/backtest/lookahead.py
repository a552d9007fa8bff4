"""The look-ahead check: would each decision have been the same without the data after it? It
catches a strategy that reads the future another way (a model fitted on the whole recording) by
running again on copies cut at sampled signal times and comparing the signals up to each cut.
docs/backtesting.md "The look-ahead check".
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kalshi_cli.backtest.engine import BacktestSpec, Lookup, execute
from kalshi_cli.data.manifest import read_manifest, write_manifest
from kalshi_cli.data.reference import OUTCOME_FIELDS, REFERENCE_FILE
from kalshi_cli.data.segments import SegmentWriter, iter_lines
from kalshi_cli.strategy_api.params import ParamValue
from kalshi_cli.vocabulary.errors import KalshiError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from kalshi_cli.vocabulary.models import LIFECYCLE_RESULT


class LookAheadFound(KalshiError):
    """`--lookahead-check` found a decision that changed when later data was removed."""

    exit_code = ExitCode.CHECK_FAILED


@dataclass
class LookAheadReport:
    signals: int
    checked: list[float] = field(default_factory=list)  # the cut times
    differences: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "signals": self.signals,
            "checked": self.checked,
            "differences": self.differences,
        }

    def lines(self) -> list[str]:
        if not self.checked:
            return [f"look-ahead check: {self.signals} signals, nothing to check"]
        head = f"look-ahead check: {len(self.checked)} cuts of {self.signals} signals: " + (
            "no decision changed" if self.ok else f"{len(self.differences)} cut(s) changed"
        )
        out = [head]
        for d in self.differences:
            out.append(
                f"  cut at {d['at']:.3f}: {d['full']} signals with the future, "
                f"{d['cut']} without; first difference at {d['first_difference_ts']}"
            )
        return out


def check_lookahead(
    spec: BacktestSpec, workdir: Path, *, samples: int = 5, strategies: Lookup | None = None
) -> LookAheadReport:
    """`strategies`: the command's lookup, so the full run and every cut run run the
    strategies it found once."""
    full = _signals(spec, strategies)
    times = sorted({s["ts"] for s in full})
    picked = _spread(times, samples)
    report = LookAheadReport(signals=len(full))
    for n, t in enumerate(picked):
        cut_ns = int(t * 1e9)
        copy = workdir / f"cut-{n}"
        truncate(Path(spec.data), copy, before_ns=cut_ns)
        params = tuple((k, str(copy) if _same_path(v, spec.data) else v) for k, v in spec.params)
        cut_spec = replace(spec, data=str(copy), params=params, end_ns=cut_ns + 1)
        cut = _signals(cut_spec, strategies)
        want = [dict(s) for s in full if s["ts"] <= t]
        got = [dict(s) for s in cut if s["ts"] <= t]
        report.checked.append(t)
        if want != got:
            first = next(
                (a["ts"] for a, b in zip(want, got, strict=False) if a != b),
                (want + got)[min(len(want), len(got))]["ts"],
            )
            report.differences.append(
                {"at": t, "full": len(want), "cut": len(got), "first_difference_ts": first}
            )
    return report


def _signals(spec: BacktestSpec, strategies: Lookup | None) -> list[dict[str, Any]]:
    run = execute(spec, keep_signals=True, strategies=strategies)
    run.store.close()
    return run.signals


def _spread(times: list[float], n: int) -> list[float]:
    if len(times) <= n:
        return times
    step = (len(times) - 1) / max(n - 1, 1)
    return sorted({times[round(i * step)] for i in range(n)})


def _same_path(value: ParamValue, data: str) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return Path(value).resolve() == Path(data).resolve()
    except (OSError, ValueError):
        return False


def truncate(source: Path, out: Path, *, before_ns: int) -> None:
    """A copy of the data set `source` with only the records received before `before_ns`, and
    its reference data as it stood then (`_reference_before`)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    writer = SegmentWriter(out, fsync=False, flush_every_s=3600.0)
    skipped: Counter[str] = Counter()
    shown: set[str] = set()  # the markets whose result a record before the cut stated
    try:
        for line in iter_lines(source, skipped):
            try:
                record = json.loads(line)
                ns = record["recv_ns"]
            except (ValueError, KeyError, TypeError):
                continue
            if not isinstance(ns, int) or ns >= before_ns:
                if isinstance(ns, int):
                    break
                continue
            writer.write(ns, line + b"\n")
            ticker = _result_stated(record)
            if ticker is not None:
                shown.add(ticker)
    finally:
        writer.close()
    manifest = read_manifest(source) or {}
    manifest.update(ended_ns=before_ns, segments=writer.segments, status="complete")
    write_manifest(out, manifest)
    reference = source / REFERENCE_FILE
    if reference.exists():
        _reference_before(reference, out / REFERENCE_FILE, shown)


def _result_stated(record: Any) -> str | None:
    """The market a recorded `determined` or `settled` message states the result of, else None."""
    frame = record.get("frame") if isinstance(record, dict) else None
    if not isinstance(frame, dict) or frame.get("type") != "market_lifecycle_v2":
        return None
    msg = frame.get("msg")
    if not isinstance(msg, dict):
        return None
    if msg.get("event_type") not in LIFECYCLE_RESULT or not msg.get("result"):
        return None
    ticker = msg.get("market_ticker")
    return ticker if isinstance(ticker, str) else None


def _reference_before(source: Path, out: Path, shown: set[str]) -> None:
    """The reference data without the outcomes the cut copy's records had not shown: `kalshi
    record` reads the markets again when it stops, so `source` holds results (and the values
    they were read from) that came after the cut, which a strategy reading the data set would
    otherwise find in both runs."""
    try:
        data = json.loads(source.read_text("utf-8"))
        markets = data.get("markets") or []
    except (OSError, ValueError, AttributeError):
        shutil.copy(source, out)
        return
    for market in markets if isinstance(markets, list) else ():
        if not isinstance(market, dict) or market.get("ticker") in shown:
            continue
        for key in OUTCOME_FIELDS:
            if market.get(key):
                market[key] = ""
    out.write_text(json.dumps(data), "utf-8")
