"""`kalshi backtest` against nautilus_trader on the same book events, per CPU-second, through two
strategies (book only, and joining the best bid and ask: benchmarks/strategy_book_only.py and
strategy_join_best.py). nautilus_trader is a benchmark dependency only (`pip install -e
'.[bench]'`), never one of `kalshi`'s. See docs/benchmarks.md "How each benchmark measures".

    python benchmarks/bench_vs_nautilus.py [--markets 20] [--seconds 1200] [--data DIR]
    python benchmarks/bench_vs_nautilus.py --compare-with /tmp/other --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

from bench_backtest import ensure_data

from kalshi_cli.backtest import BacktestSpec, run_backtest
from kalshi_cli.backtest.dataset import open_dataset
from kalshi_cli.backtest.engine import execute
from kalshi_cli.backtest.report import build_report
from kalshi_cli.data.manifest import read_manifest
from kalshi_cli.data.replay import iter_records
from kalshi_cli.feed.messages import DeltaMessage, SnapshotMessage
from kalshi_cli.runner.loop.trade_loop import TradeLoop

HERE = Path(__file__).resolve().parent
OURS = {
    "book only": HERE / "strategy_book_only.py",
    "join": HERE / "strategy_join_best.py",
}
WIDE_RISK = (
    ("max_orders_per_minute", 10**6),
    ("max_position_per_market", "1000000"),
    ("max_total_exposure", "100000000"),
    ("min_edge", "0"),
)


def run_ours(
    data: Path,
    strategy: str,
    end_ns: int | None = None,
    *,
    loop: bool = True,
    held: bool = True,
) -> dict[str, Any]:
    """One backtest of ours, its CPU time. `held`: over the records decoded beforehand (not
    counted) by a sweep worker's own `open_dataset`, as nautilus runs over its deltas built
    beforehand, the run itself `run_backtest` as a worker runs it; False: from the recording's
    files, decoding included. `loop=False` replaces the trade loop's tick with nothing, leaving
    the replay (the books, the venue's upkeep) and the driver: the floor under anything the
    loop does."""
    spec = BacktestSpec(
        data=str(data),
        strategy=str(OURS[strategy]),
        balance="100000000",
        risk=WIDE_RISK,
        trade=(("tick_interval_s", 3600),),
        end_ns=end_ns,
    )
    if held and open_dataset(spec.data).decoded is None:
        sys.exit(f"the data set's records do not fit KALSHI_DATA_CACHE_MB: {data}")
    with contextlib.ExitStack() as stack:
        if not loop:
            stack.enter_context(mock.patch.object(TradeLoop, "tick", lambda *a, **k: None))
        began = time.process_time()
        report = run_backtest(spec) if held else from_files(spec)
        cpu = time.process_time() - began
    totals = report["totals"]
    return {
        "cpu": cpu,
        "events": report["data"]["book_events"],
        # a tree from before requotes were amended reports no amends
        "actions": totals["orders"] + totals["cancels"] + totals.get("amends", 0),
        "fills": totals["fills"],
    }


def from_files(spec: BacktestSpec) -> dict[str, Any]:
    """A run reading and decoding the recording's files as it goes, as a single `kalshi
    backtest` does."""
    run = execute(spec)
    try:
        return build_report(run)
    finally:
        run.store.close()


def ms_per_action(join: dict[str, Any], book_only: dict[str, Any]) -> float:
    """The CPU a joining run spends beyond a book-only one over the same data, per order
    action (a placement, an amend or a cancel), in milliseconds."""
    extra: float = join["cpu"] - book_only["cpu"]
    actions: int = join["actions"]
    return extra / actions * 1000


def first_tenth_end(data: Path) -> int:
    manifest = read_manifest(data) or {}
    return int(manifest["started_ns"] + (manifest["ended_ns"] - manifest["started_ns"]) // 10)


# ------------------------------------------------------------------------------ nautilus


def nautilus_data(data: Path) -> tuple[list[Any], list[Any]]:
    """The recording's book events as nautilus `OrderBookDelta`s, and an instrument a market."""
    from nautilus_trader.model.currencies import USD
    from nautilus_trader.model.data import BookOrder, OrderBookDelta
    from nautilus_trader.model.enums import AssetClass, BookAction, OrderSide, RecordFlag
    from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
    from nautilus_trader.model.instruments import BinaryOption
    from nautilus_trader.model.objects import Price, Quantity

    venue = Venue("KALSHI")
    instruments: dict[str, Any] = {}
    levels: dict[tuple[str, str, Decimal], Decimal] = {}
    deltas: list[Any] = []
    last = RecordFlag.F_LAST

    def instrument(ticker: str) -> Any:
        got = instruments.get(ticker)
        if got is None:
            symbol = Symbol(ticker)
            got = instruments[ticker] = BinaryOption(
                instrument_id=InstrumentId(symbol, venue),
                raw_symbol=symbol,
                outcome="Yes",
                description=ticker,
                asset_class=AssetClass.ALTERNATIVE,
                currency=USD,
                price_precision=2,
                price_increment=Price.from_str("0.01"),
                size_precision=2,
                size_increment=Quantity.from_str("0.01"),
                activation_ns=0,
                expiration_ns=2**62,
                max_quantity=None,
                min_quantity=Quantity.from_str("1"),
                maker_fee=Decimal(0),
                taker_fee=Decimal(0),
                ts_event=0,
                ts_init=0,
            )
        return got

    for ns, frame, _ in iter_records(data, Counter()):
        if isinstance(frame, SnapshotMessage):
            book = frame.msg
            iid = instrument(book.market_ticker).id
            deltas.append(OrderBookDelta.clear(iid, 0, ns, ns))
            for side, held in (("yes", book.yes_dollars_fp), ("no", book.no_dollars_fp)):
                for price, size in held or ():
                    levels[(book.market_ticker, side, price)] = size
        elif isinstance(frame, DeltaMessage):
            msg = frame.msg
            ticker = msg.market_ticker
            iid = instrument(ticker).id
            side, price = msg.side, Decimal(msg.price_dollars)
            key = (ticker, side, price)
            before = levels.get(key, Decimal(0))
            size = before + Decimal(msg.delta_fp)
            if size > 0:
                levels[key] = size
                action = BookAction.UPDATE if before > 0 else BookAction.ADD
            else:
                levels.pop(key, None)
                action, size = BookAction.DELETE, Decimal(0)
            yes_price = price if side == "yes" else 1 - price
            order = BookOrder(
                OrderSide.BUY if side == "yes" else OrderSide.SELL,
                Price(float(yes_price), 2),
                Quantity(float(size), 2),
                0,
            )
            deltas.append(OrderBookDelta(iid, action, order, last, 0, ns, ns))
    return list(instruments.values()), deltas


def run_nautilus(instruments: list[Any], deltas: list[Any], strategy: str) -> dict[str, Any]:
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig, StrategyConfig
    from nautilus_trader.model.currencies import USD
    from nautilus_trader.model.enums import AccountType, BookType, OmsType, OrderSide
    from nautilus_trader.model.identifiers import Venue
    from nautilus_trader.model.objects import Money, Quantity
    from nautilus_trader.trading.strategy import Strategy

    # without the `bench` extra StrategyConfig is Any, and `frozen=` an unknown class argument
    class Config(StrategyConfig, frozen=True):  # type: ignore[call-arg, unused-ignore]
        join: bool = False

    class Bench(Strategy):  # type: ignore[misc]
        def __init__(self, config: Config) -> None:
            super().__init__(config)
            self.join = config.join
            self.quotes: dict[tuple[Any, Any], Any] = {}  # (instrument, side) -> order
            self.actions = 0
            self.size = Quantity.from_str("10.00")

        def on_start(self) -> None:
            for inst in instruments:
                self.subscribe_order_book_deltas(inst.id, BookType.L2_MBP)

        def on_order_book_deltas(self, deltas: Any) -> None:
            book = self.cache.order_book(deltas.instrument_id)
            bid, ask = book.best_bid_price(), book.best_ask_price()
            if not self.join:
                return
            for side, price in ((OrderSide.BUY, bid), (OrderSide.SELL, ask)):
                key = (deltas.instrument_id, side)
                order = self.quotes.get(key)
                if order is not None and order.is_open and order.price == price:
                    continue
                if order is not None and order.is_open and price is not None:
                    # a requote of the one open order: modified in place, as ours is amended
                    self.modify_order(order, price=price)
                    self.actions += 1
                    continue
                if order is not None and order.is_open:
                    self.cancel_order(order)
                    self.actions += 1
                if price is None:
                    self.quotes.pop(key, None)
                    continue
                new = self.order_factory.limit(
                    deltas.instrument_id, side, self.size, price, post_only=True
                )
                self.submit_order(new)
                self.quotes[key] = new
                self.actions += 1

    engine = BacktestEngine(
        BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR", bypass_logging=True))
    )
    engine.add_venue(
        Venue("KALSHI"),
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=USD,
        starting_balances=[Money(100_000_000, USD)],
        book_type=BookType.L2_MBP,
    )
    for inst in instruments:
        engine.add_instrument(inst)
    engine.add_data(deltas)
    bench = Bench(Config(join=strategy == "join"))
    engine.add_strategy(bench)
    began = time.process_time()
    engine.run()
    cpu = time.process_time() - began
    fills = len(engine.cache.orders_closed()) if strategy == "join" else 0
    engine.dispose()
    return {"cpu": cpu, "events": len(deltas), "actions": bench.actions, "fills": fills}


def nautilus_from_disk(instruments: list[Any], deltas: list[Any], strategy: str) -> float:
    """Nautilus end to end from disk, as ours is counted: its deltas written once to its own
    catalog (Parquet, not counted), then read back, the engine built and run (counted), in
    CPU seconds. Ours reads and decodes its own recording as it goes (`from_files`); this is
    nautilus's reading of its own format, so both figures start from a file."""
    import shutil

    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    where = tempfile.mkdtemp(prefix="nautilus-catalog-")
    try:
        ParquetDataCatalog(where).write_data([*instruments, *deltas])
        began = time.process_time()
        catalog = ParquetDataCatalog(where)
        run_nautilus(catalog.instruments(), catalog.order_book_deltas(), strategy)
        return time.process_time() - began
    finally:
        shutil.rmtree(where, ignore_errors=True)


# a child that imports kalshi_cli from the tree given first and runs one of `run_ours` from the
# recording's files (a tree may hold no decoded records), so both trees decode as they go
RUN_CHILD = (
    "import json, sys; sys.path[0:0] = sys.argv[1:3]; import kalshi_cli; "
    "from pathlib import Path; from bench_vs_nautilus import run_ours; "
    "r = run_ours(Path(sys.argv[3]), sys.argv[4], held=False); "
    "r['tree'] = kalshi_cli.__file__; print(json.dumps(r))"
)


def compare(other: Path, data: Path, nautilus: dict[str, dict[str, Any]], rounds: int) -> None:
    """Ours from two source trees, each run a fresh process reading the recording's files, the
    trees interleaved round by round; the medians beside nautilus's figures from this process
    (over its deltas built beforehand)."""
    this = HERE.parent
    trees = {f"before ({other})": other.resolve(), "after (this tree)": this}
    got: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _ in range(rounds):
        for strategy in ("book only", "join"):
            for name, tree in trees.items():
                argv = [str(tree), str(HERE), str(data), strategy]
                out = subprocess.run(
                    [sys.executable, "-c", RUN_CHILD, *argv],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                result = json.loads(out.splitlines()[-1])
                assert str(result["tree"]).startswith(str(tree)), (result, tree)
                got.setdefault((name, strategy), []).append(result)
    for strategy in ("book only", "join"):
        # the same events; the actions may differ (a tree that amends its requotes makes one
        # where one that cancels and places makes two), and with them a queue place and a fill
        # or two: each tree's are printed
        same = {r["events"] for n in trees for r in got[(n, strategy)]}
        assert len(same) == 1, f"the trees replayed different events: {same}"
    print(f"{'tree':<40} {'strategy':<10} {'CPU s':>7} {'events/CPU-s':>12} {'actions':>8} "
          f"{'fills':>6} {'ms/action':>9} {'nautilus':>8}")  # fmt: skip
    for name in trees:
        medians = {
            s: {**got[(name, s)][0], "cpu": statistics.median(r["cpu"] for r in got[(name, s)])}
            for s in ("book only", "join")
        }
        for strategy, r in medians.items():
            per_action = ""
            if strategy == "join" and r["actions"]:
                per_action = f"{ms_per_action(r, medians['book only']):.3f}"
            theirs = nautilus[strategy]
            ratio = (theirs["events"] / theirs["cpu"]) / (r["events"] / r["cpu"])
            print(
                f"{name:<40} {strategy:<10} {r['cpu']:>7.2f} {r['events'] / r['cpu']:>12,.0f} "
                f"{r['actions']:>8} {r['fills']:>6} {per_action:>9} {ratio:>7.2f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=1200)
    default_data = Path(tempfile.gettempdir()) / "kalshi-bench-vs-nautilus"
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument(
        "--rounds", type=int, default=3, help="of the first tenth against the whole"
    )
    parser.add_argument(
        "--compare-with", type=Path, metavar="DIR", help="another source tree: ours from both"
    )
    args = parser.parse_args()
    try:
        import nautilus_trader
    except ImportError:
        sys.exit("nautilus_trader is not installed: pip install -e '.[bench]'")

    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"nautilus_trader {nautilus_trader.__version__}")
    data, _ = ensure_data(args.data, args.markets, args.seconds)
    began = time.process_time()
    instruments, deltas = nautilus_data(data)
    print(
        f"{len(deltas):,} book events of {len(instruments)} markets; building nautilus's "
        f"deltas took {time.process_time() - began:.2f} CPU-s (not counted below)"
    )
    if args.compare_with:
        nautilus = {s: run_nautilus(instruments, deltas, s) for s in ("book only", "join")}
        compare(args.compare_with, data, nautilus, args.rounds)
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")
        return
    # both engines measured warm, as a sweep runs them after its first run: each engine's
    # imports and first-use caches are paid on a tenth of the data before any figure is taken
    # (ours imports its loop on first use, about 0.1 CPU-s; nautilus's was imported above)
    run_ours(data, "book only", first_tenth_end(data))
    run_nautilus(instruments, deltas[: len(deltas) // 10], "book only")
    rows = {}
    for strategy in ("book only", "join"):
        rows[("ours", strategy)] = run_ours(data, strategy)
        rows[("nautilus", strategy)] = run_nautilus(instruments, deltas, strategy)
    print(f"{'engine':<9} {'strategy':<10} {'CPU s':>7} {'events/CPU-s':>12} {'actions':>8} "
          f"{'ms/action':>9}")  # fmt: skip
    for (engine, strategy), r in rows.items():
        per_action = ""
        if strategy == "join" and r["actions"]:
            per_action = f"{ms_per_action(r, rows[(engine, 'book only')]):.3f}"
        print(
            f"{engine:<9} {strategy:<10} {r['cpu']:>7.2f} {r['events'] / r['cpu']:>12,.0f} "
            f"{r['actions']:>8} {per_action:>9}"
        )
    for strategy in ("book only", "join"):
        ours, theirs = rows[("ours", strategy)], rows[("nautilus", strategy)]
        ratio = (theirs["events"] / theirs["cpu"]) / (ours["events"] / ours["cpu"])
        print(
            f"{strategy}, in memory (ours over records decoded beforehand, nautilus over deltas "
            f"built beforehand): ours {1 / ratio:.2f}x nautilus's book events per CPU-second "
            f"(nautilus {ratio:.2f}x ours)"
        )
    for strategy in ("book only", "join"):
        ours = run_ours(data, strategy, held=False)
        whole = nautilus_from_disk(instruments, deltas, strategy)
        print(
            f"{strategy}, both from disk (nautilus reading its Parquet catalog, building its "
            f"engine and running it; ours reading and decoding its recording): nautilus "
            f"{whole:.2f} CPU-s, ours {ours['cpu']:.2f}: nautilus {ours['cpu'] / whole:.2f}x ours"
        )
    floor = run_ours(data, "book only", loop=False)  # over the held records
    theirs = rows[("nautilus", "book only")]
    print(
        f"ours with no loop tick (the replay and the venue's book upkeep alone): "
        f"{floor['cpu']:.2f} CPU-s, {floor['events'] / floor['cpu']:,.0f} events/CPU-s; "
        f"nautilus's whole book-only run {theirs['cpu']:.2f} CPU-s"
    )
    # an order action must cost the same late in a run as early: what a run keeps (its fills,
    # its orders) must not be read again whole for each new one. The four runs are interleaved
    # and repeated, so a load that changes meanwhile weighs on both spans alike.
    end = first_tenth_end(data)
    spans: dict[str, list[float]] = {"tenth": [], "whole": []}
    for _ in range(args.rounds):
        for span, bound in (("tenth", end), ("whole", None)):
            join = run_ours(data, "join", bound)
            spans[span].append(ms_per_action(join, run_ours(data, "book only", bound)))
    tenth, whole = (statistics.median(spans[k]) for k in ("tenth", "whole"))
    print(
        f"ours, CPU per order action (median of {args.rounds}): first tenth of the run "
        f"{tenth:.3f} ms, the whole run {whole:.3f} ms ({whole / tenth - 1:+.0%}; budget: "
        "within 20%)"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
