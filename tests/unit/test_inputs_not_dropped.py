"""Inputs that used to be dropped without a word, driven through the real Dispatcher.

A photo's caption was ignored, a long note silently cut, a sticker or voice note met with
silence, every move of a live location handled as a new location, and a name of
zero-width characters taken as a name.
"""

from __future__ import annotations

import pytest

from bot.chat import Kind, User
from bot.domain.categories import load_catalogue
from bot.domain.model import InformantStatus, ReportStatus, RoleName
from bot.services.env import Env, MapHolder
from handlers.report import MAX_NOTE
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.flowkit import dispatcher_on
from tests.unit import test_register_flow as reg
from tests.unit.test_feedback import RIDER as FEEDBACK_RIDER
from tests.unit.test_feedback import World
from tests.unit.test_report_flow import GARBAGE, IN_G1, MAP, NOW, Rider, jpeg, texts

WORKER = User(platform="telegram", user_id="900", chat_id="900", language_code="en")


@pytest.fixture
async def rider() -> Rider:
    store = FakeStore()
    async with FakeUnitOfWork(store=store) as uow:
        await uow.regions.replace_map(MAP, replace=True)
        await uow.commit()
    rider = Rider(store)
    await rider.register_as(InformantStatus.APPROVED)
    return rider


async def _caption(rider: Rider, data: bytes, caption: str) -> list:
    ref = rider._file(data)
    return await rider.send(Kind.PHOTO, photo=ref, text=caption)


# -- report: caption and note --------------------------------------------------------------


async def test_a_photos_caption_becomes_the_reports_note(rider: Rider) -> None:
    await _caption(rider, jpeg(1), "  manhole open by the school gate ")
    await rider.location(IN_G1)
    said = await rider.press(f"rep:cat:{GARBAGE}")
    assert rider.step() == "confirm"  # no note asked for: the caption is the note
    assert "Note: manhole open by the school gate" in texts(said)
    await rider.press("rep:submit")
    [report] = rider.store.data.reports.values()
    assert report.note == "manhole open by the school gate"


async def test_a_second_photos_caption_is_added_to_the_note(rider: Rider) -> None:
    await _caption(rider, jpeg(1), "open manhole")
    await _caption(rider, jpeg(2), "seen from the other side")
    assert rider.state().data["note"] == "open manhole\nseen from the other side"


async def test_a_note_over_the_limit_is_refused_with_the_limit_not_cut(rider: Rider) -> None:
    await rider.photo(jpeg(1))
    await rider.location(IN_G1)
    await rider.press(f"rep:cat:{GARBAGE}")
    said = await rider.text("x" * (MAX_NOTE + 1))
    assert f"the limit is {MAX_NOTE}" in texts(said)
    assert rider.step() == "note" and rider.state().data["note"] is None
    said = await rider.text("x" * MAX_NOTE)
    assert rider.step() == "confirm"
    assert rider.state().data["note"] == "x" * MAX_NOTE


async def test_a_caption_over_the_limit_is_refused_and_the_photo_kept(rider: Rider) -> None:
    said = await _caption(rider, jpeg(1), "y" * (MAX_NOTE + 1))
    assert f"the limit is {MAX_NOTE}" in texts(said)
    assert len(rider.state().data["photos"]) == 1 and rider.state().data["note"] is None


# -- kinds no flow can use ---------------------------------------------------------------


async def test_a_sticker_or_voice_note_is_answered_and_the_step_stays(rider: Rider) -> None:
    await rider.photo(jpeg(1))
    assert rider.step() == "location"
    said = await rider.send(Kind.UNSUPPORTED)
    assert texts(said) == "I can only take photos, locations and text here."
    assert rider.step() == "location"


async def test_a_sticker_outside_any_flow_is_answered_and_opens_nothing(rider: Rider) -> None:
    said = await rider.send(Kind.UNSUPPORTED)
    assert texts(said) == "I can only take photos, locations and text here."
    assert rider.state().flow is None


# -- register: names that show nothing -----------------------------------------------------


async def registering() -> reg.Rider:
    store = FakeStore()
    async with FakeUnitOfWork(store=store) as uow:
        await uow.regions.replace_map(reg.MAP, replace=True)
        await uow.commit()
    return reg.Rider(store)


@pytest.mark.parametrize(
    "name",
    ["\u200b", "\u200b\u200c\u200d", "\u2060\ufeff", "\u3164", "\u2800\u2800", "\u200b \u200b"],
    ids=["zwsp", "zwsp-zwnj-zwj", "word-joiner-bom", "hangul-filler", "braille-blank", "spaced"],
)
async def test_a_name_of_invisible_characters_is_refused(name: str) -> None:
    rider = await registering()
    await rider.to_step("name")
    said = await rider.text(name)
    assert "A name has 1 to 30 characters" in reg.texts(said)
    assert rider.step() == "name"


async def test_a_name_with_a_joiner_inside_visible_letters_is_kept() -> None:
    rider = await registering()
    await rider.to_step("name")
    await rider.text("王\u200d小明")
    assert rider.step() == "phone"


# -- feedback and the worker's resolve -----------------------------------------------------


async def test_a_not_fixed_reason_over_the_limit_is_refused_not_cut() -> None:
    world = World()
    report_id = await world.resolved_case()
    await world.press(FEEDBACK_RIDER, f"fb:no:{report_id}")
    said = await world.text(FEEDBACK_RIDER, "z" * 201)
    assert "the limit is 200" in "\n".join(m.text for m in said)
    assert world.status(report_id) is ReportStatus.RESOLVED  # still waiting for the reason


async def _worker_resolving(rider: Rider) -> tuple[Rider, int]:
    """A worker of the rider's grid who accepted the rider's report and pressed Resolve."""
    await rider.to_confirmation()
    await rider.press("rep:submit")
    [report] = rider.store.data.reports.values()
    worker = Rider(rider.store, WORKER)
    env = Env(
        catalogue=load_catalogue(),
        maps=MapHolder(tolerance_m=300),
        photos=worker.photos,
        clock=lambda: NOW,
    )
    worker.dispatcher = dispatcher_on(rider.store, env, fetchers={"telegram": worker.files})
    await worker.command("help")
    async with worker.uow as uow:
        await uow.roles.grant(worker.account_id(), RoleName.GRID_WORKER, report.grid_id)
        await uow.commit()
    await worker.press(f"w:acc:{report.id}:{report.version}")
    accepted = rider.store.data.reports[report.id]
    await worker.press(f"w:res:{accepted.id}:{accepted.version}")
    assert worker.step() == "note"
    return worker, report.id


async def test_an_after_photo_with_a_caption_resolves_with_the_caption_as_the_note(
    rider: Rider,
) -> None:
    worker, report_id = await _worker_resolving(rider)
    await _caption(worker, jpeg(9), "cover replaced")
    resolved = rider.store.data.reports[report_id]
    assert resolved.status is ReportStatus.RESOLVED
    assert [p.kind for p in resolved.photos] == ["before", "after"]
    assert rider.store.data.audit[-1].data.get("note") == "cover replaced"


async def test_an_after_photos_caption_is_added_to_the_note_written_before(rider: Rider) -> None:
    worker, report_id = await _worker_resolving(rider)
    await worker.text("cover replaced")
    await _caption(worker, jpeg(9), "and the kerb swept")
    assert rider.store.data.reports[report_id].status is ReportStatus.RESOLVED
    assert rider.store.data.audit[-1].data.get("note") == "cover replaced and the kerb swept"
