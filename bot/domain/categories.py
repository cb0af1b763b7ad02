"""The category catalogue: what a rider can report and how fast it must be handled.

Modelled on the national classification of urban management components (部件) and events
(事件), CJ/T 214-2007 / GB/T 30428. Event codes are a 2-digit class plus a 2-digit subclass
("0102" 暴露垃圾); component codes carry a ``C`` in front ("C0101" 雨水井盖) so the two
families never collide. The catalogue is validated once at start-up: a typo in the data
file stops the bot with a message naming the entry, instead of surfacing as a wrong
deadline weeks later.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

_DEFAULT_RESOURCE = ("data", "categories.json")
_CLASS_CODE = {"component": re.compile(r"C\d{2}"), "event": re.compile(r"\d{2}")}
_CLASS_FIELDS = frozenset({"code", "kind", "name_zh", "name_en"})
_CATEGORY_FIELDS = frozenset(
    {
        "code",
        "class",
        "kind",
        "name_zh",
        "name_en",
        "urgency",
        "ack_minutes",
        "resolve_minutes",
        "after_photo_required",
        "popular",
    }
)
_TOP_FIELDS = frozenset({"version", "note", "classes", "categories"})


class Kind(enum.StrEnum):
    COMPONENT = "component"  # 部件: a thing that is broken, missing or dirty
    EVENT = "event"  # 事件: something happening that should not


class Urgency(enum.StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class CatalogueError(ValueError):
    """The catalogue data is invalid; the message names the entry and the problem."""


class UnknownCategoryError(LookupError):
    def __init__(self, code: str) -> None:
        super().__init__(f"unknown category code {code!r}")
        self.code = code


def _pick(locale: str, zh: str, en: str) -> str:
    # Every zh variant (zh, zh_CN, zh-Hans) reads Chinese; anything else falls back to English.
    return zh if locale.lower().startswith("zh") else en


@dataclass(frozen=True, slots=True, kw_only=True)
class CategoryClass:
    code: str
    kind: Kind
    name_zh: str
    name_en: str

    def name(self, locale: str) -> str:
        return _pick(locale, self.name_zh, self.name_en)


@dataclass(frozen=True, slots=True, kw_only=True)
class Category:
    code: str
    class_code: str
    kind: Kind
    name_zh: str
    name_en: str
    urgency: Urgency
    ack_minutes: int
    resolve_minutes: int
    after_photo_required: bool
    popular: int  # rank: 1 is the most reported, shown first

    def name(self, locale: str) -> str:
        return _pick(locale, self.name_zh, self.name_en)


class Catalogue:
    """The validated, read-only set of classes and categories."""

    def __init__(
        self,
        *,
        classes: Iterable[CategoryClass],
        categories: Iterable[Category],
        source: str = "catalogue",
    ) -> None:
        class_list, category_list = list(classes), list(categories)
        _validate(class_list, category_list, source)
        self._classes = {c.code: c for c in class_list}
        self._categories = {c.code: c for c in category_list}

    def __len__(self) -> int:
        return len(self._categories)

    def __iter__(self) -> Iterator[Category]:
        return iter(self._categories.values())

    def __contains__(self, code: object) -> bool:
        return code in self._categories

    def get(self, code: str) -> Category:
        try:
            return self._categories[code]
        except KeyError:
            raise UnknownCategoryError(code) from None

    def class_of(self, code: str) -> CategoryClass:
        return self._classes[self.get(code).class_code]

    def popular(self, n: int, counts: Mapping[str, int] | None = None) -> list[Category]:
        """The ``n`` most used categories, most used first (the first screen of buttons).

        ``counts`` (reports per category code, e.g. of the last month) puts what riders
        actually report first; without it the data file's fixed rank decides alone.
        """
        return by_use(self._categories.values(), counts or {})[: max(n, 0)]

    def by_class(self) -> dict[CategoryClass, list[Category]]:
        """Categories grouped under their class, both in data-file order (the full menu)."""
        groups: dict[CategoryClass, list[Category]] = {c: [] for c in self._classes.values()}
        for category in self._categories.values():
            groups[self._classes[category.class_code]].append(category)
        return groups

    def name(self, code: str, locale: str) -> str:
        return self.get(code).name(locale)


def by_use(categories: Iterable[Category], counts: Mapping[str, int]) -> list[Category]:
    """Most reported first; ties, and categories nobody reported, in the fixed ``popular`` rank.

    The rank as tie-breaker keeps the menu stable: a quiet week (or a new database) shows
    exactly the curated order, and one report moves one category, not the whole menu.
    """
    return sorted(categories, key=lambda c: (-counts.get(c.code, 0), c.popular))


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Read and validate the catalogue; the default is the one shipped in ``bot/data``."""
    if path is None:
        resource = resources.files("bot").joinpath(*_DEFAULT_RESOURCE)
        return parse_catalogue(_decode(resource.read_text("utf-8"), "categories.json"))
    return parse_catalogue(_decode(path.read_text("utf-8"), path.name), source=path.name)


def parse_catalogue(data: object, *, source: str = "categories.json") -> Catalogue:
    top = _mapping(data, source, _TOP_FIELDS, required=("classes", "categories"))
    classes = [
        _class_from(entry, f"{source}: classes[{i}]")
        for i, entry in enumerate(_list(top, "classes", source))
    ]
    categories = [
        _category_from(entry, f"{source}: categories[{i}]")
        for i, entry in enumerate(_list(top, "categories", source))
    ]
    return Catalogue(classes=classes, categories=categories, source=source)


