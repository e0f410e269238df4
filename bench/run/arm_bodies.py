"""Which arms of a run can run its workload: an architecture whose engine is async runs the workload's
`run_async` body, a sync one its `run_sync`; an arm whose body the workload lacks is skipped at the
start, with the reason, instead of failing every task at the end."""

from __future__ import annotations

from bench.architectures import get_architecture
from bench.settings.arms import Arm
from bench.workload import Workload


def skipped_arms(arms: list[Arm], workload: type[Workload]) -> dict[str, str]:
    """{arm label: why it is skipped} for the arms whose task body `workload` does not give."""
    bodies = workload.bodies()
    return {
        arm.label: f"{workload.__name__} has no run_{body}"
        for arm in arms
        if (body := get_architecture(arm.architecture).body) not in bodies
    }
