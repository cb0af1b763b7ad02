"""Reaching the Bot API at start, for either library: a Bot API server that is not up yet
(a restart of a local one, a network still coming up) is retried with backoff, one log line
per attempt and no traceback, until it answers or SIGTERM cancels the start."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# Seconds between attempts; the last repeats for as long as it takes.
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)


async def until_reachable(
    call: Callable[[], Awaitable[T]],
    *,
    transient: tuple[type[Exception], ...],
    where: str,
) -> T:
    """``call()``, again after each ``transient`` error, waiting longer each time."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except transient as exc:
            delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS)) - 1]
            log.warning(
                "Bot API at %s not reachable (attempt %d: %s); retrying in %.0f s",
                where,
                attempt,
                _first_line(exc),
                delay,
            )
            await asyncio.sleep(delay)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
