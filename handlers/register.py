"""Registration as a grid informant (flow "reg"), plus /mydata and /deletedata.

Consent comes first and is stored only on Agree (PIPL Art. 29: whereabouts are sensitive
personal information and need separate, explicit consent). Then name, the rider's own phone
(typed and checked, or shared with the contact button where the platform has one: WeChat has
none), courier company, usual work area, a summary, and the application is stored as pending
for a community admin to review. Every step keeps what it collected in the conversation
state, so a restart resumes where the rider was.
"""

from __future__ import annotations

import enum
import logging
from typing import Any, Literal

from babel import Locale, UnknownLocaleError

from bot.chat import Kind, Request
from bot.domain.companies import COMPANIES as KNOWN_COMPANIES
from bot.domain.companies import company_label
from bot.domain.model import INVITED_ROLES, InformantProfile, InformantStatus, Level, RegionNode
from bot.domain.phone import normalise_phone, normalise_shared_phone
from bot.domain.text import has_visible
from bot.i18n import N_
from bot.services import informants, notify
from bot.services.maps import NO_MAP_YET, loaded_map
from bot.ui.payloads import Id, Payload
from handlers import regions, volunteer
from handlers.base import Command, Context, Flow
from handlers.party import my_data_lines as party_lines
from handlers.points import my_data_lines as points_lines
from handlers.registry import Registry
from handlers.tasks import my_data_lines as signup_lines

CONSENT_VERSION = "2026-11"
COMPANIES = tuple(KNOWN_COMPANIES)
NAME_MAX = 30
COMPANY_MAX = 40

DELETE_ROUTE = "deldata"

log = logging.getLogger(__name__)


# -- the buttons (``reg:…``, and ``deldata:…`` for /deletedata) ---------------------------


class Answer(enum.StrEnum):
    AGREE = "agree"
    DECLINE = "decline"
    SUBMIT = "submit"
    RESTART = "restart"


class Answered(Payload, prefix="reg"):
    """Consent (agree, decline) and the summary (submit, restart): ``reg:agree``."""

    answer: Answer


class CompanyChosen(Payload, prefix="reg:co"):
    """One of ``COMPANIES`` by its place in the list: ``reg:co:2``."""

    index: Id


class OtherCompany(Payload, prefix="reg:co:other"):
    """The company is not listed; its name is typed next."""


class StreetsPage(Payload, prefix="reg:streets"):
    page: Id


class StreetPage(Payload, prefix="reg:street"):
    street_id: Id
    page: Id


class CommunityChosen(Payload, prefix="reg:comm"):
    region_id: Id


class DeleteData(Payload, prefix=DELETE_ROUTE):
    """/deletedata's confirmation: ``deldata:yes`` erases, ``deldata:no`` keeps."""

    answer: Literal["yes", "no"]


PICKER = regions.Picker(
    streets=StreetsPage,
    street=StreetPage,
    community=CommunityChosen,
    streets_heading=N_("Choose your street:"),
    street_heading=N_("{street}: choose your community:"),
)


