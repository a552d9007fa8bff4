"""The loop's closing summary reads money as every other report does: `-$0.33`, `$1.20`,
sub-cent digits kept (a fee total of $0.0175 is never shown as $0.02)."""

from __future__ import annotations

from decimal import Decimal as D

from kalshi_cli.runner.lifecycle.summary import Summary


def test_summary_money_is_dollars_to_the_cent_with_the_sign_first() -> None:
    summary = Summary(
        uptime_s=1.0,  # a duration
        ticks=1,
        orders=1,
        fills=1,
        denied=0,
        open_positions={},
        resting_orders=0,
        realized_pnl=D("-0.33"),
        daily_pnl=D("1.2"),
        unrealized_pnl=D("-0.0175"),
        trading_state="ACTIVE",
    )
    lines = summary.lines()
    assert "realized P&L    -$0.33 this run, $1.20 today" in lines
    assert "unrealized P&L  -$0.0175" in lines
