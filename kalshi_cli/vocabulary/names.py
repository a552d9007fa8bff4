"""A comma-separated list of names (`--tickers A,B`, `--index`, `trade.markets: "A,B"`, a sweep's
`--param NAME=V1,V2`): one reading for every command, the loop's config and the backtest; and one
way to name many in a line (a check's breaches, a data set's markets)."""

from collections.abc import Sequence


def names_in(text: str | None) -> list[str]:
    """The names `text` gives: each trimmed, the blank ones dropped, each once where first given,
    so `A, B, A` names A and B wherever it is written."""
    return list(dict.fromkeys(part.strip() for part in (text or "").split(",") if part.strip()))


def first_five(names: Sequence[str]) -> str:
    """`A, B, C, D, E and 2 more`: at most five named, the rest counted."""
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