class RegisterFlow(Flow):
    name = "reg"

    async def begin(self, ctx: Context, **kwargs: Any) -> None:
        """``consent_only=True``: ask for consent and stop there (open reporting needs the
        consent, not a registration)."""
        ctx.state.clear()
        self.enter(ctx, "consent", only=bool(kwargs.get("consent_only")))
        _show_consent(ctx)

    async def on_input(self, ctx: Context) -> None:
        step = ctx.state.step or "consent"
        handler = _STEPS.get(step)
        if handler is None:  # a step this version no longer has: start again
            await self.begin(ctx)
            return
        await handler(self, ctx)

    async def reprompt(self, ctx: Context) -> None:
        await _PROMPTS[ctx.state.step or "consent"](ctx)

    def untouched(self, ctx: Context) -> bool:
        return (ctx.state.step or "consent") == "consent"

    # -- steps ----------------------------------------------------------------------------

    async def _consent(self, ctx: Context) -> None:
        choice = _answer(ctx)
        if choice is Answer.AGREE:
            ctx.ack()
            ctx.drop_choices()
            await ctx.uow.accounts.record_consent(ctx.account.id, CONSENT_VERSION, ctx.now)
            if ctx.state.data.get("only"):
                ctx.state.clear()
                ctx.reply(ctx._("Thank you. Now send the photo or the location of the problem."))
                return
            self.enter(ctx, "name")
            ctx.reply(ctx._("Thank you. Let's begin."))
            await _ask_name(ctx)
        elif choice is Answer.DECLINE:
            ctx.ack()
            ctx.drop_choices()
            ctx.state.clear()
            ctx.reply(_declined(ctx))
        else:
            await _refuse_and_reprompt(ctx, _show_consent_async)

    async def _name(self, ctx: Context) -> None:
        if ctx.incoming.kind is not Kind.TEXT:
            await _refuse_and_reprompt(ctx, _ask_name)
            return
        name = " ".join(ctx.incoming.text.split())
        if not has_visible(name) or len(name) > NAME_MAX or name.startswith("/"):
            ctx.reply(
                ctx._("A name has 1 to {max} characters and is not a command.").format(max=NAME_MAX)
            )
            await _ask_name(ctx)
            return
        self.enter(ctx, "phone", name=name)
        await _ask_phone(ctx)

    async def _phone(self, ctx: Context) -> None:
        if ctx.incoming.kind is Kind.TEXT:
            phone = normalise_phone(ctx.incoming.text)
        elif ctx.incoming.kind is Kind.CONTACT and ctx.incoming.contact is not None:
            contact = ctx.incoming.contact
            if contact.user_id != ctx.incoming.user.user_id:
                ctx.reply(
                    ctx._(
                        "That is someone else's contact. Please type your own number, "
                        "or share it with the button below."
                    )
                )
                await _ask_phone(ctx)
                return
            phone = normalise_shared_phone(contact.phone)
        else:
            await _refuse_and_reprompt(ctx, _ask_phone)
            return
        if phone is None:
            log.info("registration: a phone number was refused as not valid")
            ctx.reply(
                ctx._(
                    "That is not a phone number I can use. Type a mainland China mobile "
                    "number (11 digits, such as 138 0013 8000) or an international number "
                    "starting with + and the country code."
                )
            )
            await _ask_phone(ctx)
            return
        self.enter(ctx, "company", phone=phone)
        ctx.reply(ctx._("Thank you, your number is saved."), remove_keyboard=True)
        await _ask_company(ctx)

    async def _company(self, ctx: Context) -> None:
        pressed = ctx.pressed
        if isinstance(pressed, OtherCompany):
            ctx.ack()
            ctx.drop_choices()
            self.enter(ctx, "company_other")
            await _ask_company_name(ctx)
            return
        if not isinstance(pressed, CompanyChosen) or pressed.index >= len(COMPANIES):
            await _refuse_and_reprompt(ctx, _ask_company)
            return
        company = COMPANIES[pressed.index]
        ctx.ack()
        ctx.show_choice(company_label(company, ctx._))
        self.enter(ctx, "area", company=company)
        await _ask_area(ctx)

    async def _company_other(self, ctx: Context) -> None:
        company = " ".join(ctx.incoming.text.split()) if ctx.incoming.kind is Kind.TEXT else ""
        if not has_visible(company) or len(company) > COMPANY_MAX or company.startswith("/"):
            await _refuse_and_reprompt(ctx, _ask_company_name)
            return
        self.enter(ctx, "area", company=company)
        await _ask_area(ctx)

    async def _area(self, ctx: Context) -> None:
        if ctx.incoming.kind is Kind.LOCATION and ctx.incoming.location is not None:
            await self._area_from_location(ctx)
            return
        pressed = ctx.pressed
        if isinstance(pressed, StreetsPage):
            await regions.show_streets(ctx, PICKER, pressed.page)
        elif isinstance(pressed, StreetPage):
            if not await regions.show_communities(ctx, PICKER, pressed.street_id, pressed.page):
                await _refuse_and_reprompt(ctx, _ask_area)
        elif isinstance(pressed, CommunityChosen):
            await self._area_chosen(ctx, pressed.region_id)
        else:
            await _refuse_and_reprompt(ctx, _ask_area)

    async def _area_from_location(self, ctx: Context) -> None:
        assert ctx.incoming.location is not None
        where = ctx.incoming.location
        gridmap = loaded_map(ctx.env.maps)
        if gridmap is None:  # the step waits for the map; the list may still be chosen from
            ctx.reply(ctx._(NO_MAP_YET))
            return
        routed = gridmap.route(where.lat, where.lon)
        if routed.unit is None or not routed.path:  # outside the service area
            ctx.reply(
                ctx._(
                    "This location is outside the service area. Share a location inside "
                    "the city, or choose your community from the list."
                )
            )
            await _ask_area(ctx)
            return
        # The community is the unit admins review; a map without communities uses the grid.
        ref = next((u for u in routed.path if u.level is Level.COMMUNITY), routed.path[0])
        node = await ctx.uow.regions.get(ref.code)
        if node is None:
            await _refuse_and_reprompt(ctx, _ask_area)
            return
        ctx.reply(ctx._("Work area: {area}").format(area=node.name), remove_keyboard=True)
        self._to_confirm(ctx, node)
        await _show_summary(ctx)

    async def _area_chosen(self, ctx: Context, region_id: int) -> None:
        node = await ctx.uow.regions.get_by_id(region_id)
        if node is None or node.level is not Level.COMMUNITY:
            await _refuse_and_reprompt(ctx, _ask_area)
            return
        ctx.ack()
        ctx.drop_choices()
        ctx.reply(ctx._("Work area: {area}").format(area=node.name), remove_keyboard=True)
        self._to_confirm(ctx, node)
        await _show_summary(ctx)

    def _to_confirm(self, ctx: Context, node: RegionNode) -> None:
        self.enter(ctx, "confirm", region_id=node.id, region_name=node.name)

    async def _confirm(self, ctx: Context) -> None:
        choice = _answer(ctx)
        if choice is Answer.RESTART:
            ctx.ack()
            ctx.drop_choices()
            self.enter(ctx, "name")
            await _ask_name(ctx)
        elif choice is Answer.SUBMIT:
            ctx.ack()
            ctx.drop_choices()
            await self._submit(ctx)
        else:
            await _refuse_and_reprompt(ctx, _show_summary)

    async def _submit(self, ctx: Context) -> None:
        data = ctx.state.data
        application = informants.Application(
            real_name=data["name"],
            phone=data["phone"],
            company=data["company"],
            home_region_id=data.get("region_id"),
        )
        profile = await informants.register(ctx.uow, ctx.account, application, now=ctx.now)
        await notify.application_submitted(ctx.uow, ctx.env, account=ctx.account, profile=profile)
        ctx.state.clear()
        ctx.reply(
            ctx._(
                "Thank you! Your registration was sent. A community admin will review it, "
                "and I will tell you here as soon as it is decided."
            )
        )


