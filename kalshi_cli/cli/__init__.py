"""The `kalshi` command line: thin Typer commands, one module per command group (see app.py)."""
