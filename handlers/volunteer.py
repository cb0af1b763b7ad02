"""Volunteer registration (双报到, flow "vol") and its review by the community.

``/volunteer``: the community whose party-and-people service centre (党群服务中心) the rider
registers with, their skills, the kinds of service they offer and when they are free; a
summary; the registration is stored as pending and the community's deciders get Approve /
Reject buttons (``va:ok:<account>`` / ``va:no:<account>``), checked again on press.
"""

from __future__ import annotations

from typing import Any

from bot.chat import Kind
from bot.domain.model import Level
from bot.domain.volunteer import ServiceType, Skill, Slot, VolunteerStatus
from bot.i18n import N_
from bot.services import volunteers
from bot.services.volunteers import Refusal
from handlers.base import Command, Context, Flow, buttons
from handlers.registry import Registry

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


class VolunteerFlow(Flow):
    name = "vol"

    async def begin(self, ctx: Context, **kwargs: Any) -> None:
        ctx.state.clear()
        self.enter(ctx, "community", skills=[], services=[], slots=[])
        await _ask_community(ctx)

    async def on_input(self, ctx: Context) -> None:
        step = ctx.state.step or "community"
        data = _button(ctx)
        if data is None:
            ctx.reply(ctx._("Please use the buttons above, or send /cancel to stop."))
            return
        ctx.answer_button()
        if step == "community":
            await self._community(ctx, data)
        elif step in _CHOICES:
            await self._choice(ctx, step, data)
        elif data == "submit":
            await self._submit(ctx)
        elif data == "restart":
            ctx.edit_markup(None)
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

    async def _community(self, ctx: Context, data: str) -> None:
        kind, _, number = data.partition(":")
        node = await ctx.uow.regions.get_by_id(_int(number) or 0)
        if kind == "street" and node is not None and node.level is Level.STREET:
            rows = [
                [(c.name, f"vol:comm:{c.id}")]
                for c in await ctx.uow.regions.children(node.id)
                if c.level is Level.COMMUNITY
            ]
            ctx.reply(
                ctx._("{street}: choose your community:").format(street=node.name), buttons(*rows)
            )
            return
        if kind != "comm" or node is None or node.level is not Level.COMMUNITY:
            ctx.answer_button(ctx._("This button is not valid."), alert=True)
            return
        ctx.edit_markup(None)
        self.enter(ctx, "skills", community_id=node.id, community=node.name)
        _ask_choice(ctx, "skills")

    async def _choice(self, ctx: Context, step: str, data: str) -> None:
        key, kind, _names, required = _CHOICES[step]
        if data == "next":
            if required and not ctx.state.data.get(key):
                ctx.answer_button(ctx._("Choose at least one."), alert=True)
                return
            ctx.edit_markup(None)
            self.enter(ctx, _NEXT[step])
            if _NEXT[step] == "confirm":
                await _show_summary(ctx)
            else:
                _ask_choice(ctx, _NEXT[step])
            return
        value = data.partition(":")[2]
        if value not in {v.value for v in kind}:
            ctx.answer_button(ctx._("This button is not valid."), alert=True)
            return
        chosen = set(ctx.state.data.get(key, []))
        chosen ^= {value}
        ctx.state.data[key] = sorted(chosen)
        ctx.edit_markup(_choice_keyboard(ctx, step))

    async def _submit(self, ctx: Context) -> None:
        ctx.edit_markup(None)
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
    rows = [[(s.name, f"vol:street:{s.id}")] for s in streets]
    if not rows:  # a map without streets: the communities themselves
        rows = [
            [(c.name, f"vol:comm:{c.id}")] for c in await ctx.uow.regions.by_level(Level.COMMUNITY)
        ]
    ctx.reply(
        ctx._(
            "Volunteer service (双报到): register with your community's party and people "
            "service centre. Choose your street, then your community:"
        ),
        buttons(*rows),
    )


def _choice_keyboard(ctx: Context, step: str) -> Any:
    key, kind, names, _required = _CHOICES[step]
    chosen = set(ctx.state.data.get(key, []))
    prefix = {"skills": "sk", "services": "sv", "slots": "sl"}[step]
    rows = [
        [(("✅ " if v.value in chosen else "") + ctx._(names[v]), f"vol:{prefix}:{v.value}")]
        for v in kind
    ]
    rows.append([(ctx._("Next step »"), "vol:next")])
    return buttons(*rows)


def _ask_choice(ctx: Context, step: str) -> None:
    question = {
        "skills": N_("Which skills do you have? Choose any, then Next."),
        "services": N_("Which kinds of service do you offer? Choose at least one, then Next."),
        "slots": N_("When are you usually free? Choose at least one, then Next."),
    }[step]
    ctx.reply(ctx._(question), _choice_keyboard(ctx, step))


def _names(ctx: Context, values: list[str], names: dict[Any, str]) -> str:
    return "、".join(ctx._(names[k]) for k in names if k.value in values) or "—"


async def _show_summary(ctx: Context) -> None:
    data = ctx.state.data
    ctx.reply(
        ctx._(
            "Please check your volunteer registration:\nCommunity: {community}\n"
            "Skills: {skills}\nService: {services}\nFree: {slots}"
        ).format(
            community=data.get("community", ""),
            skills=_names(ctx, data.get("skills", []), SKILL_NAMES),
            services=_names(ctx, data.get("services", []), SERVICE_NAMES),
            slots=_names(ctx, data.get("slots", []), SLOT_NAMES),
        ),
        buttons([(ctx._("Submit"), "vol:submit"), (ctx._("Start over"), "vol:restart")]),
    )


def _button(ctx: Context) -> str | None:
    if ctx.incoming.kind is not Kind.BUTTON:
        return None
    prefix, _, rest = (ctx.incoming.button_data or "").partition(":")
    return rest if prefix == VolunteerFlow.name else None


def _int(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and len(value) < 12 else None


# -- commands and the reviewers' buttons ---------------------------------------------------------


def setup(registry: Registry) -> None:
    flow = VolunteerFlow()

    async def volunteer(ctx: Context) -> None:
        await _volunteer(ctx, flow)

    registry.flow(flow)
    registry.command(Command("volunteer", volunteer, N_("Register for volunteer service")))
    registry.button(volunteers.APPROVAL_PREFIX, on_decision)


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
    parts = (ctx.incoming.button_data or "").split(":")
    account_id = _int(parts[2]) if len(parts) == 3 and parts[1] in ("ok", "no") else None
    if account_id is None:
        ctx.answer_button(ctx._("This button is not valid."), alert=True)
        return
    approve = parts[1] == "ok"
    decided = await volunteers.decide(
        ctx.uow, account_id, approve=approve, actor=ctx.account, now=ctx.now
    )
    if decided.refusal is Refusal.NOT_ALLOWED:
        # One answer for a stranger and for a registration there is none of (or that was
        # deleted): a forged press must not tell whether someone registered.
        ctx.answer_button(ctx._("This button is not valid."), alert=True)
        ctx.edit_markup(None)
        return
    if decided.refusal is Refusal.ALREADY:
        ctx.answer_button(ctx._("This registration was already decided."), alert=True)
        ctx.edit_markup(None)
        return
    if decided.refusal is not None:
        ctx.answer_button(ctx._("This button is not valid."), alert=True)
        return
    ctx.answer_button()
    ctx.edit_markup(None)
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
