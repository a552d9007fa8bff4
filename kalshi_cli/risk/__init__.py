"""Capital protection: pre-trade rules with coded denials (`rules`), the trading state (`state`),
and the engine and the guards with memory (`engine`). Exports nothing: import from the modules.

See docs/risk.md for each layer, its code, its config key and what lifts it.
"""
