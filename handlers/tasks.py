"""Service tasks: community admins publish them (``/task new``, flow "task"), matching
volunteers sign up with one tap (``tk:up:<task>``), check in by sharing their location
during the window (``tk:in:<task>`` then flow "chk"), and the admin confirms the hours
(``tk:ok:<signup>``). Residents' requests (百姓点单) are tasks of that kind.
"""

from __future__ import annotations

import enum
import re
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from bot.chat import Kind, Request
from bot.domain.model import GeoPoint, Level, RegionNode
from bot.domain.volunteer import MAX_TASK_HOURS, ServiceType, SignupStatus, Skill
from bot.i18n import N_
from bot.services import volunteers
from bot.services.maps import NO_MAP_YET, loaded_map
from bot.services.volunteers import Refusal
from bot.ui.payloads import Id, Payload
from bot.ui.tasks import ROUTE as TASK_ROUTE
from bot.ui.tasks import TaskPress, TaskVerb, task_choice
from handlers.base import Command, Context, Flow
from handlers.registry import Registry
from handlers.volunteer import SERVICE_NAMES, SKILL_NAMES

TITLE_MAX = 100
SLOTS_MAX = 100
_WINDOW = re.compile(
    r"^(?:(\d{4})-)?(\d{1,2})-(\d{1,2})\s+(\d{1,2}):(\d{2})\s*[-–~]\s*(\d{1,2}):(\d{2})$"
)
REFUSALS = {
    Refusal.NOT_FOUND: N_("This task no longer exists."),
    Refusal.NOT_ALLOWED: N_("Only an admin of this community can do that."),
    Refusal.NOT_VOLUNTEER: N_("Only approved volunteers can sign up. Send /volunteer to register."),
    Refusal.CLOSED: N_("This task is closed."),
    Refusal.FULL: N_("Sorry, every place in this task is taken."),
    Refusal.NOT_SIGNED_UP: N_("You are not signed up for this task."),
    Refusal.OUTSIDE_WINDOW: N_("Check-in is open from 30 minutes before the task until its end."),
    Refusal.ALREADY: N_("That was already done."),
    Refusal.TOO_FAR: N_("You are too far from the task's place to check in."),
    Refusal.NO_MAP: NO_MAP_YET,
}

FLOW = "task"


# -- the publishing flow's buttons (``task:…``) ----------------------------------------------


class Answer(enum.StrEnum):
    NEXT = "next"  # done choosing skills
    PUBLISH = "publish"
    RESTART = "restart"


class Answered(Payload, prefix=FLOW):
    answer: Answer


class AtCentre(Payload, prefix=f"{FLOW}:at"):
    """The task is at this community's service centre."""

    community_id: Id


class KindChosen(Payload, prefix=f"{FLOW}:kind"):
    kind: ServiceType


class SkillToggled(Payload, prefix=f"{FLOW}:sk"):
    skill: Skill


SIGNUP_STATUS_NAMES = {
    SignupStatus.SIGNED_UP: N_("signed up"),
    SignupStatus.CHECKED_IN: N_("checked in"),
    SignupStatus.CONFIRMED: N_("hours confirmed"),
}


async def my_data_lines(ctx: Context) -> list[str]:
    """What ``/mydata`` shows of the person's task sign-ups, check-ins included (PIPL
    Art. 44): whereabouts are sensitive, so the stored distance is shown too."""
    lines: list[str] = []
    for signup in await ctx.uow.tasks.signups_of(ctx.account.id):
        task = await ctx.uow.tasks.get(signup.task_id)
        lines.append(
            ctx._("Task sign-up: {title}, {when}, {status}").format(
                title=task.title if task else "?",
                when=ctx.t.datetime(task.starts_at) if task else "",
                status=ctx._(SIGNUP_STATUS_NAMES[signup.status]),
            )
        )
        if signup.checked_in_at is not None:
            lines.append(
                ctx._("Checked in {at}, {distance} m from the task's place").format(
                    at=ctx.t.datetime(signup.checked_in_at),
                    distance=round(signup.checkin_distance_m or 0),
                )
            )
        if signup.hours is not None:
            lines.append(ctx._("Hours confirmed: {hours}").format(hours=f"{signup.hours:g}"))
    return lines


