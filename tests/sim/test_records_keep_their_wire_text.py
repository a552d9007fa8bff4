"""An order, a fill and a trade go out as the same text, key for key and in the same order, from
every serializer that sends them (REST and the `trade` channel): the golden record of the core
compares parsed JSON, where the order of the keys does not show."""

from __future__ import annotations

import json
from decimal import Decimal as D

from kalshi_cli.sim.core import serialize as ser
from kalshi_cli.sim.core.records import SimFill, SimOrder, SimTrade
from kalshi_cli.vocabulary.units import BookSide, SelfTradePrevention, TimeInForce

ASK = BookSide.ASK


def _text(msg: ser.Json) -> str:
    return json.dumps(msg, separators=(",", ":"))


def test_an_order_goes_out_as_before() -> None:
    order = SimOrder(
        "oid", "acct/2", "coid", "T", ASK, D("0.4300"), D(5), D(2), D(3), "resting",
        TimeInForce.GTC, False, False, SelfTradePrevention.MAKER, 1700000000, 1.5, 2.5,
        order_group_id="g",
    )  # fmt: skip
    assert _text(ser.order_json(order, 1)) == (
        '{"order_id":"oid","user_id":"acct","client_order_id":"coid","ticker":"T",'
        '"outcome_side":"no","book_side":"ask","side":"no","action":"buy","type":"limit",'
        '"status":"resting","yes_price_dollars":"0.4300","no_price_dollars":"0.5700",'
        '"fill_count_fp":"2.00","remaining_count_fp":"3.00","initial_count_fp":"5.00",'
        '"taker_fill_cost_dollars":"0.000000","maker_fill_cost_dollars":"0.000000",'
        '"taker_fees_dollars":"0.000000","maker_fees_dollars":"0.000000",'
        '"expiration_time":"2023-11-14T22:13:20.000Z","created_time":"1970-01-01T00:00:01.500Z",'
        '"last_update_time":"1970-01-01T00:00:02.500Z","self_trade_prevention_type":"maker",'
        '"order_group_id":"g","cancel_order_on_pause":false,"subaccount_number":2,'
        '"exchange_index":1}'
    )


def test_a_fill_goes_out_as_before() -> None:
    fill = SimFill(
        "fid", "tid", "oid", "acct/1", "coid", "T", ASK, D("0.4312"), D("1.50"), True,
        D("0.0123"), D(3), 1700000001.25,
    )  # fmt: skip
    assert _text(ser.fill_json(fill, 2)) == (
        '{"fill_id":"fid","exchange_index":2,"trade_id":"tid","order_id":"oid","ticker":"T",'
        '"market_ticker":"T","outcome_side":"no","book_side":"ask","side":"no","action":"buy",'
        '"count_fp":"1.50","yes_price_dollars":"0.4312","no_price_dollars":"0.5688",'
        '"is_taker":true,"created_time":"2023-11-14T22:13:21.250Z","fee_cost":"0.012300",'
        '"subaccount_number":1,"ts":1700000001}'
    )


def test_a_trade_goes_out_as_before_on_rest_and_on_its_channel() -> None:
    trade = SimTrade("tid", "T", D("0.43"), D(2), ASK, 1700000002.5)
    assert _text(ser.trade_json(trade)) == (
        '{"trade_id":"tid","ticker":"T","count_fp":"2.00","yes_price_dollars":"0.4300",'
        '"no_price_dollars":"0.5700","taker_side":"no","taker_outcome_side":"no",'
        '"taker_book_side":"ask","created_time":"2023-11-14T22:13:22.500Z",'
        '"is_block_trade":false}'
    )
    assert _text(ser.ws_trade_msg(trade)) == (
        '{"trade_id":"tid","market_ticker":"T","yes_price_dollars":"0.4300",'
        '"no_price_dollars":"0.5700","count_fp":"2.00","taker_side":"no",'
        '"taker_outcome_side":"no","taker_book_side":"ask","is_block_trade":false,'
        '"ts":1700000002,"ts_ms":1700000002500}'
    )
