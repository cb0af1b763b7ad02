"""Process-wide things the flows and use cases need, built once by the composition root."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from bot.domain.categories import Catalogue
    from bot.geo.router import GridMap
    from bot.services.ports import BaseUnitOfWork


class PhotoStorePort(Protocol):
    def put(self, data: bytes, ext: str, *, thumbnail: bytes | None = None) -> str: ...
    def get(self, key: str) -> bytes: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


class MapHolder:
    """The grid map of this process: loaded once from the database, reloaded only when the
    stored map version changes (another process imported a new map). With no map imported
    yet, ``current()`` raises and every flow that does not route keeps working.

    ``recheck_s``: the stored version is looked up at most that often (the dispatcher
    refreshes before every update; a new map may take that long to be seen). 0: always.
    """

    def __init__(
        self,
        *,
        tolerance_m: float,
        recheck_s: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._map: GridMap | None = None
        self._tolerance_m = tolerance_m
        self._recheck_s = recheck_s
        self._monotonic = monotonic
        self._checked_at: float | None = None

    @property
    def loaded(self) -> bool:
        return self._map is not None

    def current(self) -> GridMap:
        if self._map is None:
            raise RuntimeError("grid map not loaded; call refresh() first")
        return self._map

    async def refresh(self, uow: BaseUnitOfWork) -> GridMap | None:
        from bot.geo.router import GridMap

        now = self._monotonic()
        if self._checked_at is not None and now - self._checked_at < self._recheck_s:
            return self._map
        version = await uow.regions.map_version()
        self._checked_at = now
        if version and (self._map is None or self._map.version != version):
            version, units = await uow.regions.load_units()
            self._map = GridMap(units, version=version, tolerance_m=self._tolerance_m)
        return self._map


@dataclass(kw_only=True)
class Env:
    catalogue: Catalogue
    maps: MapHolder
    photos: PhotoStorePort
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    clock: Callable[[], datetime] = utc_now
    open_reporting: bool = False
    duplicate_radius_m: float = 50.0
    duplicate_window_h: float = 72.0
    max_download_bytes: int = 20 * 1024 * 1024
    max_photo_pixels: int = 40_000_000
    bot_username: str = "gridsnap_bot"
    default_locale: str = "zh_CN"
    # How long after a missed deadline's reminder its superiors are told.
    escalate_after: timedelta = timedelta(minutes=30)
    # How long a stored photo nothing refers to is kept (bot.services.retention).
    photo_orphan_age: timedelta = timedelta(days=7)
    # How long an unfinished flow's state is kept after its last step (bot.services.drafts).
    draft_age: timedelta = timedelta(hours=24)
    # How long a settled outbox row (its payload names people) is kept (bot.scheduler).
    outbox_keep: timedelta = timedelta(days=7)
