"""Time splits (kalshi_cli/backtest/split.py): the holdout is the last share of the span, the
walk-forward windows roll forward, and the gap between training and holdout, by hand."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from kalshi_cli.backtest.split import (
    NS_PER_HOUR,
    Window,
    gap,
    holdout,
    overfit,
    parse_share,
    walk_forward,
)
from kalshi_cli.vocabulary.errors import UsageError


def test_the_holdout_is_the_last_share_of_the_span() -> None:
    fold = holdout(Window(0, 1000), Decimal("0.25"))
    assert fold.train == Window(0, 750)
    assert fold.test == Window(750, 1000)
    # a share that does not divide the span: the holdout is rounded down, never longer
    fold = holdout(Window(10, 17), Decimal("0.5"))
    assert (fold.train, fold.test) == (Window(10, 14), Window(14, 17))


def test_walk_forward_windows_roll_forward_and_their_tests_tile_the_end() -> None:
    # span 1200, 3 windows, test share 0.25: length L with 0.25 L = T and L + 2 T = 1200,
    # so T = 200, L = 800: tests [600, 800), [800, 1000), [1000, 1200)
    folds = walk_forward(Window(0, 1200), 3, Decimal("0.25"))
    assert [(f.train, f.test) for f in folds] == [
        (Window(0, 600), Window(600, 800)),
        (Window(200, 800), Window(800, 1000)),
        (Window(400, 1000), Window(1000, 1200)),
    ]
    # one window is a plain holdout
    one = walk_forward(Window(0, 1000), 1, Decimal("0.25"))
    assert [(f.train, f.test) for f in one] == [(Window(0, 750), Window(750, 1000))]
    # no window trains on data at or after its own test part
    for fold in folds:
        assert fold.train.end_ns <= fold.test.start_ns


def test_the_gap_is_the_share_of_the_training_figure_the_holdout_lost() -> None:
    three_hours, one_hour = Window(0, 3 * NS_PER_HOUR), Window(0, NS_PER_HOUR)
    # net per hour: 2.00 over 3 h is 0.6667 an hour, 0.50 over 1 h is 0.50: a quarter lost
    lost = gap(
        {"net": "2.00"}, {"net": "0.50"}, "net",
        higher_is_better=True, train_window=three_hours, test_window=one_hour,
    )  # fmt: skip
    assert lost == Decimal("0.2500")
    assert not overfit(lost)
    # a ratio is compared as it is: Sharpe 1.0 on training, 0.2 on the holdout: 0.8 lost
    lost = gap(
        {"sharpe": 1.0}, {"sharpe": 0.2}, "sharpe",
        higher_is_better=True, train_window=three_hours, test_window=one_hour,
    )  # fmt: skip
    assert lost == Decimal("0.8000")
    assert overfit(lost)
    assert not overfit(lost, Decimal("0.9"))
    # lower is better: a drawdown of 10 on training, 16 on the holdout is 0.6 worse
    lost = gap(
        {"max_drawdown": "10"}, {"max_drawdown": "16"}, "max_drawdown",
        higher_is_better=False, train_window=three_hours, test_window=one_hour,
    )  # fmt: skip
    assert lost == Decimal("0.6000")
    # no gain on training: nothing to lose, no flag
    for train in ("0", "-1.5"):
        none = gap(
            {"net": train}, {"net": "-3"}, "net",
            higher_is_better=True, train_window=three_hours, test_window=one_hour,
        )  # fmt: skip
        assert none is None and not overfit(none)


@pytest.mark.parametrize("bad", ["0", "1", "1.5", "-0.2", "nan", "quarter"])
def test_a_share_outside_zero_and_one_is_refused(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_share(bad)
    assert parse_share("0.25") == Decimal("0.25")


def test_the_span_is_the_first_and_last_record_with_or_without_a_manifest(tmp_path) -> None:
    from kalshi_cli.backtest.split import data_span
    from kalshi_cli.data.scenario_recording import record_scenario

    data = record_scenario(
        "default", tmp_path / "d", seconds=5, tickers=["KXNBAGAME-SIM-LALGSW-LAL"]
    )
    manifest = json.loads((data / "manifest.json").read_text())
    first, last = manifest["started_ns"], manifest["ended_ns"]
    assert data_span(data, None, None) == Window(first, last + 1)
    # --from and --to narrow it; a bound outside the data does not widen it
    assert data_span(data, first + 10, last - 10) == Window(first + 10, last - 10)
    assert data_span(data, first - 10, last + 10) == Window(first, last + 1)
    # without a manifest the records are read for the same span
    (data / "manifest.json").unlink()
    assert data_span(data, None, None) == Window(first, last + 1)
