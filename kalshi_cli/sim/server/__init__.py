"""The simulator on the wire: Kalshi's REST paths (server.py, routes/), the WebSocket (ws.py),
the admin API (admin.py), signing and rate limits, the ASGI app and the ways to run it (serve,
embed, background). Reached only over the network: the local venue and the backtests never
import it (tests/test_architecture.py)."""
