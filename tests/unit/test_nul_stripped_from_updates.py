"""``handlers.edge.without_nul``: U+0000 leaves every string of an update, nothing else."""

from __future__ import annotations

from bot.chat import ChatType, Contact, Incoming, Kind, Location, User
from handlers.edge import without_nul


def test_every_string_of_an_update_loses_its_nul_and_kinds_stay_members() -> None:
    user = User(
        platform="telegram",
        user_id="1\x00",
        chat_id="1",
        display_name="Wang\x00 Wei",
        chat_type=ChatType.PRIVATE,
    )
    incoming = Incoming(
        update_id="9",
        user=user,
        kind=Kind.CONTACT,
        text="a\x00b",
        contact=Contact(phone="+86\x00138", first_name="W\x00"),
        location=Location(lat=1.5, lon=2.5, title="\x00站"),
    )
    clean = without_nul(incoming)
    assert clean.user.display_name == "Wang Wei" and clean.user.user_id == "1"
    assert clean.text == "ab"
    assert clean.contact == Contact(phone="+86138", first_name="W")
    assert clean.location == Location(lat=1.5, lon=2.5, title="站")
    assert clean.kind is Kind.CONTACT and clean.user.chat_type is ChatType.PRIVATE
    assert clean.photo is None and clean.command is None
