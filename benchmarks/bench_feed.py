"""Book upkeep: orderbook deltas applied per second, JSON decoding included, next to bare
`json.loads` of the same messages.

The measured path is the production one: `FeedSession.handle` (decode, sequence check, Decimal
parse, level update) feeding MarketData's event sink (book-change coalescing). Messages are
shaped as asyncapi.yaml's `orderbook_delta`, over 4 markets, sizes never going below zero, the NO
levels in YES-leg prices (`use_yes_price`, what the feed subscribes with).
Target: at least 100,000 deltas per second.

    python benchmarks/bench_feed.py [--deltas 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import random
import time

from kalshi_cli.feed import MarketData

MARKETS = ["BENCH-A", "BENCH-B", "BENCH-C", "BENCH-D"]
TARGET = 100_000


def make_messages(n: int, seed: int = 1) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    sid = 1
    snapshots = [
        json.dumps(
            {
                "type": "orderbook_snapshot",
                "sid": sid,
                "seq": i + 1,
                "msg": {
                    "market_ticker": t,
                    "market_id": "9b0f6b43-5b68-4f9f-9f02-9a2d1b8ac1a1",
                    "yes_dollars_fp": [[f"0.{c:02d}00", "100.00"] for c in range(1, 50)],
                    # NO bids at 1..49 cents, in YES-leg prices
                    "no_dollars_fp": [[f"0.{100 - c:02d}00", "100.00"] for c in range(1, 50)],
                },
            }
        )
        for i, t in enumerate(MARKETS)
    ]
    sizes: dict[tuple[str, str, int], int] = {}
    deltas = []
    seq = len(MARKETS)
    for _ in range(n):
        ticker = rng.choice(MARKETS)
        side = rng.choice(("yes", "no"))
        # each side's bids below 50 cents (in its own leg): a book that never crosses
        cents = rng.randint(1, 49)
        have = sizes.get((ticker, side, cents), 100)
        change = rng.randint(1, 50)
        if have and rng.random() < 0.5:
            change = -min(change, have)
        sizes[(ticker, side, cents)] = have + change
        seq += 1
        deltas.append(
            json.dumps(
                {
                    "type": "orderbook_delta",
                    "sid": sid,
                    "seq": seq,
                    "msg": {
                        "market_ticker": ticker,
                        "market_id": "9b0f6b43-5b68-4f9f-9f02-9a2d1b8ac1a1",
                        "price_dollars": f"0.{cents if side == 'yes' else 100 - cents:02d}00",
                        "delta_fp": f"{change}.00",
                        "side": side,
                        "ts_ms": 1_700_000_000_000 + seq,
                    },
                }
            )
        )
    return snapshots, deltas


def run_feed(snapshots: list[str], deltas: list[str]) -> float:
    md = MarketData(MARKETS, ws_url="ws://127.0.0.1:9/trade-api/ws/v2")
    assert md.ws is not None
    handle = md.ws.session.handle
    for text in snapshots:
        handle(text)
    start = time.perf_counter()
    for text in deltas:
        handle(text)
    elapsed = time.perf_counter() - start
    if not all(md.ws.books.is_fresh(t) for t in MARKETS):
        raise SystemExit("a book went stale during the benchmark: the messages are wrong")
    return elapsed


def run_json(deltas: list[str]) -> float:
    loads = json.loads
    start = time.perf_counter()
    for text in deltas:
        loads(text)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deltas", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    snapshots, deltas = make_messages(args.deltas)
    feed = bare = float("inf")
    for _ in range(args.rounds):  # interleaved, so a busy machine slows both alike
        feed = min(feed, run_feed(snapshots, deltas))
        bare = min(bare, run_json(deltas))
    feed_rate, json_rate = len(deltas) / feed, len(deltas) / bare
    print(f"messages: {len(deltas)} orderbook_delta, {len(MARKETS)} markets, best of {args.rounds}")
    print(f"bare json.loads:          {json_rate:12,.0f} msg/s")
    print(f"deltas applied (w/ JSON): {feed_rate:12,.0f} deltas/s")
    print(f"ratio feed / json.loads:  {feed_rate / json_rate:12.2f}")
    verdict = "meets" if feed_rate >= TARGET else "MISSES"
    print(f"target {TARGET:,} deltas/s: {verdict}")


if __name__ == "__main__":
    main()
