"""Workers on other hosts: `bench worker` agents and `bench run` meet on the control channel.

`bench run` (with `workers = "external"`) publishes what to run, an assignment: the spec of the
architecture whose steps come next, numbered by a generation. Every agent starts that
architecture's real workers on its host (its own URLs for the broker and the database where they
differ from bench's), reports itself ready for that generation, and beats a heartbeat every
`HEARTBEAT_S`. When the assignment changes the agent stops its workers and starts the next; when
bench sets `stop` to its run id (at the end of its run, whatever the end) or the channel goes
away, it stops them and exits. That is the default and the only mode: a bench worker lives for one
run, since its workers carry that run's queue and URLs; start it again for the next run.

An agent whose heartbeat is older than `GONE_AFTER_S` (by the channel's clock) has vanished: the
run says so, and the tasks its workers held count as lost once the step's drain timeout passes.
"""

from __future__ import annotations

import logging
import dataclasses
import json
import os
import socket
import time
from typing import cast

import redis

from bench.architectures.base import DRAINED_STOP_GRACE_S, WorkerSpec
from bench.clock import WORKER_SKEW_ENV, redis_time_ns
from bench.errors import BenchError

log = logging.getLogger(__name__)

ASSIGNMENT = "bench:assignment"
AGENTS = "bench:agents"
HEARTBEATS = "bench:heartbeats"
STOP = "bench:stop"
HEARTBEAT_S = 0.5
GONE_AFTER_S = 3.0


@dataclasses.dataclass
class AgentState:
    agent: str
    host: str
    pid: int
    ready_generation: int
    """The assignment whose workers are up (-1: none)."""
    error: str = ""
    address: str = ""
    """The agent's address as the control channel sees it (its host's, on the way to the channel)."""


class AgentDirectory:
    """bench run's side: assigns work to the agents and watches them."""

    def __init__(self, url: str, run_id: str) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=5)
        self._run_id = run_id
        self._generation = 0
        self._gone: set[str] = set()
        self._checked_at = 0.0
        self._client.delete(ASSIGNMENT)

    def _hash(self, key: str) -> dict[bytes, bytes]:
        """A hash of the channel, as its raw bytes (the client does not decode replies)."""
        return cast(dict[bytes, bytes], self._client.hgetall(key))

    def agents(self) -> dict[str, AgentState]:
        return {k.decode(): AgentState(**json.loads(v)) for k, v in self._hash(AGENTS).items()}

    def assign(self, spec: WorkerSpec) -> int:
        self._generation += 1
        self._client.set(ASSIGNMENT, json.dumps({"generation": self._generation, "spec": dataclasses.asdict(spec)}))
        return self._generation

    def wait_ready(self, generation: int, count: int, timeout_s: float) -> list[str]:
        """The agents running `generation`'s workers, once `count` of them are; else a BenchError."""
        deadline = time.monotonic() + timeout_s
        while True:
            agents = self.agents()
            failed = [a for a in agents.values() if a.error]
            if failed:
                raise BenchError(f"bench worker {failed[0].agent} could not start its workers: {failed[0].error}")
            ready = sorted(f"{a.agent} ({a.address})" for a in agents.values() if a.ready_generation == generation)
            if len(ready) >= count:
                return ready
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{len(ready)} of {count} bench worker(s) ready after {timeout_s:g} s "
                    f"({len(agents)} registered); start them with `bench worker --control URL`"
                )
            time.sleep(0.1)

    def vanished(self) -> list[str]:
        """Agents whose heartbeat stopped (each named once, the first time it is seen gone). Asked at every
        poll of a step, it looks at most once a heartbeat: beats are no fresher in between."""
        if time.monotonic() - self._checked_at < HEARTBEAT_S:
            return []
        self._checked_at = time.monotonic()
        now_ms = redis_time_ns(self._client) // 1_000_000
        beats = {k.decode(): int(v) for k, v in self._hash(HEARTBEATS).items()}
        gone = {agent for agent, at_ms in beats.items() if now_ms - at_ms > GONE_AFTER_S * 1000} - self._gone
        self._gone |= gone
        return sorted(gone)

    def stop_all(self) -> None:
        """Tell every agent to stop its workers and exit (the end of the run)."""
        try:
            self._client.delete(ASSIGNMENT)
            self._client.set(STOP, self._run_id)
        except redis.RedisError:  # the channel is gone already: the agents exit on their own
            pass


