"""Points (积分): what a rider earns as their report moves through its lifecycle, and for
each confirmed hour of volunteer service.

The rules live in ``bot/data/points.json`` (lifecycle action → points; ``service``:
points per confirmed hour) so a city can tune them without a release; they are validated
at start-up like the category catalogue. Every grant is a ledger row with its reason
(``bot.services.points``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from bot.domain.lifecycle import Action

# A bound that catches a typo (500 for 5) without constraining any sensible scheme.
MAX_POINTS = 100
_TOP_FIELDS = frozenset({"note", "rules", "service"})
_SERVICE_FIELDS = frozenset({"per_hour"})
# Ledger reasons that are not lifecycle actions.
SERVICE_REASON = "service"
OPENING_REASON = "opening_balance"


class PointsError(ValueError):
    """The points rules are invalid; the message names the rule and the problem."""


@dataclass(frozen=True, slots=True)
class PointsTable:
    rules: Mapping[Action, int]
    per_service_hour: int = 0

    def for_service(self, hours: float) -> int:
        """Points for confirmed service hours, rounded to whole points."""
        return round(self.per_service_hour * hours)

    def points_for(self, action: Action) -> int:
        """Points for one action; an action without a rule earns nothing."""
        return self.rules.get(action, 0)

    def total(self, actions: Iterable[Action]) -> int:
        # Each action counts once per report: reopen → accept again must not farm points.
        return sum(self.points_for(action) for action in set(actions))


def load_points(path: Path | None = None) -> PointsTable:
    """Read and validate the rules; the default is the file shipped in ``bot/data``."""
    if path is None:
        text = resources.files("bot").joinpath("data", "points.json").read_text("utf-8")
        return parse_points(_decode(text, "points.json"))
    return parse_points(_decode(path.read_text("utf-8"), path.name), source=path.name)


def parse_points(data: object, *, source: str = "points.json") -> PointsTable:
    if not isinstance(data, dict):
        raise PointsError(f"{source}: expected an object, got {type(data).__name__}")
    if unknown := sorted(set(data) - _TOP_FIELDS):
        raise PointsError(f"{source}: unknown field {unknown[0]!r}")
    rules = data.get("rules")
    if not isinstance(rules, dict):
        raise PointsError(f"{source}: field 'rules' must be an object of action → points")
    return PointsTable(
        MappingProxyType({_action(key, source): _amount(rules[key], key, source) for key in rules}),
        per_service_hour=_service(data.get("service", {}), source),
    )


@cache
def default_points() -> PointsTable:
    """The shipped rules, read on first use (never at import)."""
    return load_points()


def points_for(action: Action, table: PointsTable | None = None) -> int:
    return (table or default_points()).points_for(action)


def _decode(text: str, source: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PointsError(f"{source}: not valid JSON: {exc}") from exc


def _action(key: str, source: str) -> Action:
    try:
        return Action(key)
    except ValueError:
        known = ", ".join(Action)
        raise PointsError(f"{source}: rules[{key!r}]: unknown action; known: {known}") from None


def _amount(value: object, key: str, source: str) -> int:
    # bool is an int subclass; `true` points is a data error, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise PointsError(f"{source}: rules[{key!r}]: points must be an integer, got {value!r}")
    if abs(value) > MAX_POINTS:
        raise PointsError(
            f"{source}: rules[{key!r}]: {value} is outside -{MAX_POINTS}..{MAX_POINTS}"
        )
    return value


def _service(value: object, source: str) -> int:
    if not isinstance(value, dict):
        raise PointsError(f"{source}: field 'service' must be an object")
    if unknown := sorted(set(value) - _SERVICE_FIELDS):
        raise PointsError(f"{source}: service: unknown field {unknown[0]!r}")
    return _amount(value.get("per_hour", 0), "service.per_hour", source)
