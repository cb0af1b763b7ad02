"""Typed, versioned button payloads, validated in one place.

Modelled on aiogram's ``CallbackData`` (a pydantic model declaring ``prefix`` and typed
fields; ``pack()`` joins them with ``:`` and checks Telegram's 64 bytes; ``unpack()``
validates) but not derived from it: that class imports ``aiogram.types``, and the flows must
not depend on a Telegram library (``docs``: the core knows no platform). Two things it lacks
are added:

* **One registry.** Every payload class registers its prefix; ``parse(data)`` finds the class
  by the longest registered prefix and validates every field, or raises ``BadPayload``. A
  prefix may span several segments (``w:rr``), so the layouts already on people's screens
  (``w:acc:12:3``, ``w:rr:12:3:grid``, ``w:open:12``) keep their exact strings while each
  has its own fixed, typed layout.
* **Versions.** The prefix names the layout. A changed layout gets a new prefix and lists
  the old one in ``replaces``; a press of an old button then raises ``ExpiredPayload``
  ("This button has expired"), never a crash nor a misread field.

Ids are ASCII digits only (``"²".isdigit()`` is true but ``int("²")`` raises), without a
leading zero, and at most 18 digits, so any id fits a BIGINT; enums accept their values only;
whatever parses packs back to the very same string. The ``route`` of a payload
(the prefix's first segment unless given) is what the dispatcher routes by: a flow's name or
a button handler's key.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

SEP = ":"
MAX_BYTES = 64  # Telegram's limit for callback data
MAX_ID_DIGITS = 18  # 10**18 - 1 < 2**63 - 1: every id fits a BIGINT


class BadPayload(ValueError):
    """Button data no button of ours could have carried (forged, cut, or unknown)."""


class ExpiredPayload(BadPayload):
    """A button of a layout this version retired: it was ours, but no longer means anything."""


class UnknownPayload(BadPayload):
    """No payload class has this prefix. ``route`` is its first segment."""

    def __init__(self, data: str) -> None:
        super().__init__(f"no payload class for {data[:MAX_BYTES]!r}")
        self.route = data.split(SEP, 1)[0]


def _id(value: object) -> object:
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit() and len(value) <= MAX_ID_DIGITS):
            raise ValueError("an id is 1 to 18 ASCII digits")
        if value != str(int(value)):
            raise ValueError("an id has no leading zero")  # so that it packs back the same
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("an id is an int")
    if not 0 <= value < 10**MAX_ID_DIGITS:
        raise ValueError("an id is 0 to 18 digits")
    return value


# A row id (report, region, account): a BIGINT written as plain ASCII digits.
Id = Annotated[int, BeforeValidator(_id)]
# A catalogue code (category ``0403``, class ``C04``) or a language (``zh_CN``).
Code = Annotated[str, Field(pattern=r"^[0-9A-Za-z_-]{1,32}$")]

_CLASSES: dict[str, type[Payload]] = {}
_RETIRED: set[str] = set()
_MAX_SEGMENTS = 1  # the most segments any registered or retired prefix has


class Payload(BaseModel):
    """A button payload: subclass with ``prefix=`` (and ``route=``, ``replaces=``) and fields.

    ``class Open(Payload, prefix="w:open"): report_id: Id`` packs to ``w:open:12``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    __prefix__: ClassVar[str]
    __route__: ClassVar[str]

    def __init_subclass__(
        cls,
        *,
        prefix: str,
        route: str | None = None,
        replaces: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        for name in (prefix, *replaces):
            if name in _CLASSES or name in _RETIRED or not all(name.split(SEP)):
                raise ValueError(f"payload prefix {name!r} is taken or malformed")
        cls.__prefix__ = prefix
        cls.__route__ = route or prefix.split(SEP, 1)[0]
        _CLASSES[prefix] = cls
        _RETIRED.update(replaces)
        global _MAX_SEGMENTS
        _MAX_SEGMENTS = max(_MAX_SEGMENTS, *(n.count(SEP) + 1 for n in (prefix, *replaces)))

    @property
    def route(self) -> str:
        return self.__route__

    def pack(self) -> str:
        """The callback data; raises ValueError when it cannot be parsed back as itself."""
        parts = [self.__prefix__, *(_encode(getattr(self, f)) for f in type(self).model_fields)]
        if any(SEP in part for part in parts[1:]):
            raise ValueError(f"{SEP!r} inside a field of {self!r}")
        data = SEP.join(parts)
        if len(data.encode()) > MAX_BYTES:
            raise ValueError(f"{data!r} is over {MAX_BYTES} bytes")
        if _lookup(data) is not type(self):  # a field value that reads as a longer prefix
            raise ValueError(f"{data!r} would parse as another payload")
        return data

    @classmethod
    def unpack(cls, data: str) -> Payload:
        """``data`` as this class (its prefix already matched); raises ``BadPayload``."""
        values = data[len(cls.__prefix__) + 1 :].split(SEP) if data != cls.__prefix__ else []
        names = list(cls.model_fields)
        if len(values) != len(names):
            raise BadPayload(f"{cls.__name__} takes {len(names)} fields, got {len(values)}")
        try:
            return cls.model_validate(dict(zip(names, values, strict=True)))
        except ValidationError as exc:
            raise BadPayload(f"{cls.__name__}: {exc.error_count()} invalid field(s)") from exc


def _encode(value: object) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, int | str) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"{value!r} cannot be packed into button data")


def _lookup(data: str) -> type[Payload]:
    segments = data.split(SEP, _MAX_SEGMENTS)
    for n in range(min(len(segments), _MAX_SEGMENTS), 0, -1):
        prefix = SEP.join(segments[:n])
        if prefix in _RETIRED:
            raise ExpiredPayload(f"{prefix!r} is a retired layout")
        if prefix in _CLASSES:
            return _CLASSES[prefix]
    raise UnknownPayload(data)


def parse(data: str) -> Payload:
    """The payload ``data`` packs; raises ``ExpiredPayload`` for a retired layout,
    ``UnknownPayload`` for an unknown prefix, ``BadPayload`` for anything else invalid."""
    if len(data.encode()) > MAX_BYTES:
        raise BadPayload(f"button data over {MAX_BYTES} bytes")
    return _lookup(data).unpack(data)


def is_typed_route(route: str) -> bool:
    """Whether any payload class routes to ``route`` (its data is parsed here, not by hand)."""
    return any(cls.__route__ == route for cls in _CLASSES.values())


def registered() -> dict[str, type[Payload]]:
    """Every payload class by prefix (a copy), for tests and documentation."""
    return dict(_CLASSES)
