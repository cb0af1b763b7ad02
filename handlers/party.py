"""Party membership in chat (亮身份): the rider's ``/party``, the party organisation's
decisions, and the counts for admins.

Flow ``party`` (buttons ``party:…``): a consent screen of its own comes first (PIPL Art.
28–29: party membership is sensitive personal information, apart from the registration's
consent); Decline stores nothing. Then formal or probationary, the party organisation
holding the membership (free text), the year joined, the community whose party
organisation the rider reports to (their work-area community offered first), a summary,
Submit. Until Submit everything lives in the conversation state, which expires like any
draft.

``/party`` again shows the declaration with its buttons (``pms:…``): withdraw (deleted at
once), correct and resubmit, show or hide the badge once verified. The party secretaries
of the community get the declaration with Verify / Ask for details / Decline (``pmd:…``,
see ``bot.services.party``); Ask for details takes their question (flow ``pmq``).
``/declarations`` lists what waits for them; ``/partystats`` gives admins counts only.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from bot.chat import Kind, Outgoing, OutKind
from bot.domain.model import Level
from bot.domain.party import (
    FIRST_YEAR,
    ORGANISATION_MAX,
    QUESTION_MAX,
    DeclarationStatus,
    PartyDeclaration,
    Standing,
    year_is_plausible,
)
from bot.i18n import N_
from bot.services import party
from bot.services.ports import ConcurrentUpdate
from handlers.base import Command, Context, Flow, buttons
from handlers.registry import Registry

log = logging.getLogger(__name__)

FLOW = "party"
ASK_FLOW = "pmq"
STATUS_PREFIX = "pms"
PAGE_SIZE = 8
CORRECTABLE = frozenset(
    {DeclarationStatus.PENDING, DeclarationStatus.NEEDS_DETAILS, DeclarationStatus.DECLINED}
)


def setup(registry: Registry) -> None:
    flow = PartyFlow()

    async def party_command(ctx: Context) -> None:
        await show_party(ctx, flow)

    async def on_status_button(ctx: Context) -> None:
        await on_status(ctx, flow)

    registry.flow(flow)
    registry.flow(AskFlow())
    registry.command(Command("party", party_command, N_("Declare your party membership")))
    registry.command(
        Command("declarations", show_declarations, N_("Party declarations to verify"), menu=False)
    )
    registry.command(Command("partystats", show_stats, N_("Party membership counts"), menu=False))
    registry.button(STATUS_PREFIX, on_status_button)
    registry.button(party.DECISION_PREFIX, on_decision)
    registry.help_button(help_buttons)


# -- the rider's declaration -----------------------------------------------------------------


class PartyFlow(Flow):
    name = FLOW

    async def begin(self, ctx: Context, **kwargs: Any) -> None:
        """``consented_at`` (ISO time): correcting a stored declaration, whose consent
        holds, so the consent screen is skipped."""
        ctx.state.clear()
        consented_at = kwargs.get("consented_at")
        if consented_at:
            self.enter(ctx, "standing", consented_at=consented_at)
            await _ask_standing(ctx)
            return
        self.enter(ctx, "consent")
        await _show_consent(ctx)

    async def on_input(self, ctx: Context) -> None:
        handler = _STEPS.get(ctx.state.step or "consent")
        if handler is None:  # a step this version no longer has: start again
            await self.begin(ctx)
            return
        await handler(self, ctx)

    async def reprompt(self, ctx: Context) -> None:
        await _PROMPTS[ctx.state.step or "consent"](ctx)

    async def _consent(self, ctx: Context) -> None:
        choice = _choice(ctx)
        if choice not in ("agree", "decline"):
            await _refuse(ctx, _show_consent)
            return
        ctx.answer_button()
        ctx.edit_markup(None)
        if choice == "decline":
            ctx.state.clear()
            ctx.reply(
                ctx._(
                    "You declined, so nothing about your party membership was stored. "
                    "Send /party whenever you change your mind."
                )
            )
            return
        self.enter(ctx, "standing", consented_at=ctx.now.isoformat())
        await _ask_standing(ctx)

    async def _standing(self, ctx: Context) -> None:
        choice = _choice(ctx) or ""
        kind, _, value = choice.partition(":")
        if kind != "st" or value not in set(Standing):
            await _refuse(ctx, _ask_standing)
            return
        ctx.answer_button()
        ctx.edit_markup(None)
        self.enter(ctx, "organisation", standing=value)
        await _ask_organisation(ctx)

    async def _organisation(self, ctx: Context) -> None:
        text = " ".join(ctx.incoming.text.split()) if ctx.incoming.kind is Kind.TEXT else ""
        if not text or len(text) > ORGANISATION_MAX or text.startswith("/"):
            if ctx.incoming.kind is Kind.TEXT:
                ctx.reply(
                    ctx._("The organisation's name has 1 to {max} characters.").format(
                        max=ORGANISATION_MAX
                    )
                )
                await _ask_organisation(ctx)
            else:
                await _refuse(ctx, _ask_organisation)
            return
        self.enter(ctx, "year", organisation=text)
        await _ask_year(ctx)

    async def _year(self, ctx: Context) -> None:
        if ctx.incoming.kind is not Kind.TEXT:
            await _refuse(ctx, _ask_year)
            return
        text = ctx.incoming.text.strip()
        this_year = ctx.now.astimezone(ctx.env.zone).year
        year = int(text) if text.isascii() and text.isdigit() and len(text) == 4 else None
        if year is None or not year_is_plausible(year, this_year=this_year):
            log.info("implausible year joined %r from account %s", text[:10], ctx.account.id)
            ctx.reply(
                ctx._("Please write the year as four digits, from {first} to {year}.").format(
                    first=FIRST_YEAR, year=this_year
                )
            )
            await _ask_year(ctx)
            return
        self.enter(ctx, "community", year=year)
        await _ask_community(ctx)

    async def _community(self, ctx: Context) -> None:
        choice = _choice(ctx)
        if choice is None:
            await _refuse(ctx, _ask_community)
        elif choice.startswith("streets:"):
            await _page_streets(ctx, _int(choice.partition(":")[2]) or 0)
        elif choice.startswith("street:"):
            street, _, page = choice.partition(":")[2].partition(":")
            await _page_communities(ctx, _int(street), _int(page) or 0)
        elif choice.startswith("comm:"):
            await self._community_chosen(ctx, _int(choice.partition(":")[2]))
        else:
            await _refuse(ctx, _ask_community)

    async def _community_chosen(self, ctx: Context, region_id: int | None) -> None:
        node = await ctx.uow.regions.get_by_id(region_id) if region_id is not None else None
        if node is None or node.level is not Level.COMMUNITY:
            await _refuse(ctx, _ask_community)
            return
        ctx.answer_button()
        ctx.edit_markup(None)
        self.enter(ctx, "confirm", community_id=node.id, community_name=node.name)
        await _show_summary(ctx)

    async def _confirm(self, ctx: Context) -> None:
        choice = _choice(ctx)
        if choice == "restart":
            ctx.answer_button()
            ctx.edit_markup(None)
            self.enter(ctx, "standing")
            await _ask_standing(ctx)
        elif choice == "submit":
            ctx.answer_button()
            ctx.edit_markup(None)
            await self._submit(ctx)
        else:
            await _refuse(ctx, _show_summary)

    async def _submit(self, ctx: Context) -> None:
        data = ctx.state.data
        ctx.state.clear()
        if await party.declarant(ctx.uow, ctx.account.id) is None:
            ctx.reply(_not_a_rider(ctx))  # the registration went (deleted or rejected) meanwhile
            return
        draft = party.Draft(
            standing=Standing(data["standing"]),
            organisation=data["organisation"],
            year_joined=int(data["year"]),
            community_id=int(data["community_id"]),
        )
        _declaration, asked = await party.declare(
            ctx.uow,
            ctx.env,
            ctx.account,
            draft,
            now=ctx.now,
            consented_at=datetime.fromisoformat(data["consented_at"]),
        )
        community = data.get("community_name", "")
        if asked:
            ctx.reply(
                ctx._(
                    "Thank you! Your declaration was sent to the party organisation of "
                    "{community}. I will tell you here when it is verified. /party shows it; "
                    "you can withdraw it there at any time."
                ).format(community=community)
            )
            return
        ctx.reply(
            ctx._(
                "Thank you! Your declaration is stored. The party organisation of {community} "
                "is not on Gridsnap yet; it will see your declaration when it joins, and I will "
                "tell you here. /party shows it; you can withdraw it there at any time."
            ).format(community=community)
        )


async def _show_consent(ctx: Context) -> None:
    ctx.reply(
        ctx._(
            "Declaring your party membership is optional and separate from your registration. "
            "Party membership is sensitive personal information, so please read this first.\n\n"
            "What we collect: whether you are a formal or probationary member, the party "
            "organisation that holds your membership, the year you joined, and the community "
            "whose party organisation you report to. Nothing else.\n"
            "Who sees it: only the party organisation of that community, together with your "
            "name and company from your registration, to verify it. Grid workers, admins and "
            "other riders never see it; admins see only counts, never names.\n"
            "How long: until you withdraw it or delete your data.\n"
            "How to withdraw: send /party and press Withdraw; the declaration is deleted at "
            "once. /deletedata deletes it with the rest of your data.\n\n"
            "Do you agree?"
        ),
        buttons([(ctx._("Agree"), f"{FLOW}:agree"), (ctx._("Decline"), f"{FLOW}:decline")]),
    )


async def _ask_standing(ctx: Context) -> None:
    ctx.reply(
        ctx._("Are you a formal or a probationary party member?"),
        buttons(
            [
                (ctx._("Formal member"), f"{FLOW}:st:{Standing.FORMAL.value}"),
                (ctx._("Probationary member"), f"{FLOW}:st:{Standing.PROBATIONARY.value}"),
            ]
        ),
    )


async def _ask_organisation(ctx: Context) -> None:
    ctx.reply(
        ctx._(
            "Which party organisation holds your membership? Write its name "
            "(up to {max} characters)."
        ).format(max=ORGANISATION_MAX)
    )


async def _ask_year(ctx: Context) -> None:
    ctx.reply(ctx._("In which year did you join the party? (e.g. 2015)"))


async def _ask_community(ctx: Context) -> None:
    rows: list[list[tuple[str, str]]] = []
    profile = await party.declarant(ctx.uow, ctx.account.id)
    home = await party.work_community(ctx.uow, profile) if profile else None
    if home is not None:
        rows.append([(home.name, f"{FLOW}:comm:{home.id}")])
    rows.append([(ctx._("Choose another community"), f"{FLOW}:streets:0")])
    ctx.reply(
        ctx._(
            "To which community's party organisation do you report? Your work area's "
            "community is offered first."
        ),
        buttons(*rows),
    )


async def _show_summary(ctx: Context) -> None:
    data = ctx.state.data
    draft = party.Draft(
        standing=Standing(data["standing"]),
        organisation=data["organisation"],
        year_joined=int(data["year"]),
        community_id=int(data["community_id"]),
    )
    ctx.reply(
        ctx._("Please check your declaration:\n{details}\nCommunity: {community}").format(
            details=party.details(ctx.t, draft), community=data.get("community_name", "")
        ),
        buttons([(ctx._("Submit"), f"{FLOW}:submit"), (ctx._("Start over"), f"{FLOW}:restart")]),
    )


_PROMPTS = {
    "consent": _show_consent,
    "standing": _ask_standing,
    "organisation": _ask_organisation,
    "year": _ask_year,
    "community": _ask_community,
    "confirm": _show_summary,
}
_STEPS = {
    "consent": PartyFlow._consent,
    "standing": PartyFlow._standing,
    "organisation": PartyFlow._organisation,
    "year": PartyFlow._year,
    "community": PartyFlow._community,
    "confirm": PartyFlow._confirm,
}


# -- choosing another community ------------------------------------------------------------


async def _page_streets(ctx: Context, page: int) -> None:
    streets = await ctx.uow.regions.by_level(Level.STREET)
    items = [(s.name, f"{FLOW}:street:{s.id}:0") for s in streets]
    rows = _paged(ctx, items, page, lambda p: f"{FLOW}:streets:{p}")
    await _show_choice(ctx, ctx._("Choose the street:"), rows)


async def _page_communities(ctx: Context, street_id: int | None, page: int) -> None:
    street = await ctx.uow.regions.get_by_id(street_id) if street_id is not None else None
    if street is None or street.level is not Level.STREET:
        await _refuse(ctx, _ask_community)
        return
    communities = [
        c for c in await ctx.uow.regions.children(street.id) if c.level is Level.COMMUNITY
    ]
    items = [(c.name, f"{FLOW}:comm:{c.id}") for c in communities]
    rows = _paged(ctx, items, page, lambda p: f"{FLOW}:street:{street.id}:{p}")
    rows.append([(ctx._("« Streets"), f"{FLOW}:streets:0")])
    await _show_choice(
        ctx, ctx._("{street}: choose the community:").format(street=street.name), rows
    )


def _paged(
    ctx: Context, items: list[tuple[str, str]], page: int, link: Any
) -> list[list[tuple[str, str]]]:
    pages = max(1, -(-len(items) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = items[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    rows = [shown[i : i + 2] for i in range(0, len(shown), 2)]
    nav = [(ctx._("« Previous"), link(page - 1))] if page > 0 else []
    nav += [(ctx._("Next »"), link(page + 1))] if page < pages - 1 else []
    return [*rows, nav] if nav else rows


async def _show_choice(ctx: Context, text: str, rows: list[list[tuple[str, str]]]) -> None:
    # Paging edits the list in place rather than stacking a new message per page.
    ctx.answer_button()
    if ctx.incoming.message_id is None:
        ctx.reply(text, buttons(*rows))
        return
    ctx.out.append(
        Outgoing(
            platform=ctx.account.platform,
            chat_id=ctx.account.chat_id,
            kind=OutKind.EDIT_TEXT,
            text=text,
            keyboard=buttons(*rows),
            message_id=ctx.incoming.message_id,
        )
    )


# -- /party again: the status and what can be done with it ------------------------------------


async def show_party(ctx: Context, flow: PartyFlow) -> None:
    declaration = await ctx.uow.party.get(ctx.account.id)
    if declaration is not None:
        # Whatever became of the registration since, the rider can still see and withdraw it.
        await _show_status(ctx, declaration)
        return
    if await party.declarant(ctx.uow, ctx.account.id) is None:
        ctx.reply(_not_a_rider(ctx))
        return
    await flow.begin(ctx)


def _not_a_rider(ctx: Context) -> str:
    return ctx._(
        "Declaring party membership is for registered grid informants. "
        "Send /register to become one first."
    )


async def _show_status(ctx: Context, declaration: PartyDeclaration) -> None:
    community = await ctx.uow.regions.get_by_id(declaration.community_id)
    lines = [
        ctx._("Your party membership declaration:"),
        party.details(ctx.t, declaration),
        ctx._("Community: {community}").format(community=community.name if community else ""),
        ctx._("Status: {status}").format(status=ctx._(party.STATUS_NAMES[declaration.status])),
    ]
    if declaration.status is DeclarationStatus.NEEDS_DETAILS and declaration.question:
        lines.append(ctx._("Question: {question}").format(question=declaration.question))
    rows: list[list[tuple[str, str]]] = []
    if declaration.verified:
        if declaration.show_badge:
            lines.append(ctx._("Your badge is shown on your own /points and /myreports."))
            rows.append([(ctx._("Hide my badge"), f"{STATUS_PREFIX}:badge:off")])
        else:
            lines.append(ctx._("Your badge is hidden."))
            rows.append([(ctx._("Show my badge"), f"{STATUS_PREFIX}:badge:on")])
    if declaration.status in CORRECTABLE and await party.declarant(ctx.uow, ctx.account.id):
        rows.append([(ctx._("Correct and resubmit"), f"{STATUS_PREFIX}:fix")])
    rows.append([(ctx._("Withdraw"), f"{STATUS_PREFIX}:wd")])
    ctx.reply("\n".join(lines), buttons(*rows))


async def on_status(ctx: Context, flow: PartyFlow) -> None:
    action = (ctx.incoming.button_data or "").partition(":")[2]
    if action == "start":
        await _start_from_help(ctx, flow)
        return
    declaration = await ctx.uow.party.get(ctx.account.id)
    if action not in ("wd", "wd:yes", "wd:no", "fix", "badge:on", "badge:off"):
        ctx.answer_button(ctx._("This button is not valid."), alert=True)
    elif action == "wd:no":
        ctx.answer_button()
        ctx.edit_markup(None)
        ctx.reply(ctx._("Your declaration is kept."))
    elif declaration is None:
        ctx.answer_button(ctx._("You have no party membership declaration."), alert=True)
        ctx.edit_markup(None)
    elif action == "wd":
        ctx.answer_button()
        _ask_withdraw(ctx)
    elif action == "wd:yes":
        await _withdraw(ctx)
    elif action == "fix":
        await _correct(ctx, flow, declaration)
    else:
        await _set_badge(ctx, declaration, show=action == "badge:on")


async def _start_from_help(ctx: Context, flow: PartyFlow) -> None:
    if ctx.state.flow is not None:
        ctx.answer_button(
            ctx._("You are in the middle of something. Finish it first, or send /cancel."),
            alert=True,
        )
        return
    ctx.answer_button()
    await show_party(ctx, flow)


def _ask_withdraw(ctx: Context) -> None:
    ctx.reply(
        ctx._(
            "Withdraw your party membership declaration? It is deleted at once, and the "
            "badge goes with it."
        ),
        buttons(
            [
                (ctx._("Yes, withdraw"), f"{STATUS_PREFIX}:wd:yes"),
                (ctx._("No, keep it"), f"{STATUS_PREFIX}:wd:no"),
            ]
        ),
    )


async def _withdraw(ctx: Context) -> None:
    await ctx.uow.party.withdraw(ctx.account.id)
    ctx.answer_button()
    ctx.edit_markup(None)
    ctx.reply(ctx._("Your party membership declaration was deleted."))


async def _correct(ctx: Context, flow: PartyFlow, declaration: PartyDeclaration) -> None:
    if await party.declarant(ctx.uow, ctx.account.id) is None:
        ctx.answer_button(_not_a_rider(ctx), alert=True)
        return
    if declaration.status not in CORRECTABLE:
        # A verified declaration stays as it was verified; withdraw it to declare anew.
        ctx.answer_button(ctx._("This button is not valid."), alert=True)
        ctx.edit_markup(None)
        return
    if ctx.state.flow is not None:
        ctx.answer_button(
            ctx._("You are in the middle of something. Finish it first, or send /cancel."),
            alert=True,
        )
        return
    ctx.answer_button()
    ctx.edit_markup(None)
    await flow.begin(ctx, consented_at=declaration.consented_at.isoformat())


async def _set_badge(ctx: Context, declaration: PartyDeclaration, *, show: bool) -> None:
    if not declaration.verified:
        ctx.answer_button(ctx._("Only a verified membership has a badge."), alert=True)
        ctx.edit_markup(None)
        return
    await ctx.uow.party.set_badge(ctx.account.id, show)
    ctx.answer_button()
    ctx.edit_markup(None)
    if show:
        ctx.reply(
            ctx._(
                "Your badge is now shown on your own /points and /myreports. Nobody else sees it."
            )
        )
    else:
        ctx.reply(ctx._("Your badge is hidden."))


async def help_buttons(ctx: Context) -> list[tuple[str, str]]:
    declared = await ctx.uow.party.get(ctx.account.id) is not None
    if not declared and await party.declarant(ctx.uow, ctx.account.id) is None:
        return []
    return [(ctx._("Declare party membership"), f"{STATUS_PREFIX}:start")]


async def my_data_lines(ctx: Context) -> list[str]:
    """The declaration as /mydata lists it."""
    declaration = await ctx.uow.party.get(ctx.account.id)
    if declaration is None:
        return []
    community = await ctx.uow.regions.get_by_id(declaration.community_id)
    return [
        ctx._("Party membership declaration ({status}), consent given {at}:").format(
            status=ctx._(party.STATUS_NAMES[declaration.status]),
            at=ctx.t.datetime(declaration.consented_at),
        ),
        party.details(ctx.t, declaration),
        ctx._("Community: {community}").format(community=community.name if community else ""),
    ]


# -- the community party organisation ---------------------------------------------------------


async def on_decision(ctx: Context) -> None:
    parts = (ctx.incoming.button_data or "").split(":")
    verdict = _verdict(parts[1]) if len(parts) == 4 else None
    account_id, revision = (_int(parts[2]), _int(parts[3])) if len(parts) == 4 else (None, None)
    if verdict is None or account_id is None or revision is None:
        ctx.answer_button(ctx._("This button is not valid."), alert=True)
        return
    declaration = await ctx.uow.party.get(account_id)
    if declaration is None or not await party.may_decide(ctx.uow, ctx.account.id, declaration):
        # One answer for both: a forged press must not tell whether someone declared.
        ctx.answer_button(ctx._("This button is not valid."), alert=True)
        ctx.edit_markup(None)
        return
    if declaration.revision != revision or declaration.status is not DeclarationStatus.PENDING:
        ctx.answer_button(ctx._("This declaration was already decided or has changed."), alert=True)
        ctx.edit_markup(None)
        return
    if verdict is party.Verdict.ASK:
        await _begin_question(ctx, declaration)
        return
    try:
        await party.decide(ctx.uow, ctx.env, declaration, verdict, by=ctx.account.id, now=ctx.now)
    except ConcurrentUpdate:
        ctx.answer_button(ctx._("This declaration was already decided or has changed."), alert=True)
        ctx.edit_markup(None)
        return
    ctx.answer_button()
    ctx.edit_markup(None)
    name = await _rider_name(ctx, declaration)
    done = N_("Verified: {name}.") if verdict is party.Verdict.VERIFY else N_("Declined: {name}.")
    ctx.reply(ctx._(done).format(name=name))


async def _begin_question(ctx: Context, declaration: PartyDeclaration) -> None:
    if ctx.state.flow not in (None, ASK_FLOW):
        ctx.answer_button(
            ctx._("You are in the middle of something. Finish it first, or send /cancel."),
            alert=True,
        )
        return
    ctx.answer_button()
    ctx.state.clear()
    ctx.state.flow, ctx.state.step = ASK_FLOW, "question"
    ctx.state.data = {"account": declaration.account_id, "revision": declaration.revision}
    await _ask_question(ctx)


async def _ask_question(ctx: Context) -> None:
    ctx.reply(
        ctx._(
            "What should the rider add or correct? Write your question (up to {max} "
            "characters), or send /cancel."
        ).format(max=QUESTION_MAX)
    )


class AskFlow(Flow):
    """The party organisation's question after Ask for details; the state keeps whose
    declaration (and which revision of it) it is about."""

    name = ASK_FLOW

    async def begin(self, ctx: Context, **kwargs: Any) -> None:
        self.enter(ctx, "question", account=kwargs["account"], revision=kwargs["revision"])
        await _ask_question(ctx)

    async def on_input(self, ctx: Context) -> None:
        question = " ".join(ctx.incoming.text.split()) if ctx.incoming.kind is Kind.TEXT else ""
        if not question or len(question) > QUESTION_MAX:
            ctx.answer_button()
            await _ask_question(ctx)
            return
        account_id, revision = ctx.state.data.get("account"), ctx.state.data.get("revision")
        ctx.state.clear()
        declaration = await ctx.uow.party.get(account_id) if isinstance(account_id, int) else None
        if (
            declaration is None
            or declaration.revision != revision
            or not await party.may_decide(ctx.uow, ctx.account.id, declaration)
        ):
            ctx.reply(ctx._("This declaration was withdrawn or has changed; nothing was sent."))
            return
        try:
            await party.decide(
                ctx.uow,
                ctx.env,
                declaration,
                party.Verdict.ASK,
                by=ctx.account.id,
                now=ctx.now,
                question=question,
            )
        except ConcurrentUpdate:
            ctx.reply(ctx._("This declaration was already decided or has changed."))
            return
        name = await _rider_name(ctx, declaration)
        ctx.reply(ctx._("Your question was sent to {name}.").format(name=name))


async def show_declarations(ctx: Context) -> None:
    communities = await party.secretary_communities(ctx.uow, ctx.account.id)
    if not communities:
        ctx.reply(ctx._("This is for community party organisations."))
        return
    waiting = await ctx.uow.party.for_communities(communities, DeclarationStatus.PENDING)
    if not waiting:
        ctx.reply(ctx._("No party membership declarations are waiting for verification."))
        return
    ctx.reply(ctx._("Declarations waiting for verification: {n}").format(n=len(waiting)))
    for declaration in waiting:
        text, keyboard = await party.decision_request(ctx.uow, ctx.t, declaration)
        ctx.reply(text, keyboard)


async def _rider_name(ctx: Context, declaration: PartyDeclaration) -> str:
    profile = await ctx.uow.informants.get(declaration.account_id)
    return profile.real_name if profile else "?"


# -- counts for admins ------------------------------------------------------------------------


async def show_stats(ctx: Context) -> None:
    scope = await party.visible_communities(ctx.uow, ctx.account.id)
    if scope is None:
        ctx.reply(ctx._("This is for community, street and city admins."))
        return
    result = await party.stats(ctx.uow, scope)
    if not result.declared:
        ctx.reply(ctx._("No party membership declarations in your area."))
        return
    line = N_("{name}: {declared} declared, {verified} verified")
    lines = [
        ctx._("Party membership declarations in your area (counts only):"),
        ctx._(line).format(name=ctx._("Total"), declared=result.declared, verified=result.verified),
    ]
    for street in result.streets:
        lines.append(
            ctx._(line).format(
                name=street.street or "—", declared=street.declared, verified=street.verified
            )
        )
        lines += [
            "  • "
            + ctx._(line).format(name=row.community, declared=row.declared, verified=row.verified)
            for row in result.communities
            if row.street == street.street
        ]
    ctx.reply("\n".join(lines))


# -- helpers ---------------------------------------------------------------------------------


async def _refuse(ctx: Context, prompt: Any) -> None:
    """Unexpected input (a forged or stale button, a photo where text is due): say so,
    then repeat what this step expects."""
    if ctx.incoming.kind is Kind.BUTTON:
        ctx.answer_button(ctx._("This button is not valid."), alert=True)
        return
    ctx.reply(ctx._("That is not what I asked for."))
    await prompt(ctx)


def _choice(ctx: Context) -> str | None:
    """The part of our button data after ``party:``; None when this is not our button."""
    if ctx.incoming.kind is not Kind.BUTTON:
        return None
    prefix, _, rest = (ctx.incoming.button_data or "").partition(":")
    return rest if prefix == FLOW else None


def _verdict(value: str) -> party.Verdict | None:
    try:
        return party.Verdict(value)
    except ValueError:
        return None


def _int(value: str) -> int | None:
    # ASCII only: "²".isdigit() is true but int("²") raises; the length keeps it in a BIGINT.
    return int(value) if value.isascii() and value.isdigit() and len(value) < 12 else None