# -- prompts (also what a re-prompt shows) -------------------------------------------------


def _show_consent(ctx: Context) -> None:
    ctx.choose(
        ctx._(
            "Before you register, please read how we handle your personal information.\n\n"
            "What we collect: your name, phone number and courier company; your usual work "
            "area; the location you share when you report a hazard; the photos you send.\n"
            "Why: to route each hazard to the grid workers responsible for that place, and "
            "to contact you about your reports.\n"
            "How long: while you are a registered informant, and until you delete your data; "
            "reports stay with the city as case records, without your name and phone.\n"
            "Your rights (PIPL Art. 44–47): you may access, copy, correct and delete your "
            "data. /mydata shows what we hold; /deletedata deletes it after a confirmation.\n\n"
            "Do you agree?"
        ),
        [
            [
                (ctx._("Agree"), Answered(answer=Answer.AGREE)),
                (ctx._("Decline"), Answered(answer=Answer.DECLINE)),
            ]
        ],
    )


def _declined(ctx: Context) -> str:
    # True to the letter: without a consent the account row holds only the chat's ids and
    # the language (the dispatcher stores no display name for it, see upsert_from_chat).
    if ctx.account.consent is None:
        return ctx._(
            "You declined. I keep nothing about you except this chat's id and your language, "
            "which I need to answer you. You can still read /help, and send /register "
            "whenever you change your mind."
        )
    return ctx._(
        "You declined, so nothing more was stored. What you agreed to earlier still holds: "
        "/mydata shows what I keep, /deletedata deletes it."
    )


async def _show_consent_async(ctx: Context) -> None:
    _show_consent(ctx)


async def _ask_name(ctx: Context) -> None:
    ctx.reply(ctx._("What is your name? (1 to {max} characters)").format(max=NAME_MAX))


async def _ask_phone(ctx: Context) -> None:
    ctx.ask(
        Request.PHONE, ctx._("Please type your phone number, or share it with the button below.")
    )


