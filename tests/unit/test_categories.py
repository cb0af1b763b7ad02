"""The category catalogue: the shipped data and start-up validation of broken data."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from bot.domain.categories import (
    Catalogue,
    CatalogueError,
    Kind,
    UnknownCategoryError,
    Urgency,
    load_catalogue,
    parse_catalogue,
)


def _category(code: str, cls: str, kind: str, rank: int, **overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "code": code,
        "class": cls,
        "kind": kind,
        "name_zh": f"类别{code}",
        "name_en": f"Category {code}",
        "urgency": "normal",
        "ack_minutes": 60,
        "resolve_minutes": 240,
        "after_photo_required": True,
        "popular": rank,
    }
    entry.update(overrides)
    return entry


VALID: dict[str, Any] = {
    "classes": [
        {"code": "C01", "kind": "component", "name_zh": "公用设施", "name_en": "Public facilities"},
        {"code": "01", "kind": "event", "name_zh": "市容环境", "name_en": "City appearance"},
    ],
    "categories": [
        _category("0102", "01", "event", 1),
        _category("C0101", "C01", "component", 3),
        _category("0101", "01", "event", 2),
    ],
}


def _broken(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    change(data)
    return data


def _set(index: int, key: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["categories"][index].__setitem__(key, value)


def _drop(index: int, key: str) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["categories"][index].pop(key)


@pytest.fixture(scope="module")
def shipped() -> Catalogue:
    return load_catalogue()


def test_shipped_catalogue_has_a_few_dozen_components_and_events(shipped: Catalogue) -> None:
    kinds = {category.kind for category in shipped}
    assert 20 <= len(shipped) <= 30
    assert kinds == {Kind.COMPONENT, Kind.EVENT}


def test_shipped_catalogue_names_every_category_in_chinese_and_english(shipped: Catalogue) -> None:
    for category in shipped:
        assert category.name("zh_CN") == category.name_zh != ""
        assert category.name("en") == category.name_en != ""


def test_exposed_garbage_and_waterlogging_must_be_fixed_within_four_hours(
    shipped: Catalogue,
) -> None:
    assert shipped.get("0102").name_zh == "暴露垃圾"
    assert shipped.get("0102").resolve_minutes == 4 * 60
    assert shipped.get("0403").resolve_minutes == 4 * 60


def test_street_trees_get_green_space_care_time_of_five_working_days(shipped: Catalogue) -> None:
    assert shipped.get("C0401").resolve_minutes == 7 * 24 * 60


def test_road_collapse_is_an_emergency_acknowledged_faster_than_a_streetlight(
    shipped: Catalogue,
) -> None:
    collapse, streetlight = shipped.get("0401"), shipped.get("C0105")
    assert collapse.urgency is Urgency.EMERGENCY
    assert collapse.ack_minutes < streetlight.ack_minutes


def test_component_and_event_codes_never_collide(shipped: Catalogue) -> None:
    for category in shipped:
        is_component = category.code.startswith("C")
        assert is_component == (category.kind is Kind.COMPONENT)


def test_popular_lists_the_most_used_categories_first() -> None:
    catalogue = parse_catalogue(VALID)
    assert [c.code for c in catalogue.popular(2)] == ["0102", "0101"]
    assert [c.code for c in catalogue.popular(10)] == ["0102", "0101", "C0101"]
    assert catalogue.popular(0) == []


def test_by_class_groups_every_category_under_its_class_in_file_order() -> None:
    grouped = {
        cls.code: [c.code for c in items]
        for cls, items in parse_catalogue(VALID).by_class().items()
    }
    assert grouped == {"C01": ["C0101"], "01": ["0102", "0101"]}


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("zh_CN", "暴露垃圾"),
        ("zh", "暴露垃圾"),
        ("zh-Hans", "暴露垃圾"),
        ("en", "Exposed garbage"),
        ("fr", "Exposed garbage"),
    ],
)
def test_name_follows_the_locale_and_falls_back_to_english(
    shipped: Catalogue, locale: str, expected: str
) -> None:
    assert shipped.name("0102", locale) == expected


def test_class_of_gives_the_class_with_its_names(shipped: Catalogue) -> None:
    assert shipped.class_of("0102").name("zh_CN") == "市容环境"
    assert shipped.class_of("C0101").name("en") == "Public facilities"


def test_an_unknown_code_raises_a_lookup_error_naming_it(shipped: Catalogue) -> None:
    with pytest.raises(UnknownCategoryError, match="'9999'"):
        shipped.get("9999")
    assert "9999" not in shipped


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            _set(2, "code", "0102"),
            "categories[2] (code '0102'): duplicate code, first used by categories[0]",
            id="duplicate-code",
        ),
        pytest.param(
            _set(0, "ack_minutes", 0),
            "categories[0] (code '0102'): field 'ack_minutes' must be a positive integer, got 0",
            id="zero-deadline",
        ),
        pytest.param(
            _set(1, "resolve_minutes", -240),
            "categories[1] (code 'C0101'): field 'resolve_minutes' must be a positive integer, "
            "got -240",
            id="negative-deadline",
        ),
        pytest.param(
            _set(0, "ack_minutes", True),
            "categories[0] (code '0102'): field 'ack_minutes' must be a positive integer, got True",
            id="boolean-deadline",
        ),
        pytest.param(
            _set(0, "resolve_minutes", 30),
            "categories[0] (code '0102'): resolve_minutes (30) is shorter than ack_minutes (60)",
            id="resolve-before-ack",
        ),
        pytest.param(
            _set(0, "class", "09"),
            "categories[0] (code '0102'): unknown class '09'",
            id="unknown-class",
        ),
        pytest.param(
            _set(0, "kind", "component"),
            "categories[0] (code '0102'): kind component does not match class '01' (event)",
            id="kind-mismatch",
        ),
        pytest.param(
            _set(0, "code", "0202"),
            "categories[0] (code '0202'): code must be class '01' followed by 2 digits",
            id="code-outside-class",
        ),
        pytest.param(
            _drop(1, "name_en"),
            "categories[1]: missing field 'name_en'",
            id="missing-english-name",
        ),
        pytest.param(
            _set(1, "name_zh", "  "),
            "categories[1] (code 'C0101'): field 'name_zh' must be non-empty text, got '  '",
            id="blank-chinese-name",
        ),
        pytest.param(
            _set(0, "ack_minute", 60),
            "categories[0]: unknown field 'ack_minute'",
            id="misspelt-field",
        ),
        pytest.param(
            _set(0, "urgency", "asap"),
            "categories[0] (code '0102'): field 'urgency' must be one of normal, urgent, "
            "emergency, got 'asap'",
            id="unknown-urgency",
        ),
        pytest.param(
            _set(2, "popular", 1),
            "categories[2] (code '0101'): popular rank 1 already used by '0102'",
            id="shared-popular-rank",
        ),
        pytest.param(
            _set(0, "after_photo_required", "yes"),
            "categories[0] (code '0102'): field 'after_photo_required' must be true or false, "
            "got 'yes'",
            id="photo-flag-not-boolean",
        ),
        pytest.param(
            lambda data: data["classes"].append(dict(data["classes"][1])),
            "classes[2] (code '01'): duplicate class code",
            id="duplicate-class",
        ),
        pytest.param(
            lambda data: data["classes"][0].__setitem__("code", "01x"),
            "classes[0] (code '01x'): a component class code must be 'C' and 2 digits",
            id="component-class-without-prefix",
        ),
        pytest.param(
            lambda data: data.__setitem__("categories", []),
            "field 'categories' must be a non-empty list",
            id="no-categories",
        ),
    ],
)
def test_invalid_catalogue_is_refused_with_a_message_naming_the_entry(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    with pytest.raises(CatalogueError, match=f"^categories.json: {re.escape(message)}$"):
        parse_catalogue(_broken(change))


def test_the_valid_fixture_itself_is_accepted() -> None:
    # Guards the parametrized failures above: each fails for its own change only.
    assert len(parse_catalogue(VALID)) == 3
