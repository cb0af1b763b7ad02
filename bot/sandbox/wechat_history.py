"""The WeChat sandbox's chats kept across restarts, as ``history`` keeps the Telegram ones.

The WeChat emulator holds its followers, both sides of their chats and the media those show
in memory; they go to ``wechat.json`` in the mode's chat folder and the media files beside
it (written once each), loaded before anyone opens a tab.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bot.sandbox.history import keep_saving
from bot.transports.wechat_emulator.world import Follower, Media, Received, World

log = logging.getLogger(__name__)

VERSION = 1


class WeChatHistory:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.chats_file = folder / "wechat.json"
        self.media = folder / "media"
        self._saved: tuple[int, int] = (-1, -1)

    def load(self, world: World) -> bool:
        """Put the saved chats into a fresh ``world``; False when there is nothing (usable)."""
        try:
            data = json.loads(self.chats_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as exc:
            log.warning(
                "sandbox WeChat chats %s unreadable (%s); starting empty", self.chats_file, exc
            )
            return False
        if data.get("version") != VERSION:
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
        partial = self.chats_file.with_suffix(".json.tmp")
        partial.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, self.chats_file)
        self._saved = _version(world)

    async def keep(self, world: World) -> None:
        """Save after every change until cancelled, then once more."""
        await keep_saving(world, lambda: self.save(world))

    def _write(self, media: Media) -> dict[str, Any]:
        path = self.media / media.media_id
        if not path.exists():
            path.write_bytes(media.data)
        return {
            "media_id": media.media_id,
            "content_type": media.content_type,
            "created_at": media.created_at,
        }

    def _media(self, meta: dict[str, Any]) -> Media | None:
        try:
            data = (self.media / meta["media_id"]).read_bytes()
        except OSError:
            return None  # deleted by hand: the message stays, its picture is gone
        return Media(data=data, **meta)


def _version(world: World) -> tuple[int, int]:
    """What changes when there is something new to save: chat items, followers."""
    return len(world.received), len(world.followers)
