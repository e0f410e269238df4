"""A throwaway RabbitMQ node for one run (the broker, with `broker = "rabbitmq"`), beside any other.

The machine may run a RabbitMQ of its own (Debian's package starts `rabbit@localhost` on 5672, with
epmd on 4369); bench never touches it. Its node gets a name, data, log and config folder of its
own in a temporary directory, free loopback ports for AMQP and for Erlang distribution, its own
Erlang cookie, and its own epmd on a free port (ERL_EPMD_PORT), started first and stopped last, so
no epmd outlives the run. `default_user`/`default_pass` in its config make a user with a random
password at first boot; the node runs as the `rabbitmq` user, as the package's does.
"""

from __future__ import annotations

import logging
import os
import pwd
import secrets
import shutil
import socket
from pathlib import Path

import amqp

from bench.errors import BenchError
from bench.processes import ChildProcess, wait_for
from bench.services.managed import ManagedServer
from bench.urls import free_loopback_port

log = logging.getLogger(__name__)

PACKAGE = "rabbitmq-server (apt-get install rabbitmq-server)"
SERVER_SCRIPTS = ("/usr/lib/rabbitmq/bin/rabbitmq-server", "/usr/sbin/rabbitmq-server")
RUN_AS = "rabbitmq"
USER = "bench"


def rabbitmq_binaries() -> tuple[str, str]:
    """The node's start script and epmd, or one line saying what to install."""
    script = next((path for path in SERVER_SCRIPTS if os.access(path, os.X_OK)), None)
    epmd = shutil.which("epmd")
    if not script or not epmd:
        raise BenchError(f"RabbitMQ (rabbitmq-server and Erlang's epmd) not found; install {PACKAGE}")
    return script, epmd


class ManagedRabbitMQ(ManagedServer):
    """Context manager: a running RabbitMQ node (and its epmd) on entry, nothing left of them on exit."""

    name = "rabbitmq"
    title = "RabbitMQ"

    def __init__(self, work_dir: Path, cpus: str | None = None) -> None:
        super().__init__(work_dir, cpus)
        self.port = free_loopback_port()
        self.dist_port = free_loopback_port()
        self.epmd_port = free_loopback_port()
        self.password = secrets.token_urlsafe(18)
        self.node = f"bench-{secrets.token_hex(4)}@localhost"
        self._epmd: ChildProcess | None = None

    @property
    def url(self) -> str:
        return f"amqp://{USER}:{self.password}@127.0.0.1:{self.port}//"

    def _start(self) -> None:
        script, epmd = rabbitmq_binaries()
        directory = Path(self._make_dir("bench-rabbitmq-"))
        user = RUN_AS if os.geteuid() == 0 else None  # the node refuses nothing as root, but writes as root
        (directory / "rabbitmq.conf").write_text(
            "\n".join(
                [
                    f"listeners.tcp.1 = 127.0.0.1:{self.port}",
                    f"default_user = {USER}",
                    f"default_pass = {self.password}",
                    "disk_free_limit.absolute = 50MB",
                    "log.console = true",
                    "log.file = false",
                    "",
                ]
            )
        )
        (directory / "enabled_plugins").write_text("[].\n")
        (directory / "rabbitmq-env.conf").write_text("")  # not the package's /etc/rabbitmq/rabbitmq-env.conf
        cookie = directory / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16))
        if user:
            entry = pwd.getpwnam(user)
            for path in [directory, *directory.iterdir()]:
                os.chown(path, entry.pw_uid, entry.pw_gid)
        cookie.chmod(0o400)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(directory),
            "LANG": "C.UTF-8",
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": str(directory / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(directory / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(directory / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(directory / "log"),
            "RABBITMQ_PID_FILE": str(directory / "node.pid"),
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            # No scheduler busy-waiting: on a machine shared with workers and database, spinning
            # schedulers would take CPU from them and count as the broker's work.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "+sbwt none +sbwtdcpu none +sbwtdio none",
        }
        # Its own epmd, in the foreground as bench's child: one the node started would daemonize and outlive it.
        self._epmd = ChildProcess(
            "epmd",
            [epmd, "-port", str(self.epmd_port), "-address", "127.0.0.1"],
            log_path=self._work_dir / "epmd.log",
            env=env,
            user=user,
            cpus=self.cpus,
        )
        log.info(f"started epmd pid={self._epmd.pid} port={self.epmd_port}")
        if not wait_for(self._epmd_listens, timeout_s=10):
            raise BenchError(f"the managed RabbitMQ's epmd did not start; see {self._work_dir / 'epmd.log'}")
        self._launch(
            [script],
            self._answers,
            timeout_s=60,
            user=user,
            env=env,
            cwd=str(directory),
            details=f"port={self.port} node={self.node}",
        )

    def __exit__(self, *exc) -> None:
        try:
            super().__exit__(*exc)
        finally:
            if self._epmd:
                self._epmd.stop()
                log.info(f"stopped epmd pid={self._epmd.pid}")
                self._epmd = None

    def _epmd_listens(self) -> bool:
        if self._epmd is None or not self._epmd.alive():
            raise BenchError(f"the managed RabbitMQ's epmd exited at start; see {self._work_dir / 'epmd.log'}")
        try:
            with socket.create_connection(("127.0.0.1", self.epmd_port), timeout=0.5):
                return True
        except OSError:
            return False

    def _answers(self) -> bool:
        try:
            connection = amqp.Connection(
                host=f"127.0.0.1:{self.port}", userid=USER, password=self.password, connect_timeout=1
            )
            connection.connect()
            connection.close()
            return True
        except Exception:  # refused, reset, or the node still booting: not ready yet
            return False
