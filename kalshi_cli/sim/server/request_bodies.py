"""The request bodies of openapi.yaml 3.31.0.

The Go struct each operation's JSON body decodes into, and the Go type of each field a decode
can refuse. Generated from docs/kalshi-api/openapi.yaml by
`python scripts/gen_sim_operations.py`; tests/sim/test_unserved.py fails when it is stale.
sim/server/routing.py `decode_body` refuses, as Kalshi's decoder does, a body whose field has
another JSON type (REFERENCE.md: "json: cannot unmarshal number into Go struct field
CreateOrderV2Request.count of type string").

A field's Go type is its schema's, through `$ref` and `allOf`: `string` (enums and fixed-point
strings included), `bool`, `int` (an integer without a format), `int64`, and `[]T` for an array
of strings (T the item schema's name). A field that is an object, or an array of objects, is
not here: the handler of its operation checks it.
"""

from __future__ import annotations

# operationId -> the struct its body decodes into
REQUEST_BODIES: dict[str, str] = {
    "CreateOrderV2": "CreateOrderV2Request",
    "BatchCreateOrdersV2": "BatchCreateOrdersV2Request",
    "BatchCancelOrdersV2": "BatchCancelOrdersV2Request",
    "AmendOrderV2": "AmendOrderV2Request",
    "DecreaseOrderV2": "DecreaseOrderV2Request",
    "CreateOrderGroup": "CreateOrderGroupRequest",
    "ResetOrderGroup": "EmptyResponse",
    "TriggerOrderGroup": "EmptyResponse",
    "UpdateOrderGroupLimit": "UpdateOrderGroupLimitRequest",
    "IntraExchangeInstanceTransfer": "IntraExchangeInstanceTransferRequest",
    "CreateSubaccount": "CreateSubaccountRequest",
    "ApplySubaccountTransfer": "ApplySubaccountTransferRequest",
    "UpdateSubaccountNetting": "UpdateSubaccountNettingRequest",
    "ProposeBlockTrade": "ProposeBlockTradeRequest",
    "AcceptBlockTradeProposal": "AcceptBlockTradeProposalRequest",
    "CreateRFQ": "CreateRFQRequest",
    "AcceptRFQQuote": "AcceptQuoteRequest",
    "ConfirmRFQQuote": "EmptyResponse",
    "CreateQuote": "CreateQuoteRequest",
    "AcceptQuote": "AcceptQuoteRequest",
    "ConfirmQuote": "EmptyResponse",
    "CreateApiKey": "CreateApiKeyRequest",
    "GenerateApiKey": "GenerateApiKeyRequest",
    "CreateMarketInMultivariateEventCollection": "CreateMarketInMultivariateEventCollectionRequest",
    "CreateFCMSubtrader": "CreateFCMSubtraderRequest",
    "UpdateFCMEventContractDailyCap": "UpdateFCMEventContractDailyCapRequest",
    "UpdateFCMSubtraderBlockedCategories": "UpdateFCMSubtraderBlockedCategoriesRequest",
    "SetTargetBalanceAllocation": "SetTargetBalanceAllocationRequest",
}

# the structs whose body the spec marks `required: false`: an empty one decodes as {}
OPTIONAL_BODIES: frozenset[str] = frozenset(
    {
        "AcceptBlockTradeProposalRequest",
        "CreateSubaccountRequest",
        "EmptyResponse",
    }
)

