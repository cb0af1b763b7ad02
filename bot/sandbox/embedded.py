"""Serve a Starlette app with uvicorn inside an asyncio program that owns the signals."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Generator
from typing import Any

import uvicorn


class _EmbeddedServer(uvicorn.Server):
    """Leaves SIGINT/SIGTERM to the host: ``gridsnap run`` stops every part in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@contextlib.asynccontextmanager
async def serving(app: Any, *, host: str, port: int) -> AsyncIterator[int]:
    """Serve ``app`` for the duration of the block; yields the bound port (for ``port=0``)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(), name=f"http:{host}:{port}")
    # uvicorn offers no startup event; it flips ``started`` once the socket listens.
    while not server.started:
        if task.done():
            await task  # re-raises the bind error, if any
            raise OSError(f"cannot listen on {host}:{port}")
        await asyncio.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task
