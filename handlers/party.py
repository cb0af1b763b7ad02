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

import enum
import logging
from datetime import datetime
from typing import Any, Literal

from bot.chat import Kind
from bot.domain.model import Level
from bot.domain.party import (
    FIRST_YEAR,
    ORGANISATION_MAX,
    QUESTION_MAX,
    DeclarationStatus,
    PartyDeclaration,
    Standing,
    Verdict,
    year_is_plausible,
)
from bot.i18n import N_
from bot.services import party
from bot.services.ports import ConcurrentUpdate
from bot.ui.party import ROUTE as DECISION_ROUTE
from bot.ui.party import Decision
from bot.ui.payloads import Id, Payload
from handlers import regions
from handlers.base import Command, Context, Flow
from handlers.registry import Registry

log = logging.getLogger(__name__)

FLOW = "party"
ASK_FLOW = "pmq"
STATUS_ROUTE = "pms"
CORRECTABLE = frozenset(
    {DeclarationStatus.PENDING, DeclarationStatus.NEEDS_DETAILS, DeclarationStatus.DECLINED}
)


# -- the buttons: ``party:…`` in the flow, ``pms:…`` on the rider's /party ---------------------


class Answer(enum.StrEnum):
    AGREE = "agree"
    DECLINE = "decline"
    SUBMIT = "submit"
    RESTART = "restart"


class Answered(Payload, prefix=FLOW):
    """Consent (agree, decline) and the summary (submit, restart): ``party:agree``."""

    answer: Answer


class StandingChosen(Payload, prefix=f"{FLOW}:st"):
    standing: Standing


class StreetsPage(Payload, prefix=f"{FLOW}:streets"):
    page: Id


class StreetPage(Payload, prefix=f"{FLOW}:street"):
    street_id: Id
    page: Id


class CommunityChosen(Payload, prefix=f"{FLOW}:comm"):
    region_id: Id


class StatusAction(enum.StrEnum):
    START = "start"  # from /help: /party
    FIX = "fix"  # correct and resubmit
    WITHDRAW = "wd"  # asks first


class OnStatus(Payload, prefix=STATUS_ROUTE):
    action: StatusAction


class WithdrawConfirmed(Payload, prefix=f"{STATUS_ROUTE}:wd:yes"):
    pass


class WithdrawCancelled(Payload, prefix=f"{STATUS_ROUTE}:wd:no"):
    pass


class Badge(Payload, prefix=f"{STATUS_ROUTE}:badge"):
    shown: Literal["on", "off"]


