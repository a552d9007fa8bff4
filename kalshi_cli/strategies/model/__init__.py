"""The `model` strategy and its fair-value sources (docs/models.md): `strategy.py` decides,
`sources.py` asks the trader's model (a Python callable, a child process speaking JSON lines,
or a file another program rewrites)."""

from kalshi_cli.strategies.model.sources import ModelDown, ModelError
from kalshi_cli.strategies.model.strategy import NAME, STRATEGY, ModelParams, decide, kelly_share

__all__ = ["NAME", "STRATEGY", "ModelDown", "ModelError", "ModelParams", "decide", "kelly_share"]
