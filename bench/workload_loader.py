"""Finding the workload a profile names: a shipped one by name ("point_select"), a class in an
importable module ("myapp.bench_tasks:Orders") or in a file ("path/to/orders.py:Orders").

bench and every worker process (here or under `bench worker`) resolve the same reference the same
way, so a user's task runs in the workers as it does in bench; a file path is made absolute first
(`absolute_ref`), since a worker need not share bench's working folder.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.errors import BenchError
from bench.workload import Workload


def shipped_workloads() -> dict[str, type[Workload]]:
    """Every Workload subclass found in the `workloads` package, by name."""
    import workloads

    found: dict[str, type[Workload]] = {}
    for module_info in pkgutil.iter_modules(workloads.__path__):
        module = importlib.import_module(f"workloads.{module_info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Workload)
                and value is not Workload
                and value.__module__ == module.__name__
            ):
                found[value.name] = value
    return found


def absolute_ref(ref: str) -> str:
    """The reference with a file path made absolute (against this process's working folder)."""
    target, colon, class_name = ref.rpartition(":")
    if colon and _is_path(target):
        return f"{Path(target).expanduser().resolve()}:{class_name}"
    return ref


def workload_class(ref: str) -> type[Workload]:
    """The Workload class `ref` names; a BenchError (one line) when there is none or it cannot run."""
    target, colon, class_name = ref.rpartition(":")
    if not colon:
        shipped = shipped_workloads()
        if ref not in shipped:
            raise BenchError(
                f"unknown workload {ref!r} (shipped: {', '.join(sorted(shipped))}; or your own as "
                f"module:Class or path/to/file.py:Class)"
            )
        return shipped[ref]
    if not target or not class_name:
        raise BenchError(f"workload {ref!r}: write it as module:Class or path/to/file.py:Class")
    module = _load_file(ref, target) if _is_path(target) else _import_module(ref, target)
    found = getattr(module, class_name, None)
    if found is None:
        raise BenchError(f"workload {ref!r}: {target} has no {class_name}")
    if not (isinstance(found, type) and issubclass(found, Workload)):
        raise BenchError(f"workload {ref!r}: {class_name} is not a Workload (subclass bench.workload.Workload)")
    if not found.bodies():
        raise BenchError(
            f"workload {ref!r}: {class_name} has no task body: give it statements(), run_async() or run_sync()"
        )
    return found


def make_workload(
    ref: str, table_rows: int, params: dict[str, Any] | None = None, service_url: str | None = None
) -> Workload:
    return workload_class(ref)(table_rows, params, service_url)


def _is_path(target: str) -> bool:
    return target.endswith(".py") or "/" in target


def _load_file(ref: str, target: str) -> ModuleType:
    path = Path(target).expanduser().resolve()
    if not path.is_file():
        raise BenchError(f"workload {ref!r}: no such file {path}")
    # One module name per file, so a second lookup (and the worker's) gets the module already loaded.
    name = f"bench_user_workload_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise BenchError(f"workload {ref!r}: {path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise BenchError(f"workload {ref!r}: loading {path} raised {_one_line(exc)}") from None
    return module


def _import_module(ref: str, target: str) -> ModuleType:
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # as `python -m` would: the user's modules beside them
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if exc.name and (target == exc.name or target.startswith(exc.name + ".")):
            raise BenchError(f"workload {ref!r}: no module named {exc.name!r}") from None
        raise BenchError(f"workload {ref!r}: importing {target} raised {_one_line(exc)}") from None
    except Exception as exc:
        raise BenchError(f"workload {ref!r}: importing {target} raised {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]
