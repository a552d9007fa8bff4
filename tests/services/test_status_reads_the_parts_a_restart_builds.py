"""What `kalshi status` and the dashboard show a strategy realized today is what a restarted
loop's budget reads for it: the parts of the markets the day touched, booked from the state file
by the loop's own rule (services/owner_parts.py), from each market's last flat moment before the
day rather than over its whole history."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from kalshi_cli.runner.books.portfolio import Portfolio
from kalshi_cli.runner.preflight import rebuild
from kalshi_cli.services.loop_strategies import strategy_rows
from kalshi_cli.services.metrics import _from_store
from kalshi_cli.services.owner_parts import parts_since
from kalshi_cli.services.pnl_report import pnl_report
from kalshi_cli.store import FillRecord, SettlementRecord, Store
from kalshi_cli.vocabulary.clock import day_start, utc_day
from kalshi_cli.vocabulary.owners import STOP_LOSS
from kalshi_cli.vocabulary.units import BookSide

D = Decimal
HELD, SETTLES, SETTLED = "KXTEST-LONG", "KXTEST-TODAY", "KXTEST-YESTERDAY"
MIDNIGHT = datetime(2026, 1, 2, tzinfo=UTC).timestamp()
TODAY, YESTERDAY = utc_day(MIDNIGHT), utc_day(MIDNIGHT - 1)
MM, MR = "market-maker", "mean-reversion"


def _fill(
    n: int,
    ticker: str,
    trade: str,
    at: float,
    owner: str | None,
    *,
    fee: str = "0.02",
    subaccount: int = 0,
) -> FillRecord:
    """Fill `n` of `ticker`: `trade` is `buy COUNT @ PRICE` (YES bought, a bid) or `sell ...`
    (YES sold, an ask)."""
    action, count, _, price = trade.split()
    side = BookSide.BID if action == "buy" else BookSide.ASK
    return FillRecord(
        f"f{n}",
        f"o{n}",
        None,
        ticker,
        side,
        D(price),
        D(count),
        D(fee),
        True,
        at,
        owner,
        subaccount=subaccount,
    )


def _settled_no(ticker: str, yes_count: str, cost: str, at: float) -> SettlementRecord:
    return SettlementRecord(ticker, "E", "no", D(yes_count), D(0), D(cost), D(0), D(0), D(0), at)


def _history(store: Store) -> None:
    """Yesterday: market-maker makes a round trip in HELD beside a person, the position goes
    flat, and market-maker buys 6 again; mean-reversion buys 5 of SETTLES; SETTLED settles.
    Today: a person sells 2 of market-maker's 6 (taken back at its cost), market-maker sells
    the other 4 at a gain, the stop-loss closes mean-reversion's 3 at a loss, SETTLES settles
    at nothing, and market-maker trades on another subaccount, which is another book."""
    y, t = MIDNIGHT - 3600, MIDNIGHT
    store.fills.record_fills(
        [
            _fill(1, SETTLED, "buy 4 @ 0.50", y - 600, MM),
            _fill(2, HELD, "buy 10 @ 0.40", y, MM),
            _fill(3, HELD, "buy 5 @ 0.30", y + 1, None),
            _fill(4, HELD, "sell 10 @ 0.45", y + 2, MM),
            _fill(5, HELD, "sell 5 @ 0.35", y + 3, None),  # the account holds nothing here
            _fill(6, HELD, "buy 6 @ 0.50", y + 4, MM),
            _fill(7, SETTLES, "buy 5 @ 0.70", y + 5, MR),
            _fill(8, HELD, "sell 2 @ 0.55", t + 10, None),
            _fill(9, HELD, "sell 4 @ 0.60", t + 20, MM),
            _fill(10, HELD, "buy 3 @ 0.60", t + 30, MR),
            _fill(11, HELD, "sell 3 @ 0.40", t + 40, STOP_LOSS),
            _fill(12, HELD, "buy 7 @ 0.20", t + 50, MM, subaccount=1),
            _fill(13, HELD, "sell 7 @ 0.10", t + 60, MM, subaccount=1),
        ]
    )
    store.settlements.record_settlements(
        [_settled_no(SETTLED, "4", "2.00", y - 300), _settled_no(SETTLES, "5", "3.50", t + 70)]
    )


def test_each_strategys_realized_today_is_what_a_restarts_budget_reads(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        _history(store)
        restarted = Portfolio([])
        rebuild(store, restarted, 0)
        parts = parts_since(store, day_start(TODAY), 0)
        for name in (MM, MR):
            assert parts.realized_today(name, TODAY) == restarted.owners.realized_today(
                name, TODAY
            ), name
        # market-maker's 4 sold at 0.60 cost 0.50: +0.40, less the sale's fee
        assert parts.realized_today(MM, TODAY) == D("0.38")
        # mean-reversion: 3 closed by the stop-loss at 0.40 (cost 0.60) and the stop's fee, its
        # own buy's fee, and 5 bought at 0.70 that paid nothing
        assert parts.realized_today(MR, TODAY) == D("-0.60") - D("0.04") - D("3.50")
        rows = strategy_rows(store, [MM, MR], [], MIDNIGHT + 3600)
        assert [(r["strategy"], D(r["realized_today"])) for r in rows] == [
            (MM, D("0.38")),
            (MR, D("-4.14")),
        ]
        # another subaccount's book is its own: a loop there reads its fills alone
        on_one = strategy_rows(store, [MM], [], MIDNIGHT + 3600, subaccount=1)
        assert D(on_one[0]["realized_today"]) == D("-0.70") - D("0.04")


def test_a_strategy_holding_in_a_market_nobody_traded_today_is_not_named_today(
    tmp_path: Path,
) -> None:
    """The day's figures are read from the markets the day touched in the book asked about:
    mean-reversion, which only holds what it bought yesterday in a market traded today on
    another subaccount alone, realized nothing today and is no row of it."""
    with Store.open(tmp_path / "state.db") as store:
        store.fills.record_fills(
            [
                _fill(1, HELD, "buy 5 @ 0.30", MIDNIGHT - 60, MR),
                _fill(2, SETTLES, "buy 2 @ 0.40", MIDNIGHT + 10, MM),
                _fill(3, SETTLES, "sell 2 @ 0.50", MIDNIGHT + 20, MM),
                _fill(4, HELD, "buy 1 @ 0.30", MIDNIGHT + 30, MM, subaccount=1),
            ]
        )
        assert parts_since(store, day_start(TODAY), 0).realized() == {MM: D("0.16")}


def test_a_market_settled_at_midnight_exactly_is_the_new_days(tmp_path: Path) -> None:
    """What 5 contracts bought yesterday lost when their market settled at midnight exactly
    counts today, as any fill or settlement at the start of a day does."""
    with Store.open(tmp_path / "state.db") as store:
        store.fills.record_fills([_fill(1, SETTLES, "buy 5 @ 0.70", MIDNIGHT - 60, MR)])
        store.settlements.record_settlements([_settled_no(SETTLES, "5", "3.50", MIDNIGHT)])
        assert parts_since(store, day_start(TODAY), 0).realized() == {MR: D("-3.50")}


def test_a_days_replay_reads_back_only_to_the_markets_last_flat_moment(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        _history(store)
        read = store.fills.from_flat(HELD, day_start(TODAY), subaccount=0)
        # the round trip before the position went flat is not read: market-maker's 6 on
        assert [f.fill_id for f in read] == ["f6", "f8", "f9", "f10", "f11"]
        # from a moment the position was flat, nothing before it is read
        flat = store.fills.from_flat(HELD, MIDNIGHT - 3600 + 3.5, subaccount=0)
        assert [f.fill_id for f in flat] == ["f6", "f8", "f9", "f10", "f11"]
        # nor before a settlement that ended the market's parts
        after = store.fills.from_flat(SETTLED, day_start(TODAY), since=MIDNIGHT - 3900)
        assert after == []


def test_a_count_finer_than_a_hundredth_reads_the_markets_whole_history(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.db") as store:
        store.fills.record_fills(
            [
                _fill(1, HELD, "buy 1.005 @ 0.40", MIDNIGHT - 30, MM),
                _fill(2, HELD, "sell 1.005 @ 0.40", MIDNIGHT - 20, MM),
                _fill(3, HELD, "buy 2 @ 0.40", MIDNIGHT - 10, MM),
                _fill(4, HELD, "sell 2 @ 0.50", MIDNIGHT + 10, MM),
            ]
        )
        read = store.fills.from_flat(HELD, day_start(TODAY), subaccount=0)
        assert [f.fill_id for f in read] == ["f1", "f2", "f3", "f4"]
        assert parts_since(store, day_start(TODAY), 0).realized_today(MM, TODAY) == D("0.18")


def test_a_fee_three_parts_share_is_split_alike_whichever_lineup_reads_it(
    tmp_path: Path,
) -> None:
    # three strategies hold one contract each when the stop-loss closes all three for a cent
    # and another market settles their three for a cent: a third of a cent is no sum of
    # whole hundredths of a cent, and which part bears the odd one must not hang on the order
    # its reader met the owners in (a loop runs its own lineup first; status, none)
    alpha, beta, gamma = "alpha", "beta", "gamma"
    held = [(ticker, owner) for ticker in (HELD, SETTLES) for owner in (alpha, beta, gamma)]
    fills = [
        _fill(n, ticker, "buy 1 @ 0.50", MIDNIGHT + n, owner)
        for n, (ticker, owner) in enumerate(held, start=1)
    ]
    fills.append(_fill(7, HELD, "sell 3 @ 0.40", MIDNIGHT + 10, STOP_LOSS, fee="0.01"))
    settled = SettlementRecord(
        SETTLES, "E", "yes", D(3), D(0), D("1.50"), D(0), D("2.99"), D("0.01"), MIDNIGHT + 20
    )
    with Store.open(tmp_path / "state.db") as store:
        store.fills.record_fills(fills)
        store.settlements.record_settlements([settled])
        status = parts_since(store, day_start(TODAY), 0)
        for lineup in ([], [gamma, beta, alpha], [beta]):
            restarted = Portfolio([])
            for name in lineup:
                restarted.owners.own(name)
            rebuild(store, restarted, 0)
            for name in (alpha, beta, gamma):
                assert restarted.owners.realized_today(name, TODAY) == status.realized_today(
                    name, TODAY
                ), (lineup, name)


def test_status_pnl_by_strategy_and_the_metric_show_one_realized_figure(tmp_path: Path) -> None:
    # a person's cheaper contracts average into the account's cost of market-maker's sale, the
    # stop-loss closes mean-reversion's contracts and a market of it settles at nothing: P&L
    # written on the fills would credit the person, the stop-loss and the settlement instead
    t, other = MIDNIGHT, "KXTEST-OTHER"
    with Store.open(tmp_path / "state.db") as store:
        store.fills.record_fills(
            [
                _fill(1, HELD, "buy 10 @ 0.40", t + 1, MM),
                _fill(2, HELD, "buy 5 @ 0.30", t + 2, None),
                _fill(3, HELD, "sell 4 @ 0.60", t + 3, MM),
                _fill(4, other, "buy 3 @ 0.60", t + 4, MR),
                _fill(5, other, "sell 3 @ 0.40", t + 5, STOP_LOSS),
                _fill(6, SETTLES, "buy 5 @ 0.70", t + 6, MR),
            ]
        )
        store.settlements.record_settlements([_settled_no(SETTLES, "5", "3.50", t + 7)])
        status = {
            r["strategy"]: D(r["realized_today"])
            for r in strategy_rows(store, [MM, MR], [], t + 60)
        }
        families = _from_store(store, t + 60, positions=False)
    realized = next(f for f in families if f.name == "kalshi_strategy_daily_realized_pnl_dollars")
    metric = {s.labels["strategy"]: D(str(s.value)) for s in realized.samples}
    report = pnl_report(
        tmp_path / "state.db", since=TODAY, since_ts=day_start(TODAY), by="strategy", exchange=None
    )
    by_strategy = {r["strategy"]: D(r["realized"]) for r in report.document["rows"]}
    # market-maker's 4 sold at 0.60 cost it 0.40 each, two fees; mean-reversion lost 0.60 to
    # the stop-loss and 3.50 to the settlement, three fees
    assert status == {MM: D("0.76"), MR: D("-4.16")}
    assert by_strategy == status
    assert metric == status
    assert report.document["measure"] == "own_part"
