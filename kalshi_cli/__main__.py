"""`kalshi` console script and `python -m kalshi_cli`.

The error policy itself (one line per KalshiError with its exit code, tracebacks only with
KALSHI_DEBUG=1 and never with locals) lives in `kalshi_cli.cli.app.KalshiGroup.main`, so Typer's
test runner sees exactly what the installed script does.
"""

from __future__ import annotations


def main() -> None:
    from kalshi_cli.cli.app import app

    app(prog_name="kalshi")


def run() -> None:
    """The console script (pyproject.toml) and `python -m kalshi_cli`."""
    main()


if __name__ == "__main__":
    run()
