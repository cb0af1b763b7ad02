"""Choosing a community from lists: the streets, then a street's communities, a page at a
time, each page edited into the same message rather than stacked (registration and the
party declaration both ask so). The flow owns the payloads; this draws the pages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.domain.model import Level
from bot.ui.payloads import Payload
from handlers.base import Context

PAGE_SIZE = 8

Row = list[tuple[str, Payload]]


class StreetsPage(Protocol):
    """The payload class of the streets list at ``page``."""

    def __call__(self, *, page: int) -> Payload: ...


class StreetPage(Protocol):
    """The payload class of a street's communities at ``page``."""

    def __call__(self, *, street_id: int, page: int) -> Payload: ...


class CommunityChosen(Protocol):
    def __call__(self, *, region_id: int) -> Payload: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Picker:
    """A flow's payload classes for the lists, and the headings (message ids)."""

    streets: StreetsPage
    street: StreetPage
    community: CommunityChosen
    streets_heading: str
    street_heading: str  # with {street}


async def show_streets(ctx: Context, picker: Picker, page: int) -> None:
    streets = await ctx.uow.regions.by_level(Level.STREET)
    items = [(s.name, picker.street(street_id=s.id, page=0)) for s in streets]
    rows = paged(ctx, items, page, lambda p: picker.streets(page=p))
    ctx.ack()
    ctx.replace_prompt(ctx._(picker.streets_heading), rows)


async def show_communities(ctx: Context, picker: Picker, street_id: int, page: int) -> bool:
    """The street's communities at ``page``; False when ``street_id`` is not a street."""
    street = await ctx.uow.regions.get_by_id(street_id)
    if street is None or street.level is not Level.STREET:
        return False
    communities = [
        c for c in await ctx.uow.regions.children(street.id) if c.level is Level.COMMUNITY
    ]
    items = [(c.name, picker.community(region_id=c.id)) for c in communities]
    rows = paged(ctx, items, page, lambda p: picker.street(street_id=street.id, page=p))
    rows.append([(ctx._("« Streets"), picker.streets(page=0))])
    ctx.ack()
    ctx.replace_prompt(ctx._(picker.street_heading).format(street=street.name), rows)
    return True


def paged(ctx: Context, items: Row, page: int, link: Callable[[int], Payload]) -> list[Row]:
    """``items`` two to a row, ``PAGE_SIZE`` a page, with Previous / Next where there are."""
    pages = max(1, -(-len(items) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = items[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    rows = [shown[i : i + 2] for i in range(0, len(shown), 2)]
    nav = [(ctx._("« Previous"), link(page - 1))] if page > 0 else []
    nav += [(ctx._("Next »"), link(page + 1))] if page < pages - 1 else []
    return [*rows, nav] if nav else rows
