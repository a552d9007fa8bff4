"""A recording carries its reference data: `kalshi record` keeps the series, events and markets
of what it records (fees, fee changes, tick grids, rules, results) in the data set's
`reference.json`, and a backtest of it charges the fees Kalshi charges (here a series with maker
fees at twice the standard rate) and assumes nothing. A data set without them says so once."""

from __future__ import annotations

import json
import signal
import time
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from kalshi_cli.backtest.report import render_text
from kalshi_cli.data.replay import replay
from kalshi_cli.store import Store
from kalshi_cli.venue.reference import MarketInfo, default_info, load_reference
from kalshi_cli.vocabulary.errors import NoDataError
from kalshi_cli.vocabulary.exit_codes import ExitCode
from tests.backtest.in_process import kalshi
from tests.cli.test_cli_data import environ, start
from tests.feed.helpers import SimBooks
from tests.waiting import wait_until

if TYPE_CHECKING:
    from tests.conftest import SimHarness

TICKER = "FEEX-EV-A"


def test_a_recording_keeps_its_fees_and_a_backtest_charges_them(
    sim: SimHarness, tmp_path: Path
) -> None:
    books = SimBooks(sim)
    sim.create_market(TICKER, fee_type="quadratic_with_maker_fees", fee_multiplier="2")
    later = int(time.time()) + 86_400
    change = {"fee_type": "quadratic", "fee_multiplier": 3, "scheduled_ts": later}
    sim._admin("POST", "/series/FEEX/fee_changes", change)
    for side, price in (("bid", "0.4000"), ("ask", "0.6000")):
        books.order(
            books.maker, TICKER, side=side, price=price, count="50.00", tif="good_till_canceled"
        )
    out = tmp_path / "rec"
    proc = start(["record", "--tickers", TICKER, "--out", str(out)], environ(sim, tmp_path))
    try:

        def recorded(kind: str) -> bool:
            if not (out / "frames").is_dir():
                return False
            return replay(out).frames.get(kind, 0) > 0

        wait_until(lambda: recorded("orderbook_snapshot"), "the book recorded")
        # a taker sells YES into the 0.40 bid: a public trade a resting quote above it meets
        books.order(
            books.taker, TICKER, side="ask", price="0.4000", count="10.00",
            tif="immediate_or_cancel",
        )  # fmt: skip
        wait_until(lambda: recorded("trade"), "the trade recorded")
        sim.settle(TICKER, "no")  # while recording: the reference read at the end has it
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "not in the reference data" not in err
    reference = json.loads((out / "reference.json").read_text())
    (series,) = reference["series"]
    assert (series["ticker"], series["fee_type"]) == ("FEEX", "quadratic_with_maker_fees")
    assert Decimal(str(series["fee_multiplier"])) == 2
    assert [(m["ticker"], m["result"]) for m in reference["markets"]] == [(TICKER, "no")]
    assert [e["event_ticker"] for e in reference["events"]] == ["FEEX-EV"]
    (scheduled,) = reference["series_fee_changes"]
    assert scheduled["fee_type"] == "quadratic"
    info = load_reference(out)[TICKER]
    assert info.assumed == ()
    ((at, fee_type, multiplier),) = info.series_fee_changes
    assert (at, fee_type, Decimal(multiplier)) == (later, "quadratic", 3)

    run = tmp_path / "run"
    args = ["backtest", "--strategy", "market-maker", "--data", str(out)]
    done = kalshi([*args, "--out", str(run), "--keep-state", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["assumptions"]["defaults_used"] == {}
    assert not any(line.startswith("assumed") for line in render_text(report))
    with Store.open(run / "backtest.db", create=False) as store:
        fills = list(store.fills.iter_fills())
    assert fills, "the recorded trade must meet the market maker's quote"
    for f in fills:
        assert not f.is_taker
        # maker fees of this series: ceil(0.0175 x 2 x C x P x (1 - P)) to $0.0001 (the same
        # for the YES price and the NO price)
        raw = Decimal("0.0175") * 2 * f.count * f.yes_price * (1 - f.yes_price)
        assert f.fee == raw.quantize(Decimal("0.0001"), rounding=ROUND_CEILING) > 0
    assert Decimal(report["totals"]["fees"]) == sum(f.fee for f in fills)
    # settled as Kalshi settled: the market maker's YES bought at its quote pays nothing
    assert report["markets"][TICKER]["result"] == "no"
    held = sum(f.count * f.yes_price for f in fills if f.book_side.value == "bid")
    assert Decimal(report["markets"][TICKER]["settled"]) == -held


def test_a_data_set_without_reference_data_says_so_once(tmp_path: Path) -> None:
    from kalshi_cli.data.scenario_recording import record_scenario

    data = record_scenario("default", tmp_path / "d", seconds=30)
    (data / "reference.json").unlink()
    done = kalshi(["backtest", "--strategy", "spike", "--data", str(data)], tmp_path)
    assert done.returncode == 0, done.stderr
    assumed = [line for line in done.stdout.splitlines() if "assumed" in line]
    markets = json.loads((data / "manifest.json").read_text())["markets"]
    assert len(markets) > 1
    assert assumed == [
        f"assumed for {len(markets)} markets (no reference data in the data set): "
        "event, series, tick grid, fees"
    ]


def test_the_recorder_and_the_venue_name_the_same_file() -> None:
    from kalshi_cli.data import reference as data_reference
    from kalshi_cli.venue import reference as venue_reference

    assert data_reference.REFERENCE_FILE == venue_reference.REFERENCE_FILE == "reference.json"


def test_a_market_is_charged_no_fees_but_those_named_and_the_standard_only_as_assumed() -> None:
    """No defaults in money: a market's info names its series' fees, so none is charged the
    standard ones unless `default_info` assumed them for want of reference data, which it
    names for the report."""
    with pytest.raises(TypeError):
        MarketInfo("FEEX-EV-A", "FEEX-EV", "FEEX")  # type: ignore[call-arg]
    assumed = default_info("FEEX-EV-A")
    assert (assumed.fee_type, assumed.fee_multiplier) == ("quadratic", "1")
    assert "fees" in assumed.assumed


def test_the_venue_schedules_the_recorded_fee_changes() -> None:
    from dataclasses import replace

    from kalshi_cli.venue import LocalVenue
    from kalshi_cli.vocabulary.clock import ManualClock

    info = replace(
        default_info("FEEX-EV-A"),
        series_fee_changes=((1_767_229_200.0, "quadratic_with_maker_fees", "2"),),
        event_fee_changes=((1_767_232_800.0, "quadratic", "3"),),
    )
    venue = LocalVenue(ManualClock(1_767_225_600.0), [info], balance=Decimal(100))
    (change,) = venue.client.exchange.get_series_fee_changes(series_ticker="FEEX")
    assert (change["fee_type"], Decimal(str(change["fee_multiplier"]))) == (
        "quadratic_with_maker_fees",
        2,
    )
    (event_change,) = venue.core.reference.fees.event_fee_changes("FEEX-EV")
    assert (event_change.fee_type_override, event_change.scheduled_ts) == (
        "quadratic",
        1_767_232_800.0,
    )


def test_an_event_override_outlasts_a_series_fee_change() -> None:
    """EventData: the override "takes precedence over the series-level fee for this event's
    markets", before and after the series' own fees change."""
    from kalshi_cli.venue import LocalVenue
    from kalshi_cli.venue.reference import from_rest
    from kalshi_cli.vocabulary.clock import ManualClock

    t0 = 1_767_225_600.0
    change = {
        "id": "c1",
        "series_ticker": "FEEX",
        "fee_type": "quadratic",
        "fee_multiplier": 3,
        "scheduled_ts": "2026-01-01T01:00:00Z",
    }
    infos = from_rest(
        [{"ticker": "FEEX", "fee_type": "quadratic", "fee_multiplier": 1}],
        [
            {
                "event_ticker": "FEEX-EV",
                "series_ticker": "FEEX",
                "fee_type_override": "quadratic_with_maker_fees",
                "fee_multiplier_override": 2,
            }
        ],
        [{"ticker": "FEEX-EV-A", "event_ticker": "FEEX-EV"}],
        series_fee_changes=[change],
        event_fee_changes=[],
    )
    venue = LocalVenue(ManualClock(t0), infos.values(), balance=Decimal(100))
    for at in (t0, t0 + 7200):
        fees = venue.core.reference.fees.fee_model("FEEX-EV-A", at)
        assert (fees.fee_type.value, fees.multiplier) == ("quadratic_with_maker_fees", 2)
    # the series' own fees did change: a market of another event of it pays them
    assert venue.core.reference.fees.series_fees("FEEX", t0 + 7200).multiplier == 3


def test_a_market_the_reference_lists_is_charged_its_series_fees_beside_one_it_does_not(
    tmp_path: Path,
) -> None:
    """A data set may hold a market its reference data does not list (a read that failed while
    recording, a market listed after the recording started). Its fees are assumed, and the
    report says so; the markets the reference does list are still charged their series' fees,
    whichever ticker sorts first (the unlisted one, here, of the same series)."""
    from kalshi_cli.backtest.engine import BacktestSpec, execute
    from kalshi_cli.backtest.report import build_report
    from kalshi_cli.data.importer import import_jsonl

    start_s = 1_767_225_600
    listed, unlisted = "FEEX-26JAN01-B", "FEEX-26JAN01-A"
    book = {"yes_dollars_fp": [["0.4000", "10.00"]], "no_dollars_fp": [["0.5500", "10.00"]]}
    source = tmp_path / "capture.jsonl"
    source.write_text(
        "".join(
            json.dumps(
                {
                    "recv_ms": start_s * 1000 + seq,
                    "frame": {
                        "type": "orderbook_snapshot",
                        "sid": seq,
                        "seq": 1,
                        "msg": {"market_ticker": ticker, "market_id": ticker, **book},
                    },
                }
            )
            + "\n"
            for seq, ticker in enumerate((unlisted, listed), start=1)
        )
    )
    data = tmp_path / "set"
    import_jsonl(source, data)
    reference = {
        "series": [{"ticker": "FEEX", "fee_type": "quadratic", "fee_multiplier": 2}],
        "events": [{"event_ticker": "FEEX-26JAN01", "series_ticker": "FEEX"}],
        "markets": [{"ticker": listed, "event_ticker": "FEEX-26JAN01"}],
    }
    (data / "reference.json").write_text(json.dumps(reference))
    fair = tmp_path / "fair.csv"
    fair.write_text(f"ticker,fair,confidence,time\n{listed},0.90,1,{start_s}\n")
    spec = BacktestSpec(
        data=str(data),
        strategy="model",
        params=(("source", f"file:{fair}"), ("bankroll", "100"), ("max_count", "5")),
    )
    run = execute(spec)
    report = build_report(run)
    assert report["assumptions"]["defaults_used"] == {
        unlisted: ["event", "series", "tick grid", "fees"]
    }
    fills = list(run.venue.client.portfolio.iter_fills())
    assert fills and {f.ticker for f in fills} == {listed}
    for f in fills:
        # the taker fee of a series at twice the standard rate: 0.14 x C x P x (1 - P)
        raw = Decimal("0.14") * f.count * f.yes_price * (1 - f.yes_price)
        assert f.is_taker and f.fee == raw.quantize(Decimal("0.0001"), rounding=ROUND_CEILING)


def _one_market_set(tmp_path: Path, reference: dict[str, Any]) -> Path:
    """A data set of one book of FEEX-26JAN01-A, with `reference` as its reference data."""
    from kalshi_cli.data.importer import import_jsonl

    ticker = "FEEX-26JAN01-A"
    book = {"yes_dollars_fp": [["0.4000", "10.00"]], "no_dollars_fp": [["0.5500", "10.00"]]}
    frame = {
        "type": "orderbook_snapshot",
        "sid": 1,
        "seq": 1,
        "msg": {"market_ticker": ticker, "market_id": ticker, **book},
    }
    source = tmp_path / "capture.jsonl"
    source.write_text(json.dumps({"recv_ms": 1_767_225_600_000, "frame": frame}) + "\n")
    data = tmp_path / "set"
    import_jsonl(source, data)
    (data / "reference.json").write_text(
        json.dumps(
            {
                "events": [{"event_ticker": "FEEX-26JAN01", "series_ticker": "FEEX"}],
                "markets": [{"ticker": ticker, "event_ticker": "FEEX-26JAN01"}],
                **reference,
            }
        )
    )
    return data


MAKER = "quadratic_with_maker_fees"


@pytest.mark.parametrize(
    ("reference", "missing"),
    [
        ({"series": [{"ticker": "FEEX", "fee_type": MAKER}]}, "fee_multiplier"),
        ({"series": [{"ticker": "FEEX", "fee_multiplier": 2}]}, "fee_type"),
        (
            {
                "series": [{"ticker": "FEEX", "fee_type": MAKER, "fee_multiplier": 2}],
                "series_fee_changes": [
                    {
                        "id": "c1",
                        "series_ticker": "FEEX",
                        "fee_type": "quadratic",
                        "scheduled_ts": "2026-01-01T01:00:00Z",
                    }
                ],
            },
            "fee_multiplier",
        ),
    ],
    ids=["series-type-only", "series-multiplier-only", "fee-change-type-only"],
)
def test_recorded_fees_missing_half_are_refused_not_priced_at_the_standard(
    tmp_path: Path, reference: dict[str, Any], missing: str
) -> None:
    """A Series and a SeriesFeeChange always carry both `fee_type` and `fee_multiplier` (the
    spec requires them): a recorded one without either is damaged data, and the backtest stops
    naming the series and the field, rather than charging the standard type or a multiplier
    of 1 it made up."""
    data = _one_market_set(tmp_path, reference)
    with pytest.raises(NoDataError) as refused:
        load_reference(data)
    message = str(refused.value)
    assert "reference.json" in message and "FEEX" in message and f"no {missing}" in message


def test_a_backtest_of_recorded_fees_missing_their_multiplier_stops_with_one_line(
    tmp_path: Path,
) -> None:
    data = _one_market_set(tmp_path, {"series": [{"ticker": "FEEX", "fee_type": MAKER}]})
    done = kalshi(["backtest", "--strategy", "spike", "--data", str(data)], tmp_path)
    assert done.returncode == ExitCode.NO_DATA, done.stderr
    assert "Traceback" not in done.stderr
    assert "FEEX" in done.stderr and "no fee_multiplier" in done.stderr


@pytest.mark.parametrize(
    ("reference", "missing"),
    [
        (
            {"series": [{"ticker": "FEEX", "fee_type": MAKER, "fee_multiplier": None}]},
            "fee_multiplier",
        ),
        (
            {
                "series": [{"ticker": "FEEX", "fee_type": MAKER, "fee_multiplier": 2}],
                "series_fee_changes": [
                    {
                        "id": "c1",
                        "series_ticker": "FEEX",
                        "fee_type": None,
                        "fee_multiplier": None,
                        "scheduled_ts": "2026-01-01T01:00:00Z",
                    }
                ],
            },
            "fee_type",
        ),
    ],
    ids=["series-null-multiplier", "fee-change-nulls"],
)
def test_a_null_series_fee_is_refused_by_name_not_read_as_the_text_none(
    tmp_path: Path, reference: dict[str, Any], missing: str
) -> None:
    """A Series' and a SeriesFeeChange's `fee_type` and `fee_multiplier` are not nullable in
    the spec: a recorded null is a fee that is missing, refused as one, never the text "None"
    handed on as a multiplier or a fee type."""
    data = _one_market_set(tmp_path, reference)
    with pytest.raises(NoDataError) as refused:
        load_reference(data)
    message = str(refused.value)
    assert "FEEX" in message and f"no {missing}" in message
    assert "None" not in message


def test_a_null_event_override_multiplier_is_the_series_multiplier(tmp_path: Path) -> None:
    """EventData's `fee_multiplier_override` is nullable, "paired with fee_type_override": a
    recorded null with an override type is charged the series' own multiplier."""
    from kalshi_cli.venue import LocalVenue
    from kalshi_cli.vocabulary.clock import ManualClock
    from kalshi_cli.vocabulary.models import FeeModel, FeeType

    data = _one_market_set(
        tmp_path, {"series": [{"ticker": "FEEX", "fee_type": "quadratic", "fee_multiplier": 3}]}
    )
    reference = json.loads((data / "reference.json").read_text())
    reference["events"][0].update(fee_type_override=MAKER, fee_multiplier_override=None)
    (data / "reference.json").write_text(json.dumps(reference))
    (info,) = load_reference(data).values()
    venue = LocalVenue(ManualClock(1_767_225_600.0), [info], balance=Decimal(100))
    assert venue.core.reference.fees.fee_model(info.ticker) == FeeModel(
        FeeType.QUADRATIC_WITH_MAKER_FEES, Decimal(3), None
    )


def test_an_event_overriding_only_the_multiplier_is_charged_it_in_a_backtest(
    tmp_path: Path,
) -> None:
    """EventFeeChange: a null `fee_type_override` falls back to the series' type, a given
    `fee_multiplier_override` still applies. A recorded event overriding only the multiplier
    (twice the series' 1) is charged it, before and after a recorded change of the multiplier
    alone (three times), never the series' own multiplier."""
    from kalshi_cli.backtest.engine import BacktestSpec, execute

    start_s = 1_767_225_600
    ticker = "FEEX-26JAN01-A"
    data = _one_market_set(
        tmp_path,
        {
            "series": [{"ticker": "FEEX", "fee_type": "quadratic", "fee_multiplier": 1}],
            "events": [
                {
                    "event_ticker": "FEEX-26JAN01",
                    "series_ticker": "FEEX",
                    "fee_type_override": None,
                    "fee_multiplier_override": 2,
                }
            ],
            "event_fee_changes": [
                {
                    "id": "c1",
                    "event_ticker": "FEEX-26JAN01",
                    "series_ticker": "FEEX",
                    "fee_type_override": None,
                    "fee_multiplier_override": 3,
                    "scheduled_ts": "2026-01-01T01:00:00Z",
                }
            ],
        },
    )
    (info,) = load_reference(data).values()
    from kalshi_cli.venue import LocalVenue
    from kalshi_cli.vocabulary.clock import ManualClock
    from kalshi_cli.vocabulary.models import FeeModel, FeeType

    venue = LocalVenue(ManualClock(float(start_s)), [info], balance=Decimal(100))
    reference = venue.core.reference
    assert reference.fees.fee_model(ticker, start_s) == FeeModel(
        FeeType.QUADRATIC, Decimal(2), None
    )
    assert reference.fees.fee_model(ticker, start_s + 3600) == FeeModel(
        FeeType.QUADRATIC, Decimal(3), None
    )

    fair = tmp_path / "fair.csv"
    fair.write_text(f"ticker,fair,confidence,time\n{ticker},0.90,1,{start_s}\n")
    spec = BacktestSpec(
        data=str(data),
        strategy="model",
        params=(("source", f"file:{fair}"), ("bankroll", "100"), ("max_count", "5")),
    )
    run = execute(spec)
    fills = list(run.venue.client.portfolio.iter_fills())
    assert fills
    for f in fills:
        # the series' quadratic at the event's multiplier: 0.14 x C x P x (1 - P)
        raw = Decimal("0.14") * f.count * f.yes_price * (1 - f.yes_price)
        assert f.is_taker and f.fee == raw.quantize(Decimal("0.0001"), rounding=ROUND_CEILING)


def test_a_recorded_event_overriding_only_the_multiplier_keeps_it(tmp_path: Path) -> None:
    """The override read from a recorded event is each half as given: a multiplier without a
    type is kept (and charged at the series' type), never read as no override at all."""
    from kalshi_cli.venue import LocalVenue
    from kalshi_cli.vocabulary.clock import ManualClock
    from kalshi_cli.vocabulary.models import FeeModel, FeeType

    event = {"event_ticker": "FEEX-26JAN01", "series_ticker": "FEEX"}
    data = _one_market_set(
        tmp_path,
        {
            "series": [{"ticker": "FEEX", "fee_type": MAKER, "fee_multiplier": 1}],
            "events": [{**event, "fee_multiplier_override": 0.5}],
        },
    )
    (info,) = load_reference(data).values()
    venue = LocalVenue(ManualClock(1_767_225_600.0), [info], balance=Decimal(100))
    half = FeeModel(FeeType.QUADRATIC_WITH_MAKER_FEES, Decimal("0.5"), None)
    assert venue.core.reference.fees.fee_model(info.ticker) == half


@pytest.mark.parametrize(
    ("override", "change", "named"),
    [
        ({"fee_type_override": "flat"}, False, "flat"),
        ({"fee_type_override": "surcharge"}, False, "surcharge"),
        ({"fee_multiplier_override": -1}, False, "fee_multiplier_override"),
        ({"fee_type_override": "flat"}, True, "flat"),
    ],
    ids=["event-flat", "event-unknown-type", "event-negative-multiplier", "event-change-flat"],
)
def test_a_recorded_event_override_that_cannot_be_priced_stops_the_backtest_with_one_line(
    tmp_path: Path, override: dict[str, Any], change: bool, named: str
) -> None:
    """An event's fee override the model cannot price (a `flat` type, one it does not know, a
    negative multiplier), on the event or in a scheduled change, is refused when the recording
    is read, naming the event, as a series' fees are: it surfaced as the local venue's raw
    refusal (`HTTP 400 invalid_parameters`) once the backtest built its exchange."""
    data = _one_market_set(
        tmp_path, {"series": [{"ticker": "FEEX", "fee_type": "quadratic", "fee_multiplier": 1}]}
    )
    reference = json.loads((data / "reference.json").read_text())
    event = reference["events"][0]
    if change:
        reference["event_fee_changes"] = [
            {
                "id": "e1",
                "event_ticker": event["event_ticker"],
                "series_ticker": "FEEX",
                "fee_type_override": None,
                "fee_multiplier_override": None,
                **override,
                "scheduled_ts": "2026-01-01T01:00:00Z",
            }
        ]
    else:
        event.update(override)
    (data / "reference.json").write_text(json.dumps(reference))
    done = kalshi(["backtest", "--strategy", "spike", "--data", str(data)], tmp_path)
    assert done.returncode == ExitCode.NO_DATA, done.stderr
    assert "Traceback" not in done.stderr and "HTTP 400" not in done.stderr, done.stderr
    assert event["event_ticker"] in done.stderr and named in done.stderr, done.stderr
