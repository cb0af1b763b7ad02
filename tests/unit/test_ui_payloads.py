"""Button payloads: typed, versioned, validated in one place (bot/ui/payloads.py)."""

from __future__ import annotations

import enum

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.ui import payloads
from bot.ui.payloads import BadPayload, Code, ExpiredPayload, Id, Payload, UnknownPayload
from handlers.registry import collect

OURS = ("bot.", "handlers.")  # the payload classes of the app, not this module's own


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


class Paint(Payload, prefix="zzpaint"):
    colour: Colour
    item_id: Id


class PaintAll(Payload, prefix="zzpaint:all"):
    code: Code


# Version 2 of a layout: the old prefix is retired, so its buttons read as expired.
class Swatch(Payload, prefix="zzsw2", replaces=("zzsw",)):
    item_id: Id
    colour: Colour


def test_a_payload_packs_to_its_prefix_and_fields_and_parses_back() -> None:
    paint = Paint(colour=Colour.RED, item_id=12)
    assert paint.pack() == "zzpaint:red:12"
    assert payloads.parse("zzpaint:red:12") == paint


def test_the_longest_registered_prefix_picks_the_class() -> None:
    assert payloads.parse("zzpaint:all:C04") == PaintAll(code="C04")
    assert type(payloads.parse("zzpaint:blue:3")) is Paint


def test_the_route_is_the_first_segment_of_the_prefix() -> None:
    assert PaintAll(code="x").route == "zzpaint"


@pytest.mark.parametrize(
    "data",
    [
        "zzpaint:green:12",  # an enum value outside its set
        "zzpaint:red:twelve",  # not an int
        "zzpaint:red:²",  # a digit to str.isdigit, not to int()
        "zzpaint:red:-1",
        "zzpaint:red: 12",
        "zzpaint:red:1_2",
        "zzpaint:red:012",  # would pack back as another string
        "zzpaint:red:+12",
        "zzpaint:red:" + "9" * 19,  # over a BIGINT
        "zzpaint:red",  # a field short
        "zzpaint:red:12:1",  # a field too many
        "zzpaint:all:a b",  # a code with a space
        "zzpaint:all:",
    ],
)
def test_forged_data_is_refused(data: str) -> None:
    with pytest.raises(BadPayload):
        payloads.parse(data)


def test_data_over_64_bytes_is_refused_before_any_lookup() -> None:
    with pytest.raises(BadPayload):
        payloads.parse("zzpaint:all:" + "a" * 60)


def test_an_unknown_prefix_is_refused_and_names_its_route() -> None:
    with pytest.raises(UnknownPayload) as caught:
        payloads.parse("nosuch:1:2")
    assert caught.value.route == "nosuch"
    assert not payloads.is_typed_route("nosuch") and payloads.is_typed_route("zzpaint")


def test_a_retired_layout_is_expired_not_misread() -> None:
    with pytest.raises(ExpiredPayload):
        payloads.parse("zzsw:red:12")
    assert payloads.parse("zzsw2:12:red") == Swatch(item_id=12, colour=Colour.RED)


class Long(Payload, prefix="zz" + "l" * 40):
    code: Code


def test_pack_refuses_what_could_not_be_read_back() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        Long(code="a" * 30).pack()
    with pytest.raises(ValueError):
        Paint(colour=Colour.RED, item_id=10**18)  # over 18 digits


def test_a_prefix_cannot_be_taken_twice() -> None:
    with pytest.raises(ValueError, match="taken"):

        class Again(Payload, prefix="zzpaint"):
            pass

    with pytest.raises(ValueError, match="taken"):

        class Revived(Payload, prefix="zzsw"):
            pass


ids = st.integers(min_value=0, max_value=10**18 - 1)
codes = st.from_regex(r"[0-9A-Za-z_-]{1,32}", fullmatch=True)


@given(
    st.one_of(
        st.builds(Paint, colour=st.sampled_from(Colour), item_id=ids),
        st.builds(PaintAll, code=codes),
        st.builds(Swatch, item_id=ids, colour=st.sampled_from(Colour)),
    )
)
def test_every_payload_round_trips(payload: Payload) -> None:
    data = payload.pack()
    assert len(data.encode()) <= 64
    assert payloads.parse(data) == payload


@given(st.text(max_size=80))
def test_any_text_parses_or_raises_bad_payload_only(data: str) -> None:
    try:
        payload = payloads.parse(data)
    except BadPayload:
        return
    assert payload.pack() == data


@pytest.fixture(scope="module")
def every_flow() -> None:
    collect()  # imports every flow module, and so defines every payload class


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_every_registered_payload_class_round_trips(every_flow: None, data: st.DataObject) -> None:
    ours = [c for c in payloads.registered().values() if c.__module__.startswith(OURS)]
    cls = data.draw(st.sampled_from(sorted(ours, key=str)))
    fields = {}
    for name, info in cls.model_fields.items():
        if info.metadata and any(getattr(m, "func", None) is payloads._id for m in info.metadata):
            fields[name] = data.draw(ids)
        elif isinstance(info.annotation, type) and issubclass(info.annotation, enum.Enum):
            fields[name] = data.draw(st.sampled_from(info.annotation))
        elif not info.is_required():
            continue
        else:
            fields[name] = data.draw(codes)
    try:
        payload = cls(**fields)
    except ValueError:
        return  # a field this strategy cannot fill (a bounded int, a literal): skipped
    assert payloads.parse(payload.pack()) == payload


@pytest.mark.parametrize(
    "data",
    [
        "w:acc:12:3",
        "w:res:12:3",
        "w:ret:12:3",
        "w:tr:12:3",
        "w:back:12:3",
        "w:rr:12:3:grid",
        "w:rr:12:3:dup",
        "w:tg:12:3:45",
        "w:open:12",
        "wres:skip",
        "rep:cat:0403",
        "rep:cls:C04",
        "rep:more",
        "rep:submit",
        "rep:follow:12",
        "fb:ok:12",
        "fb:no:12",
        "fb:rate:12:5",
        "fbr:skip",
        "my:12",
        "my:w:12:3",
        "lang:zh_CN",
        "chosen:",
    ],
)
def test_buttons_already_on_peoples_screens_still_parse_to_the_same_string(
    every_flow: None, data: str
) -> None:
    assert payloads.parse(data).pack() == data


def test_every_payload_of_ours_routes_to_a_flow_or_a_button_handler() -> None:
    registry = collect()
    routes = {flow.name for flow in registry.flows} | set(registry.buttons)
    ours = [c for c in payloads.registered().values() if c.__module__.startswith(OURS)]
    assert ours and {c.__name__: c.__route__ for c in ours if c.__route__ not in routes} == {}