def _decode(text: str, source: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogueError(f"{source}: not valid JSON: {exc}") from exc


def _class_from(entry: object, where: str) -> CategoryClass:
    fields = _mapping(entry, where, _CLASS_FIELDS, required=tuple(_CLASS_FIELDS))
    where = f"{where} (code {fields['code']!r})"
    return CategoryClass(
        code=_text(fields, "code", where),
        kind=_choice(fields, "kind", Kind, where),
        name_zh=_text(fields, "name_zh", where),
        name_en=_text(fields, "name_en", where),
    )


def _category_from(entry: object, where: str) -> Category:
    fields = _mapping(entry, where, _CATEGORY_FIELDS, required=tuple(_CATEGORY_FIELDS))
    where = f"{where} (code {fields['code']!r})"
    return Category(
        code=_text(fields, "code", where),
        class_code=_text(fields, "class", where),
        kind=_choice(fields, "kind", Kind, where),
        name_zh=_text(fields, "name_zh", where),
        name_en=_text(fields, "name_en", where),
        urgency=_choice(fields, "urgency", Urgency, where),
        ack_minutes=_whole(fields, "ack_minutes", where),
        resolve_minutes=_whole(fields, "resolve_minutes", where),
        after_photo_required=_flag(fields, "after_photo_required", where),
        popular=_whole(fields, "popular", where),
    )


def _mapping(
    value: object, where: str, allowed: frozenset[str], *, required: tuple[str, ...]
) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise CatalogueError(f"{where}: expected an object, got {type(value).__name__}")
    if unknown := sorted(set(value) - allowed):
        raise CatalogueError(f"{where}: unknown field {unknown[0]!r}")
    if missing := [key for key in sorted(required) if key not in value]:
        raise CatalogueError(f"{where}: missing field {missing[0]!r}")
    return value


def _list(top: Mapping[str, Any], key: str, where: str) -> list[object]:
    value = top[key]
    if not isinstance(value, list) or not value:
        raise CatalogueError(f"{where}: field {key!r} must be a non-empty list")
    return value


def _text(fields: Mapping[str, Any], key: str, where: str) -> str:
    value = fields[key]
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{where}: field {key!r} must be non-empty text, got {value!r}")
    return value.strip()


def _whole(fields: Mapping[str, Any], key: str, where: str) -> int:
    value = fields[key]
    # bool is an int subclass; `true` minutes is a data error, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise CatalogueError(f"{where}: field {key!r} must be a positive integer, got {value!r}")
    return value


def _flag(fields: Mapping[str, Any], key: str, where: str) -> bool:
    value = fields[key]
    if not isinstance(value, bool):
        raise CatalogueError(f"{where}: field {key!r} must be true or false, got {value!r}")
    return value


_E = TypeVar("_E", bound=enum.StrEnum)


def _choice(fields: Mapping[str, Any], key: str, choices: type[_E], where: str) -> _E:
    value = fields[key]
    try:
        return choices(value)
    except ValueError:
        allowed = ", ".join(choices)
        raise CatalogueError(
            f"{where}: field {key!r} must be one of {allowed}, got {value!r}"
        ) from None


def _validate(classes: list[CategoryClass], categories: list[Category], source: str) -> None:
    known = _validate_classes(classes, source)
    seen_codes: dict[str, int] = {}
    seen_ranks: dict[int, str] = {}
    for index, category in enumerate(categories):
        where = f"{source}: categories[{index}] (code {category.code!r})"
        if category.code in seen_codes:
            first = seen_codes[category.code]
            raise CatalogueError(f"{where}: duplicate code, first used by categories[{first}]")
        seen_codes[category.code] = index
        _validate_category(category, known, where)
        if category.popular in seen_ranks:
            other = seen_ranks[category.popular]
            raise CatalogueError(
                f"{where}: popular rank {category.popular} already used by {other!r}"
            )
        seen_ranks[category.popular] = category.code


def _validate_classes(classes: list[CategoryClass], source: str) -> dict[str, CategoryClass]:
    known: dict[str, CategoryClass] = {}
    for index, cls in enumerate(classes):
        where = f"{source}: classes[{index}] (code {cls.code!r})"
        if cls.code in known:
            raise CatalogueError(f"{where}: duplicate class code")
        if not _CLASS_CODE[cls.kind].fullmatch(cls.code):
            shape = "'C' and 2 digits" if cls.kind is Kind.COMPONENT else "2 digits"
            raise CatalogueError(f"{where}: a {cls.kind} class code must be {shape}")
        if not (cls.name_zh.strip() and cls.name_en.strip()):
            raise CatalogueError(f"{where}: both name_zh and name_en are required")
        known[cls.code] = cls
    return known


def _validate_category(category: Category, known: dict[str, CategoryClass], where: str) -> None:
    cls = known.get(category.class_code)
    if cls is None:
        raise CatalogueError(f"{where}: unknown class {category.class_code!r}")
    if category.kind is not cls.kind:
        raise CatalogueError(
            f"{where}: kind {category.kind} does not match class {cls.code!r} ({cls.kind})"
        )
    if not re.fullmatch(re.escape(cls.code) + r"\d{2}", category.code):
        raise CatalogueError(f"{where}: code must be class {cls.code!r} followed by 2 digits")
    if not (category.name_zh.strip() and category.name_en.strip()):
        raise CatalogueError(f"{where}: both name_zh and name_en are required")
    if category.ack_minutes <= 0 or category.resolve_minutes <= 0 or category.popular <= 0:
        raise CatalogueError(f"{where}: deadlines and popular rank must be positive")
    if category.resolve_minutes < category.ack_minutes:
        raise CatalogueError(
            f"{where}: resolve_minutes ({category.resolve_minutes}) is shorter than "
            f"ack_minutes ({category.ack_minutes})"
        )
