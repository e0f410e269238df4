"""The yardstick apps of benchmarks/bare_drain.py are written as a user writes them: nothing of bench."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APPS = Path(__file__).resolve().parent.parent / "benchmarks" / "bare_apps"


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", sorted(p.name for p in APPS.glob("*.py")))
def test_a_bare_app_imports_nothing_of_bench(module: str) -> None:
    assert "bench" not in imported_roots(APPS / module)


def test_each_architecture_the_benchmark_names_has_its_app_and_the_apps_task() -> None:
    import sys

    sys.path.insert(0, str(APPS.parent))
    try:
        from bare_drain import USER_APPS
    finally:
        sys.path.remove(str(APPS.parent))
    assert set(USER_APPS) == {"prefork-nullpool", "prefork-sync-pool"}
    for module, _driver in USER_APPS.values():
        source = (APPS / f"{module}.py").read_text()
        assert f'name="{module}.read_item"' in source  # what the benchmark's send_task names
