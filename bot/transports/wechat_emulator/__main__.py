"""Run the emulator alone: ``python -m bot.transports.wechat_emulator --port 8082
--callback-url http://127.0.0.1:8080/wechat``."""

from __future__ import annotations

import argparse
import asyncio
import signal

from bot.transports.wechat_emulator.callbacks import Receiver
from bot.transports.wechat_emulator.server import DEFAULT_APPID, DEFAULT_SECRET, WeChatEmulator


async def _serve(args: argparse.Namespace) -> None:
    receiver = Receiver(url=args.callback_url, token=args.token, aes_key=args.aes_key)
    emulator = WeChatEmulator(
        appid=args.appid, secret=args.secret, receiver=receiver, host=args.host, port=args.port
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await emulator.start()
    print(f"WeChat API emulator at {emulator.url}, control API at {emulator.url}/control")
    try:
        await stopping.wait()
    finally:
        await emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Local WeChat Official Account emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--appid", default=DEFAULT_APPID)
    parser.add_argument("--secret", default=DEFAULT_SECRET)
    parser.add_argument("--token", default=Receiver().token, help="the callback Token")
    parser.add_argument("--aes-key", default=None, help="EncodingAESKey: safe mode when given")
    parser.add_argument("--callback-url", default=None, help="the bot's /wechat URL")
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
