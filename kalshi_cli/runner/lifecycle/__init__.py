"""A run of the trade loop from start to stop: `kalshi trade` around it (`launch`: the locks of
`lock`, the metrics endpoint), the checks before the first order and the loop assembled
(`session`; `paper` for `--paper`), what keeps it honest while it runs (`loop_watch`,
`heartbeat`, `alerting`, the state file pruned by `state_prune` and failing in `state_fault`),
and its end (`stop`, `summary`). Exports nothing: import from the modules.
"""
