"""The parts of a run on other hosts: the bench worker agents' directory (workers = "external") and
the address every step's Locust master listens on for load generators elsewhere."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

from bench.hosts.agents import AgentDirectory
from bench.settings.config import Profile
from bench.observer import RunObserver
from bench.errors import BenchError
from bench.loadgen import MasterAddress, farewell
from bench.urls import redact_url

log = logging.getLogger(__name__)

EXTERNAL_READY_TIMEOUT_S = 120
"""How long a run waits for the bench worker agents to report an architecture's workers up, and for
the load generators on other hosts at each step."""


def loadgen_master(profile: Profile, observer: RunObserver) -> MasterAddress | None:
    """With load generators on other hosts: the address every step's Locust master listens on,
    checked free now so that a taken port fails the run at once, in one line."""
    if not profile.external_loadgens:
        return None
    master = MasterAddress(
        profile.listen or "127.0.0.1", profile.loadgen_port, profile.external_loadgens, EXTERNAL_READY_TIMEOUT_S
    )
    probe = socket.socket()
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((master.host, master.port))
    except OSError as exc:
        raise BenchError(
            f"the load generators' master cannot listen on {master}: {exc.strerror}; set loadgen_port (--loadgen-port)"
        ) from None
    finally:
        probe.close()
    observer.notice(
        f"{profile.external_loadgens} load generator(s) at every step: on each host run "
        f"`bench loadgen --master {master}`",
        "waiting for",
    )
    log.info(f"load generators on other hosts connect to {master}")
    return master


def agent_directory(
    profile: Profile, control_url: str | None, run_id: str, work_dir: Path, observer: RunObserver
) -> AgentDirectory | None:
    """With workers on other hosts: the agents' directory, once the user is told how to start them."""
    if profile.workers != "external":
        return None
    assert control_url is not None, "workers on other hosts are run with a control channel"
    agents = AgentDirectory(control_url, run_id)
    observer.notice(
        f"{profile.external_workers} bench worker(s): on each worker host run "
        f"`bench worker --control {_control_url_for_agents(control_url, work_dir)}`",
        "waiting for",
    )
    log.info(f"control channel for bench worker: {redact_url(control_url)}")
    return agents


def _control_url_for_agents(url: str, work_dir: Path) -> str:
    """The control URL as the agents need it. One with a password (bench's own channel) is written to
    a file only its user can read, removed with the run, and named instead: passwords never appear on
    the terminal or in logs."""
    if redact_url(url) == url:
        return url
    path = work_dir / "control-url"
    path.touch(mode=0o600)
    path.write_text(url + "\n")
    return f'"$(cat {path})"'


def release(agents: AgentDirectory | None, master: MasterAddress | None, log_dir: Path) -> None:
    """Whatever the end: the agents stop their workers (which carry this run's queue and URLs), and the
    load generators on other hosts hear the run is over."""
    if agents:
        agents.stop_all()
    if master:
        farewell(master, log_dir)
        log.info("told the load generators on other hosts the run is over")
