"""A local Telegram Bot API emulator: real HTTP, real python-telegram-bot, no network.

``BotApiEmulator`` serves the Bot API methods Gridsnap uses at ``/bot<token>/<method>``,
files at ``/file/bot<token>/<path>``, and a control API under ``/control`` for tests and
the web-chat sandbox. Run it alone with ``python -m bot.transports.emulator``.
"""

from bot.transports.emulator.errors import ApiError
from bot.transports.emulator.faults import Call, Fault
from bot.transports.emulator.server import BotApiEmulator
from bot.transports.emulator.world import Delivery, Entry

__all__ = ["ApiError", "BotApiEmulator", "Call", "Delivery", "Entry", "Fault"]
