"""From a decision to the exchange and the answers back: the `LoopExecutor` (`execution.py`) and
its parts, each a plain object with its own state. The API error guard (`call_guard`), the
wait after a refusal for balance (`balance_hold`), orders whose answer was lost
(`unknown_orders`), fills read back and applied once (`fills`), cancels (`cancels`), one order
sent (`sender`) and a tick's orders sent as batches (`outbox`), the calls run off the deciding
thread (`dispatch`), the loop's own orders and their withdrawal (`own_orders`), a stop's wait
that a second interrupt gives up (`give_up`), and the session's order group (`order_group`).
Exports nothing: import from the modules.
"""
