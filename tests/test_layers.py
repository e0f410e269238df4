"""The package imports one way: each module only from its own layer or those below it, so the tree
reads as the house is built (tests/test_layers.py is the one list of the layers)."""

import ast
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"

LAYERS = [
    ("base", {"__init__", "errors", "clock", "processes", "observer", "logfile", "schedule", "measures", "urls"}),
    ("settings", {"settings"}),
    ("record", {"record"}),
    ("system", {"workload", "workload_loader", "engines", "probes", "services", "architectures", "loadgen"}),
    ("hosts", {"hosts"}),
    ("run", {"run"}),
    ("analysis", {"analysis"}),
    ("output", {"output"}),
    ("commands", {"commands", "cli", "__main__"}),
]
"""From the bottom: shared small types; the profile; what a run records (results, their columns, step
statistics, task records and their channel); what is measured (workloads, engines, probes, servers,
architectures, the load generator); other hosts; the run; the post-run analysis, which reads results
files and which the run does not call; what a person sees; the commands."""
TOP_LEVEL_MODULES_MAX = 12


def _unit(module: str) -> str:
    """bench.run.step -> run; bench.errors -> errors; bench -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(unit: str) -> int:
    return next(i for i, (_, units) in enumerate(LAYERS) if unit in units)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bench":
            found |= {f"bench.{a.name}" for a in node.names} if node.module == "bench" else {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "bench"}
    return {m for m in found if m != "bench.__version__"}


def test_every_package_and_module_has_a_layer():
    units = {p.stem if p.parent == BENCH else p.relative_to(BENCH).parts[0] for p in BENCH.rglob("*.py")}
    assert units == set().union(*(u for _, u in LAYERS))


def test_no_module_imports_one_of_a_higher_layer():
    upward = []
    for path in BENCH.rglob("*.py"):
        own = _unit(".".join(path.relative_to(BENCH.parent).with_suffix("").parts))
        upward += [
            f"{path.relative_to(BENCH.parent)} ({LAYERS[_layer(own)][0]}) imports {m} ({LAYERS[_layer(_unit(m))][0]})"
            for m in sorted(_imports(path))
            if _layer(_unit(m)) > _layer(own)
        ]
    assert not upward, "\n".join(upward)


def test_the_top_of_the_package_stays_small():
    modules = [p.name for p in BENCH.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert len(modules) <= TOP_LEVEL_MODULES_MAX, sorted(modules)
