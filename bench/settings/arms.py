"""An arm of a run: one architecture on one broker.

A profile names arms in `architectures`: a plain name runs on the profile's broker, and
`name@broker` runs that architecture once more on another broker in the same run (the recipe
on RabbitMQ beside the recipe on Redis). `name#variant` runs it with the workload settings of
the profile's `variants` table of that name on top of `workload_params` (send_email with
`session_spans_call` on beside off, in one run). The label, as written, is what results call the
architecture, so steps, charts, advice and `bench compare` keep them apart; the `broker`
column of steps.csv says which broker each step used.
"""

from __future__ import annotations

from dataclasses import dataclass

SEPARATOR = "@"
VARIANT = "#"


@dataclass(frozen=True)
class Arm:
    label: str
    architecture: str
    broker: str
    variant: str = ""
    """The name of its workload settings in the profile's `variants` ("" for none)."""


def architecture_of(label: str) -> str:
    """The architecture an arm label runs ("prefork-sync-pool@rabbitmq#spans" -> "prefork-sync-pool")."""
    return label.partition(SEPARATOR)[0].partition(VARIANT)[0]


def parse_arms(labels: list[str], default_broker: str) -> list[Arm]:
    """Arms of the labels, in order; a label without `@broker` runs on `default_broker`."""
    arms = []
    for label in map(str, labels):
        # Either order: name@broker#variant or name#variant@broker.
        broker = label.partition(SEPARATOR)[2].partition(VARIANT)[0]
        variant = label.partition(VARIANT)[2].partition(SEPARATOR)[0]
        arms.append(Arm(label, architecture_of(label), broker or default_broker, variant))
    return arms
