"""docs/output.md documents each --json shape; each example must match the real output."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from .fakes import FakeClient, market, run
from .test_cli_market_data import BOOK
from .test_cli_portfolio import FILL, POSITION, SETTLEMENT

DOC = Path(__file__).resolve().parents[2] / "docs" / "output.md"
TICKER = "KXHIGHNY-26JAN15-T40"


def documented() -> dict[str, Any]:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"^### `kalshi ([^`]+) --json`\n.*?```json\n(.*?)```", text, re.S | re.M)
    return {command: json.loads(body) for command, body in blocks}


def same_shape(real: Any, doc: Any, where: str = "$") -> None:
    """`real` has the shape of the documented example `doc`. A mapping whose one key is written
    `<name>` (`{"<ticker>": {...}}`) is keyed by data: every value is like the example's."""
    if isinstance(doc, dict) and len(doc) == 1 and str(next(iter(doc))).startswith("<"):
        assert isinstance(real, dict), where
        (template,) = doc.values()
        for key, value in real.items():
            same_shape(value, template, f"{where}.{key}")
    elif isinstance(doc, dict):
        assert isinstance(real, dict), where
        assert list(real) == list(doc), f"{where}: keys differ: {list(real)} vs {list(doc)}"
        for key in doc:
            same_shape(real[key], doc[key], f"{where}.{key}")
    elif isinstance(doc, list):
        assert isinstance(real, list), where
        if doc and real:
            same_shape(real[0], doc[0], f"{where}[0]")
    elif doc is not None and real is not None:
        assert type(real) is type(doc), f"{where}: {type(real).__name__} vs {type(doc).__name__}"
        if isinstance(doc, str) and DECIMAL.fullmatch(doc) and not FREE_FORM.search(where):
            same_precision(real, doc, where)


# values written as the person gave them, not money or counts: a strategy's params and the
# config's settings ("60.0" if the file says 60.0)
FREE_FORM = re.compile(r"\.params\.|^\$\.sections\.")
DECIMAL = re.compile(r"-?\d+(?:\.(\d+))?")


def same_precision(real: str, doc: str, where: str) -> None:
    """A decimal string has the example's number of places, or more only when the value needs
    them (a fee in $0.0001s on a field shown to the cent, an average's sixth place): never
    `"0"` or `"0.2"` where the example reads `"0.0000"`, nor `"0.640000"` for `"0.6400"`."""
    match = DECIMAL.fullmatch(real)
    assert match is not None, f"{where}: {real!r} is not a decimal like {doc!r}"
    places = len(DECIMAL.fullmatch(doc).group(1) or "")  # type: ignore[union-attr]
    digits = match.group(1) or ""
    assert len(digits) >= places, f"{where}: {real!r} has fewer places than {doc!r}"
    assert len(digits) == places or not digits.endswith("0"), (
        f"{where}: {real!r} has more places than {doc!r} and the value needs"
    )


COMMANDS = {
    "markets": ["markets"],
    "market TICKER": ["market", TICKER],
    "orderbook TICKER": ["orderbook", TICKER],
    "balance": ["balance"],
    "positions": ["positions"],
    "fills": ["fills"],
    "settlements": ["settlements"],
    "health-check": ["health-check"],
    "config show": ["config", "show"],
}


def test_every_json_command_is_documented() -> None:
    from .test_cli_browse import SIM_DOCUMENTED  # checked against the simulator there

    # the others run against the simulator: tests/cli/test_json_shapes.py
    assert set(COMMANDS) | set(SIM_DOCUMENTED) <= set(documented())


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_documented_shape_matches_output(tmp_path: Path, command: str) -> None:
    client = FakeClient(
        market_rows=[market(TICKER)],
        books={TICKER: BOOK},
        positions=[POSITION],
        fills=[FILL],
        settlements=[SETTLEMENT],
        balance_breakdown=[{"exchange_index": 0, "balance": "1000.0000"}],
    )
    environ = {"KALSHI_API_BASE": "http://127.0.0.1:1/trade-api/v2"}
    if command == "config show":
        environ = {}
    result = run([*COMMANDS[command], "--json"], client=client, home=tmp_path, environ=environ)
    assert result.stdout, result.output
    same_shape(json.loads(result.stdout), documented()[command])
