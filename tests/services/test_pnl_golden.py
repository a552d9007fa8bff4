"""Golden figures of the P&L core over a recorded session (`tests/services/pnl_golden_session.py`).

Every figure the P&L code produces from the session is compared, as text, with
`tests/data/pnl_golden/golden.json`, recorded from the P&L code as it was before its rebuild
(`python -m tests.services.test_pnl_golden` records it again, on purpose only): the `kalshi pnl
--local --json` document for each `--by` with and without `--since` (every bucket of every
grouping, totals), each market's end state (position, basis, realized gross, fees, fills,
settled, average entry, the marks and unrealized P&L at a fixed book), the realized
P&L of each fill that the circuit breaker adds up per day (`realized_per_fill`), and the events of
the Decimal engine that the trade loop feeds (`replay_into`).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from kalshi_cli.cli._context import AppContext
from kalshi_cli.cli.app import app
from kalshi_cli.services.pnl import PnlEngine, realized_per_fill, replay_into, summarize
from kalshi_cli.store import Store
from kalshi_cli.vocabulary.models import Orderbook, decode_orderbook
from tests.services.pnl_golden_session import DATA, load_fills, load_settlements

GOLDEN = DATA / "golden.json"
SINCES = (None, "2026-01-03", "2026-01-05T00:16:40Z")  # the last: the second D and E settle


def state_file(tmp: Path) -> Path:
    path = tmp / "state.db"
    with Store.open(path) as store:
        store.fills.record_fills(load_fills())
        for s in load_settlements():
            store.settlements.record_settlement(s)
    return path


def pnl_documents(tmp: Path) -> dict[str, Any]:
    path = state_file(tmp)
    context_env = {"KALSHI_HOME": str(tmp / "home"), "KALSHI_STATE": str(path)}
    out: dict[str, Any] = {}
    for since in SINCES:
        for by in ("market", "day", "strategy"):
            args = ["pnl", "--local", "--json", "--by", by]
            if since is not None:
                args += ["--since", since]
            result = CliRunner().invoke(
                app,
                args,
                obj=AppContext(environ=context_env),
                env={"COLUMNS": "120", "NO_COLOR": "1"},
                prog_name="kalshi",
            )
            assert result.exit_code == 0, result.output
            out[" ".join(args[1:])] = json.loads(result.stdout)
    return out


def book(ticker: str) -> Orderbook:
    """A fixed book per market, different sizes and prices, so a mark reading the wrong number
    shows."""
    k = sum(map(ord, ticker)) % 40
    yes_bid = Decimal(30 + k) / 100
    no_bid = Decimal(69 - k - 2) / 100
    return decode_orderbook(
        ticker,
        {
            "orderbook_fp": {
                "yes_dollars": [[str(yes_bid), f"{7 + k}.00"]],
                "no_dollars": [[str(no_bid), f"{3 + k}.50"]],
            }
        },
    )


def market_states(engine: PnlEngine) -> dict[str, Any]:
    out = {}
    for ticker, m in sorted(engine.markets.items()):
        bid, mid = m.mark(book(ticker))
        out[ticker] = {
            "position": str(m.position),
            "basis": str(m.basis),
            "realized_gross": str(m.realized_gross),
            "fees": str(m.fees),
            "realized": str(m.realized),
            "fills": m.fills,
            "settled": m.settled,
            "average_entry": str(m.average_entry),
            "mark_bid": str(bid),
            "mark_mid": str(mid),
            "unrealized_bid": str(m.unrealized(bid)),
            "unrealized_mid": str(m.unrealized(mid)),
        }
    return out


def figures(tmp: Path) -> dict[str, Any]:
    fills, settlements = load_fills(), load_settlements()
    summary = summarize(fills, settlements)
    since = summarize(fills, settlements, since=1_767_398_400.0)  # 2026-01-03
    reference = PnlEngine()
    events = [
        [e.ts, e.ticker, str(e.gross), str(e.fee), str(e.net), e.strategy, e.is_settlement]
        for e in replay_into(reference, fills, settlements)
    ]
    return {
        "cli": pnl_documents(tmp),
        "summary": summary.to_json(),
        "summary_since": since.to_json(),
        "summary_totals": [str(summary.realized_gross), str(summary.fees), str(summary.realized)],
        "summary_markets": market_states(summary.engine),
        "engine_markets": market_states(reference),
        "engine_totals": [
            str(reference.realized_gross),
            str(reference.fees),
            str(reference.realized),
        ],
        "engine_events": events,
        "realized_per_fill": [
            [f.fill_id, str(e.gross), str(e.fee), str(e.net)]
            for f, e in realized_per_fill(fills, settlements)
        ],
    }


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def test_the_pnl_core_reproduces_the_recorded_session_to_the_digit(tmp_path: Path) -> None:
    assert render(figures(tmp_path)) == GOLDEN.read_text()


def test_the_golden_session_has_what_it_claims() -> None:
    """The session covers the cases the golden figures are meant to pin."""
    golden = json.loads(GOLDEN.read_text())
    settlements = load_settlements()
    assert {s.result for s in settlements} == {"yes", "no", "void"}
    floored = [s for s in settlements if s.ticker == "KXG-26JAN-FLOOR"]
    # floored at $0.2525: the 41 NO were worth $30.6475, paid $30.64 and $0.0075 the fee
    assert floored[0].yes_value == Decimal("0.2525")
    assert (floored[0].revenue, floored[0].fee) == (Decimal("30.64"), Decimal("0.0075"))
    # two settlements at one moment, then a fill at that same second
    at = [s.settled_at for s in settlements]
    assert at.count(1_767_572_200.0) == 2
    assert any(f.ts == 1_767_572_200.0 for f in load_fills())
    fees = {str(Decimal(f.fee)) for f in load_fills()}
    assert "-0.0001" in fees and any(len(x.split(".")[-1]) == 4 for x in fees)
    # partial closes and flips through zero, on both sides
    engine = PnlEngine()
    flips = partial = 0
    for f in load_fills():
        before = engine.market(f.ticker).position
        engine.apply_fill(f.ticker, f.book_side, f.yes_price, f.count, f.fee)
        after = engine.market(f.ticker).position
        flips += before * after < 0
        partial += before * after > 0 and abs(after) < abs(before)
    assert flips > 50 and partial > 50
    assert len(golden["summary"]["by_day"]) >= 5
    by_strategy = golden["cli"]["--local --json --by strategy"]["rows"]
    assert {r["strategy"] for r in by_strategy} == {"spike", "mm"}


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        GOLDEN.write_text(render(figures(Path(tmp))))
