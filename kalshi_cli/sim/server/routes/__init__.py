"""The simulator's REST routes, one module per area of the Kalshi API; each lists its
`ENDPOINTS`, which `sim/server/server.py` assembles."""
