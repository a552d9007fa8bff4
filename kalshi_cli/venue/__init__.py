"""A local venue for backtests and paper trading: our orders matched by the simulator's exchange
core against a recorded or streamed book, with an estimated queue position (venue/queue.py),
latency, Kalshi's fees and settlement. See venue/venue.py and docs/backtesting.md."""

from kalshi_cli.venue.client import VenueClient
from kalshi_cli.venue.queue import FillModel
from kalshi_cli.venue.reference import MarketInfo, default_info, load_reference
from kalshi_cli.venue.venue import LocalVenue

__all__ = ["FillModel", "LocalVenue", "MarketInfo", "VenueClient", "default_info", "load_reference"]
