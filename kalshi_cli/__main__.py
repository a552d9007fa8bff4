"""`kalshi` console script and `python -m kalshi_cli`. The error policy lives in
`kalshi_cli.cli.app.KalshiGroup.main`, so Typer's test runner sees what the script does.
"""

from __future__ import annotations

import sys


def main() -> None:
    # httpx imports its own command-line client (`httpx._main`: click, pygments, rich) whenever
    # those are installed, costing every network command tens of ms; marked absent, httpx falls back
    # to its stub. Only in this process, never for a library user.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from kalshi_cli.cli.app import app

    app(prog_name="kalshi")


def run() -> None:
    """The console script (pyproject.toml) and `python -m kalshi_cli`."""
    main()


if __name__ == "__main__":
    run()
