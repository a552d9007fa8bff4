"""The paged listings the client reads, through one helper, so an iterator states only what
differs: its path, the key of its items, how an item is parsed, its filters and its limit.

A private listing (the portfolio and the archived fills, orders and positions) is signed and
paged `PORTFOLIO_PAGE_MAX` at a time; a public one (market data, live and archived) is
unsigned and paged `MARKETS_PAGE_MAX` at a time. Both page through `ClientBase._iterate`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from kalshi_cli.client.base import MARKETS_PAGE_MAX, PORTFOLIO_PAGE_MAX, ClientBase, Params

T = TypeVar("T")


def time_window(ticker: str | None, min_ts: int | None, max_ts: int | None) -> Params:
    """The filters of a listing by market and time range (unset ones are not sent)."""
    return {"ticker": ticker, "min_ts": min_ts, "max_ts": max_ts}


class Listings(ClientBase):
    """The paged listings of an API area (see the module docstring)."""

    def _listing(
        self,
        path: str,
        key: str,
        parse: Callable[[Any], T] | type[T],
        params: Params,
        limit: int | None = None,
        *,
        private: bool,
    ) -> Iterator[T]:
        """Every item of the listing at `path` (at most `limit`), page by page."""
        page_size = PORTFOLIO_PAGE_MAX if private else MARKETS_PAGE_MAX
        return self._iterate(
            path, key, parse, params=params, limit=limit, page_size=page_size, auth=private
        )
