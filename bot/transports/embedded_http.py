"""Serve an ASGI app with uvicorn inside an asyncio program that owns the signals: the
emulator, the sandbox web chat and the webhook server all run inside ``gridsnap run`` (or
a test), which stops every part in order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Generator
from typing import Any

import uvicorn


class _QuietServer(uvicorn.Server):
    """Leaves SIGINT/SIGTERM to the host process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class EmbeddedServer:
    def __init__(self, app: Any, *, host: str, port: int, grace_s: int = 1) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",
            log_level="warning",
            access_log=False,
            # How long requests under way may finish once it stops taking new ones.
            timeout_graceful_shutdown=grace_s,
        )
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None
        self._name = f"http:{host}:{port}"

    async def start(self) -> int:
        """Listen; return the bound port (useful with ``port=0``)."""
        self._task = asyncio.create_task(self._server.serve(), name=self._name)
        # uvicorn offers no startup event; it flips ``started`` once the socket listens.
        while not self._server.started:
            if self._task.done():
                await self._task  # re-raises the bind error, if any
                raise OSError(f"cannot listen on {self._name}")
            await asyncio.sleep(0.005)
        port: int = self._server.servers[0].sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task


@contextlib.asynccontextmanager
async def serving(app: Any, *, host: str, port: int, grace_s: int = 1) -> AsyncIterator[int]:
    """Serve ``app`` for the duration of the block; yields the bound port."""
    server = EmbeddedServer(app, host=host, port=port, grace_s=grace_s)
    bound = await server.start()
    try:
        yield bound
    finally:
        await server.stop()
