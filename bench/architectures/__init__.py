"""Architectures: how tasks are queued and executed. One module per architecture.

The contract, for a new module in this package:
- define one subclass of `Architecture` with a class attribute `name` (as it appears in results)
  and a one-line `description`;
- bench side: `start_workers(spec, log_dir)` starts the worker process(es) as children of bench
  (through `bench.processes.ChildProcess`) and returns once they accept tasks;
- load side: `make_producer(spec)` returns a `Producer` (producer.py): `prepare(task_id, scheduled_ns)`
  makes the message that architecture's library would send, `deliver` enqueues it. It runs inside the
  load generator (gevent-patched), which prepares the messages due soon in a batch;
- worker side: each task calls the workload through `bench.workload.run_sync`/`run_async` inside
  `TaskRecorder.record(task_id, scheduled_ns)`, and builds engines only with `bench.engines`.
Architectures are discovered, not listed: dropping in the module is enough.
"""

from __future__ import annotations

import importlib
import pkgutil

from bench.architectures.base import Architecture, WorkerSpec
from bench.settings.arms import architecture_of
from bench.errors import BenchError

__all__ = ["Architecture", "WorkerSpec", "architecture_classes", "get_architecture"]


def architecture_classes() -> dict[str, type[Architecture]]:
    found: dict[str, type[Architecture]] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Architecture) and "name" in vars(value):
                found[value.name] = value
    return found


def get_architecture(name: str) -> type[Architecture]:
    """The architecture of a name or an arm label ("prefork-sync-pool@rabbitmq": see bench.settings.arms)."""
    classes = architecture_classes()
    name = architecture_of(name)
    if name not in classes:
        raise BenchError(f"unknown architecture {name!r} (architectures: {', '.join(sorted(classes))})")
    return classes[name]
