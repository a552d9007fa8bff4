"""`kalshi backtest` end to end on data sets recorded from the simulator's scenarios
(kalshi_cli/data/scenario_recording.py): the production loop, risk engine, bookkeeping and P&L on
the local venue, against hand computations from the venue's own fills."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest

from kalshi_cli.backtest import BacktestSpec, execute
from kalshi_cli.backtest.engine import RunArtifacts
from kalshi_cli.backtest.report import build_report
from kalshi_cli.data.scenario_recording import record_scenario
from kalshi_cli.vocabulary.units import ZERO, BookSide

LAL = "KXNBAGAME-SIM-LALGSW-LAL"
PROFITABLE = (("take_profit", "0.06"), ("order_count", "20"))


@pytest.fixture(scope="module")
def spike_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # the default scenario's LAL market spikes 0.50 -> 0.68 every 45 s and reverts over 15 s
    return record_scenario("default", tmp_path_factory.mktemp("spike"), seconds=300, tickers=[LAL])


def run(spec: BacktestSpec, tmp_path: Path) -> tuple[RunArtifacts, dict[str, object]]:
    artifacts = execute(spec)
    return artifacts, build_report(artifacts)


def cash_flows(artifacts: RunArtifacts) -> Iterator[Decimal]:
    """By hand, from the venue's fills: what each fill paid or received, in the trader's terms
    (a `bid` fill buys YES at p, or closes NO and gets 1 - p back; an `ask` fill sells YES at p,
    or buys NO at 1 - p), and what settlement paid."""
    position = ZERO
    for f in sorted(artifacts.venue.client.portfolio.iter_fills(), key=lambda f: f.created_time):
        p, c = f.yes_price, f.count
        if f.book_side is BookSide.BID:
            closing = min(c, max(-position, ZERO))
            yield closing * (1 - p) - (c - closing) * p
            position += c
        else:
            closing = min(c, max(position, ZERO))
            yield closing * p - (c - closing) * (1 - p)
            position -= c
        yield -f.fee
    for s in artifacts.venue.client.portfolio.iter_settlements():
        yield s.revenue


def test_spike_profits_after_fees_and_the_report_equals_a_hand_computation(
    spike_data: Path, tmp_path: Path
) -> None:
    spec = BacktestSpec(data=str(spike_data), strategy="spike", params=PROFITABLE, sample_s=5)
    artifacts, report = run(spec, tmp_path)
    totals = report["totals"]
    assert isinstance(totals, dict)
    fills = list(artifacts.venue.client.portfolio.iter_fills())
    assert len(fills) >= 4 and totals["fills"] == len(fills)
    assert Decimal(totals["fees"]) == sum((f.fee for f in fills), ZERO) > 0
    # open positions at the end are marked at the held side's best bid
    marks = ZERO
    for pos in artifacts.venue.client.portfolio.get_positions():
        book = artifacts.books[pos.ticker]
        assert book is not None
        best = book.best_yes_bid if pos.position > 0 else book.best_no_bid
        assert best is not None
        marks += abs(pos.position) * best[0]
    hand = sum(cash_flows(artifacts), ZERO) + marks
    assert Decimal(totals["net"]) == hand
    assert Decimal(totals["end_equity"]) - Decimal(totals["start_balance"]) == hand
    assert hand > 0, "spike fades a 36% spike that reverts: it must profit after fees"
    # realized P&L is the state file's: the production bookkeeping wrote every fill there
    with artifacts.store as store:
        recorded = list(store.fills.iter_fills())
        assert {f.fill_id for f in recorded} == {f.fill_id for f in fills}
        assert all(f.strategy == "spike" for f in recorded)
        assert len(store.orders.intents()) == totals["orders"]


def test_a_quiet_market_gives_no_trades(tmp_path: Path) -> None:
    data = record_scenario("quiet", tmp_path / "quiet", seconds=120)
    artifacts, report = run(BacktestSpec(data=str(data), strategy="spike"), tmp_path / "run")
    totals = report["totals"]
    assert isinstance(totals, dict)
    assert (totals["orders"], totals["fills"], totals["net"]) == (0, 0, "0.0000")
    assert report["audit"]["decisions"] > 0  # type: ignore[index]
    assert list(artifacts.venue.client.portfolio.iter_fills()) == []


def test_a_market_that_settles_mid_run_pays_its_result_and_takes_no_more_orders(
    tmp_path: Path,
) -> None:
    data = record_scenario(
        "default", tmp_path / "settling", seconds=240, tickers=[LAL], settle={LAL: (150.0, "no")}
    )
    # enter on the first spike and hold: no take-profit or time stop before settlement
    params = (("take_profit", "0.5"), ("max_hold_s", "1000"), ("order_count", "10"))
    spec = BacktestSpec(data=str(data), strategy="spike", params=params)
    artifacts, report = run(spec, tmp_path / "run")
    fills = list(artifacts.venue.client.portfolio.iter_fills())
    (settlement,) = list(artifacts.venue.client.portfolio.iter_settlements())
    assert settlement.market_result == "no"
    # fading the spike up bought NO, which the result pays $1.00 a contract
    assert all(f.book_side is BookSide.ASK for f in fills)
    held = sum((f.count for f in fills), ZERO)
    cost = sum(((1 - f.yes_price) * f.count for f in fills), ZERO)
    market = report["markets"][LAL]  # type: ignore[index]
    assert Decimal(market["settled"]) == held - cost > 0
    assert Decimal(market["realized"]) == -sum((f.fee for f in fills), ZERO)
    assert market["result"] == "no"
    settled_at = settlement.settled_time
    assert all(f.created_time <= settled_at for f in fills)
    with artifacts.store as store:
        assert [s.ticker for s in store.settlements.read()] == [LAL]
        assert all(i.created_at <= artifacts.started + 150.5 for i in store.orders.intents())
    assert report["exit_reasons"] == {"settlement": 1}


def test_a_market_that_settles_mid_run_is_booked_by_the_loop_when_it_settles(
    tmp_path: Path,
) -> None:
    """The run's loop books the settlement as a live loop does, when the market settles (its
    strategies' daily loss limits, the circuit breaker and the exposure see it from then on),
    not only in the state file the report reads after the run. The report names the
    settlement's P&L as `kalshi pnl --by strategy` does."""
    data = record_scenario(
        "default", tmp_path / "settling", seconds=240, tickers=[LAL], settle={LAL: (150.0, "no")}
    )
    params = (("take_profit", "0.5"), ("max_hold_s", "1000"), ("order_count", "10"))
    spec = BacktestSpec(data=str(data), strategy="spike", params=params)
    log = tmp_path / "log.jsonl"
    artifacts = execute(spec, log_path=log)
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    (booked,) = [r for r in rows if r["event"] == "settlement_booked"]
    (settlement,) = list(artifacts.venue.client.portfolio.iter_settlements())
    assert (booked["ticker"], booked["result"]) == (LAL, "no")
    assert Decimal(booked["realized_pnl"]) > 0
    at = datetime.fromisoformat(booked["ts"]).timestamp()
    assert at - datetime.fromisoformat(settlement.settled_time).timestamp() < 1.0
    # the report's `by_strategy` has the settlement's P&L, which no order made, apart, under
    # `settlement` (as `kalshi pnl --by strategy`), and its rows add up to the run's P&L
    report = build_report(artifacts)
    groups = cast("dict[str, dict[str, str]]", report["by_strategy"])
    totals = cast("dict[str, str]", report["totals"])
    assert set(groups) == {"spike", "settlement"}
    assert Decimal(groups["settlement"]["realized"]) == Decimal(booked["realized_pnl"])
    assert sum(Decimal(g["realized"]) for g in groups.values()) == Decimal(
        totals["realized"]
    ) + Decimal(totals["settled"])


