"""Loop lag at 500 markets: how long a book change waits for the trade loop's decision on it, and
how long a market goes unvisited, with the loop built as `kalshi trade` builds it against a
`kalshi sim serve` whose books change all the time. Budget: p99 decision lag under 2 s and
every market revisited within 10 s. See docs/benchmarks.md "How each benchmark measures".

    python benchmarks/bench_loop_lag.py [--markets 500] [--seconds 60] [--warmup 20]
        [--strategy NAME ...] [--dry-run] [--no-budget] [--latency-ms 50]
        [--hold-every 10 --hold-s 10] [--workers N] [--max-event-loss DOLLARS] [--keep]

`--latency-ms` makes the simulator answer every request that much later; `--hold-every N`
holds one order call in N in the network for `--hold-s` seconds (a slow answer for that call
alone, the others unaffected); `--workers` sets `trade.send_workers` (the loop's exchange calls
off its deciding path; 0: each call waited for on the deciding thread). The script also says
how long it took until every market had its first order, whether SAFE_MODE was entered, and
the process's CPU time per decision over the measured window (the loop's cost per decision);
`--max-event-loss` sets `risk.max_event_loss`, so each order's event worst case is checked.

`--strategy` repeats: the loop runs each in one lineup, as `kalshi trade --strategy A --strategy
B` does (four strategies over 200 markets: `--markets 200 --strategy spike --strategy
market-maker --strategy mean-reversion --strategy arbitrage`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import httpx
from bench_loop_memory import scenario
from sim_process import (
    add_keep_option,
    admin,
    client_for,
    start_simulator,
    stop_simulator,
    working_dir,
)

from kalshi_cli.client.signing import KalshiAuth
from kalshi_cli.feed import MarketData
from kalshi_cli.runner.assembly import LoopInputs, build_loop
from kalshi_cli.runner.books.entry_log import EntryLog
from kalshi_cli.runner.config import StrategyChoice, TradeConfig, TradeOptions, TradeSection
from kalshi_cli.runner.loop.schedule import quantile
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.clock import Deadline, SystemClock, iso_utc
from kalshi_cli.vocabulary.keys import load_private_key

BUDGET_P99_S = 2.0
BUDGET_REVISIT_S = 10.0


class HoldEvery(httpx.HTTPTransport):
    """The network, holding every `every`-th order call (a POST or DELETE under
    /portfolio) for `seconds` before it reaches the exchange. The client gives up on it as on
    a socket that stays silent, at the request's deadline (its timeout, or the loop's
    `trade.call_timeout_s`), with a read timeout (the call was sent: an order's outcome is
    unknown); the network still delivers it to the exchange once the hold is over."""

    def __init__(self, every: int, seconds: float) -> None:
        super().__init__()
        self.every, self.seconds = every, seconds
        self.calls = 0
        self.held: list[httpx.Request] = []
        self.given_up = 0  # held calls the client stopped waiting for
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method in ("POST", "DELETE") and "/portfolio/" in request.url.path:
            with self._lock:
                self.calls += 1
                hold = self.calls % self.every == 0
                if hold:
                    self.held.append(request)
            if hold:
                deadline = Deadline.current()
                waits = self.seconds if deadline is None else max(deadline.remaining(), 0.0)
                if waits < self.seconds:
                    time.sleep(waits)
                    with self._lock:
                        self.given_up += 1
                    late = threading.Thread(
                        target=self._deliver, args=(request, self.seconds - waits), daemon=True
                    )
                    late.start()
                    raise httpx.ReadTimeout("held in the network", request=request)
                time.sleep(self.seconds)
        return super().handle_request(request)

    def _deliver(self, request: httpx.Request, after_s: float) -> None:
        time.sleep(after_s)
        with contextlib.suppress(httpx.HTTPError):
            super().handle_request(request).close()

    def markets(self, order_tickers: dict[str, str]) -> set[str]:
        """The markets a held call concerned: those its body names (an order, a batch), or
        the market of the order its path names (a cancel)."""
        found: set[str] = set()
        for request in self.held:
            if request.method == "POST" and request.content:
                body = json.loads(request.content)
                found.update(o["ticker"] for o in body.get("orders", [body]) if "ticker" in o)
            else:
                ticker = order_tickers.get(request.url.path.rsplit("/", 1)[-1])
                if ticker is not None:
                    found.add(ticker)
        return found


def admin_put(api_base: str, path: str, body: dict[str, object]) -> None:
    base = api_base.rsplit("/trade-api", 1)[0]
    httpx.put(base + "/sim/v1" + path, json=body, timeout=10).raise_for_status()


def seconds_between(start: str, end: str) -> float:
    def at(text: str) -> float:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    return at(end) - at(start)


def load() -> str:
    with open("/proc/loadavg", encoding="ascii") as f:
        return " ".join(f.read().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markets", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--strategy", action="append", help="repeat it: one lineup (spike)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="decide but send nothing: the loop's own lag, without the exchange's answers",
    )
    parser.add_argument(
        "--no-budget",
        action="store_true",
        help="every tick visits every market with news and the whole sweep before it looks at "
        "the feed again (the pass the loop made before it had a tick budget), for comparison",
    )
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--hold-every", type=int, default=0)
    parser.add_argument("--hold-s", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=TradeSection().send_workers)
    parser.add_argument(
        "--call-timeout-s",
        type=float,
        default=TradeSection().call_timeout_s,
        help="trade.call_timeout_s: the longest the loop waits for one call's answer",
    )
    parser.add_argument(
        "--key-type",
        choices=("rsa", "ed25519"),
        default="rsa",
        help="the API key the loop signs with: each request's RSA-PSS signature costs the "
        "client far more CPU than an Ed25519 one",
    )
    parser.add_argument(
        "--no-amend",
        action="store_true",
        help="trade.amend_requotes: false: each requote a cancel, then a new order, for comparison",
    )
    parser.add_argument("--max-event-loss", help="risk.max_event_loss, in dollars (none)")
    parser.add_argument(
        "--client-tier",
        default="prime",
        help="the rate-limit tier the client paces itself at (the simulator serves prime)",
    )
    add_keep_option(parser)
    args = parser.parse_args()
    with working_dir("bench-lag-", keep=args.keep) as work:
        return measure(args, work)


def measure(args: argparse.Namespace, work: Path) -> int:
    strategies = tuple(args.strategy or ["spike"])
    (work / "scenario.yaml").write_text(scenario(args.markets), encoding="utf-8")
    sim, account = start_simulator(
        work / "sim",
        scenario=str(work / "scenario.yaml"),
        # enough for an order in every market: the default $1,000 runs out after some 170 of 500,
        # and the loop then decides on markets whose orders its shard cannot pay for
        balance="1000000",
    )
    try:
        clock = SystemClock()
        if args.latency_ms:
            admin_put(account["api_base"], "/faults", {"latency_ms": args.latency_ms})
        if args.key_type != "rsa":
            account = admin(account["api_base"], "/accounts", {"key_type": args.key_type})
        holding = HoldEvery(args.hold_every, args.hold_s) if args.hold_every else None
        client = client_for(account, transport=holding, tier=args.client_tier)
        markets = [
            m for m in client.markets.iter_markets(status="open") if m.ticker.startswith("KXMEM")
        ]
        key, _ = load_private_key(path=Path(account["private_key_path"]))
        feed = MarketData(
            [m.ticker for m in markets],
            ws_url=account["ws_url"],
            auth=KalshiAuth(account["key_id"], key),
            rest=client.markets,
            clock=clock,
        )
        store = Store.open(work / "state.db", clock=clock)
        log_path = work / "trade.log"
        log = EntryLog(clock, path=log_path, stderr=None)
        config = TradeConfig(
            strategies={"market-maker": {"quote_count": "1"}},
            risk={
                "max_orders_per_minute": 1_000_000,
                "max_total_exposure": "100000",
            }
            | ({"max_event_loss": args.max_event_loss} if args.max_event_loss else {}),
            trade={"call_timeout_s": args.call_timeout_s, "amend_requotes": not args.no_amend},
        )
        loop = build_loop(
            LoopInputs(
                client,
                store,
                feed,
                clock,
                log,
                send_workers=args.workers,
                adjust=(lambda s: replace(s, tick_budget_s=math.inf)) if args.no_budget else None,
            ),
            TradeOptions(
                strategies=tuple(StrategyChoice(s) for s in strategies), dry_run=args.dry_run
            ),
            config,
            markets,
        )
        print(
            f"loop lag: {len(markets)} markets, strategies {', '.join(strategies)}"
            f"{' (dry run)' if args.dry_run else ''}{' (no budget)' if args.no_budget else ''}, "
            f"{args.workers} send workers (call timeout {args.call_timeout_s:g} s), client "
            f"paced at {args.client_tier}, {args.key_type.upper()} key, "
            f"exchange latency {args.latency_ms:g} ms, requotes "
            f"{'cancelled and placed' if args.no_amend else 'amended'}"
            + (f", one order call in {args.hold_every} held {args.hold_s:g} s" if holding else "")
            + (f", risk.max_event_loss {args.max_event_loss}" if args.max_event_loss else "")
            + f", warm-up {args.warmup:g} s, measured {args.seconds:g} s, load {load()}",
            flush=True,
        )
        stop = threading.Event()
        measured_from = [0.0]
        cpu_from = [0.0]  # the process's CPU seconds when the measured window began

        def measure() -> None:
            if stop.wait(args.warmup):
                return
            loop.turns.schedule.kept = []  # the loop's thread appends; a list append is atomic
            measured_from[0] = time.time()
            cpu_from[0] = time.process_time()

        feed.start()
        threading.Thread(target=measure, daemon=True).start()
        try:
            loop.run(stop=stop, duration_s=args.warmup + args.seconds)
            cpu_s = time.process_time() - cpu_from[0]
        finally:
            stop.set()
            loop.stop.shutdown(cancel_resting=True)
            feed.stop()
            store.close()
            log.close()
        kept = loop.turns.schedule.kept or []
        lags = sorted(lag for _, lag in kept)
        events = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()]
        beats = [e for e in events if e.get("event") == "heartbeat"]
        order_tickers = {
            str(e["order_id"]): str(e["ticker"])
            for e in events
            if e.get("event") == "order_placed" and e.get("order_id")
        }
        held_markets = holding.markets(order_tickers) if holding else set()
        others = sorted(lag for ticker, lag in kept if ticker not in held_markets)
        first_order: dict[str, str] = {}
        # requotes (an order amended, or cancelled to be replaced) while a market still waited
        # for its first order: a fair schedule has none once the write budget is the limit
        second_early = 0
        for e in events:
            # an order whose answer the network held, found on the exchange by its lookup
            # (`order_resolved`, not "rejected"), is that market's quote as much as one placed
            found = e.get("event") == "order_resolved" and e.get("status") != "rejected"
            if e.get("event") in ("order_placed", "dry_run_order") or found:
                first_order.setdefault(str(e["ticker"]), str(e["ts"]))
            elif (
                e.get("event") in ("order_cancelled", "order_amended")
                and e.get("reason") != "shutdown"  # the stop's own withdrawal is no requote
                and len(first_order) < len(markets)
            ):
                second_early += 1
        started_at = str(events[0]["ts"]) if events else ""
        quoted_by = max(first_order.values(), default="")
        safe_modes = sum(1 for e in events if e.get("event") == "safe_mode")
        revisits = [
            b["revisit_max_s"]
            for b in beats
            if b.get("event") == "heartbeat" and b["ts"] >= iso_utc(measured_from[0])
        ]
        c = loop.executor.counters
        print(
            f"  orders {c.orders}, amended {c.amends}, cancelled {c.cancels}, denied {c.denied}, "
            f"ticks {loop.ticks}, load {load()}"
        )
        if args.keep:  # else removed with the working directory when the run ends
            print(f"  the loop's event log: {log_path}")
        print(
            f"  markets with an order: {len(first_order)} of {len(markets)}"
            + (
                f", the last first order {seconds_between(started_at, quoted_by):.1f} s after "
                "the start"
                if first_order and started_at
                else ""
            )
            + f"; {second_early} requote(s) of a market before then"
            + f"; SAFE_MODE entered {safe_modes} time(s)"
            + (
                f"; {len(holding.held)} order call(s) held ({holding.given_up} given up by "
                f"the client before the hold ended), concerning {len(held_markets)} "
                f"market(s): the other markets' lag p99 "
                f"{quantile(others, 0.99) * 1000 if others else math.nan:.1f} ms over "
                f"{len(others)} decisions"
                if holding
                else ""
            )
        )
    finally:
        stop_simulator(sim)
    if not lags or not revisits:
        raise SystemExit("no decision measured: run longer than --warmup")
    p50, p99 = quantile(lags, 0.5), quantile(lags, 0.99)
    revisit = max(revisits)
    met = p99 < BUDGET_P99_S and revisit < BUDGET_REVISIT_S
    print(
        f"loop lag: book change to decision p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {lags[-1] * 1000:.1f} ms over {len(lags)} decisions; longest market revisit "
        f"{revisit:.2f} s (budget p99 < {BUDGET_P99_S:g} s, revisit < {BUDGET_REVISIT_S:g} s: "
        f"{'met' if met else 'NOT met'}); CPU {cpu_s / len(lags) * 1000:.3f} ms per decision"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
