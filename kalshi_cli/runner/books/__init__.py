"""What the trade loop keeps and writes down: its view of positions, resting orders and mids
(`portfolio`), each strategy's budget (`budgets`), the risk engine's trading records read from
the state file (`records`), the markets' fees (`fees`) and the loop's log (`entry_log`).
Exports nothing: import from the modules.
"""
