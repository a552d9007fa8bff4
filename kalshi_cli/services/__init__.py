"""The services a trader asks for, built from the adapters: orders, the kill switch,
reconciliation, P&L, positions, metrics (ARCHITECTURE.md, tier 3)."""
