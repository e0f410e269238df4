"""The analysis modules import one way: no module imports one that imports it back (even inside a function)."""

import ast
from pathlib import Path

ANALYSIS = Path(__file__).resolve().parents[2] / "bench" / "analysis"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bench.analysis."):
            found.add(node.module.rsplit(".", 1)[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.rsplit(".", 1)[1] for a in node.names if a.name.startswith("bench.analysis.")}
    return found


def test_no_module_imports_one_that_imports_it_back():
    graph = {p.stem: _imports(p) for p in ANALYSIS.glob("*.py")}
    assert graph["rules"] == set() and graph["advice"] == {
        "adoption",
        "bursts",
        "costs",
        "model",
        "plan",
        "rules",
        "verdict",
        "ways_out",
    }

    def reaches(start: str, target: str, seen: frozenset = frozenset()) -> bool:
        return any(n == target or (n not in seen and reaches(n, target, seen | {n})) for n in graph.get(start, ()))

    assert not [m for m in graph if reaches(m, m)], graph
