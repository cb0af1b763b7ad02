"""The intents on ``Context`` and the dispatcher's routing by payload, through a real
``Dispatcher`` on the in-memory store with a small flow of its own."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from bot.chat import Incoming, Kind, Location, Outgoing, OutKind, Request, User
from bot.domain.categories import load_catalogue
from bot.services.env import Env, MapHolder
from bot.ui.payloads import Id, Payload
from handlers.base import Context, Flow
from handlers.dispatcher import Dispatcher
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.flowkit import MemoryPhotoStore, deliver

ME = User(platform="telegram", user_id="701", chat_id="701", language_code="en")


class Pick(Payload, prefix="zzpick2", route="zzflow", replaces=("zzpick",)):
    item_id: Id


class Tap(Payload, prefix="zztap"):
    item_id: Id


class PickFlow(Flow):
    """Asks for a location, then offers two picks; a pick swaps the menu for one more."""

    name = "zzflow"

    async def begin(self, ctx: Context, **kwargs: Any) -> None:
        self.enter(ctx, "where")
        ctx.ask(Request.LOCATION | Request.PHOTO, "Where?", options=["Here"])

    async def on_input(self, ctx: Context) -> None:
        if ctx.incoming.kind is Kind.LOCATION:
            ctx.choose("Which?", [[("One", Pick(item_id=1)), ("Two", Pick(item_id=2))]])
            return
        pressed = ctx.pressed
        assert isinstance(pressed, Pick)
        ctx.ack(f"picked {pressed.item_id}")
        ctx.replace_choices([[("Three", Pick(item_id=3))]], prompt="Which else?")


class Town:
    def __init__(self) -> None:
        self.store = FakeStore()
        env = Env(
            catalogue=load_catalogue(), maps=MapHolder(tolerance_m=300), photos=MemoryPhotoStore()
        )
        self.flow = PickFlow()
        self.taps: list[Tap] = []

        async def on_tap(ctx: Context) -> None:
            assert isinstance(ctx.pressed, Tap)
            self.taps.append(ctx.pressed)
            ctx.ack()
            ctx.show_choice("Tapped")

        async def start(ctx: Context) -> None:
            await self.flow.begin(ctx)

        self.dispatcher = Dispatcher(
            uow_factory=lambda: FakeUnitOfWork(store=self.store),
            env=env,
            flows=[self.flow],
            commands=[],
            button_handlers={"zztap": on_tap},
            fallback=start,
        )
        self.ids = itertools.count(1)

    async def send(self, kind: Kind, **fields: Any) -> list[Outgoing]:
        update = Incoming(update_id=str(next(self.ids)), user=ME, kind=kind, **fields)
        return await deliver(self.dispatcher, self.store, update)

    async def press(self, data: str, message_id: str | None = "m1") -> list[Outgoing]:
        return await self.send(
            Kind.BUTTON, button_data=data, callback_id="cb", message_id=message_id
        )


@pytest.fixture
def town() -> Town:
    return Town()


def acks(said: list[Outgoing]) -> list[str]:
    return [m.text for m in said if m.kind is OutKind.ANSWER_BUTTON]


async def test_ask_sends_a_request_with_the_default_share_label(town: Town) -> None:
    [asked] = await town.send(Kind.TEXT, text="hi")
    assert asked.request is not None and asked.keyboard is None
    assert asked.request.wants == Request.LOCATION | Request.PHOTO
    assert asked.request.button == "📍 Share location" and asked.request.options == ("Here",)


async def test_a_choice_packs_its_payloads_and_a_press_replaces_the_menu(town: Town) -> None:
    await town.send(Kind.TEXT, text="hi")
    [menu] = await town.send(Kind.LOCATION, location=Location(lat=31.2, lon=121.5))
    assert menu.keyboard is not None
    assert [b.data for b in menu.keyboard.rows[0]] == ["zzpick2:1", "zzpick2:2"]
    said = await town.press("zzpick2:2")
    assert acks(said) == ["picked 2"]
    [edit] = [m for m in said if m.kind is OutKind.EDIT_MARKUP]
    assert edit.message_id == "m1" and edit.text == "Which else?"
    assert edit.keyboard is not None and edit.keyboard.rows[0][0].data == "zzpick2:3"


async def test_without_a_message_to_edit_the_new_menu_is_a_fresh_message(town: Town) -> None:
    await town.send(Kind.TEXT, text="hi")
    said = await town.press("zzpick2:2", message_id=None)
    [fresh] = [m for m in said if m.kind is OutKind.TEXT]
    assert fresh.text == "Which else?" and fresh.keyboard is not None


async def test_a_button_of_a_retired_layout_has_expired(town: Town) -> None:
    await town.send(Kind.TEXT, text="hi")
    said = await town.press("zzpick:2")
    assert acks(said) == ["This button has expired."]
    assert [m.keyboard for m in said if m.kind is OutKind.EDIT_MARKUP] == [None]


async def test_a_flows_button_after_leaving_the_flow_has_expired(town: Town) -> None:
    said = await town.press("zzpick2:2")
    assert acks(said) == ["This button has expired."]


@pytest.mark.parametrize("data", ["zzpick2:x", "zzpick2:1:2", "zztap:", "nosuch:1", ""])
async def test_forged_or_unknown_data_is_not_valid_and_reaches_no_handler(
    town: Town, data: str
) -> None:
    await town.send(Kind.TEXT, text="hi")
    said = await town.press(data)
    assert acks(said) == ["This button is not valid."]
    assert town.taps == []


async def test_a_button_handler_gets_the_typed_payload_and_shows_the_choice(town: Town) -> None:
    said = await town.press("zztap:7")
    assert town.taps == [Tap(item_id=7)]
    [edit] = [m for m in said if m.kind is OutKind.EDIT_MARKUP]
    assert edit.keyboard is not None and edit.keyboard.rows[0][0].data == "chosen:"
    assert edit.keyboard.rows[0][0].text == "✓ Tapped"
