"""Collects what each flow module offers; the dispatcher is built from it.

Each module in ``handlers/`` exposes ``setup(registry)`` and adds its flows, commands, button
handlers (keyed by the route of their payloads, ``bot.ui.payloads``: the first segment of the
callback data) and fallbacks (what to do with a message of a given kind when the user is in
no flow)."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.chat import Kind
from bot.ui.payloads import Payload
from handlers.base import Command, Context, Flow

Handler = Callable[[Context], Awaitable[None]]
DeepLinkHandler = Callable[[Context, str], Awaitable[None]]
# Buttons a module adds under /help for this user: (label, payload), one a row.
HelpButtons = Callable[[Context], Awaitable[list[tuple[str, Payload]]]]

# The flow modules, in the order their commands appear in the menu.
MODULES = (
    "common",
    "register",
    "report",
    "myreports",
    "feedback",
    "points",
    "staff",
    "worker",
    "community",
    "volunteer",
    "tasks",
    "party",
)


@dataclass
class Registry:
    flows: list[Flow] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    buttons: dict[str, Handler] = field(default_factory=dict)
    fallbacks: dict[Kind, Handler] = field(default_factory=dict)
    deep_links: dict[str, DeepLinkHandler] = field(default_factory=dict)
    start_hooks: list[Handler] = field(default_factory=list)
    help_buttons: list[HelpButtons] = field(default_factory=list)

    def flow(self, flow: Flow) -> None:
        self.flows.append(flow)

    def command(self, command: Command) -> None:
        self.commands.append(command)

    def button(self, prefix: str, handler: Handler) -> None:
        if prefix in self.buttons or ":" in prefix:
            raise ValueError(f"button prefix {prefix!r} taken or malformed")
        self.buttons[prefix] = handler

    def deep_link(self, prefix: str, handler: DeepLinkHandler) -> None:
        """``/start <prefix>_<rest>`` calls ``handler(ctx, rest)``."""
        self.deep_links[prefix] = handler

    def on_start(self, handler: Handler) -> None:
        """Called for a plain ``/start``; the first hook that replies wins."""
        self.start_hooks.append(handler)

    def help_button(self, buttons: HelpButtons) -> None:
        """``buttons(ctx)`` adds its buttons under /help (none for this user: empty)."""
        self.help_buttons.append(buttons)

    def fallback(self, kind: Kind, handler: Handler) -> None:
        self.fallbacks[kind] = handler

    async def dispatch_fallback(self, ctx: Context) -> None:
        handler = self.fallbacks.get(ctx.incoming.kind) or self.fallbacks.get(Kind.TEXT)
        if handler is not None:
            await handler(ctx)


def collect(modules: tuple[str, ...] = MODULES) -> Registry:
    registry = Registry()
    for name in modules:
        importlib.import_module(f"handlers.{name}").setup(registry)
    return registry
