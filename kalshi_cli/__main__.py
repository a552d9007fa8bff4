"""`kalshi` console script and `python -m kalshi_cli`.

The error policy itself (one line per KalshiError with its exit code, tracebacks only with
KALSHI_DEBUG=1 and never with locals) lives in `kalshi_cli.cli.app.KalshiGroup.main`, so Typer's
test runner sees exactly what the installed script does.
"""

from __future__ import annotations

import sys


def main() -> None:
    # httpx's package imports its own command-line client (`httpx._main`: click, pygments and
    # rich's progress bars and syntax highlighting) whenever those are installed, as they are
    # here, and nothing of ours ever runs it: about 45 ms of CPU on every command that goes
    # over the network, a fifth of `kalshi markets`. Marked absent, httpx falls back to its
    # stub (httpx/__init__.py: `except ImportError`); only this process, never a program that
    # imports kalshi_cli as a library. (None in sys.modules is the import system's own "cannot
    # be imported"; typeshed types the mapping as modules only.)
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from kalshi_cli.cli.app import app

    app(prog_name="kalshi")


def run() -> None:
    """The console script (pyproject.toml) and `python -m kalshi_cli`."""
    main()


if __name__ == "__main__":
    run()
