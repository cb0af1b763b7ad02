"""Run the emulator alone: ``python -m bot.transports.emulator --port 8081``."""

from __future__ import annotations

import argparse
import asyncio
import signal

from bot.transports.emulator.server import BotApiEmulator


async def _serve(args: argparse.Namespace) -> None:
    emulator = BotApiEmulator(
        token=args.token, host=args.host, port=args.port, webhook_backends=args.webhook_backend
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await emulator.start()
    print(f"Bot API emulator at {emulator.base_url}<token>/, control API at {emulator.url}/control")
    try:
        await stopping.wait()
    finally:
        await emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Local Telegram Bot API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123456789:gridsnap-emulator")
    parser.add_argument(
        "--webhook-backend",
        action="append",
        default=[],
        metavar="URL",
        help="deliver webhook updates round robin to these base URLs (a load balancer "
        "stand-in for several bot processes); repeat for each",
    )
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
