"""A market whose trading is paused (`deactivated`) and resumed (`activated`): the trade loop
stops trading it while paused and trades it again, stop-loss included, once it resumes
(kalshi_cli/runner/loop/watch.py)."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from kalshi_cli.feed.book import FeedMessage, MessageKind
from kalshi_cli.feed.messages import Lifecycle
from tests.runner.fakes import make_rig


def lifecycle(ticker: str, event_type: str, paused: bool) -> FeedMessage:
    data = {"market_ticker": ticker, "event_type": event_type, "is_deactivated": paused}
    return FeedMessage(MessageKind.LIFECYCLE, ticker, payload=msgspec.convert(data, Lifecycle))


def test_a_paused_market_is_traded_again_once_it_resumes(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    rig = make_rig(tmp_path / "state.db", log_path=log)
    ticker = next(iter(rig.exchange.reference.markets))
    rig.feed.messages.append(lifecycle(ticker, "deactivated", True))
    rig.step()
    assert ticker in rig.loop.closed  # the market pass leaves it alone
    rig.feed.messages.append(lifecycle(ticker, "activated", False))
    rig.step()
    assert ticker not in rig.loop.closed
    rig.loop.log.close()
    rig.store.close()
    events = [json.loads(line) for line in log.read_text().splitlines()]
    said = [(e["event"], e.get("ticker")) for e in events if e["event"].startswith("market_")]
    assert said == [("market_closed", ticker), ("market_reopened", ticker)]


def test_a_settled_market_stays_closed_whatever_comes_after(tmp_path: Path) -> None:
    rig = make_rig(tmp_path / "state.db")
    ticker = next(iter(rig.exchange.reference.markets))
    rig.feed.messages.append(lifecycle(ticker, "settled", False))
    rig.step()
    rig.feed.messages.append(lifecycle(ticker, "activated", False))
    rig.step()
    assert ticker in rig.loop.closed
    rig.store.close()