PICKER = regions.Picker(
    streets=StreetsPage,
    street=StreetPage,
    community=CommunityChosen,
    streets_heading=N_("Choose the street:"),
    street_heading=N_("{street}: choose the community:"),
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
    registry.button(STATUS_ROUTE, on_status_button)
    registry.button(DECISION_ROUTE, on_decision)
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
        choice = _answer(ctx)
        if choice not in (Answer.AGREE, Answer.DECLINE):
            await _refuse(ctx, _show_consent)
            return
        ctx.ack()
        ctx.drop_choices()
        if choice is Answer.DECLINE:
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
        pressed = ctx.pressed
        if not isinstance(pressed, StandingChosen):
            await _refuse(ctx, _ask_standing)
            return
        ctx.ack()
        ctx.drop_choices()
        self.enter(ctx, "organisation", standing=pressed.standing.value)
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
        pressed = ctx.pressed
        if isinstance(pressed, StreetsPage):
            await regions.show_streets(ctx, PICKER, pressed.page)
        elif isinstance(pressed, StreetPage):
            if not await regions.show_communities(ctx, PICKER, pressed.street_id, pressed.page):
                await _refuse(ctx, _ask_community)
        elif isinstance(pressed, CommunityChosen):
            await self._community_chosen(ctx, pressed.region_id)
        else:
            await _refuse(ctx, _ask_community)

    async def _community_chosen(self, ctx: Context, region_id: int) -> None:
        node = await ctx.uow.regions.get_by_id(region_id)
        if node is None or node.level is not Level.COMMUNITY:
            await _refuse(ctx, _ask_community)
            return
        ctx.ack()
        ctx.drop_choices()
        self.enter(ctx, "confirm", community_id=node.id, community_name=node.name)
        await _show_summary(ctx)

    async def _confirm(self, ctx: Context) -> None:
        choice = _answer(ctx)
        if choice is Answer.RESTART:
            ctx.ack()
            ctx.drop_choices()
            self.enter(ctx, "standing")
            await _ask_standing(ctx)
        elif choice is Answer.SUBMIT:
            ctx.ack()
            ctx.drop_choices()
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
    ctx.choose(
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
        [
            [
                (ctx._("Agree"), Answered(answer=Answer.AGREE)),
                (ctx._("Decline"), Answered(answer=Answer.DECLINE)),
            ]
        ],
    )


async def _ask_standing(ctx: Context) -> None:
    ctx.choose(
        ctx._("Are you a formal or a probationary party member?"),
        [
            [
                (ctx._("Formal member"), StandingChosen(standing=Standing.FORMAL)),
                (ctx._("Probationary member"), StandingChosen(standing=Standing.PROBATIONARY)),
            ]
        ],
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
    rows: list[regions.Row] = []
    profile = await party.declarant(ctx.uow, ctx.account.id)
    home = await party.work_community(ctx.uow, profile) if profile else None
    if home is not None:
        rows.append([(home.name, CommunityChosen(region_id=home.id))])
    rows.append([(ctx._("Choose another community"), StreetsPage(page=0))])
    ctx.choose(
        ctx._(
            "To which community's party organisation do you report? Your work area's "
            "community is offered first."
        ),
        rows,
    )


async def _show_summary(ctx: Context) -> None:
    data = ctx.state.data
    draft = party.Draft(
        standing=Standing(data["standing"]),
        organisation=data["organisation"],
        year_joined=int(data["year"]),
        community_id=int(data["community_id"]),
    )
    ctx.choose(
        ctx._("Please check your declaration:\n{details}\nCommunity: {community}").format(
            details=party.details(ctx.t, draft), community=data.get("community_name", "")
        ),
        [
            [
                (ctx._("Submit"), Answered(answer=Answer.SUBMIT)),
                (ctx._("Start over"), Answered(answer=Answer.RESTART)),
            ]
        ],
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
    rows: list[regions.Row] = []
    if declaration.verified:
        if declaration.show_badge:
            lines.append(ctx._("Your badge is shown on your own /points and /myreports."))
            rows.append([(ctx._("Hide my badge"), Badge(shown="off"))])
        else:
            lines.append(ctx._("Your badge is hidden."))
            rows.append([(ctx._("Show my badge"), Badge(shown="on"))])
    if declaration.status in CORRECTABLE and await party.declarant(ctx.uow, ctx.account.id):
        rows.append([(ctx._("Correct and resubmit"), OnStatus(action=StatusAction.FIX))])
    rows.append([(ctx._("Withdraw"), OnStatus(action=StatusAction.WITHDRAW))])
    ctx.choose("\n".join(lines), rows)


async def on_status(ctx: Context, flow: PartyFlow) -> None:
    pressed = ctx.pressed
    if isinstance(pressed, OnStatus) and pressed.action is StatusAction.START:
        await _start_from_help(ctx, flow)
        return
    declaration = await ctx.uow.party.get(ctx.account.id)
    if not isinstance(pressed, OnStatus | WithdrawConfirmed | WithdrawCancelled | Badge):
        ctx.ack(ctx._("This button is not valid."), alert=True)
    elif isinstance(pressed, WithdrawCancelled):
        ctx.ack()
        ctx.drop_choices()
        ctx.reply(ctx._("Your declaration is kept."))
    elif declaration is None:
        ctx.ack(ctx._("You have no party membership declaration."), alert=True)
        ctx.drop_choices()
    elif isinstance(pressed, WithdrawConfirmed):
        await _withdraw(ctx)
    elif isinstance(pressed, Badge):
        await _set_badge(ctx, declaration, show=pressed.shown == "on")
    elif pressed.action is StatusAction.WITHDRAW:
        ctx.ack()
        _ask_withdraw(ctx)
    else:
        await _correct(ctx, flow, declaration)


async def _start_from_help(ctx: Context, flow: PartyFlow) -> None:
    if ctx.state.flow is not None:
        ctx.ack(
            ctx._("You are in the middle of something. Finish it first, or send /cancel."),
            alert=True,
        )
        return
    ctx.ack()
    await show_party(ctx, flow)


def _ask_withdraw(ctx: Context) -> None:
    ctx.choose(
        ctx._(
            "Withdraw your party membership declaration? It is deleted at once, and the "
            "badge goes with it."
        ),
        [
            [
                (ctx._("Yes, withdraw"), WithdrawConfirmed()),
                (ctx._("No, keep it"), WithdrawCancelled()),
            ]
        ],
    )


async def _withdraw(ctx: Context) -> None:
    await ctx.uow.party.withdraw(ctx.account.id)
    ctx.ack()
    ctx.drop_choices()
    ctx.reply(ctx._("Your party membership declaration was deleted."))


async def _correct(ctx: Context, flow: PartyFlow, declaration: PartyDeclaration) -> None:
    if await party.declarant(ctx.uow, ctx.account.id) is None:
        ctx.ack(_not_a_rider(ctx), alert=True)
        return
    if declaration.status not in CORRECTABLE:
        # A verified declaration stays as it was verified; withdraw it to declare anew.
        ctx.ack(ctx._("This button is not valid."), alert=True)
        ctx.drop_choices()
        return
    if ctx.state.flow is not None:
        ctx.ack(
            ctx._("You are in the middle of something. Finish it first, or send /cancel."),
            alert=True,
        )
        return
    ctx.ack()
    ctx.drop_choices()
    await flow.begin(ctx, consented_at=declaration.consented_at.isoformat())


async def _set_badge(ctx: Context, declaration: PartyDeclaration, *, show: bool) -> None:
    if not declaration.verified:
        ctx.ack(ctx._("Only a verified membership has a badge."), alert=True)
        ctx.drop_choices()
        return
    await ctx.uow.party.set_badge(ctx.account.id, show)
    ctx.ack()
    ctx.drop_choices()
    if show:
        ctx.reply(
            ctx._(
                "Your badge is now shown on your own /points and /myreports. Nobody else sees it."
            )
        )
    else:
        ctx.reply(ctx._("Your badge is hidden."))


async def help_buttons(ctx: Context) -> list[tuple[str, Payload]]:
    declared = await ctx.uow.party.get(ctx.account.id) is not None
    if not declared and await party.declarant(ctx.uow, ctx.account.id) is None:
        return []
    return [(ctx._("Declare party membership"), OnStatus(action=StatusAction.START))]


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
    pressed = ctx.pressed
    if not isinstance(pressed, Decision):
        ctx.ack(ctx._("This button is not valid."), alert=True)
        return
    verdict, revision = pressed.verdict, pressed.revision
    declaration = await ctx.uow.party.get(pressed.account_id)
    if declaration is None or not await party.may_decide(ctx.uow, ctx.account.id, declaration):
        # One answer for both: a forged press must not tell whether someone declared.
        ctx.ack(ctx._("This button is not valid."), alert=True)
        ctx.drop_choices()
        return
    if declaration.revision != revision or declaration.status is not DeclarationStatus.PENDING:
        ctx.ack(ctx._("This declaration was already decided or has changed."), alert=True)
        ctx.drop_choices()
        return
    if verdict is Verdict.ASK:
        await _begin_question(ctx, declaration)
        return
    try:
        await party.decide(ctx.uow, ctx.env, declaration, verdict, by=ctx.account.id, now=ctx.now)
    except ConcurrentUpdate:
        ctx.ack(ctx._("This declaration was already decided or has changed."), alert=True)
        ctx.drop_choices()
        return
    ctx.ack()
    ctx.drop_choices()
    name = await _rider_name(ctx, declaration)
    done = N_("Verified: {name}.") if verdict is Verdict.VERIFY else N_("Declined: {name}.")
    ctx.reply(ctx._(done).format(name=name))


async def _begin_question(ctx: Context, declaration: PartyDeclaration) -> None:
    if ctx.state.flow not in (None, ASK_FLOW):
        ctx.ack(
            ctx._("You are in the middle of something. Finish it first, or send /cancel."),
            alert=True,
        )
        return
    ctx.ack()
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
            ctx.ack()
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
                Verdict.ASK,
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
        text, rows = await party.decision_request(ctx.uow, ctx.t, declaration)
        ctx.choose(text, rows)


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
        ctx.ack(ctx._("This button is not valid."), alert=True)
        return
    ctx.reply(ctx._("That is not what I asked for."))
    await prompt(ctx)


def _answer(ctx: Context) -> Answer | None:
    pressed = ctx.pressed
    return pressed.answer if isinstance(pressed, Answered) else None