def parse_window(text: str, today: date, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
    """``[YYYY-]MM-DD HH:MM-HH:MM`` in the city's time zone (without a year: the next such
    day from ``today``); None when malformed, empty or longer than ``MAX_TASK_HOURS``."""
    match = _WINDOW.match(" ".join(text.split()))
    if match is None:
        return None
    year, month, day, h1, m1, h2, m2 = match.groups()
    try:
        day_ = date(int(year) if year else today.year, int(month), int(day))
        if not year and day_ < today:  # "01-02" written on 30 December means next year
            day_ = day_.replace(year=today.year + 1)
        start = datetime.combine(day_, time(int(h1), int(m1)), zone)
        end = datetime.combine(day_, time(int(h2), int(m2)), zone)
    except ValueError:
        return None
    if not start < end or (end - start).total_seconds() > MAX_TASK_HOURS * 3600:
        return None
    return start, end


class TaskFlow(Flow):
    """A community admin publishes a task: title, place, time window, places, kind, skills."""

    name = FLOW

    async def begin(self, ctx: Context, **kwargs: Any) -> None:
        ctx.state.clear()
        self.enter(ctx, "title", skills=[])
        ctx.reply(
            ctx._("New service task. What is its title? (1 to {max} characters)").format(
                max=TITLE_MAX
            )
        )

    async def on_input(self, ctx: Context) -> None:
        step = ctx.state.step or "title"
        handler = getattr(self, f"_{step}", None)
        if handler is None:
            await self.begin(ctx)
            return
        await handler(ctx)

    async def reprompt(self, ctx: Context) -> None:
        ctx.reply(ctx._("That is not what I asked for."))
        await _PROMPTS.get(ctx.state.step or "title", _ask_title)(ctx)

    async def _title(self, ctx: Context) -> None:
        title = " ".join(ctx.incoming.text.split()) if ctx.incoming.kind is Kind.TEXT else ""
        if not title or len(title) > TITLE_MAX or title.startswith("/"):
            await self.reprompt(ctx)
            return
        self.enter(ctx, "place", title=title)
        await _ask_place(ctx)

    async def _place(self, ctx: Context) -> None:
        where = ctx.incoming.location if ctx.incoming.kind is Kind.LOCATION else None
        community: RegionNode | None = None
        if where is not None:
            gridmap = loaded_map(ctx.env.maps)
            if gridmap is None:  # the title is kept; the place can still be chosen from the list
                ctx.reply(ctx._(NO_MAP_YET))
                return
            routed = gridmap.route(where.lat, where.lon)
            ref = next((u for u in routed.path if u.level is Level.COMMUNITY), None)
            community = await ctx.uow.regions.get(ref.code) if ref else None
        elif isinstance(pressed := ctx.pressed, AtCentre):
            ctx.ack()
            community = await ctx.uow.regions.get_by_id(pressed.community_id)
        if community is None or not await volunteers.may_decide(
            ctx.uow, ctx.account.id, community.id
        ):
            ctx.reply(ctx._("That place is not in a community you manage."))
            await _ask_place(ctx)
            return
        place = {"lat": where.lat, "lon": where.lon} if where is not None else None
        self.enter(ctx, "window", community_id=community.id, community=community.name, place=place)
        ctx.reply(
            ctx._("Place: {community}").format(community=community.name), remove_keyboard=True
        )
        await _ask_window(ctx)

    async def _window(self, ctx: Context) -> None:
        today = ctx.now.astimezone(ctx.env.zone).date()
        text = ctx.incoming.text if ctx.incoming.kind is Kind.TEXT else ""
        window = parse_window(text, today, ctx.env.zone)
        if window is None or window[1] <= ctx.now:
            ctx.reply(ctx._("I could not read that time, or it is over."))
            await _ask_window(ctx)
            return
        self.enter(ctx, "slots", starts=window[0].isoformat(), ends=window[1].isoformat())
        await _ask_slots(ctx)

    async def _slots(self, ctx: Context) -> None:
        text = ctx.incoming.text.strip() if ctx.incoming.kind is Kind.TEXT else ""
        slots = _int(text)
        if slots is None or not 1 <= slots <= SLOTS_MAX:
            await self.reprompt(ctx)
            return
        self.enter(ctx, "kind", slots=slots)
        await _ask_kind(ctx)

    async def _kind(self, ctx: Context) -> None:
        pressed = ctx.pressed
        if not isinstance(pressed, KindChosen):
            await self.reprompt(ctx)
            return
        ctx.ack()
        ctx.drop_choices()
        self.enter(ctx, "skills", kind=pressed.kind.value)
        await _ask_skills(ctx)

    async def _skills(self, ctx: Context) -> None:
        pressed = ctx.pressed
        if _answer(ctx) is Answer.NEXT:
            ctx.ack()
            ctx.drop_choices()
            self.enter(ctx, "confirm")
            await _show_summary(ctx)
            return
        if not isinstance(pressed, SkillToggled):
            await self.reprompt(ctx)
            return
        ctx.ack()
        toggled = set(ctx.state.data.get("skills", [])) ^ {pressed.skill.value}
        ctx.state.data["skills"] = sorted(toggled)
        ctx.replace_choices(_skills_rows(ctx), prompt=ctx._(SKILLS_QUESTION))

    async def _confirm(self, ctx: Context) -> None:
        answer = _answer(ctx)
        if answer not in (Answer.PUBLISH, Answer.RESTART):
            await self.reprompt(ctx)
            return
        ctx.ack()
        ctx.drop_choices()
        if answer is Answer.RESTART:
            await self.begin(ctx)
            return
        await self._publish(ctx)

    async def _publish(self, ctx: Context) -> None:
        d = ctx.state.data
        place = d.get("place")
        draft = volunteers.TaskDraft(
            community_id=int(d["community_id"]),
            title=d["title"],
            kind=ServiceType(d["kind"]),
            starts_at=datetime.fromisoformat(d["starts"]),
            ends_at=datetime.fromisoformat(d["ends"]),
            slots=int(d["slots"]),
            skills=frozenset(Skill(s) for s in d.get("skills", [])),
            place=GeoPoint(lat=place["lat"], lon=place["lon"]) if place else None,
        )
        outcome = await volunteers.create_task(
            ctx.uow, ctx.env, draft, actor=ctx.account, now=ctx.now
        )
        ctx.state.clear()
        if outcome.task is None:  # the role was taken away meanwhile
            ctx.reply(ctx._(REFUSALS[outcome.refusal or Refusal.NOT_ALLOWED]))
            return
        ctx.reply(
            ctx._("Task {id} published; offered to {n} matching volunteers.").format(
                id=outcome.task.id, n=outcome.offered
            )
        )


async def _ask_title(ctx: Context) -> None:
    ctx.reply(ctx._("What is the task's title? (1 to {max} characters)").format(max=TITLE_MAX))


async def _ask_place(ctx: Context) -> None:
    ctx.ask(
        Request.LOCATION,
        ctx._("Where? Share the task's location, or choose the community service centre."),
        button=ctx._("Share a location"),
    )
    rows: list[list[tuple[str, Payload]]] = []
    for grant in await ctx.uow.roles.for_account(ctx.account.id):
        node = await ctx.uow.regions.get_by_id(grant.region_id)
        if grant.role in volunteers.DECIDERS and node and node.level is Level.COMMUNITY:
            rows.append([(node.name, AtCentre(community_id=node.id))])
    if rows:
        ctx.choose(ctx._("Or at the service centre of:"), rows)


async def _ask_window(ctx: Context) -> None:
    ctx.reply(
        ctx._(
            "When? Write the day and the hours, e.g. 12-06 09:00-11:00 (at most {max} hours)."
        ).format(max=MAX_TASK_HOURS)
    )


async def _ask_slots(ctx: Context) -> None:
    ctx.reply(ctx._("How many volunteers are needed? (1 to {max})").format(max=SLOTS_MAX))


async def _ask_kind(ctx: Context) -> None:
    rows: list[list[tuple[str, Payload]]] = [
        [(ctx._(name), KindChosen(kind=kind))] for kind, name in SERVICE_NAMES.items()
    ]
    ctx.choose(ctx._("What kind of service is it?"), rows)


SKILLS_QUESTION = N_("Which skills are wanted? None: anyone may help. Then Next.")


def _skills_rows(ctx: Context) -> list[list[tuple[str, Payload]]]:
    chosen = set(ctx.state.data.get("skills", []))
    rows: list[list[tuple[str, Payload]]] = [
        [(("✅ " if s.value in chosen else "") + ctx._(name), SkillToggled(skill=s))]
        for s, name in SKILL_NAMES.items()
    ]
    rows.append([(ctx._("Next step »"), Answered(answer=Answer.NEXT))])
    return rows


async def _ask_skills(ctx: Context) -> None:
    ctx.choose(ctx._(SKILLS_QUESTION), _skills_rows(ctx))


async def _show_summary(ctx: Context) -> None:
    d = ctx.state.data
    skills = "、".join(ctx._(SKILL_NAMES[Skill(s)]) for s in d.get("skills", [])) or "—"
    ctx.choose(
        ctx._(
            "Publish this task?\n{title}\nPlace: {community}\nWhen: {start} – {end}\n"
            "Places: {slots}\nKind: {kind}\nSkills: {skills}"
        ).format(
            title=d.get("title", ""),
            community=d.get("community", ""),
            start=ctx.t.datetime(datetime.fromisoformat(d["starts"])),
            end=ctx.t.datetime(datetime.fromisoformat(d["ends"])),
            slots=d.get("slots", ""),
            kind=ctx._(SERVICE_NAMES[ServiceType(d["kind"])]),
            skills=skills,
        ),
        [
            [
                (ctx._("Publish"), Answered(answer=Answer.PUBLISH)),
                (ctx._("Start over"), Answered(answer=Answer.RESTART)),
            ]
        ],
    )


_PROMPTS = {
    "title": _ask_title,
    "place": _ask_place,
    "window": _ask_window,
    "slots": _ask_slots,
    "kind": _ask_kind,
    "skills": _ask_skills,
    "confirm": _show_summary,
}


class CheckInFlow(Flow):
    """Waiting for the volunteer's location for one task."""

    name = "chk"

    async def begin(self, ctx: Context, **kwargs: Any) -> None:
        ctx.state.clear()
        self.enter(ctx, "where", task_id=kwargs["task_id"])
        ctx.ask(
            Request.LOCATION,
            ctx._("Share your location with the button below to check in."),
            button=ctx._("Share a location"),
        )

    async def on_input(self, ctx: Context) -> None:
        where = ctx.incoming.location if ctx.incoming.kind is Kind.LOCATION else None
        if where is None:
            await self.begin(ctx, task_id=ctx.state.data.get("task_id"))
            return
        task_id = int(ctx.state.data.get("task_id") or 0)
        outcome = await volunteers.check_in(
            ctx.uow,
            ctx.env,
            task_id,
            ctx.account,
            GeoPoint(lat=where.lat, lon=where.lon),
            now=ctx.now,
        )
        if outcome.refusal is Refusal.NO_MAP:  # still signed up; check in once there is a map
            ctx.reply(ctx._(REFUSALS[Refusal.NO_MAP]))
            return
        if outcome.refusal is Refusal.TOO_FAR:
            ctx.reply(ctx._(REFUSALS[Refusal.TOO_FAR]))
            await self.begin(ctx, task_id=task_id)
            return
        ctx.state.clear()
        if outcome.refusal is not None:
            ctx.reply(ctx._(REFUSALS[outcome.refusal]), remove_keyboard=True)
            return
        ctx.reply(ctx._("Checked in. The organiser will confirm your hours."), remove_keyboard=True)


# -- buttons and commands ------------------------------------------------------------------------


def setup(registry: Registry) -> None:
    task_flow = TaskFlow()
    checkin = CheckInFlow()

    async def task_command(ctx: Context) -> None:
        await _task_command(ctx, task_flow)

    async def on_task_button(ctx: Context) -> None:
        await _on_task_button(ctx, checkin)

    registry.flow(task_flow)
    registry.flow(checkin)
    registry.command(Command("task", task_command, N_("Publish a service task (admins)")))
    registry.button(TASK_ROUTE, on_task_button)


async def _task_command(ctx: Context, flow: TaskFlow) -> None:
    grants = [
        g for g in await ctx.uow.roles.for_account(ctx.account.id) if g.role in volunteers.DECIDERS
    ]
    if not grants:
        ctx.reply(ctx._("Only community, street and city admins publish service tasks."))
        return
    if ctx.incoming.payload.strip() != "new":
        ctx.reply(ctx._("Send /task new to publish a service task."))
        return
    await flow.begin(ctx)


async def _on_task_button(ctx: Context, checkin: CheckInFlow) -> None:
    pressed = ctx.pressed
    if not isinstance(pressed, TaskPress):
        ctx.ack(ctx._("This button is not valid."), alert=True)
        return
    number = pressed.number
    if pressed.verb is TaskVerb.SIGN_UP:
        outcome = await volunteers.sign_up(ctx.uow, number, ctx.account, now=ctx.now)
        if outcome.refusal is not None:
            ctx.ack(ctx._(REFUSALS[outcome.refusal]), alert=True)
            return
        ctx.ack()
        ctx.drop_choices()
        ctx.choose(
            ctx._("You are signed up. During the task, press Check in and share your location."),
            task_choice(ctx.t, TaskVerb.CHECK_IN, number),
        )
    elif pressed.verb is TaskVerb.CHECK_IN:
        if await ctx.uow.tasks.signup_of(number, ctx.account.id) is None:
            ctx.ack(ctx._(REFUSALS[Refusal.NOT_SIGNED_UP]), alert=True)
            return
        if ctx.state.flow not in (None, checkin.name):
            # A half-written report must not be dropped by a press on an older message.
            ctx.ack(
                ctx._(
                    "You are in the middle of something. Finish it first, "
                    "or send /cancel to stop it."
                ),
                alert=True,
            )
            return
        ctx.ack()
        await checkin.begin(ctx, task_id=number)
    else:
        outcome = await volunteers.confirm_hours(ctx.uow, ctx.env, number, ctx.account, now=ctx.now)
        if outcome.refusal is not None:
            ctx.ack(ctx._(REFUSALS[outcome.refusal]), alert=True)
            return
        ctx.ack()
        ctx.drop_choices()
        ctx.reply(ctx._("Hours confirmed: +{points} points.").format(points=outcome.points))


def _answer(ctx: Context) -> Answer | None:
    pressed = ctx.pressed
    return pressed.answer if isinstance(pressed, Answered) else None


def _int(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and len(value) < 12 else None
