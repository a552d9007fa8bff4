"""Models that misbehave (and one that does not), for the model strategy's tests.

As a module, its functions are python sources: `python:<this file>:NAME`. As a script, it is a
command source speaking the JSON-lines protocol (docs/models.md), in the mode named by its
first argument: `echo` answers fair = id / 100 (so a test can see which request an answer was
for), `fixed` answers fair 0.9, `late-first` answers the first request only once the file
named by its second argument exists (the test writes it), `silent` reads and never answers,
`exit-after-one` answers one request and exits, `garbage` answers fair 1.5, `not-json`
answers a line that is not JSON, `wrong-id` answers with an id no request had (the id + 1000),
`flood` never reads and writes lines that are not JSON as fast as it can, `deaf` never reads
and answers ids 1 to 5000 at once (so that its answers are on time while its input fills).
"""

from __future__ import annotations

import json
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

__version__ = "under-test-1"


def constant(snapshot: Any) -> tuple[float, float]:
    return (0.70, 0.9)


def unsure(snapshot: Any) -> dict[str, Any]:
    return {"fair": Decimal("0.70"), "confidence": 0.4, "version": "unsure-2"}


def no_opinion(snapshot: Any) -> None:
    return None


def crashes(snapshot: Any) -> float:
    raise RuntimeError("the model's data feed is gone")


def hangs(snapshot: Any) -> float:
    threading.Event().wait()  # never set: the call never returns
    return 0.5


def not_a_number(snapshot: Any) -> float:
    return float("nan")


def above_one(snapshot: Any) -> float:
    return 1.5


def a_string(snapshot: Any) -> str:
    return "0.6"


def _serve(mode: str, release: Path | None) -> None:
    if mode == "flood":
        while True:
            print("y", flush=True)
    if mode == "deaf":
        for n in range(1, 5001):
            print(json.dumps({"id": n, "fair": 0.5}), flush=True)
        threading.Event().wait()
    for n, line in enumerate(sys.stdin):
        request = json.loads(line)
        if mode == "silent":
            continue
        if mode == "late-first" and n == 0:
            while release is not None and not release.exists():
                threading.Event().wait(0.01)
        answer: Any = {"id": request["id"], "fair": request["id"] / 100}
        if mode == "fixed":
            answer["fair"] = 0.9
        if mode == "garbage":
            answer["fair"] = 1.5
        if mode == "wrong-id":
            answer["id"] = request["id"] + 1000
        out = "this is not json" if mode == "not-json" else json.dumps(answer)
        print(out, flush=True)
        if mode == "exit-after-one":
            return


if __name__ == "__main__":
    _serve(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else None)
