"""The ranges the exchange holds a request's numbers to (openapi.yaml 3.31.0), each in one place:
the client refuses a number outside one before it sends (a library caller, the assistant), and the
command line's option declares the same range, so a person's value outside it is a usage error
while the line is parsed, the range shown in the option's help. Constants only: `kalshi --help`
imports this module."""

ORDERBOOK_DEPTH_MAX = 100  # GET /markets/{ticker}/orderbook: 0 (every level) to 100
SUBACCOUNT_MAX = 63  # 0 the primary account, 1-63 the numbered ones (POST /portfolio/subaccounts)
# the highest exchange shard (`exchange_index`): the bound the spec gives an intra-exchange
# transfer's `source_exchange_shard` and `destination_exchange_shard` (0 to 100), the only one it
# gives a shard
SHARD_MAX = 100
