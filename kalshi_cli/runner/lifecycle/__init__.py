"""A run of the trade loop from start to stop: `kalshi trade` around it (`launch`: the locks of
`lock`, the metrics endpoint), the session (`session`: preflight, assemble, run, summary; its
signals and order group), the state file pruned by `state_prune`.
Exports nothing: import from the modules.
"""
