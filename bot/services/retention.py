"""Photo retention: photos nothing refers to leave the store (PIPL Art. 6, minimum collection).

The dispatcher stores a photo before the flow decides about it, so a photo from someone
then refused (no consent, not an approved informant, a fourth photo, a draft cancelled)
stays in the store with no report naming it; a map rendered for an alert is needed only
until it is sent. The sweep deletes a stored file older than the retention age unless a
report, a conversation (a draft) or an unsent outbox row still names its key.

Why the age guard is enough against races: a photo is stored (or stored again, which makes
its file young, see ``PhotoStore.put``) before the unit of work that refers to it commits,
and the store re-reads the age right before deleting. So a photo on its way into a report
is young and stays; only one stored again in the microseconds between that check and the
unlink could be lost, and a report whose photo is missing still goes out (as text).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import Protocol

from bot.services.ports import BaseUnitOfWork

log = logging.getLogger(__name__)

# Keys asked about per unit of work: each answer takes one short read transaction, so a
# store of a million photos never holds a connection (or SQLite's writer turn) for long.
BATCH = 1000


class StoredPhotoInfo(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def modified(self) -> datetime: ...


class SweepablePhotoStore(Protocol):
    """What the sweep needs of the photo store (``storage.photos.PhotoStore``).

    ``stored`` lists photos only; ``delete_if_older`` removes a photo together with what is
    derived from it (its thumbnail), so nothing of a swept photo stays behind.
    """

    def stored(self) -> Iterable[StoredPhotoInfo]: ...
    def delete_if_older(self, key: str, cutoff: datetime) -> bool: ...


async def photo_keys_in_use(uow: BaseUnitOfWork, candidates: Collection[str]) -> set[str]:
    """The keys among ``candidates`` that a report, a conversation or an unsent message names."""
    used = await uow.reports.photo_keys_among(candidates)
    rest = set(candidates) - used
    if rest:
        used |= await uow.outbox.unsent_photo_keys_among(rest)
        rest -= used
    if rest:
        used |= await uow.conversations.photo_keys_among(rest)
    return used


async def sweep_orphan_photos(
    uow_factory: Callable[[], BaseUnitOfWork],
    store: SweepablePhotoStore,
    *,
    cutoff: datetime,
    batch: int = BATCH,
) -> int:
    """Delete stored photos last stored before ``cutoff`` that nothing refers to; how many."""
    # Walking the folders is blocking file I/O: off the event loop.
    old = await asyncio.to_thread(_keys_stored_before, store, cutoff)
    deleted = 0
    for start in range(0, len(old), batch):
        chunk = old[start : start + batch]
        async with uow_factory() as uow:
            in_use = await photo_keys_in_use(uow, chunk)
        orphans = [key for key in chunk if key not in in_use]
        deleted += await asyncio.to_thread(_delete_older, store, orphans, cutoff)
    return deleted


def _keys_stored_before(store: SweepablePhotoStore, cutoff: datetime) -> list[str]:
    # One key may be stored under two extensions; it is asked about once.
    return sorted({photo.key for photo in store.stored() if photo.modified < cutoff})


def _delete_older(store: SweepablePhotoStore, keys: list[str], cutoff: datetime) -> int:
    return sum(1 for key in keys if store.delete_if_older(key, cutoff))
