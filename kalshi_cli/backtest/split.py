"""Time splits of a data set: a training part and a holdout, or walk-forward windows.

Parameters chosen on the data they are judged on look better than they are, so the span is cut in
time, never shuffled: `holdout(span, share)` keeps the LAST `share` apart; `walk_forward(span,
windows, share)` rolls windows whose last `share` is the test part, the test parts tiling the end of
the span. Each part is a `BacktestSpec` window: a training run reads no record at or after its
`end_ns`; a test run starts at its `start_ns`, the records before only building the books.

`gap(train, test, metric)` is how much of the training figure the holdout lost; above `OVERFIT_GAP`
it is flagged (docs/backtesting.md, "Train and holdout").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from kalshi_cli.data.manifest import read_manifest
from kalshi_cli.data.replay import iter_records
from kalshi_cli.vocabulary.errors import NoDataError, UsageError

NS_PER_HOUR = 3_600_000_000_000

# a holdout that keeps less than half of the training figure is flagged as overfitting
OVERFIT_GAP = Decimal("0.5")

# figures in dollars that grow with the time a part spans: compared per hour of each part
_RATES = {"net", "fees"}


@dataclass(frozen=True)
class Window:
    """`[start_ns, end_ns)` in unix nanoseconds."""

    start_ns: int
    end_ns: int

    def hours(self) -> Decimal:
        return Decimal(self.end_ns - self.start_ns) / NS_PER_HOUR

    def to_json(self) -> dict[str, float]:  # unix seconds, as the report's times
        return {"from": self.start_ns / 1e9, "to": self.end_ns / 1e9}


@dataclass(frozen=True)
class Fold:
    """One training part and the test part right after it."""

    train: Window
    test: Window


def parse_share(text: str, what: str = "--holdout") -> Decimal:
    try:
        share = Decimal(text)
    except InvalidOperation:
        share = Decimal("NaN")
    if not share.is_finite() or not 0 < share < 1:
        raise UsageError(
            f"{what} {text!r}: expected a share of the time span between 0 and 1",
            hint="e.g. 0.25 keeps the last quarter apart",
        )
    return share


def data_span(data: Path, start_ns: int | None, end_ns: int | None) -> Window:
    """The span a split cuts: `[--from or the first record, --to or just after the last)`.
    The manifest's segments give the first and last receive times without reading a frame;
    without them the records are read once."""
    first, last = _recorded_span(data)
    lo = first if start_ns is None else max(start_ns, first)
    hi = last + 1 if end_ns is None else min(end_ns, last + 1)
    if hi <= lo:
        raise NoDataError(f"no records in {data} between the given times")
    return Window(lo, hi)


def _recorded_span(data: Path) -> tuple[int, int]:
    segments = (read_manifest(data) or {}).get("segments") or {}
    firsts = [s["first_ns"] for s in segments.values() if s.get("first_ns")]
    lasts = [s["last_ns"] for s in segments.values() if s.get("last_ns")]
    if firsts and lasts:
        return min(firsts), max(lasts)
    first = last = None
    for ns, _, _ in iter_records(data, Counter()):
        first = ns if first is None else first
        last = ns
    if first is None or last is None:
        raise NoDataError(f"no records in {data}")
    return first, last


def holdout(span: Window, share: Decimal) -> Fold:
    """The first `1 - share` of `span` to train on, the last `share` held out."""
    cut = span.end_ns - _part(span.end_ns - span.start_ns, share)
    return Fold(Window(span.start_ns, cut), Window(cut, span.end_ns))


def walk_forward(span: Window, windows: int, share: Decimal) -> list[Fold]:
    """`windows` folds rolling forward: each window is `length` long, its last `share` the test
    part, and the next window starts one test part later. With `test = share x length` and
    `span = length + (windows - 1) x test`, the test parts tile the end of the span."""
    if windows < 1:
        raise UsageError("--walk-forward takes at least 1 window")
    total = span.end_ns - span.start_ns
    test = _part(total, share / (1 + (windows - 1) * share))
    if test < 1:
        raise UsageError(f"the span is too short for {windows} walk-forward windows")
    folds = []
    for i in range(windows):
        test_end = span.end_ns - (windows - 1 - i) * test
        test_start = test_end - test
        train_start = span.start_ns + i * test
        folds.append(Fold(Window(train_start, test_start), Window(test_start, test_end)))
    return folds


def _part(total_ns: int, share: Decimal) -> int:
    return int((share * total_ns).to_integral_value(ROUND_FLOOR))


def gap(
    train: dict[str, Any],
    test: dict[str, Any],
    metric: str,
    *,
    higher_is_better: bool,
    train_window: Window,
    test_window: Window,
) -> Decimal | None:
    """The share of the training figure the test part lost: (train - test) / |train| for a
    figure where higher is better, (test - train) / |train| where lower is. Dollars that grow
    with time (net, fees) are compared per hour of each part. None when the training figure is
    not a gain to lose (zero or undefined, or a loss where higher is better)."""
    a, b = train.get(metric), test.get(metric)
    if a is None or b is None:
        return None
    x, y = Decimal(str(a)), Decimal(str(b))
    if metric in _RATES:
        x, y = x / train_window.hours(), y / test_window.hours()
    if x == 0 or (higher_is_better and x < 0):
        return None
    lost = (x - y) if higher_is_better else (y - x)
    return (lost / abs(x)).quantize(Decimal("0.0001"))


def overfit(lost: Decimal | None, threshold: Decimal = OVERFIT_GAP) -> bool:
    return lost is not None and lost > threshold