class Agent:
    """`bench worker`'s side: runs what bench assigns until told to stop."""

    def __init__(
        self,
        control_url: str,
        database_url: str | None,
        broker_url: str | None,
        processes: int | None,
        work_dir,
        log_dir,
    ) -> None:
        self._client = redis.Redis.from_url(control_url, socket_timeout=5)
        self._client.ping()  # an unreachable channel fails here, before the agent says it waits
        self._control_url, self._database_url, self._broker_url = control_url, database_url, broker_url
        self._processes, self._work_dir, self._log_dir = processes, work_dir, log_dir
        self.id = f"{socket.gethostname()}-{os.getpid()}"
        self._state = AgentState(self.id, socket.gethostname(), os.getpid(), -1)
        self._workers: list = []
        self._generation = 0

    def serve(self) -> None:
        from bench.architectures import get_architecture
        from bench.processes import stop_all

        self._state.address = str(self._client.client_info().get("addr", "")).rsplit(":", 1)[0]
        self._publish()
        # A stop left by an earlier run on a channel of the user's is not for this agent.
        earlier_stop = self._client.get(STOP)
        channel_lost_at = None
        try:
            while True:
                try:
                    self._beat()
                    if self._client.get(STOP) != earlier_stop:
                        log.info("bench run said stop")
                        return
                    raw = self._client.get(ASSIGNMENT)
                    channel_lost_at = None
                except redis.RedisError:
                    channel_lost_at = channel_lost_at or time.monotonic()
                    if time.monotonic() - channel_lost_at > GONE_AFTER_S:
                        log.info("the control channel is gone: stopping")
                        return
                    time.sleep(HEARTBEAT_S)
                    continue
                assignment = json.loads(raw) if raw else None
                generation = assignment["generation"] if assignment else 0
                if generation != self._generation:
                    stop_all(self._workers, grace_s=DRAINED_STOP_GRACE_S)
                    self._workers, self._generation = [], generation
                    self._state.ready_generation, self._state.error = -1, ""
                    if assignment:
                        self._start(get_architecture, assignment)
                    self._publish()
                time.sleep(HEARTBEAT_S)
        finally:
            stop_all(self._workers, grace_s=DRAINED_STOP_GRACE_S)
            try:
                self._client.hdel(AGENTS, self.id)
                self._client.hdel(HEARTBEATS, self.id)
            except redis.RedisError:
                pass

    def _start(self, get_architecture, assignment: dict) -> None:
        values = dict(assignment["spec"])
        records_dir = self._work_dir / f"records-{assignment['generation']}"
        records_dir.mkdir(parents=True, exist_ok=True)
        values.update(records_dir=str(records_dir), control_url=self._control_url, cpus=None, pgbouncer_url=None)
        values["database_url"] = self._database_url or values["database_url"]
        values["broker_url"] = self._broker_url or values["broker_url"]
        values["worker_processes"] = self._processes or values["worker_processes"]
        if os.environ.get(WORKER_SKEW_ENV):  # test-only: this host's workers' clock, skewed
            values["clock_skew_ns"] = round(float(os.environ[WORKER_SKEW_ENV]) * 1e6)
        spec = WorkerSpec(**values)
        try:
            self._workers = get_architecture(spec.architecture)().start_workers(spec, self._log_dir)
        except BenchError as exc:
            self._state.error = str(exc)
            return
        log.info(f"started {spec.arm_label} workers pids={[w.pid for w in self._workers]}")
        self._state.ready_generation = assignment["generation"]

    def _publish(self) -> None:
        self._client.hset(AGENTS, self.id, json.dumps(dataclasses.asdict(self._state)))

    def _beat(self) -> None:
        self._client.hset(HEARTBEATS, self.id, redis_time_ns(self._client) // 1_000_000)
