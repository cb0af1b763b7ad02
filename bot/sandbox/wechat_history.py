"""The WeChat sandbox's chats kept across restarts, as ``history`` keeps the Telegram ones.

The WeChat emulator holds its followers, both sides of their chats and the media those show
in memory; they go to ``wechat.json`` in the mode's chat folder and the media files beside
it (written once each), loaded before anyone opens a tab.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from bot.sandbox.history import keep_saving, read_picture, read_saved, write_once, write_saved
from bot.transports.wechat_emulator.world import Follower, Media, Received, World

VERSION = 1


class WeChatHistory:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.chats_file = folder / "wechat.json"
        self.media = folder / "media"
        self._saved: tuple[int, int] = (-1, -1)

    def load(self, world: World) -> bool:
        """Put the saved chats into a fresh ``world``; False when there is nothing (usable)."""
        data = read_saved(self.chats_file, VERSION)
        if data is None:
            return False
        for meta in data["media"]:
            media = self._media(meta)
            if media is not None:
                world.media[media.media_id] = media
        world.followers.update({f["openid"]: Follower(**f) for f in data["followers"]})
        world.received.extend(Received(**item) for item in data["received"])
        self._saved = _version(world)
        return True

    def save(self, world: World) -> None:
        """Write the chats (atomically) and any media file not written yet."""
        if _version(world) == self._saved:
            return
        self.media.mkdir(parents=True, exist_ok=True)
        data: dict[str, Any] = {
            "version": VERSION,
            "followers": [asdict(f) for f in world.followers.values()],
            "received": [asdict(item) for item in world.received],
            "media": [self._write(media) for media in world.media.values()],
        }
        write_saved(self.chats_file, data)
        self._saved = _version(world)

    async def keep(self, world: World) -> None:
        """Save after every change until cancelled, then once more."""
        await keep_saving(world, lambda: self.save(world))

    def _write(self, media: Media) -> dict[str, Any]:
        write_once(self.media / media.media_id, media.data)
        return {
            "media_id": media.media_id,
            "content_type": media.content_type,
            "created_at": media.created_at,
        }

    def _media(self, meta: dict[str, Any]) -> Media | None:
        data = read_picture(self.media / meta["media_id"])
        return None if data is None else Media(data=data, **meta)


def _version(world: World) -> tuple[int, int]:
    """What changes when there is something new to save: chat items, followers."""
    return len(world.received), len(world.followers)
