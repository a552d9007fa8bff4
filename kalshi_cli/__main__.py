"""`kalshi` console script and `python -m kalshi_cli`. The error policy lives in
`kalshi_cli.cli.app.KalshiGroup.main`, so Typer's test runner sees what the script does.
"""

from __future__ import annotations

import sys


def bar_httpx_cli() -> None:
    """Keep httpx's own command-line client (`httpx._main`: click, pygments, rich) out of this
    process: httpx imports it whenever those are installed, costing every network command tens
    of ms and a trade loop some 4.7 MB it never uses; marked absent, httpx falls back to its stub.
    Only in the `kalshi` process (and the benchmarks that measure it), never for a library
    user. Before anything imports httpx."""
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def main() -> None:
    bar_httpx_cli()
    from kalshi_cli.cli.app import app

    app(prog_name="kalshi")


def run() -> None:
    """The console script (pyproject.toml) and `python -m kalshi_cli`."""
    main()


if __name__ == "__main__":
    run()