# struct -> field -> Go type
GO_STRUCTS: dict[str, dict[str, str]] = {
    "CreateOrderV2Request": {
        "ticker": "string",
        "client_order_id": "string",
        "side": "string",
        "count": "string",
        "price": "string",
        "expiration_time": "int64",
        "time_in_force": "string",
        "post_only": "bool",
        "self_trade_prevention_type": "string",
        "cancel_order_on_pause": "bool",
        "reduce_only": "bool",
        "subaccount": "int",
        "order_group_id": "string",
        "exchange_index": "int",
    },
    "BatchCreateOrdersV2Request": {},
    "BatchCancelOrdersV2RequestOrder": {
        "order_id": "string",
        "subaccount": "int",
        "exchange_index": "int",
        "market_ticker": "string",
    },
    "BatchCancelOrdersV2Request": {},
    "AmendOrderV2Request": {
        "ticker": "string",
        "side": "string",
        "price": "string",
        "count": "string",
        "client_order_id": "string",
        "updated_client_order_id": "string",
        "expiration_time": "int64",
        "exchange_index": "int",
    },
    "DecreaseOrderV2Request": {
        "reduce_by": "string",
        "reduce_to": "string",
        "exchange_index": "int",
        "market_ticker": "string",
    },
    "CreateOrderGroupRequest": {
        "subaccount": "int",
        "contracts_limit": "int64",
        "contracts_limit_fp": "string",
        "exchange_index": "int",
    },
    "EmptyResponse": {},
    "UpdateOrderGroupLimitRequest": {
        "contracts_limit": "int64",
        "contracts_limit_fp": "string",
    },
    "IntraExchangeInstanceTransferRequest": {
        "source": "string",
        "destination": "string",
        "amount": "int64",
        "source_exchange_shard": "int",
        "destination_exchange_shard": "int",
        "source_subaccount": "int",
        "destination_subaccount": "int",
    },
    "CreateSubaccountRequest": {
        "exchange_index": "int",
    },
    "ApplySubaccountTransferRequest": {
        "client_transfer_id": "string",
        "from_subaccount": "int",
        "to_subaccount": "int",
        "amount_cents": "int64",
        "exchange_index": "int",
    },
    "UpdateSubaccountNettingRequest": {
        "subaccount_number": "int",
        "enabled": "bool",
    },
    "ProposeBlockTradeRequest": {
        "buyer_user_id": "string",
        "buyer_subtrader_id": "string",
        "buyer_subaccount": "int",
        "seller_user_id": "string",
        "seller_subtrader_id": "string",
        "seller_subaccount": "int",
        "market_ticker": "string",
        "price_centi_cents": "int64",
        "centicount": "int64",
        "maker_side": "string",
        "expiration_ts": "string",
    },
    "AcceptBlockTradeProposalRequest": {
        "subtrader_id": "string",
        "subaccount": "int",
    },
    "CreateRFQRequest": {
        "market_ticker": "string",
        "contracts": "int",
        "contracts_fp": "string",
        "target_cost_centi_cents": "int64",
        "target_cost_dollars": "string",
        "target_cost_excludes_fees": "bool",
        "obscure_creator_id": "bool",
        "rest_remainder": "bool",
        "replace_existing": "bool",
        "subtrader_id": "string",
        "subaccount": "int",
    },
    "AcceptQuoteRequest": {
        "accepted_side": "string",
    },
    "CreateQuoteRequest": {
        "rfq_id": "string",
        "yes_bid": "string",
        "no_bid": "string",
        "rest_remainder": "bool",
        "post_only": "bool",
        "subaccount": "int",
    },
    "CreateApiKeyRequest": {
        "name": "string",
        "public_key": "string",
        "scopes": "[]ApiKeyScope",
        "subaccount": "int",
        "fcm_subtrader_id": "string",
    },
    "GenerateApiKeyRequest": {
        "name": "string",
        "key_type": "string",
        "scopes": "[]ApiKeyScope",
        "subaccount": "int",
        "fcm_subtrader_id": "string",
    },
    "CreateMarketInMultivariateEventCollectionRequest": {
        "with_market_payload": "bool",
    },
    "CreateFCMSubtraderRequest": {
        "subtrader_suffix": "string",
    },
    "UpdateFCMEventContractDailyCapRequest": {
        "subtrader_id": "string",
        "limit": "string",
    },
    "UpdateFCMSubtraderBlockedCategoriesRequest": {
        "subtrader_id": "string",
        "category": "string",
        "blocked": "bool",
    },
    "SetTargetBalanceAllocationRequest": {
        "resting_margin_reservation": "string",
    },
}

# a batch's struct -> the struct of each item of its `orders`
GO_BATCHES: dict[str, str] = {
    "BatchCreateOrdersV2Request": "CreateOrderV2Request",
    "BatchCancelOrdersV2Request": "BatchCancelOrdersV2RequestOrder",
}
