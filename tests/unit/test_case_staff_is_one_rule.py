"""Who is case staff is one listed rule (``CASE_STAFF_ROLES``), not "every role but the
informant" written out wherever it was needed: that way the party secretary role, added by
issue 9, did not become case staff by accident, and the next new role will not either."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot.domain.model import CASE_STAFF_ROLES, INVITED_ROLES, RoleName, is_case_staff

ROOT = Path(__file__).resolve().parents[2]


def test_case_staff_are_the_grid_and_admin_roles_only() -> None:
    assert {
        RoleName.GRID_WORKER,
        RoleName.GRID_LEADER,
        RoleName.COMMUNITY_ADMIN,
        RoleName.STREET_ADMIN,
        RoleName.CITY_ADMIN,
    } == CASE_STAFF_ROLES
    assert not is_case_staff({RoleName.INFORMANT, RoleName.PARTY_SECRETARY})
    assert is_case_staff({RoleName.PARTY_SECRETARY, RoleName.GRID_WORKER})


def test_the_party_secretary_is_invited_like_staff_but_is_no_case_staff() -> None:
    assert CASE_STAFF_ROLES | {RoleName.PARTY_SECRETARY} == INVITED_ROLES


def _subtracts_the_informant(node: ast.AST) -> bool:
    """``<something> - {RoleName.INFORMANT}``: "every role but the informant"."""
    return (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Sub)
        and isinstance(node.right, ast.Set)
        and any(isinstance(e, ast.Attribute) and e.attr == "INFORMANT" for e in node.right.elts)
    )


@pytest.mark.parametrize(
    "path",
    sorted(p for folder in ("bot", "handlers") for p in (ROOT / folder).rglob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_no_module_takes_staff_to_be_every_role_but_the_informant(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert [n.lineno for n in ast.walk(tree) if _subtracts_the_informant(n)] == []
