"""The tick: the loop itself (`trade_loop.TradeLoop`) and what it holds every tick. Exports nothing:
import from the modules.
"""
