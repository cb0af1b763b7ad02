"""Commands every user has: /start (with deep-link payloads), /help, /language, /cancel."""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.chat import Kind
from bot.domain.model import InformantStatus, RoleName
from bot.i18n import N_, SUPPORTED
from bot.ui.payloads import Code, Payload
from handlers.base import CHOSEN_PREFIX, Command, Context
from handlers.edge import PRIVATE_LINK_PAYLOAD
from handlers.registry import Registry

log = logging.getLogger(__name__)

LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}


LANGUAGE_ROUTE = "lang"


class SetLanguage(Payload, prefix=LANGUAGE_ROUTE):
    code: Code  # one of ``SUPPORTED``, checked when pressed


def setup(registry: Registry) -> None:
    async def start(ctx: Context) -> None:
        await _start(ctx, registry)

    async def help_(ctx: Context) -> None:
        await show_help(ctx, registry)

    registry.command(Command("start", start, N_("Start or restart"), linked_over_untouched=True))
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
    registry.button(LANGUAGE_ROUTE, set_language)
    registry.button(CHOSEN_PREFIX, _already_chosen)
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


HELP_INTRO = N_("Gridsnap sends hazards you see on the road to the grid workers who fix them.")
HELP_REPORT = N_("• Send a photo or /report to report a problem")
HELP_MINE = N_("• /myreports — your reports and their status; /points — your points")
HELP_REGISTER = N_("• /register — become a grid informant")
HELP_PENDING = N_("• Your registration is waiting for a community admin's approval")
HELP_WORKER = N_("• /queue — the open cases of your grids; /duty — go on or off duty")
HELP_ADMIN = N_("• /returned — cases returned to your area, to re-dispatch or reject")
HELP_SERVICE = N_("• /volunteer — volunteer service; /rank — the leaderboards")
HELP_SERVICE_ADMIN = N_(
    "• /task new — publish a service task; /volunteerstats — volunteer service in figures"
)
HELP_PARTY = N_("• /declarations — party membership declarations waiting for you; /partystats")
HELP_ALWAYS = N_(
    "• /mydata — what we hold about you; /deletedata — delete it\n"
    "• /language — 中文 / English\n"
    "• /cancel — stop what you are doing"
)
_GRID_STAFF = frozenset({RoleName.GRID_WORKER, RoleName.GRID_LEADER})
_ADMINS = frozenset({RoleName.COMMUNITY_ADMIN, RoleName.STREET_ADMIN, RoleName.CITY_ADMIN})
_SERVICE_ADMINS = _ADMINS | {RoleName.PARTY_SECRETARY}


async def show_help(ctx: Context, registry: Registry | None = None) -> None:
    """What this person can do now: a rider, a pending applicant, staff, or a newcomer; with
    the buttons flows add to it (``Registry.help_button``)."""
    profile = await ctx.uow.informants.get(ctx.account.id)
    roles = {grant.role for grant in await ctx.uow.roles.for_account(ctx.account.id)}
    approved = profile is not None and profile.status is InformantStatus.APPROVED
    lines = [HELP_INTRO]
    if approved or ctx.env.open_reporting:
        lines.append(HELP_REPORT)
    if approved or profile is not None:
        lines.append(HELP_MINE)
    if profile is not None and profile.status is InformantStatus.PENDING:
        lines.append(HELP_PENDING)
    elif not approved and not (roles & (_GRID_STAFF | _SERVICE_ADMINS)):
        lines.append(HELP_REGISTER)
    if approved or profile is not None:
        lines.append(HELP_SERVICE)
    if roles & _GRID_STAFF:
        lines.append(HELP_WORKER)
    if roles & _ADMINS:
        lines.append(HELP_ADMIN)
    if roles & _SERVICE_ADMINS:
        lines.append(HELP_SERVICE_ADMIN)
    if RoleName.PARTY_SECRETARY in roles:
        lines.append(HELP_PARTY)
    lines.append(HELP_ALWAYS)
    rows = [row for more in (registry.help_buttons if registry else []) for row in await more(ctx)]
    ctx.choose("\n".join(ctx._(line) for line in lines), [[row] for row in rows])


async def _already_chosen(ctx: Context) -> None:
    """The ticked button that shows an earlier choice: nothing to do, nothing to say."""
    ctx.ack()


async def choose_language(ctx: Context) -> None:
    row: list[tuple[str, Payload]] = [
        (LANGUAGE_NAMES[code], SetLanguage(code=code)) for code in SUPPORTED
    ]
    ctx.choose(ctx._("Choose your language:"), [row])


async def set_language(ctx: Context) -> None:
    pressed = ctx.pressed
    if not isinstance(pressed, SetLanguage) or pressed.code not in SUPPORTED:
        ctx.ack(ctx._("This button is not valid."), alert=True)
        return
    code = pressed.code
    await ctx.uow.accounts.set_locale(ctx.account.id, code)
    ctx.account = replace(ctx.account, locale=code)
    ctx.ack()
    ctx.show_choice(LANGUAGE_NAMES[code])
    ctx.reply(ctx._("Language set to English."))


async def cancel(ctx: Context) -> None:
    if ctx.state.flow is None:
        ctx.reply(ctx._("Nothing to cancel."), remove_keyboard=True)
        return
    ctx.state.clear()
    ctx.reply(ctx._("Cancelled. Nothing was sent."), remove_keyboard=True)