def test_latency_is_part_of_the_run(spike_data: Path, tmp_path: Path) -> None:
    base = BacktestSpec(data=str(spike_data), strategy="spike", params=PROFITABLE)
    slow = BacktestSpec(data=str(spike_data), strategy="spike", params=PROFITABLE, latency_ms=400)
    _, fast_report = run(base, tmp_path / "fast")
    _, slow_report = run(slow, tmp_path / "slow")
    assert fast_report["totals"] != slow_report["totals"]
    assert slow_report["spec"]["latency_ms"] == 400  # type: ignore[index]


def test_every_decision_saw_only_earlier_data(spike_data: Path, tmp_path: Path) -> None:
    spec = BacktestSpec(data=str(spike_data), strategy="spike", params=PROFITABLE)
    _, report = run(spec, tmp_path)
    audit = report["audit"]
    assert isinstance(audit, dict)
    assert audit["decisions"] > 300 and audit["min_gap_s"] > 0


def test_a_sequence_gap_leaves_the_market_stale_and_untraded_until_a_snapshot(
    spike_data: Path, tmp_path: Path
) -> None:
    """A delta lost from the recording: the book may be wrong from there on, so the loop (as
    live) places nothing in that market until a snapshot comes; this recording has none."""
    import json

    from kalshi_cli.data.manifest import read_manifest, write_manifest
    from kalshi_cli.data.segments import SegmentWriter, iter_lines

    gapped = tmp_path / "gapped"
    writer = SegmentWriter(gapped, fsync=False)
    cut_at = None
    skipped_one = False
    for line in iter_lines(spike_data, Counter()):
        record = json.loads(line)
        frame = record.get("frame", {})
        elapsed = record["recv_ns"] / 1e9 - 1_767_225_600
        if not skipped_one and frame.get("type") == "orderbook_delta" and elapsed > 5:
            skipped_one, cut_at = True, record["recv_ns"] / 1e9
            continue
        writer.write(record["recv_ns"], line + b"\n")
    writer.close()
    manifest = read_manifest(spike_data) or {}
    manifest["segments"] = writer.segments
    write_manifest(gapped, manifest)
    assert cut_at is not None  # the first delta after 5 s is gone
    spec = BacktestSpec(data=str(gapped), strategy="spike", params=PROFITABLE)
    artifacts, report = run(spec, tmp_path / "run")
    assert report["data"]["skipped"].get("seq_gap") == 1  # type: ignore[index]
    with artifacts.store as store:
        assert all(i.created_at < cut_at for i in store.orders.intents())
    full, _ = run(BacktestSpec(data=str(spike_data), strategy="spike", params=PROFITABLE),
                  tmp_path / "full")  # fmt: skip
    with full.store as store:
        assert any(i.created_at > cut_at for i in store.orders.intents())