async def _ask_company(ctx: Context) -> None:
    rows: list[list[tuple[str, Payload]]] = [
        [
            (company_label(name, ctx._), CompanyChosen(index=i))
            for i, name in enumerate(COMPANIES[start : start + 3], start)
        ]
        for start in range(0, len(COMPANIES), 3)
    ]
    rows.append([(ctx._("Other"), OtherCompany())])
    ctx.choose(ctx._("Which courier company do you work for?"), rows)


async def _ask_company_name(ctx: Context) -> None:
    ctx.reply(
        ctx._("Type the name of your company (up to {max} characters).").format(max=COMPANY_MAX)
    )


async def _ask_area(ctx: Context) -> None:
    ctx.ask(
        Request.LOCATION,
        ctx._(
            "Where do you usually work? Share a location there with the button below, "
            "or choose your community from the list."
        ),
        button=ctx._("Share a location"),
    )
    ctx.choose(
        ctx._("Or choose from the list:"), [[(ctx._("Choose my community"), StreetsPage(page=0))]]
    )


async def _show_summary(ctx: Context) -> None:
    data = ctx.state.data
    ctx.choose(
        ctx._(
            "Please check your details:\nName: {name}\nPhone: {phone}\nCompany: {company}\n"
            "Work area: {area}"
        ).format(
            name=data.get("name", ""),
            phone=data.get("phone", ""),
            company=company_label(data.get("company", ""), ctx._),
            area=data.get("region_name", ""),
        ),
        [
            [
                (ctx._("Submit"), Answered(answer=Answer.SUBMIT)),
                (ctx._("Start over"), Answered(answer=Answer.RESTART)),
            ]
        ],
    )


async def _refuse_and_reprompt(ctx: Context, prompt: Any) -> None:
    """Unexpected input (a forged or stale button, a photo where text is due): say so,
    then repeat what this step expects."""
    if ctx.incoming.kind is Kind.BUTTON:
        ctx.ack(ctx._("This button is not valid."), alert=True)
        return
    ctx.reply(ctx._("That is not what I asked for."))
    await prompt(ctx)


_PROMPTS = {
    "consent": _show_consent_async,
    "name": _ask_name,
    "phone": _ask_phone,
    "company": _ask_company,
    "company_other": _ask_company_name,
    "area": _ask_area,
    "confirm": _show_summary,
}
_STEPS = {
    "consent": RegisterFlow._consent,
    "name": RegisterFlow._name,
    "phone": RegisterFlow._phone,
    "company": RegisterFlow._company,
    "company_other": RegisterFlow._company_other,
    "area": RegisterFlow._area,
    "confirm": RegisterFlow._confirm,
}


# -- helpers -------------------------------------------------------------------------------


def _answer(ctx: Context) -> Answer | None:
    pressed = ctx.pressed
    return pressed.answer if isinstance(pressed, Answered) else None


# -- commands ------------------------------------------------------------------------------


def setup(registry: Registry) -> None:
    flow = RegisterFlow()

    async def register(ctx: Context) -> None:
        await _register(ctx, flow)

    async def on_start(ctx: Context) -> None:
        await _welcome_newcomer(ctx, flow)

    async def deep_link(ctx: Context, _rest: str) -> None:
        await _register(ctx, flow)

    registry.flow(flow)
    registry.command(Command("register", register, N_("Become a grid informant")))
    registry.command(
        Command("mydata", show_my_data, N_("What we hold about you"), allowed_mid_flow=True)
    )
    registry.command(Command("deletedata", ask_delete_data, N_("Delete your personal data")))
    registry.button(DELETE_ROUTE, delete_data)
    registry.deep_link("reg", deep_link)
    registry.on_start(on_start)


async def _register(ctx: Context, flow: RegisterFlow) -> None:
    profile = await ctx.uow.informants.get(ctx.account.id)
    if profile is None:
        await flow.begin(ctx)
        return
    if profile.status is InformantStatus.REJECTED:
        ctx.reply(ctx._("Your last registration was not approved. You can apply again."))
        await flow.begin(ctx)
        return
    ctx.reply(_status_text(ctx, profile, await ctx.uow.points.balance(ctx.account.id)))


async def _welcome_newcomer(ctx: Context, flow: RegisterFlow) -> None:
    """A plain /start from someone we know nothing about: welcome, then the consent screen.
    Staff (invited through their own deep link) and existing informants get /help instead."""
    if await ctx.uow.informants.get(ctx.account.id) is not None:
        return
    grants = await ctx.uow.roles.for_account(ctx.account.id)
    if any(g.role in INVITED_ROLES for g in grants):
        return
    ctx.reply(
        ctx._(
            "Welcome to Gridsnap! Riders like you see hazards on the road every day: a missing "
            "manhole cover, a blocked fire lane, waterlogging. Register as a grid informant, "
            "snap a photo, and it reaches the grid workers who fix it."
        )
    )
    await flow.begin(ctx)


