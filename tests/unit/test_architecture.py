"""The core stays free of platforms and of the database (shared/ARCHITECTURE.md):
nothing in handlers/, bot/services/, bot/domain/ or bot/ui/ imports telegram, aiogram or
sqlalchemy, and bot/domain/ imports only the standard library and itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLATFORM_AND_DB = {"telegram", "aiogram", "sqlalchemy", "storage", "asyncpg", "aiosqlite"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize(
    "path",
    modules("handlers", "bot/services", "bot/domain", "bot/ui"),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_the_core_imports_no_platform_and_no_database(path: Path) -> None:
    assert imported_roots(path) & PLATFORM_AND_DB == set()


@pytest.mark.parametrize("path", modules("bot/domain"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_domain_imports_only_the_standard_library(path: Path) -> None:
    foreign = {
        root
        for root in imported_roots(path)
        if root not in sys.stdlib_module_names and root not in {"bot", "__future__"}
    }
    assert foreign == set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    outside = [
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module
        and node.module.startswith("bot.")
        and not node.module.startswith("bot.domain")
    ]
    assert outside == []


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("from sqlalchemy import select\nimport telegram.ext\n", encoding="utf-8")
    assert imported_roots(probe) & PLATFORM_AND_DB == {"sqlalchemy", "telegram"}
