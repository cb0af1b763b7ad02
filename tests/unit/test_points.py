"""Points rules: the shipped values, once-per-report counting and validation."""

from __future__ import annotations

import re

import pytest

from bot.domain.lifecycle import Action
from bot.domain.points import PointsError, PointsTable, load_points, parse_points, points_for


def test_shipped_rules_reward_acceptance_resolution_and_following_a_duplicate() -> None:
    shipped = load_points()
    assert shipped.points_for(Action.ACCEPT) == 5
    assert shipped.points_for(Action.RESOLVE) == 10
    assert shipped.points_for(Action.REJECT) == 0
    assert shipped.points_for(Action.MERGE) == 1


def test_module_level_points_for_uses_the_shipped_rules_unless_given_a_table() -> None:
    assert points_for(Action.RESOLVE) == 10
    assert points_for(Action.RESOLVE, parse_points({"rules": {"resolve": 3}})) == 3


def test_an_action_without_a_rule_earns_nothing() -> None:
    assert parse_points({"rules": {"accept": 5}}).points_for(Action.ESCALATE) == 0


def test_a_reopen_and_accept_again_loop_does_not_farm_points() -> None:
    table = parse_points({"rules": {"accept": 5, "resolve": 10}})
    history = [Action.ACCEPT, Action.RESOLVE, Action.REOPEN, Action.ACCEPT, Action.RESOLVE]
    assert table.total(history) == 15


def test_rules_are_read_only_after_loading() -> None:
    table: PointsTable = parse_points({"rules": {"accept": 5}})
    with pytest.raises(TypeError):
        table.rules[Action.ACCEPT] = 500  # type: ignore[index]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(
            {"rules": {"acept": 5}},
            "rules['acept']: unknown action; known: submit, dispatch",
            id="misspelt-action",
        ),
        pytest.param(
            {"rules": {"accept": True}},
            "rules['accept']: points must be an integer, got True",
            id="boolean-points",
        ),
        pytest.param(
            {"rules": {"resolve": 2.5}},
            "rules['resolve']: points must be an integer, got 2.5",
            id="fractional-points",
        ),
        pytest.param(
            {"rules": {"resolve": 500}},
            "rules['resolve']: 500 is outside -100..100",
            id="typo-sized-points",
        ),
        pytest.param({"rules": [5]}, "field 'rules' must be an object", id="rules-not-object"),
        pytest.param({"rules": {}, "rule": {}}, "unknown field 'rule'", id="misspelt-top-field"),
        pytest.param([], "expected an object, got list", id="not-an-object"),
    ],
)
def test_invalid_points_rules_are_refused_with_a_precise_message(
    data: object, message: str
) -> None:
    with pytest.raises(PointsError, match=f"^points.json: {re.escape(message)}"):
        parse_points(data)
