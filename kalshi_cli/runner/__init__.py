"""The trade loop behind `kalshi trade`: see docs/trade-loop.md.

`lifecycle.session.trade()` is the command's one library call: preflight (`preflight`), assemble
(`assembly.build_loop`, for live, paper and backtest alike), run, summary. Its folders rank, each
importing only those below it: `lifecycle/` (the run) over `assembly` (and the `preflight` and
`paper` venue it uses) over `loop/` (the tick and what it holds every tick) over `execution/`
(from a decision to the exchange and back) over `config` and `ports` over `books/` (what the
loop knows). See docs/trade-loop.md "Where the code lives". Exports nothing: import from the
modules (`kalshi config show` loads `runner.config` alone, and the loop's modules load only for
the commands that run it).
"""
