"""Webhook delivery: POST each pending update, in order, until the bot answers 2xx."""

from __future__ import annotations

import time

import httpx

from bot.transports.emulator.errors import JSON
from bot.transports.emulator.world import Delivery, Webhook, World

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookSender:
    """Telegram retries a failed delivery with growing pauses and never skips ahead."""

    def __init__(
        self, world: World, *, retry_delay: float, max_delay: float = 5.0, timeout: float = 10.0
    ) -> None:
        self._world = world
        self._retry_delay = retry_delay
        self._max_delay = max_delay
        self._timeout = timeout

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
        try:
            response = await client.post(hook.url, json=update, headers=headers)
            status = response.status_code
            error = f"Wrong response from the webhook: {status} {response.reason_phrase}"
        except httpx.HTTPError as exc:
            error = f"Connection failed: {exc!r}"
        self._world.deliveries.append(
            Delivery(
                update_id=update["update_id"],
                url=hook.url,
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
