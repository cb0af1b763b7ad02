"""Webhook delivery: POST each pending update, in order, until the bot answers 2xx."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx

from bot.transports.emulator.errors import JSON
from bot.transports.emulator.world import Delivery, Webhook, World

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookSender:
    """Telegram retries a failed delivery with growing pauses and never skips ahead.

    ``backends`` (base URLs such as ``http://127.0.0.1:9001``) stand in for a load balancer
    in front of several bot processes: each delivery goes to the next backend in turn, at
    the registered webhook's path, instead of to the registered URL's host."""

    def __init__(
        self,
        world: World,
        *,
        retry_delay: float,
        max_delay: float = 5.0,
        timeout: float = 10.0,
        backends: Sequence[str] = (),
    ) -> None:
        self._world = world
        self._retry_delay = retry_delay
        self._max_delay = max_delay
        self._timeout = timeout
        self._backends = itertools.cycle([b.rstrip("/") for b in backends]) if backends else None

    async def run(self) -> None:
        failures = 0
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            while not self._world.closed:
                hook, update = self._world.webhook, self._world.updates[:1]
                if hook is None or not update:
                    await self._world.changed.wait(60.0)
                    continue
                if await self._deliver(client, hook, update[0]):
                    self._world.served(update)
                    self._world.confirm(update[0]["update_id"] + 1)
                    failures = 0
                else:
                    failures += 1
                    pause = self._retry_delay * 2 ** min(failures - 1, 16)
                    await self._world.sleep(min(pause, self._max_delay))

    async def _deliver(self, client: httpx.AsyncClient, hook: Webhook, update: JSON) -> bool:
        headers = {SECRET_HEADER: hook.secret_token} if hook.secret_token else {}
        status: int | None = None
        url = self._target(hook.url)
        try:
            response = await client.post(url, json=update, headers=headers)
            status = response.status_code
            error = f"Wrong response from the webhook: {status} {response.reason_phrase}"
        except httpx.HTTPError as exc:
            error = f"Connection failed: {exc!r}"
        self._world.deliveries.append(
            Delivery(
                update_id=update["update_id"],
                url=url,
                headers=headers,
                status=status,
                at=time.monotonic(),
            )
        )
        delivered = status is not None and 200 <= status <= 299
        if not delivered:
            self._world.webhook_error = (int(time.time()), error)
        self._world.changed.notify()
        return delivered

    def _target(self, registered: str) -> str:
        if self._backends is None:
            return registered
        parts = urlsplit(registered)
        return next(self._backends) + parts.path + (f"?{parts.query}" if parts.query else "")
