"""Cursor pagination that always ends: a repeated cursor is an error and the number of pages is
bounded. Items are yielded lazily, a page at a time, and `limit` stops early.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

import msgspec

from kalshi_cli.vocabulary.errors import AnswerUnreadable, KalshiError

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


_ITEMS = msgspec.json.Decoder(list[msgspec.Raw] | None)
_CURSOR = msgspec.json.Decoder(str | None)


def listed_items(
    fields: Mapping[str, msgspec.Raw], key: str, *, required: bool
) -> list[msgspec.Raw]:
    """The answer's list `key`, each item its bytes. A null list is none (Go's empty slice). A
    missing one is none only where the spec lets the answer leave it out (`required` False);
    where required, `AnswerUnreadable`, so no caller reads `200 {}` as "nothing listed"."""
    raw = fields.get(key)
    if raw is None:
        if required:
            raise AnswerUnreadable(
                f"unexpected answer from the exchange: no {key!r} list, which the spec "
                "requires; what it lists is unknown"
            )
        return []
    return _ITEMS.decode(raw) or []


def next_cursor(fields: Mapping[str, msgspec.Raw], *, required: bool) -> str:
    """The cursor of the page after this one; "" when this page is the last. A cursor of "" or
    null is the last page. A missing one is the last page only where the spec lets the answer
    leave it out (`required` False, said at the call); where the spec requires it, whether more
    pages follow is unknown: `AnswerUnreadable`, as for a missing list (`listed_items`), so the kill
    switch's proof never reads the first page of the resting orders as all of them."""
    raw = fields.get("cursor")
    if raw is None:
        if required:
            raise AnswerUnreadable(
                "unexpected answer from the exchange: no 'cursor', which the spec requires; "
                "whether more pages follow is unknown"
            )
        return ""
    return _CURSOR.decode(raw) or ""