def test_from_and_to_bound_the_replay(spike_data: Path, tmp_path: Path) -> None:
    start_ns = 1_767_225_600 * 10**9
    whole = run(BacktestSpec(data=str(spike_data), strategy="spike"), tmp_path / "a")[1]
    spec = BacktestSpec(
        data=str(spike_data),
        strategy="spike",
        start_ns=start_ns + 60 * 10**9,
        end_ns=start_ns + 120 * 10**9,
    )
    part = run(spec, tmp_path / "b")[1]
    data, all_data = part["data"], whole["data"]
    assert isinstance(data, dict) and isinstance(all_data, dict)
    assert 0 < data["book_events"] < all_data["book_events"]
    assert data["from"] >= 1_767_225_660 and data["to"] <= 1_767_225_720


def test_a_backtest_writes_its_heartbeat_once_a_simulated_minute(
    spike_data: Path, tmp_path: Path
) -> None:
    # a replay's heartbeat has no reader; one a simulated second was 8% of a quiet replay
    log = tmp_path / "events.jsonl"
    execute(BacktestSpec(data=str(spike_data), strategy="spike"), log_path=log)
    events = [json.loads(line) for line in log.read_text().splitlines()]
    beats = [e for e in events if e["event"] == "heartbeat"]
    times = [datetime.fromisoformat(e["ts"]).timestamp() for e in events]
    span = times[-1] - times[0]
    assert span > 240, "the recording covers five simulated minutes"
    # at the start, once a minute, and at the end: never once a second
    assert 2 <= len(beats) <= span / 60 + 2, [b["ts"] for b in beats]


