"""Commands every user has: /start (with deep-link payloads), /help, /language, /cancel."""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.chat import Kind
from bot.i18n import N_, SUPPORTED
from handlers.base import Command, Context, buttons
from handlers.edge import PRIVATE_LINK_PAYLOAD
from handlers.registry import Registry

log = logging.getLogger(__name__)

LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}


def setup(registry: Registry) -> None:
    async def start(ctx: Context) -> None:
        await _start(ctx, registry)

    async def help_(ctx: Context) -> None:
        await show_help(ctx, registry)

    registry.command(Command("start", start, N_("Start or restart"), allowed_mid_flow=False))
    registry.command(Command("help", help_, N_("What I can do"), allowed_mid_flow=True))
    registry.command(
        Command("language", choose_language, N_("Change language"), allowed_mid_flow=True)
    )
    registry.command(
        Command("cancel", cancel, N_("Stop what you are doing"), allowed_mid_flow=True)
    )

    async def from_group(ctx: Context, _rest: str) -> None:
        # The link a group chat was given: a plain /start.
        ctx.incoming = replace(ctx.incoming, payload="")
        await _start(ctx, registry)

    registry.deep_link(PRIVATE_LINK_PAYLOAD, from_group)
    registry.button("lang", set_language)
    registry.fallback(Kind.TEXT, help_)


async def _start(ctx: Context, registry: Registry) -> None:
    payload = ctx.incoming.payload.strip()
    if payload:
        prefix, _, rest = payload.partition("_")
        handler = registry.deep_links.get(prefix)
        if handler is not None:
            await handler(ctx, rest)
            return
        log.info("unknown /start payload %r", payload)
    before = len(ctx.out)
    for hook in registry.start_hooks:
        await hook(ctx)
        if len(ctx.out) > before:
            return
    await show_help(ctx, registry)


async def show_help(ctx: Context, registry: Registry | None = None) -> None:
    rows = [row for more in (registry.help_buttons if registry else []) for row in await more(ctx)]
    ctx.reply(
        ctx._(
            "Gridsnap sends hazards you see on the road to the grid workers who fix them.\n"
            "• Send a photo or /report to report a problem\n"
            "• /myreports — your reports and their status\n"
            "• /register — become a grid informant\n"
            "• /language — 中文 / English\n"
            "• /cancel — stop what you are doing"
        ),
        buttons(*([row] for row in rows)) if rows else None,
    )


async def choose_language(ctx: Context) -> None:
    ctx.reply(
        ctx._("Choose your language:"),
        buttons([(LANGUAGE_NAMES[code], f"lang:{code}") for code in SUPPORTED]),
    )


async def set_language(ctx: Context) -> None:
    code = (ctx.incoming.button_data or "").partition(":")[2]
    if code not in SUPPORTED:
        ctx.answer_button(ctx._("This button is not valid."), alert=True)
        return
    await ctx.uow.accounts.set_locale(ctx.account.id, code)
    ctx.account = replace(ctx.account, locale=code)
    ctx.answer_button()
    ctx.edit_markup(None)
    ctx.reply(ctx._("Language set to English."))


async def cancel(ctx: Context) -> None:
    if ctx.state.flow is None:
        ctx.reply(ctx._("Nothing to cancel."), remove_keyboard=True)
        return
    ctx.state.clear()
    ctx.reply(ctx._("Cancelled. Nothing was sent."), remove_keyboard=True)
