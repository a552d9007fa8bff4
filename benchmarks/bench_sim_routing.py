"""CPU per request of finding a simulator route: the `SegmentRouter` (a dict lookup on the first
path segment, then the few routes under it) against Starlette's linear scan over the same routes,
about 100 of them since every path of openapi.yaml is routed. See docs/benchmarks.md "How each
benchmark measures".

Run: `python benchmarks/bench_sim_routing.py [--lookups N]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Mapping

from starlette.routing import Match, Route

from kalshi_cli.sim.server.server import SegmentRouter, api_routes

PREFIX = "/trade-api/v2"
REQUESTS = (("GET", "/markets/KXBENCH-26-A"), ("POST", "/portfolio/events/orders"))


def scope(method: str, path: str) -> dict[str, object]:
    return {
        "type": "http",
        "method": method,
        "path": PREFIX + path,
        "root_path": PREFIX,
        "headers": [],
        "query_string": b"",
    }


def lookup_us(
    method: str, path: str, candidates: Mapping[str, Iterable[Route]] | list[Route], n: int
) -> float:
    best = float("inf")
    for _ in range(7):
        started = time.process_time()
        for _ in range(n):
            request = scope(method, path)
            routes = (
                candidates
                if isinstance(candidates, list)
                else candidates.get(path.split("/", 2)[1], ())
            )
            for route in routes:
                if route.matches(request)[0] is Match.FULL:
                    break
        best = min(best, (time.process_time() - started) / n)
    return best * 1e6


def pick_us(method: str, path: str, router: SegmentRouter, n: int) -> float:
    """`SegmentRouter.pick` as the server calls it: the exact lookup of a parameterless path,
    then the scan of the path's first segment."""
    best = float("inf")
    for _ in range(7):
        started = time.process_time()
        for _ in range(n):
            router.pick(scope(method, path))
        best = min(best, (time.process_time() - started) / n)
    return best * 1e6


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lookups", type=int, default=20000)
    args = parser.parse_args()
    routes = api_routes(None)  # type: ignore[arg-type]  # the lookup never reaches a handler
    router = SegmentRouter(routes)
    by_first = router.by_first
    print(f"{len(routes)} routes")
    for method, path in REQUESTS:
        segment = lookup_us(method, path, by_first, args.lookups)
        linear = lookup_us(method, path, routes, args.lookups)
        picked = pick_us(method, path, router, args.lookups)
        print(
            f"{method} {path}: SegmentRouter.pick {picked:.1f} us, first-segment scan alone "
            f"{segment:.1f} us, linear scan {linear:.1f} us ({linear / picked:.1f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
