"""Where a tick of the trade loop goes: which markets it visits and in which order
(`schedule.MarketSchedule`), the strategies it asks in each (`lineup.Lineup`), and one market's
turn, from the book to the strategies' decisions handed to the executor
(`market_pass.MarketPass`). Exports nothing: import from the modules.
"""
