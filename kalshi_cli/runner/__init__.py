"""The trade loop behind `kalshi trade`: see docs/trade-loop.md "Where the code lives".

`lifecycle.session.trade()` is the command's one library call: preflight, assemble
(`assembly.build_loop`, for live, paper and backtest alike), run, summary. The folders rank, each
importing only those below: `lifecycle/` over `assembly` over `loop/` over `execution/` over
`config` and `ports` over `books/`. Exports nothing: import from the modules, so a command loads
only what it runs.
"""
