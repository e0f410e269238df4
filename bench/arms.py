"""An arm of a run: one architecture on one broker.

A profile names arms in `architectures`: a plain name runs on the profile's broker, and
`name@broker` runs that architecture once more on another broker in the same run (the recipe
on RabbitMQ beside the recipe on Redis). The label, as written, is what results call the
architecture, so steps, charts, advice and `bench compare` keep the two apart; the `broker`
column of steps.csv says which broker each step used.
"""

from __future__ import annotations

from dataclasses import dataclass

SEPARATOR = "@"


@dataclass(frozen=True)
class Arm:
    label: str
    architecture: str
    broker: str


def architecture_of(label: str) -> str:
    """The architecture an arm label runs ("prefork-sync-pool@rabbitmq" -> "prefork-sync-pool")."""
    return label.partition(SEPARATOR)[0]


def parse_arms(labels: list[str], default_broker: str) -> list[Arm]:
    """Arms of the labels, in order; a label without `@broker` runs on `default_broker`."""
    arms = []
    for label in labels:
        architecture, _, broker = str(label).partition(SEPARATOR)
        arms.append(Arm(str(label), architecture, broker or default_broker))
    return arms
