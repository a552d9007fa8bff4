"""The tick: the loop itself (`trade_loop.TradeLoop`) and what it holds every tick. Which markets
it visits and in which order (`schedule`), the strategies it asks in each (`lineup`), one
market's turn from the book to the decisions handed to the executor (`market_pass`); what it
watches besides the books (`watch`), says of itself (`heartbeat`, `alerting`, `summary`) and its
stop (`stop`); its settings (`settings`) and what its parts share (`shared`). Exports nothing:
import from the modules.
"""
