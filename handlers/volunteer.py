"""Volunteer registration (双报到, flow "vol") and its review by the community.

``/volunteer``: the community whose party-and-people service centre (党群服务中心) the rider
registers with, their skills, the kinds of service they offer and when they are free; a
summary; the registration is stored as pending and the community's deciders get Approve /
Reject buttons (``va:ok:<account>`` / ``va:no:<account>``), checked again on press.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from bot.domain.model import Level
from bot.domain.volunteer import ServiceType, Skill, Slot, VolunteerStatus
from bot.i18n import N_
from bot.services import volunteers
from bot.services.volunteers import Refusal
from bot.ui.approvals import VOLUNTEER_ROUTE, Approval, VolunteerDecision
from bot.ui.payloads import Id, Payload
from handlers.base import Command, Context, Flow
from handlers.registry import Registry

FLOW = "vol"

SKILL_NAMES = {
    Skill.FIRST_AID: N_("First aid"),
    Skill.REPAIRS: N_("Repairs"),
    Skill.LEGAL_AID: N_("Legal aid"),
    Skill.TRANSLATION: N_("Translation"),
    Skill.OTHER: N_("Other skills"),
}
SERVICE_NAMES = {
    ServiceType.VOLUNTEER: N_("Volunteer service"),
    ServiceType.REQUEST: N_("Residents' requests (百姓点单)"),
    ServiceType.SKILL: N_("Skill services (特长服务)"),
}
SLOT_NAMES = {
    Slot.WEEKDAY_MORNING: N_("Weekday mornings"),
    Slot.WEEKDAY_AFTERNOON: N_("Weekday afternoons"),
    Slot.WEEKDAY_EVENING: N_("Weekday evenings"),
    Slot.WEEKEND_MORNING: N_("Weekend mornings"),
    Slot.WEEKEND_AFTERNOON: N_("Weekend afternoons"),
    Slot.WEEKEND_EVENING: N_("Weekend evenings"),
}
# step → (state key, the choices, the names, must choose at least one)
_CHOICES: dict[str, tuple[str, Any, dict[Any, str], bool]] = {
    "skills": ("skills", Skill, SKILL_NAMES, False),
    "services": ("services", ServiceType, SERVICE_NAMES, True),
    "slots": ("slots", Slot, SLOT_NAMES, True),
}
_NEXT = {"skills": "services", "services": "slots", "slots": "confirm"}


# -- the flow's buttons (``vol:…``) ------------------------------------------------------------


class Answer(enum.StrEnum):
    NEXT = "next"  # done with this list of choices
    SUBMIT = "submit"
    RESTART = "restart"


class Answered(Payload, prefix=FLOW):
    answer: Answer


class StreetChosen(Payload, prefix=f"{FLOW}:street"):
    region_id: Id


class CommunityChosen(Payload, prefix=f"{FLOW}:comm"):
    region_id: Id


class SkillToggled(Payload, prefix=f"{FLOW}:sk"):
    skill: Skill


class ServiceToggled(Payload, prefix=f"{FLOW}:sv"):
    service: ServiceType


class SlotToggled(Payload, prefix=f"{FLOW}:sl"):
    slot: Slot


# step → the payload that toggles one of its choices
_TOGGLES: dict[str, Callable[[Any], Payload]] = {
    "skills": lambda v: SkillToggled(skill=v),
    "services": lambda v: ServiceToggled(service=v),
    "slots": lambda v: SlotToggled(slot=v),
}


class VolunteerFlow(Flow):
    name = FLOW

    async def begin(self, ctx: Context, **kwargs: Any) -> None:
        ctx.state.clear()
        self.enter(ctx, "community", skills=[], services=[], slots=[])
        await _ask_community(ctx)

    async def on_input(self, ctx: Context) -> None:
        step = ctx.state.step or "community"
        pressed = ctx.pressed
        if pressed is None:
            ctx.reply(ctx._("Please use the buttons above, or send /cancel to stop."))
            return
        ctx.ack()
        answer = pressed.answer if isinstance(pressed, Answered) else None
        if step == "community":
            await self._community(ctx, pressed)
        elif step in _CHOICES:
            await self._choice(ctx, step, pressed)
        elif answer is Answer.SUBMIT:
            await self._submit(ctx)
        elif answer is Answer.RESTART:
            ctx.drop_choices()
            await self.begin(ctx)
        else:
            await _show_summary(ctx)

    async def reprompt(self, ctx: Context) -> None:
        step = ctx.state.step or "community"
        if step == "community":
            await _ask_community(ctx)
        elif step in _CHOICES:
            _ask_choice(ctx, step)
        else:
            await _show_summary(ctx)

    async def _community(self, ctx: Context, pressed: Payload) -> None:
        chosen = pressed if isinstance(pressed, StreetChosen | CommunityChosen) else None
        node = await ctx.uow.regions.get_by_id(chosen.region_id) if chosen else None
        if isinstance(chosen, StreetChosen) and node is not None and node.level is Level.STREET:
            rows = [
                [(c.name, CommunityChosen(region_id=c.id))]
                for c in await ctx.uow.regions.children(node.id)
                if c.level is Level.COMMUNITY
            ]
            ctx.choose(ctx._("{street}: choose your community:").format(street=node.name), rows)
            return
        if (
            not isinstance(chosen, CommunityChosen)
            or node is None
            or node.level is not Level.COMMUNITY
        ):
            ctx.ack(ctx._("This button is not valid."), alert=True)
            return
        ctx.drop_choices()
        self.enter(ctx, "skills", community_id=node.id, community=node.name)
        _ask_choice(ctx, "skills")

    async def _choice(self, ctx: Context, step: str, pressed: Payload) -> None:
        key, kind, _names, required = _CHOICES[step]
        if isinstance(pressed, Answered) and pressed.answer is Answer.NEXT:
            if required and not ctx.state.data.get(key):
                ctx.ack(ctx._("Choose at least one."), alert=True)
                return
            ctx.drop_choices()
            self.enter(ctx, _NEXT[step])
            if _NEXT[step] == "confirm":
                await _show_summary(ctx)
            else:
                _ask_choice(ctx, _NEXT[step])
            return
        value = _toggled(pressed)
        if value is None or not isinstance(value, kind):
            ctx.ack(ctx._("This button is not valid."), alert=True)
            return
        chosen = set(ctx.state.data.get(key, []))
        chosen ^= {value.value}
        ctx.state.data[key] = sorted(chosen)
        ctx.replace_choices(_choice_rows(ctx, step), prompt=ctx._(_QUESTIONS[step]))

    async def _submit(self, ctx: Context) -> None:
        ctx.drop_choices()
        data = ctx.state.data
        registration = volunteers.Registration(
            community_id=int(data["community_id"]),
            skills=frozenset(Skill(v) for v in data.get("skills", [])),
            services=frozenset(ServiceType(v) for v in data.get("services", [])),
            slots=frozenset(Slot(v) for v in data.get("slots", [])),
        )
        await volunteers.register(ctx.uow, ctx.env, ctx.account, registration, now=ctx.now)
        ctx.state.clear()
        ctx.reply(
            ctx._(
                "Thank you! Your volunteer registration was sent to {community}. "
                "I will tell you here when it is decided."
            ).format(community=data.get("community", ""))
        )


async def _ask_community(ctx: Context) -> None:
    streets = await ctx.uow.regions.by_level(Level.STREET)
    rows: list[list[tuple[str, Payload]]] = [
        [(s.name, StreetChosen(region_id=s.id))] for s in streets
    ]
    if not rows:  # a map without streets: the communities themselves
        rows = [
            [(c.name, CommunityChosen(region_id=c.id))]
            for c in await ctx.uow.regions.by_level(Level.COMMUNITY)
        ]
    ctx.choose(
        ctx._(
            "Volunteer service (双报到): register with your community's party and people "
            "service centre. Choose your street, then your community:"
        ),
        rows,
    )


_QUESTIONS = {
    "skills": N_("Which skills do you have? Choose any, then Next."),
    "services": N_("Which kinds of service do you offer? Choose at least one, then Next."),
    "slots": N_("When are you usually free? Choose at least one, then Next."),
}


def _toggled(pressed: Payload) -> enum.Enum | None:
    if isinstance(pressed, SkillToggled):
        return pressed.skill
    if isinstance(pressed, ServiceToggled):
        return pressed.service
    return pressed.slot if isinstance(pressed, SlotToggled) else None


def _choice_rows(ctx: Context, step: str) -> list[list[tuple[str, Payload]]]:
    key, kind, names, _required = _CHOICES[step]
    chosen = set(ctx.state.data.get(key, []))
    rows: list[list[tuple[str, Payload]]] = [
        [(("✅ " if v.value in chosen else "") + ctx._(names[v]), _TOGGLES[step](v))] for v in kind
    ]
    rows.append([(ctx._("Next step »"), Answered(answer=Answer.NEXT))])
    return rows


def _ask_choice(ctx: Context, step: str) -> None:
    ctx.choose(ctx._(_QUESTIONS[step]), _choice_rows(ctx, step))


def _names(ctx: Context, values: list[str], names: dict[Any, str]) -> str:
    return "、".join(ctx._(names[k]) for k in names if k.value in values) or "—"


async def _show_summary(ctx: Context) -> None:
    data = ctx.state.data
    ctx.choose(
        ctx._(
            "Please check your volunteer registration:\nCommunity: {community}\n"
            "Skills: {skills}\nService: {services}\nFree: {slots}"
        ).format(
            community=data.get("community", ""),
            skills=_names(ctx, data.get("skills", []), SKILL_NAMES),
            services=_names(ctx, data.get("services", []), SERVICE_NAMES),
            slots=_names(ctx, data.get("slots", []), SLOT_NAMES),
        ),
        [
            [
                (ctx._("Submit"), Answered(answer=Answer.SUBMIT)),
                (ctx._("Start over"), Answered(answer=Answer.RESTART)),
            ]
        ],
    )


# -- commands and the reviewers' buttons ---------------------------------------------------------


def setup(registry: Registry) -> None:
    flow = VolunteerFlow()

    async def volunteer(ctx: Context) -> None:
        await _volunteer(ctx, flow)

    registry.flow(flow)
    registry.command(Command("volunteer", volunteer, N_("Register for volunteer service")))
    registry.button(VOLUNTEER_ROUTE, on_decision)


async def _volunteer(ctx: Context, flow: VolunteerFlow) -> None:
    if ctx.account.consent is None:
        # Skills and free times are personal information: the same consent as registering.
        ctx.reply(ctx._("Please send /register first and agree to how we handle your data."))
        return
    found = await ctx.uow.volunteers.get(ctx.account.id)
    if found is None or found.status is VolunteerStatus.REJECTED:
        await flow.begin(ctx)
    elif found.status is VolunteerStatus.APPROVED:
        ctx.reply(ctx._("You are a registered volunteer. Tasks that match you are sent here."))
    else:
        ctx.reply(ctx._("Your volunteer registration is waiting for review by your community."))


async def on_decision(ctx: Context) -> None:
    pressed = ctx.pressed
    if not isinstance(pressed, VolunteerDecision):
        ctx.ack(ctx._("This button is not valid."), alert=True)
        return
    account_id, approve = pressed.account_id, pressed.approval is Approval.APPROVE
    decided = await volunteers.decide(
        ctx.uow, account_id, approve=approve, actor=ctx.account, now=ctx.now
    )
    if decided.refusal is Refusal.NOT_ALLOWED:
        # One answer for a stranger and for a registration there is none of (or that was
        # deleted): a forged press must not tell whether someone registered.
        ctx.ack(ctx._("This button is not valid."), alert=True)
        ctx.drop_choices()
        return
    if decided.refusal is Refusal.ALREADY:
        ctx.ack(ctx._("This registration was already decided."), alert=True)
        ctx.drop_choices()
        return
    if decided.refusal is not None:
        ctx.ack(ctx._("This button is not valid."), alert=True)
        return
    ctx.ack()
    ctx.drop_choices()
    person = await ctx.uow.accounts.get(account_id)
    name = person.display_name if person else str(account_id)
    done = N_("Volunteer approved: {name}.") if approve else N_("Volunteer rejected: {name}.")
    ctx.reply(ctx._(done).format(name=name))


async def my_data_lines(ctx: Context) -> list[str]:
    """What ``/mydata`` shows of the person's volunteer registration (PIPL Art. 44)."""
    found = await ctx.uow.volunteers.get(ctx.account.id)
    if found is None:
        return []
    community = await ctx.uow.regions.get_by_id(found.community_id)
    status = {
        VolunteerStatus.PENDING: ctx._("waiting for review"),
        VolunteerStatus.APPROVED: ctx._("approved"),
        VolunteerStatus.REJECTED: ctx._("not approved"),
    }[found.status]
    return [
        ctx._("Volunteer registration: {community}, {status}").format(
            community=community.name if community else "", status=status
        ),
        ctx._("Skills: {skills}").format(
            skills=_names(ctx, [s.value for s in found.skills], SKILL_NAMES)
        ),
        ctx._("Service: {services}").format(
            services=_names(ctx, [s.value for s in found.services], SERVICE_NAMES)
        ),
        ctx._("Free: {slots}").format(
            slots=_names(ctx, [s.value for s in found.slots], SLOT_NAMES)
        ),
    ]