def _rewritten(source: Path, out: Path, keep: Callable[[dict[str, Any]], bool]) -> Path:
    """A copy of `source` holding only the records `keep(record)` accepts, with its manifest."""
    from kalshi_cli.data.manifest import read_manifest, write_manifest
    from kalshi_cli.data.segments import SegmentWriter, iter_lines

    writer = SegmentWriter(out, fsync=False)
    for line in iter_lines(source, Counter()):
        record = json.loads(line)
        if keep(record):
            writer.write(record["recv_ns"], line + b"\n")
    writer.close()
    manifest = read_manifest(source) or {}
    manifest["segments"] = writer.segments
    write_manifest(out, manifest)
    return out


def test_a_recording_with_no_data_of_its_markets_is_no_data_not_zero_trades(
    spike_data: Path, tmp_path: Path
) -> None:
    """A recording whose connection came up and recorded nothing (its manifest names the market
    it subscribed): a run over it read no data, which is not a strategy that found nothing."""
    from kalshi_cli.data.manifest import read_manifest, write_manifest
    from kalshi_cli.data.segments import SegmentWriter
    from kalshi_cli.vocabulary.errors import NoDataError

    empty = tmp_path / "empty"
    writer = SegmentWriter(empty, fsync=False)
    writer.write(
        1_767_225_600 * 10**9, b'{"recv_ns":1767225600000000000,"local":{"event":"connected"}}\n'
    )
    writer.close()
    write_manifest(empty, read_manifest(spike_data) or {})
    with pytest.raises(NoDataError, match=f"no data of {LAL} in {empty}"):
        execute(BacktestSpec(data=str(empty), strategy="spike"))


def test_a_window_with_no_data_of_the_chosen_market_is_no_data(tmp_path: Path) -> None:
    """Records of another market in the window are no data for the market chosen: the run
    would report zero trades for a market the recording had stopped following."""
    from kalshi_cli.vocabulary.errors import NoDataError

    gsw = "KXNBAGAME-SIM-LALGSW-GSW"
    both = record_scenario("default", tmp_path / "both", seconds=120, tickers=[LAL, gsw])
    start = 1_767_225_600 * 10**9

    def lal_stops_after_a_minute(record: dict[str, Any]) -> bool:
        body = record.get("frame", {}).get("msg", {})
        return bool(body.get("market_ticker") != LAL or record["recv_ns"] < start + 60 * 10**9)

    data = _rewritten(both, tmp_path / "lal-stops", lal_stops_after_a_minute)
    spec = BacktestSpec(
        data=str(data),
        strategy="spike",
        markets=(LAL,),
        start_ns=start + 90 * 10**9,
        end_ns=start + 110 * 10**9,
    )
    with pytest.raises(NoDataError, match=f"no data of {LAL} in {data} between the given times"):
        execute(spec)
    # the other market has its data in that window, and runs
    other = replace(spec, markets=(gsw,))
    assert run(other, tmp_path / "other")[1]["data"]["book_events"] > 0  # type: ignore[index]


def test_a_recording_whose_only_segment_is_corrupt_says_so(
    spike_data: Path, tmp_path: Path
) -> None:
    import shutil

    from kalshi_cli.vocabulary.errors import NoDataError

    data = tmp_path / "corrupt"
    shutil.copytree(spike_data, data)
    (segment,) = (data / "frames").iterdir()
    raw = segment.read_bytes()
    segment.write_bytes(raw[:10] + bytes(b ^ 0xFF for b in raw[10:200]) + raw[200:])
    with pytest.raises(NoDataError) as refused:
        execute(BacktestSpec(data=str(data), strategy="spike"))
    assert refused.value.message == f"no records in {data} (skipped: 1 corrupt_block)"


