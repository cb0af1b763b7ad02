"""A local WeChat Official Account server emulator: real HTTP, real wechatpy, no network.

``WeChatEmulator`` serves the official API the bot calls (``/cgi-bin/token``,
``message/custom/send``, ``message/template/send``, ``media/upload``, ``media/get``) with
WeChat's rules (48-hour window → 45015, token lifetime, error codes), pushes followers'
messages and events to the bot's URL signed (and, in safe mode, AES-encrypted) with
WeChat's retries, and offers a control API under ``/control`` for tests and the sandbox.
Run it alone with ``python -m bot.transports.wechat_emulator``.
"""

from bot.transports.wechat_emulator.callbacks import Receiver
from bot.transports.wechat_emulator.errors import WeChatError
from bot.transports.wechat_emulator.faults import Fault
from bot.transports.wechat_emulator.server import WeChatEmulator
from bot.transports.wechat_emulator.world import Callback, Follower, Received, Try

__all__ = [
    "Callback",
    "Fault",
    "Follower",
    "Received",
    "Receiver",
    "Try",
    "WeChatEmulator",
    "WeChatError",
]
