"""Serve an ASGI app with uvicorn inside an asyncio program that owns the signals: the
emulator, the sandbox web chat and the webhook server all run inside ``gridsnap run`` (or
a test), which stops every part in order."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Generator
from typing import Any

import uvicorn


class CannotListen(OSError):
    """The address is taken (or not ours to bind); raised before anything is served."""

    def __init__(self, host: str, port: int, reason: OSError) -> None:
        super().__init__(f"cannot listen on {host}:{port}: {reason.strerror or reason}")
        self.host, self.port = host, port


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
        self._host, self._port = host, port

    async def start(self) -> int:
        """Listen; return the bound port (useful with ``port=0``).

        Raises ``CannotListen`` when the port is taken.
        """
        # Bound here rather than by uvicorn, which logs a taken port and calls sys.exit()
        # inside its task: a SystemExit escaping the event loop, tracebacks and all.
        listening = self._bind()
        self._task = asyncio.create_task(self._server.serve([listening]), name=self._name)
        # uvicorn offers no startup event; it flips ``started`` once the socket listens.
        while not self._server.started:
            if self._task.done():
                await self._task  # re-raises the bind error, if any
                raise OSError(f"cannot listen on {self._name}")
            await asyncio.sleep(0.005)
        port: int = self._server.servers[0].sockets[0].getsockname()[1]
        return port

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        listening = socket.socket(family, socket.SOCK_STREAM)
        try:
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Accepted connections inherit it: without it a small answer waits ~40 ms on
            # Nagle's algorithm and the client's delayed ACK (uvicorn sets it when it binds).
            listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            listening.bind((self._host, self._port))
        except OSError as exc:
            listening.close()
            raise CannotListen(self._host, self._port, exc) from None
        return listening

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
