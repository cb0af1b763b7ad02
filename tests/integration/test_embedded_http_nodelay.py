"""Regression: binding the listening socket ourselves (for a one-line "port in use") dropped
the TCP_NODELAY uvicorn sets when it binds, and every small answer of the embedded servers
(the Bot API emulator, the webhook, the sandbox) waited ~40 ms on Nagle's algorithm and the
client's delayed ACK: the report-loop bench fell from 3.2 to 0.6 loops/s."""

from __future__ import annotations

import socket

from starlette.applications import Starlette

from bot.transports.embedded_http import EmbeddedServer


async def test_connections_the_embedded_server_accepts_send_small_answers_without_delay() -> None:
    server = EmbeddedServer(Starlette(), host="127.0.0.1", port=0)
    await server.start()
    try:
        (listening,) = server._server.servers[0].sockets
        assert listening.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        await server.stop()
