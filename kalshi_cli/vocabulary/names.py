"""A comma-separated list of names (`--tickers A,B`, `--index`, `trade.markets: "A,B"`, a sweep's
`--param NAME=V1,V2`): one reading for every command, the loop's config and the backtest."""


def names_in(text: str | None) -> list[str]:
    """The names `text` gives: each trimmed, the blank ones dropped, so `A, B` names A and B
    wherever it is written."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]
