"""The vocabulary every layer shares: money and counts, the exchange's shapes, keys, errors,
time, exit codes, and what a strategy decides (ARCHITECTURE.md, tier 1)."""
