"""From a decision to the exchange and the answers back: the `LoopExecutor` (`execution.py`) and its
components, each a plain object with its own state. Exports nothing: import from the modules.
"""
