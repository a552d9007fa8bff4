"""A backtest's text report shows every amount to one number of places: a sub-cent fee anywhere
on it puts all its money to $0.0001, so `$0.58` never stands beside `$0.6913`. (A change of the
trading state quotes the risk engine's sentence as it was said: left out here.)"""

from __future__ import annotations

import re

from kalshi_cli.backtest.report import render_text
from tests.backtest.test_report_shape import documented


def amounts(lines: list[str]) -> list[str]:
    return re.findall(r"\$[\d,]+\.\d+", "\n".join(lines))


def test_a_sub_cent_fee_puts_every_amount_of_the_report_to_four_places() -> None:
    report = documented()
    report["trading_states"] = []
    report["totals"].update(net="0.58", realized="0.6913", fees="0.1113", end_equity="1000.58")
    for day in report["by_day"].values():
        day.update(realized="0.58", fees="0.0000")
    shown = amounts(render_text(report))
    assert "$0.5800" in shown and "$0.6913" in shown and "$1,000.5800" in shown
    assert all(len(a.split(".")[1]) == 4 for a in shown), shown


def test_whole_cents_throughout_read_to_the_cent() -> None:
    report = documented()
    report["trading_states"] = []
    report["totals"].update(net="0.58", realized="0.69", fees="0.11")
    for day in [*report["by_day"].values(), *report["by_strategy"].values()]:
        day.update(realized="0.58", fees="0.1100")
    shown = amounts(render_text(report))
    assert "$0.58" in shown and "$0.69" in shown
    assert all(len(a.split(".")[1]) == 2 for a in shown), shown
