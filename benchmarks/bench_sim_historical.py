"""CPU per request of the historical listings (`/historical/trades`, `/fills`, `/orders`) over a
long archive, the route handlers called in process for a first page and a page from a cursor in
the middle. See docs/benchmarks.md "How each benchmark measures".

    python benchmarks/bench_sim_historical.py [--trades 100000] [--compare-with DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import hashlib, json, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
from decimal import Decimal
from pathlib import Path
from starlette.requests import Request
from kalshi_cli.vocabulary.clock import ManualClock
from kalshi_cli.vocabulary.units import BookSide, SelfTradePrevention, TimeInForce
from kalshi_cli.sim.server.app import create_app
from kalshi_cli.sim.server.auth import DEFAULT_WINDOW_S, Authenticator
from kalshi_cli.sim.server.faults import Faults
from kalshi_cli.sim.core.historical import HistoryPolicy
from kalshi_cli.sim.server.ratelimit import tier_named
try:  # the order as one value; a tree from before it took the terms as keywords
    from kalshi_cli.sim.core.records import PlaceRequest
    def place(exchange, who, **terms):
        return exchange.desk.place_order(who, PlaceRequest(**terms))
except ImportError:
    def place(exchange, who, **terms):
        return exchange.desk.place_order(who, **terms)
try:
    from kalshi_cli.sim.server.ratelimit import SimRateLimiter
except ImportError:  # a tree from before the simulator's limiter had its own name
    from kalshi_cli.sim.server.ratelimit import RateLimiter as SimRateLimiter
from kalshi_cli.sim.server.routes import historical as routes
from kalshi_cli.sim.server.routing import RequestContext, SimState
from kalshi_cli.sim.core.scenarios import build_exchange

trades, requests, rounds = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
clock = ManualClock(1_700_000_000.0)
exchange = build_exchange("default", clock=clock)
# the same ids in both trees: the answers are compared (a tree from before the exchange had
# parts sets its salt on the exchange itself; one from before it handed them out forwards the
# reference and account reads)
if hasattr(exchange, "reference"):
    ref, accounts = exchange.reference, exchange.accounts
else:
    ref = accounts = exchange
if hasattr(exchange, "_ref"):
    exchange._ref.set_salt(1)  # type: ignore[attr-defined]
elif hasattr(exchange, "reference"):
    ref.set_salt(1)
else:
    exchange._set_salt(1)  # type: ignore[attr-defined]
tier = tier_named("basic")
state = SimState(
    exchange=exchange, clock=clock, data_dir=Path(tempfile.mkdtemp()), tier=tier,
    faults=Faults(clock), limiter=SimRateLimiter(tier, clock),
    auth=Authenticator(
        exchange.subaccounts.account_by_key, clock, DEFAULT_WINDOW_S,
        exchange.subaccounts.public_key_of,
    ),
    history=HistoryPolicy(lag_seconds=60),
)
create_app(state)
maker = accounts.create_account(key_id="", public_key_pem="", cash_cents=10**12).account_id
taker_account = accounts.create_account(key_id="bench", public_key_pem="pem", cash_cents=10**12)
taker = taker_account.account_id
tickers = sorted(ref.markets)[:3]
price = Decimal("0.40")
for i in range(trades):
    ticker = tickers[i % 3]
    for who, side, tif in (
        (maker, BookSide.ASK, TimeInForce.GTC), (taker, BookSide.BID, TimeInForce.IOC)
    ):
        place(
            exchange, who, ticker=ticker, book_side=side, price=price, count=Decimal(1),
            time_in_force=tif, self_trade_prevention=SelfTradePrevention.TAKER_AT_CROSS,
        )
    if i % 100 == 99:
        clock.advance(1)
        exchange.tick()
clock.advance(120)
exchange.tick()  # the retention moves everything past the cutoff
history = exchange.history
tiers = (history.trade_tiers(), history.fill_tiers(taker), history.order_tiers(taker))

def ctx(query):
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [],
             "query_string": query.encode(), "path_params": {}}
    return RequestContext(Request(scope), taker_account, None, clock.wall())

def call(handler, query):
    status, body = handler(state, ctx(query))
    assert status == 200, body
    return body

out = {"tiers": tiers, "rows": [], "digest": ""}
digest = hashlib.sha256()
for route, handler, key, id_key in (
    ("trades", routes.handle_get_trades_historical, "trades", "trade_id"),
    ("fills", routes.handle_get_fills_historical, "fills", "fill_id"),
    ("orders", routes.handle_get_historical_orders, "orders", "order_id"),
):
    everything = call(handler, "limit=1000")
    middle = everything[key][500][id_key]  # a cursor in the newest thousand
    deep = call(handler, "limit=1000&cursor=" + everything["cursor"])[key][-1][id_key]
    for name, query in (
        ("first page", "limit=100"),
        ("from a cursor (the 500th newest)", f"limit=100&cursor={middle}"),
        ("from a cursor (the 2,000th newest)", f"limit=100&cursor={deep}"),
        ("first page, one ticker", f"limit=100&ticker={tickers[1]}"),
    ):
        body = call(handler, query)
        digest.update(json.dumps(body, sort_keys=True).encode())
        best = float("inf")
        for _ in range(rounds):
            started = time.process_time()
            for _ in range(requests):
                call(handler, query)
            best = min(best, (time.process_time() - started) / requests)
        out["rows"].append([route, name, round(best * 1e6, 1), len(body[key])])
out["digest"] = digest.hexdigest()
print(json.dumps(out))
"""


def run(tree: Path, trades: int, requests: int, rounds: int) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tree), str(trades), str(requests), str(rounds)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare-with", type=Path)
    args = parser.parse_args()
    here = Path(__file__).resolve().parent.parent
    trees = [("this tree", here)]
    if args.compare_with:
        trees.insert(0, (f"before ({args.compare_with})", args.compare_with.resolve()))
    results = [(name, run(tree, args.trades, args.requests, args.rounds)) for name, tree in trees]
    print(f"load: {os.getloadavg()[0]:.1f}; trades {args.trades:,}")
    for name, result in results:
        print(f"{name}: live/archived trades, fills, orders {result['tiers']}")
        for route, what, us, n in result["rows"]:  # type: ignore[attr-defined]
            print(f"  /historical/{route:6} {what:38} {us:>12,.1f} us CPU  ({n} rows)")
    if len(results) == 2:
        same = results[0][1]["digest"] == results[1][1]["digest"]
        print("same answers in both trees:", same)
        if not same:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