def test_a_window_after_where_a_recording_was_cut_off_says_what_the_reading_skipped(
    spike_data: Path, tmp_path: Path
) -> None:
    """A recording cut off half-way holds nothing from `--from` on in its second half (a
    holdout's part, a walk-forward's window, both placed by the manifest's span): the run is
    refused as no data, and the message must say the reading skipped the cut, not only that
    there are no records there."""
    import shutil

    from kalshi_cli.vocabulary.errors import NoDataError

    data = tmp_path / "cut"
    shutil.copytree(spike_data, data)
    (segment,) = (data / "frames").iterdir()
    raw = segment.read_bytes()
    segment.write_bytes(raw[: len(raw) // 2])
    ((first, last),) = [
        (s["first_ns"], s["last_ns"])
        for s in json.loads((data / "manifest.json").read_text())["segments"].values()
    ]
    late = BacktestSpec(data=str(data), strategy="spike", start_ns=last - (last - first) // 10)
    with pytest.raises(NoDataError) as refused:
        execute(late)
    assert refused.value.message == (
        f"no records in {data} between the given times (skipped: 1 truncated_tail)"
    )


def test_the_text_report_says_what_the_reading_skipped(spike_data: Path, tmp_path: Path) -> None:
    """A recording cut off half-way reads up to its last whole line: the figures are those of
    half the data, and the report a trader reads must say so, not only its --json."""
    import shutil

    from kalshi_cli.backtest.report import render_text

    data = tmp_path / "cut"
    shutil.copytree(spike_data, data)
    (segment,) = (data / "frames").iterdir()
    raw = segment.read_bytes()
    segment.write_bytes(raw[: len(raw) // 2])
    _, report = run(BacktestSpec(data=str(data), strategy="spike"), tmp_path / "cut-run")
    assert report["data"]["skipped"] == {"truncated_tail": 1}  # type: ignore[index]
    lines = render_text(report)
    skipped = [line for line in lines if line.startswith("skipped")]
    assert skipped == ["skipped reading the data: 1 truncated_tail (docs/data.md says why)"]
    _, whole = run(BacktestSpec(data=str(spike_data), strategy="spike"), tmp_path / "whole")
    assert not [line for line in render_text(whole) if line.startswith("skipped")]


def _recorded_in_two_runs(source: Path, out: Path) -> Path:
    """A copy of `source` whose records two recorder runs wrote in the same hour, as a
    restarted recorder leaves them: segments `.000` and `.001`, both listed in the manifest.
    Returns the second run's segment."""
    import shutil

    from kalshi_cli.data.manifest import read_manifest, write_manifest
    from kalshi_cli.data.segments import SegmentWriter, iter_lines, segment_paths

    shutil.copytree(source, out)
    lines = list(iter_lines(out, Counter()))
    shutil.rmtree(out / "frames")
    segments: dict[str, dict[str, int]] = {}
    for part in (lines[: len(lines) // 2], lines[len(lines) // 2 :]):
        writer = SegmentWriter(out, fsync=False)
        for line in part:
            writer.write(json.loads(line)["recv_ns"], line + b"\n")
        writer.close()
        segments.update(writer.segments)
    manifest = read_manifest(out)
    assert manifest is not None
    write_manifest(out, {**manifest, "segments": segments})
    _, second = segment_paths(out)
    return second


def test_a_segment_gone_or_cut_short_since_the_manifest_is_named_in_the_report(
    spike_data: Path, tmp_path: Path
) -> None:
    """The manifest lists each segment with its lines: a run over a data set that has lost one
    of them (a copy that missed a file, an hour pruned) or holds fewer whole lines of one
    (cut at a line's end, so no `truncated_tail`) reads a shorter recording than the one
    recorded, and its report must say so instead of presenting the rest as the whole."""
    import gzip

    from kalshi_cli.backtest.dataset import open_dataset
    from kalshi_cli.backtest.report import render_text
    from kalshi_cli.data.segments import iter_segment_lines

    whole = tmp_path / "whole"
    _recorded_in_two_runs(spike_data, whole)
    _, report = run(BacktestSpec(data=str(whole), strategy="spike"), tmp_path / "whole-run")
    assert report["data"]["skipped"] == {}  # type: ignore[index]

    gone = tmp_path / "gone"
    _recorded_in_two_runs(spike_data, gone).unlink()
    _, report = run(BacktestSpec(data=str(gone), strategy="spike"), tmp_path / "gone-run")
    assert report["data"]["skipped"] == {"missing_segment": 1}  # type: ignore[index]
    skipped = [line for line in render_text(report) if line.startswith("skipped")]
    assert skipped == ["skipped reading the data: 1 missing_segment (docs/data.md says why)"]
    held = open_dataset(str(gone))  # as a sweep's worker reads it, its records decoded
    assert held.decoded is not None
    artifacts = execute(BacktestSpec(data=str(gone), strategy="spike"), source=held)
    assert artifacts.skipped == {"missing_segment": 1}
    # a run that ends inside the first segment never reached where the second one was
    listed = json.loads((gone / "manifest.json").read_text())["segments"]
    first = listed[min(listed)]
    early = BacktestSpec(
        data=str(gone), strategy="spike", end_ns=(first["first_ns"] + first["last_ns"]) // 2
    )
    _, report = run(early, tmp_path / "early-run")
    assert report["data"]["skipped"] == {}  # type: ignore[index]
    assert execute(early, source=held).skipped == {}  # nor does one of the held records

    short = tmp_path / "short"
    second = _recorded_in_two_runs(spike_data, short)
    kept = list(iter_segment_lines(second, Counter()))[:10]
    second.write_bytes(gzip.compress(b"".join(line + b"\n" for line in kept)))
    _, report = run(BacktestSpec(data=str(short), strategy="spike"), tmp_path / "short-run")
    assert report["data"]["skipped"] == {"short_segment": 1}  # type: ignore[index]


def _not_a_lifecycle_frame(record: dict[str, Any]) -> bool:
    return bool(record.get("frame", {}).get("type") != "market_lifecycle_v2")


def test_a_run_ending_before_a_markets_result_is_recorded_does_not_settle_at_it(
    tmp_path: Path,
) -> None:
    """`kalshi record` reads the markets again when it stops, so the reference data of a market
    determined during the recording holds its result. A run that stops before the recorded
    `determined` frame (`--to`, a holdout's training part) did not know it: settling there at
    that result is the future reaching the figures a set is chosen on."""
    data = record_scenario(
        "default", tmp_path / "settling", seconds=240, tickers=[LAL], settle={LAL: (150.0, "no")}
    )
    reference = json.loads((data / "reference.json").read_text())
    for market in reference["markets"]:
        market.update(result="no", status="finalized")  # as read again when the recording ended
    (data / "reference.json").write_text(json.dumps(reference))
    params = (("take_profit", "0.5"), ("max_hold_s", "1000"), ("order_count", "10"))
    whole = BacktestSpec(data=str(data), strategy="spike", params=params)
    _, report = run(whole, tmp_path / "whole")
    assert Decimal(report["markets"][LAL]["settled"]) > 0  # type: ignore[index]
    cut = replace(whole, end_ns=(1_767_225_600 + 120) * 10**9)  # before the determination
    artifacts, report = run(cut, tmp_path / "cut")
    assert list(artifacts.venue.client.portfolio.iter_settlements()) == []
    market = report["markets"][LAL]  # type: ignore[index]
    assert market["settled"] == "0.0000" and Decimal(market["position"]) != 0
    assert [p["ticker"] for p in cast("list[dict[str, str]]", report["left_open"])] == [LAL]
    # a run to the end of the data settles at the reference's result as before, the frame or not
    no_frame = _rewritten(data, tmp_path / "no-lifecycle", _not_a_lifecycle_frame)
    (no_frame / "reference.json").write_text(json.dumps(reference))
    artifacts, report = run(replace(whole, data=str(no_frame)), tmp_path / "no-frame")
    (settlement,) = artifacts.venue.client.portfolio.iter_settlements()
    assert settlement.market_result == "no"
