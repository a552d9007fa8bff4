"""Cursor pagination that always ends: a repeated cursor is an error and the number of pages is
bounded. Items are yielded lazily, a page at a time, and `limit` stops early.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from kalshi_cli.vocabulary.errors import KalshiError

T = TypeVar("T")

MAX_PAGES = 10_000

# fetch(cursor or None for the first page, page size) -> (items, next cursor; "" at the end)
FetchPage = Callable[[str | None, int], tuple[list[T], str]]


def paginate(
    fetch: FetchPage[T],
    *,
    page_size: int,
    limit: int | None = None,
    max_pages: int = MAX_PAGES,
    on_page: Callable[[int], None] | None = None,
    what: str = "list",
) -> Iterator[T]:
    """Yield items across pages until the cursor is empty or `limit` items were yielded.

    `on_page(items_so_far)` is called after each page arrives, before its items are yielded.
    """
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    if limit is not None and limit <= 0:
        return
    seen: set[str] = set()
    cursor: str | None = None
    delivered = 0
    for _ in range(max_pages):
        want = page_size if limit is None else min(page_size, limit - delivered)
        items, next_cursor = fetch(cursor, want)
        if limit is not None:
            items = items[: limit - delivered]
        delivered += len(items)
        if on_page is not None:
            on_page(delivered)
        yield from items
        if not next_cursor or (limit is not None and delivered >= limit):
            return
        if next_cursor in seen:
            raise KalshiError(
                f"pagination cursor repeated while listing {what} after {delivered} items",
                hint="the exchange returned a page it already returned; try again later",
            )
        seen.add(next_cursor)
        cursor = next_cursor
    raise KalshiError(
        f"listing {what} stopped after {max_pages} pages ({delivered} items)",
        hint="narrow the listing with filters",
    )