def _status_text(ctx: Context, profile: InformantProfile, points: int) -> str:
    if profile.status is InformantStatus.APPROVED:
        return ctx._(
            "You are a registered grid informant. Send a photo of a hazard, or /report, "
            "to report it. Points: {points}"
        ).format(points=points)
    return ctx._(
        "Your registration is waiting for review by a community admin. "
        "I will tell you here as soon as it is decided."
    )


async def show_my_data(ctx: Context) -> None:
    account = ctx.account
    lines = [ctx._("What we hold about you:")]
    if account.display_name:
        lines.append(ctx._("Your name in this chat: {name}").format(name=account.display_name))
    lines.append(ctx._("Language: {locale}").format(locale=language_name(account.locale, ctx)))
    if account.consent is not None:
        lines.append(
            ctx._("Consent: version {version}, given {at}").format(
                version=account.consent.version, at=ctx.t.datetime(account.consent.given_at)
            )
        )
    profile = await ctx.uow.informants.get(account.id)
    if profile is not None:
        lines.extend(await _profile_lines(ctx, profile))
    lines.extend(await points_lines(ctx, always=profile is not None))
    lines.extend(await party_lines(ctx))
    lines.extend(await volunteer.my_data_lines(ctx))
    lines.extend(await signup_lines(ctx))
    reports = await ctx.uow.reports.for_reporter(account.id)
    lines.append(ctx._("Reports you sent: {count}").format(count=len(reports)))
    lines.append(ctx._("Send /deletedata to delete your personal data."))
    ctx.reply("\n".join(lines))


async def _profile_lines(ctx: Context, profile: InformantProfile) -> list[str]:
    area = ""
    if profile.home_region_id is not None:
        node = await ctx.uow.regions.get_by_id(profile.home_region_id)
        area = node.name if node else ""
    status = {
        InformantStatus.PENDING: ctx._("waiting for review"),
        InformantStatus.APPROVED: ctx._("approved"),
        InformantStatus.REJECTED: ctx._("not approved"),
    }[profile.status]
    return [
        ctx._("Name: {name}").format(name=profile.real_name),
        ctx._("Phone: {phone}").format(phone=profile.phone),
        ctx._("Company: {company}").format(company=company_label(profile.company, ctx._)),
        ctx._("Work area: {area}").format(area=area),
        ctx._("Informant status: {status}").format(status=status),
    ]


async def ask_delete_data(ctx: Context) -> None:
    ctx.choose(
        ctx._(
            "Delete your personal data? Your name, phone, consent, informant registration, "
            "volunteer registration, task sign-ups and check-ins, points, party membership "
            "declaration and conversation are erased and cannot be restored. Reports you sent "
            "stay with the city as case records, without your name and phone."
        ),
        [
            [
                (ctx._("Yes, delete"), DeleteData(answer="yes")),
                (ctx._("No, keep it"), DeleteData(answer="no")),
            ]
        ],
    )


async def delete_data(ctx: Context) -> None:
    pressed = ctx.pressed
    if not isinstance(pressed, DeleteData):
        ctx.ack(ctx._("This button is not valid."), alert=True)
        return
    ctx.ack()
    ctx.drop_choices()
    if pressed.answer == "no":
        ctx.reply(ctx._("Nothing was deleted."))
        return
    # The outbox holds what was said to them (names, case details), sent or waiting; it
    # goes too. This update's own answers are queued after, so they still arrive.
    await ctx.uow.outbox.forget_chat(ctx.account.platform, ctx.account.chat_id)
    # So do updates of theirs the inbox kept as dead (they hold what was sent).
    await ctx.uow.accounts.delete_personal_data(ctx.account.id)
    ctx.state.clear()
    ctx.reply(ctx._("Your personal data was deleted. Send /start if you want to begin again."))


def language_name(code: str, ctx: Context) -> str:
    """A language as its name in the reader's language ("中文", "Chinese"), by Babel."""
    try:
        name = Locale.parse(code).get_language_name(ctx.t.locale)
    except (ValueError, UnknownLocaleError):
        return code
    return name or code
