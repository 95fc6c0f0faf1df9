"""Reading a paged listing to its end, for the tests of stores' listings and scans."""

from __future__ import annotations

from typing import Protocol, TypeVar

from tether.domain.models import Page

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Listing(Protocol[T_co]):
    """One page of a listing, from where ``cursor`` says (the first page without one)."""

    def __call__(self, *, cursor: str | None) -> Page[T_co]: ...


def every_page(read: Listing[T]) -> list[Page[T]]:
    """The pages of a listing, first to last: ``read`` without a cursor, then of each page's
    ``next_cursor`` until a page has none."""
    pages = [read(cursor=None)]
    while (cursor := pages[-1].next_cursor) is not None:
        pages.append(read(cursor=cursor))
    return pages


def walk(read: Listing[T]) -> tuple[list[T], list[str]]:
    """The items of every page of a listing, and the ids its pages reported unreadable."""
    pages = every_page(read)
    return [item for page in pages for item in page.items], [
        record for page in pages for record in page.unreadable
    ]
